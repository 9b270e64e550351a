"""`?route=auto|audit|human` on the items API and the lead's items browser (annotation.filters)."""

import pytest
from django.test import Client

from annotation.models import ItemStatus, Role
from tests.factories import ItemFactory, MembershipFactory


@pytest.fixture
def routed(project):
    prediction = {"payload": {"rating": 1}, "confidence": 0.9}
    for external_id, route, status in (
        ("auto", "auto", ItemStatus.APPROVED),
        ("audit", "audit", ItemStatus.OPEN),
        ("human", "human", ItemStatus.OPEN),
    ):
        ItemFactory(
            project=project,
            external_id=external_id,
            route=route,
            route_rule="x",
            status=status,
            prediction=prediction,
            certainty=0.9,
        )
    ItemFactory(project=project, external_id="unrouted")  # no prediction: routing never saw it


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {row["external_id"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("route", "expected"),
    [("auto", {"auto"}), ("audit", {"audit"}), ("human", {"human", "unrouted"})],
)
def test_the_items_api_filters_by_route(project, lead, make_api, routed, route, expected):
    url = f"/api/v1/projects/{project.pk}/items/"
    assert _ids(make_api(lead).get(url, {"route": route})) == expected


def test_no_route_filter_lists_every_item(project, lead, make_api, routed):
    url = f"/api/v1/projects/{project.pk}/items/"
    assert _ids(make_api(lead).get(url, {"route": ""})) == {"auto", "audit", "human", "unrouted"}


def test_a_bad_route_is_a_400_naming_the_allowed_values(project, lead, make_api, routed):
    response = make_api(lead).get(f"/api/v1/projects/{project.pk}/items/", {"route": "robot"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "route", "message": "robot is not a route: use auto, audit or human."}
    ]


def test_reviewers_filter_by_route_too(project, make_api, routed):
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    url = f"/api/v1/projects/{project.pk}/items/"
    assert _ids(make_api(reviewer).get(url, {"route": "audit"})) == {"audit"}


def test_the_items_browser_filters_by_route(project, lead, routed):
    web = Client()
    web.force_login(lead)
    response = web.get(f"/projects/{project.pk}/items/", {"route": "audit"})
    assert response.status_code == 200
    assert [row["item"].external_id for row in response.context["rows"]] == ["audit"]
    html = response.content.decode()
    assert '<option value="audit" selected>Audit sample</option>' in html
    assert '<option value="auto">Auto-accepted</option>' in html
    bad = web.get(f"/projects/{project.pk}/items/", {"route": "robot"})
    assert "robot is not a route" in bad.content.decode()
