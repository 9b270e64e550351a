"""Every page URL (not the API, which authenticates by token, nor Django's admin) as a browser
reaches it: a POST without the CSRF token is refused before any view runs; a GET changes no
row (the claim pages excepted: opening them takes or resumes the caller's own lease; every
other change writes an audit row, which would be counted); a query string or a form with NUL
bytes, invalid UTF-8, huge or non-finite numbers, deep or unstorable JSON, or fields that are not
offered is never a 5xx; and every page is served under the Content-Security-Policy and the
other policy headers, with htmx configured to refuse eval."""

import re

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client
from django.urls import URLResolver, get_resolver

from tests.core.objects import every_object, path_of
from tests.core.test_bad_inputs import QUERIES

# Opening these takes the caller's next item (or review item), or resumes the one they hold:
# the lease is the page's content. Sending it again is harmless, so they stay GETs.
CLAIMS_ON_GET = {"annotation:work", "review:queue", "review:open"}


def _routes() -> list[tuple[str, str]]:
    def walk(patterns, prefix="", namespace=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            else:
                yield prefix + str(pattern.pattern), namespace + (pattern.name or "")

    return [
        (route, name)
        for route, name in walk(get_resolver().url_patterns)
        if not route.startswith(("api/", "admin/"))
    ]


@pytest.fixture
def world(db):
    made = every_object(annotations_per_item=2)
    ids = {**made.ids, "token": made.invitation_token}
    paths = [(path_of(route, ids), name) for route, name in _routes()]
    assert len(paths) > 50
    return paths, made.lead, made.annotator


def _counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_every_post_to_a_page_without_the_csrf_token_is_refused(world):
    paths, lead, _ = world
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/login/", {"username": lead.username, "password": "x"}).status_code == 403
    browser.force_login(lead)
    before = _counts()
    answers = {
        path: browser.post(path, {"name": "x", "role": "lead"}).status_code for path, _ in paths
    }
    assert {path: code for path, code in answers.items() if code != 403} == {}
    assert _counts() == before


def test_opening_a_page_changes_nothing_but_a_claim(world):
    paths, lead, annotator = world
    for user in (lead, annotator):
        browser = Client()
        browser.force_login(user)
        for path, name in paths:
            if name in CLAIMS_ON_GET:
                continue
            before = _counts()
            response = browser.get(path)
            assert response.status_code < 500, (path, response.status_code)
            assert _counts() == before, (user.username, path)


def test_no_bad_query_string_gives_a_page_a_5xx(world):
    paths, lead, annotator = world
    queries = [
        *QUERIES,  # and every form field name of the pages at once, as a filter might read it
        "?" + "&".join(f"{name}=a%00b" for name in _form_fields()),
        "?" + "&".join(f"{name}=%ff%fe" for name in _form_fields()),
        "?" + "&".join(f"{name}=1{'0' * 400}" for name in _form_fields()),
    ]
    failures = []
    for user in (lead, annotator):  # a visitor not logged in is sent to the login page
        browser = Client(raise_request_exception=False)
        browser.force_login(user)
        for path, _ in paths:
            if browser.get(path).status_code == 405:  # POST only: no query string is read
                continue
            for query in queries:
                response = browser.get(path + query)
                if response.status_code >= 500:
                    failures.append((path + query[:40], response.status_code))
    assert failures == []


def _form_fields() -> list[str]:
    """Every form field a page reads: the templates' inputs and the console's Django forms."""
    from console.forms import ProjectSettingsForm

    names = set()
    for template in (settings.BASE_DIR / "templates").rglob("*.html"):
        names |= set(re.findall(r'name="([a-z_0-9]+)"', template.read_text()))
    return sorted(names | set(ProjectSettingsForm.base_fields) | {"email", "file", "url"})


HUGE = "1" + "0" * 400
FORM_VALUES = {
    "NUL": "a\x00b",
    "huge integer": HUGE,
    "huge float": "1e400",
    "NaN": "NaN",
    "deep JSON": "[" * 50_000 + "]" * 50_000,
    "long": "x" * 100_000,
    "JSON not storable": '{"x": "\\ud800", "y": [NaN, -Infinity], "z": 1e400}',
}


def test_no_bad_form_gives_a_page_a_5xx(world):
    paths, lead, annotator = world
    fields = _form_fields()
    assert {"guidelines", "response", "rating", "metadata", "data", "name"} <= set(fields)
    failures = []
    for user in (annotator, lead):  # the lead's posts may change the annotator's role
        browser = Client(raise_request_exception=False)
        browser.force_login(user)
        for path, _ in paths:
            if path == "/logout/":
                continue
            for label, value in FORM_VALUES.items():
                response = browser.post(path, dict.fromkeys(fields, value))
                if response.status_code >= 500:
                    failures.append((path, label, response.status_code))
            invalid = browser.post(
                path,
                b"name=%ff%fe&guidelines=%c3&response=%ed%a0%80&"
                + b"&".join(f"{field}=%ff".encode() for field in fields),
                content_type="application/x-www-form-urlencoded",
            )
            if invalid.status_code >= 500:
                failures.append((path, "invalid utf-8", invalid.status_code))
        assert browser.get("/account/").status_code == 200  # still logged in: the views ran
    assert failures == []


def test_every_page_is_served_under_the_policy_headers_and_htmx_refuses_eval(world):
    paths, lead, _ = world
    browser = Client()
    browser.force_login(lead)
    pages = 0
    for path, _ in paths:
        response = browser.get(path)
        if response.status_code != 200 or "text/html" not in response["Content-Type"]:
            continue
        pages += 1
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, path
        assert response["X-Frame-Options"] == "DENY", path
        assert response["Referrer-Policy"] == "same-origin", path
        html = response.content.decode()
        if "<html" in html:  # a whole page, not an htmx fragment
            assert "script-src 'self' 'nonce-" in policy, path
            config = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', html).group(1)
            assert '"allowEval":false' in config and '"allowScriptTags":false' in config, path
            assert '"selfRequestsOnly":true' in config, path
            # no inline script (data for scripts comes as json_script, which never runs)
            inline = r'<script(?![^>]*\b(?:src=|type="application/json"))[^>]*>'
            assert not re.search(inline, html), path
    assert pages > 20
