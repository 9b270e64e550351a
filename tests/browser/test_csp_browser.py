"""Every page of every role runs under the Content-Security-Policy with nothing refused: no
inline script, no eval, nothing from another origin (Chromium reports a violation as a console
error, which fails the test)."""

import pytest
from django.urls import reverse

from agreement.services import agreement_report_request
from annotation import kinds
from annotation.models import Role
from review.services import final_record_create
from routing.services import calibration_report_request
from team.services import invitation_create
from tests.browser.conftest import login
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, annotate
from webhooks.models import Endpoint

pytestmark = pytest.mark.browser


def _pages(project, item, annotation, endpoint, token) -> dict[str, list[str]]:
    p = project.pk
    everyone = [
        reverse("team:accept", args=[token]),
        reverse("home"),
        reverse("account"),
        reverse("annotation:project", args=[p]),
        reverse("annotation:work", args=[p]),
        reverse("feedback:my-work", args=[p]),
    ]
    reviewer = [
        reverse("review:queue", args=[p]),
        reverse("review:list", args=[p]),
        reverse("review:open", args=[p, item.pk]),
        reverse("agreement:report", args=[p]),
        reverse("evaluation:report", args=[p]),
    ]
    lead = [
        reverse("console:new"),
        reverse("console:dashboard", args=[p]),
        reverse("console:items", args=[p]),
        reverse("console:item", args=[p, item.pk]),
        reverse("console:upload", args=[p]),
        reverse("console:guidelines", args=[p]),
        reverse("console:settings", args=[p]),
        reverse("console:members", args=[p]),
        reverse("team:invitations", args=[p]),
        reverse("exports:list", args=[p]),
        reverse("routing:report", args=[p]),
        reverse("webhooks:list", args=[p]),
        reverse("webhooks:deliveries", args=[endpoint.pk]),
    ]
    return {
        "annotator": [*everyone, reverse("feedback:change", args=[p, annotation.pk])],
        "reviewer": everyone + reviewer,
        "lead": everyone + reviewer + lead,
    }


def test_every_page_of_every_role_runs_under_the_policy(
    browser_page, django_capture_on_commit_callbacks
):
    project = ProjectFactory(annotations_per_item=2, review_sample_rate=0, gold_rate=0)
    people = {role: MembershipFactory(project=project, role=role).user for role in Role.values}
    people[Role.LEAD].is_staff = True  # staff create projects: the new project page
    people[Role.LEAD].save(update_fields=["is_staff"])
    others = [MembershipFactory(project=project).user for _ in range(2)]
    item = None
    for n, kind in enumerate(kinds.names()):
        ItemFactory(project=project, kind=kind, external_id=f"open-{kind}")
        if kind == "preference":
            # With a prediction: the review page shows the model's answer panel.
            item = ItemFactory(
                project=project,
                kind=kind,
                external_id=f"done-{n}",
                prediction={"payload": {"rating": 1}, "confidence": 0.7},
            )
            annotate(item, others[0], {"rating": -2})
            annotate(item, others[1], {"rating": 2})
    waiting = ItemFactory(project=project, external_id="waiting")
    annotation = annotate(waiting, people[Role.ANNOTATOR], {"rating": 1})
    # A production item judged by people, so the calibration page draws its diagram.
    predicted = ItemFactory(
        project=project,
        kind="preference",
        external_id="production-1",
        prediction={"payload": {"rating": 2}, "confidence": 0.8},
        route="human",
        route_rule="below_threshold",
    )
    final_record_create(
        item=predicted,
        payload={"rating": 1},
        provenance="adjudicated",
        source=None,
        approved_by=people[Role.LEAD],
    )
    with django_capture_on_commit_callbacks(execute=True):
        agreement_report_request(project=project, actor=people[Role.LEAD])
        calibration_report_request(project=project, actor=people[Role.LEAD])
    endpoint = Endpoint.objects.create(
        project=project, url="http://127.0.0.1:9/hook", secret="s", events=["item.approved"]
    )
    page = browser_page
    token = invitation_create(project=project, actor=people[Role.LEAD], role=Role.REVIEWER).token
    for role, urls in _pages(project, item, annotation, endpoint, token).items():
        page.context.clear_cookies()
        login(page, people[role])
        for url in urls:
            response = page.goto(url)
            assert response.status == 200, (role, url, response.status)
            policy = response.headers.get("content-security-policy", "")
            assert "script-src 'self' 'nonce-" in policy, (role, url)
            assert "frame-ancestors 'none'" in policy
            page.wait_for_load_state("networkidle")
            assert page.errors == [], (role, url, page.errors)
