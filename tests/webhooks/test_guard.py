"""The SSRF guard: only http(s) to public addresses unless WEBHOOKS_ALLOW_PRIVATE, checked at
registration and again at delivery (resolved then). Nothing here sends traffic off this
machine: refused URLs are only registered and refused, never called."""

import socket

import pytest

from annotation.models import Role
from tests.factories import MembershipFactory
from tests.review.review_fixtures import annotations_of, disputed_preference
from webhooks import guard
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint


@pytest.fixture
def guarded(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    return settings


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8000/hook", "loopback"),
        ("http://10.0.0.1/hook", "private"),
        ("http://10.255.255.254/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://100.64.0.1/", "not a public address"),
        ("http://0.0.0.0/", "private"),
        ("http://[::1]/hook", "loopback"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fc00::1]/hook", "private"),
        ("http://[::ffff:10.0.0.1]/hook", "private"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://localhost:8000/hook", "loopback"),
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(guarded, url, why):
    with pytest.raises(guard.UnsafeURL, match=why):
        guard.check(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "file:///etc/passwd",
        "gopher://example.org/",
        "javascript:alert(1)",
        "http://user:secret@93.184.216.34/",
        "http:///nohost",
        "",
    ],
)
def test_only_plain_http_and_https_urls_are_accepted(guarded, url):
    with pytest.raises(guard.UnsafeURL):
        guard.check(url)


def test_public_addresses_are_accepted_without_being_called(guarded):
    target = guard.check("https://93.184.216.34:8443/hooks?x=1")
    assert target.addresses == ("93.184.216.34",)
    assert target.path == "/hooks?x=1" and target.port == 8443
    assert guard.check("http://[2606:4700:4700::1111]/").addresses == ("2606:4700:4700::1111",)


def test_a_name_that_resolves_to_a_private_address_is_refused(guarded, monkeypatch):
    fake_dns(monkeypatch, {"internal.example.org": ["10.1.2.3"]})
    with pytest.raises(guard.UnsafeURL, match=r"internal\.example\.org \(10\.1\.2\.3\)"):
        guard.check("https://internal.example.org/hook")


def test_a_name_with_one_private_address_among_public_ones_is_refused(guarded, monkeypatch):
    fake_dns(monkeypatch, {"mixed.example.org": ["93.184.216.34", "192.168.0.7"]})
    with pytest.raises(guard.UnsafeURL, match="private"):
        guard.check("https://mixed.example.org/hook")


def test_a_name_that_does_not_resolve_is_refused(guarded, monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(guard.UnsafeURL, match="does not resolve"):
        guard.check("https://nowhere.invalid/hook")


def test_the_setting_allows_loopback_for_local_development(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    assert guard.check("http://127.0.0.1:9/hook").addresses == ("127.0.0.1",)
    with pytest.raises(guard.UnsafeURL):
        guard.check("ftp://127.0.0.1/")  # never another scheme


@pytest.mark.parametrize(
    ("url", "why"),
    [("http://127.0.0.1:8000/hook", "loopback"), ("http://10.0.0.8/hook", "private")],
)
def test_the_api_answers_400_saying_why(guarded, project, lead, make_api, url, why):
    response = make_api(lead).post(
        f"/api/v1/projects/{project.pk}/webhooks/",
        {"url": url, "events": ["item.approved"]},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert why in body["detail"]
    assert body["errors"][0]["field"] == "url"
    assert not Endpoint.objects.exists()


def test_a_patch_to_a_private_url_is_refused(settings, project, lead, make_api):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    endpoint = Endpoint.objects.create(
        project=project, url="https://93.184.216.34/h", secret="s", events=["item.approved"]
    )
    response = make_api(lead).patch(
        f"/api/v1/webhooks/{endpoint.pk}/", {"url": "http://192.168.0.1/"}, format="json"
    )
    assert response.status_code == 400 and "private" in response.json()["detail"]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.216.34/h"


def test_a_name_that_turned_private_after_registration_is_not_called(
    settings, project, lead, make_api, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    """DNS rebinding: public at registration, loopback at delivery: refused, nothing sent."""
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    port = receiver.server.server_address[1]
    fake_dns(monkeypatch, {"rebind.example.org": ["93.184.216.34"]})
    created = make_api(lead).post(
        f"/api/v1/projects/{project.pk}/webhooks/",
        {"url": f"http://rebind.example.org:{port}/hook", "events": ["item.approved"]},
        format="json",
    )
    assert created.status_code == 201
    fake_dns(monkeypatch, {"rebind.example.org": ["127.0.0.1"]})
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    item = disputed_preference(project)
    with django_capture_on_commit_callbacks(execute=True):
        decided = make_api(reviewer).post(
            f"/api/v1/items/{item.pk}/review/",
            {"decision": "approve", "annotation": annotations_of(item)[0].pk},
            format="json",
        )
    assert decided.status_code == 201
    assert receiver.received == []
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and "loopback" in delivery.error
    assert Attempt.objects.get().error.startswith("Refused")
