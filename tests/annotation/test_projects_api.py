import pytest

from annotation import kinds
from annotation.models import Membership, Project, Role
from core.models import AuditEvent
from tests.factories import UserFactory


@pytest.fixture
def user(db):
    """A staff user: staff create projects (PROJECT_CREATORS=staff, the default)."""
    return UserFactory(is_staff=True)


def test_creating_a_project_makes_the_caller_its_lead(make_api, user):
    response = make_api(user).post(
        "/api/v1/projects/", {"name": "Safety v2", "annotations_per_item": 3}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "lead" and body["annotations_per_item"] == 3
    assert body["categories"][0] == "summarization" and body["kinds"] == list(kinds.names())
    assert Membership.objects.get(project_id=body["id"], user=user).role == Role.LEAD


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({}, "name"),
        ({"name": "x", "annotations_per_item": 0}, "annotations_per_item"),
        ({"name": "x", "review_sample_rate": 1.5}, "review_sample_rate"),
        ({"name": "x", "lease_seconds": 10}, "lease_seconds"),
        ({"name": "x", "kinds": ["essay"]}, "kinds"),
        ({"name": "x", "kinds": []}, "kinds"),
        ({"name": "x", "categories": ["a", "a"]}, "categories"),
        ({"name": "x", "auto_approve_text": "yes"}, "auto_approve_text"),
        ({"name": "x", "colour": "blue"}, "colour"),
    ],
)
def test_invalid_settings_are_a_400_naming_the_field(make_api, user, settings, field):
    response = make_api(user).post("/api/v1/projects/", settings, format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert not Project.objects.exists()


def test_a_non_object_body_is_a_400(make_api, user):
    response = make_api(user).post("/api/v1/projects/", [1, 2], format="json")
    assert response.status_code == 400


def test_patch_changes_settings_bumps_the_guidelines_version_and_audits(project, lead, make_api):
    response = make_api(lead).patch(
        f"/api/v1/projects/{project.pk}/",
        {"guidelines": "# Be kind", "gold_rate": 0.05},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["guidelines_version"] == 2
    event = AuditEvent.objects.get(action="project.update")
    assert event.before == {"gold_rate": 0.0, "guidelines": ""}
    assert event.after == {"gold_rate": 0.05, "guidelines": "# Be kind"}


def test_lead_adds_a_member_and_changes_the_role(project, lead, make_api):
    newcomer = UserFactory()
    client = make_api(lead)
    url = f"/api/v1/projects/{project.pk}/members/"
    added = client.post(url, {"username": newcomer.username, "role": "annotator"}, format="json")
    assert added.status_code == 201
    changed = client.post(url, {"username": newcomer.username, "role": "reviewer"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "reviewer"
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["membership.add", "membership.change"]


def test_adding_an_unknown_user_or_role_is_a_400(project, lead, make_api):
    url = f"/api/v1/projects/{project.pk}/members/"
    client = make_api(lead)
    assert (
        client.post(url, {"username": "ghost", "role": "annotator"}, format="json").status_code
        == 400
    )
    assert (
        client.post(url, {"username": lead.username, "role": "boss"}, format="json").status_code
        == 400
    )


def test_the_last_lead_cannot_be_demoted_or_removed(project, lead, make_api):
    client = make_api(lead)
    demote = client.post(
        f"/api/v1/projects/{project.pk}/members/",
        {"username": lead.username, "role": "annotator"},
        format="json",
    )
    assert demote.status_code == 409
    remove = client.delete(f"/api/v1/projects/{project.pk}/members/{lead.pk}/")
    assert remove.status_code == 409
    assert Membership.objects.get(project=project, user=lead).role == Role.LEAD


def test_lead_removes_a_member(project, lead, annotator, make_api):
    response = make_api(lead).delete(f"/api/v1/projects/{project.pk}/members/{annotator.pk}/")
    assert response.status_code == 204
    assert not Membership.objects.filter(project=project, user=annotator).exists()


def test_a_user_who_is_not_staff_gets_403_by_default(make_api, annotator, project):
    response = make_api(annotator).post("/api/v1/projects/", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    assert "PROJECT_CREATORS" in response.json()["detail"]
    assert not Project.objects.filter(name="Mine").exists()


def test_everyone_creates_projects_when_the_setting_says_so(make_api, settings, db):
    settings.PROJECT_CREATORS = "everyone"
    plain = UserFactory()
    response = make_api(plain).post("/api/v1/projects/", {"name": "Mine"}, format="json")
    assert response.status_code == 201
    assert Membership.objects.get(project_id=response.json()["id"], user=plain).role == Role.LEAD
