"""Every object is reached through the caller's project membership: anything else is 404."""

import pytest
from django.test import Client

from annotation.models import Role
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory


@pytest.fixture
def other_project(db):
    project = ProjectFactory()
    owner = MembershipFactory(project=project, role=Role.LEAD).user
    item = ItemFactory(project=project)
    return project, owner, item


def project_b_urls(project, owner, item):
    p = project.pk
    return [
        ("get", f"/api/v1/projects/{p}/", None),
        ("patch", f"/api/v1/projects/{p}/", {"name": "taken"}),
        ("get", f"/api/v1/projects/{p}/members/", None),
        (
            "post",
            f"/api/v1/projects/{p}/members/",
            {"username": owner.username, "role": "annotator"},
        ),
        ("delete", f"/api/v1/projects/{p}/members/{owner.pk}/", None),
        ("get", f"/api/v1/projects/{p}/items/", None),
        ("post", f"/api/v1/projects/{p}/items/", []),
        ("get", f"/api/v1/items/{item.pk}/", None),
    ]


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER, Role.LEAD])
def test_a_member_of_project_a_gets_404_on_every_url_of_project_b(role, other_project, make_api):
    project_a = ProjectFactory()
    member = MembershipFactory(project=project_a, role=role).user
    client = make_api(member)
    for method, path, body in project_b_urls(*other_project):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json() == {"detail": response.json()["detail"]}
    project_b = other_project[0]
    project_b.refresh_from_db()
    assert project_b.name != "taken"


def test_project_list_shows_only_the_callers_projects(other_project, project, annotator, make_api):
    response = make_api(annotator).get("/api/v1/projects/")
    assert [p["id"] for p in response.json()] == [project.pk]
    assert response.json()[0]["role"] == "annotator"


def test_nonexistent_ids_are_404_not_500(make_api, user):
    client = make_api(user)
    assert client.get("/api/v1/projects/999999/").status_code == 404
    assert client.get("/api/v1/items/999999/").status_code == 404


def test_anonymous_callers_are_refused(api, project):
    response = api.get("/api/v1/projects/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_annotator_cannot_change_settings_or_members(project, annotator, make_api):
    client = make_api(annotator)
    assert (
        client.patch(
            f"/api/v1/projects/{project.pk}/", {"gold_rate": 0.5}, format="json"
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/projects/{project.pk}/members/",
            {"username": annotator.username, "role": "lead"},
            format="json",
        ).status_code
        == 403
    )


def test_non_staff_cannot_create_users(make_api, user):
    response = make_api(user).post("/api/v1/users/", {"username": "mallory"}, format="json")
    assert response.status_code == 403


def test_staff_creates_a_user_with_a_token_that_works(make_api, db):
    staff = UserFactory(is_staff=True)
    response = make_api(staff).post(
        "/api/v1/users/",
        {"username": "newbie", "password": "a-long-enough-passphrase"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "newbie" and "password" not in body
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/v1/projects/").status_code == 200


def test_user_creation_reports_a_weak_password_and_a_taken_name(make_api, db):
    staff = UserFactory(is_staff=True)
    client = make_api(staff)
    weak = client.post("/api/v1/users/", {"username": "bob", "password": "123"}, format="json")
    assert weak.status_code == 400
    assert weak.json()["errors"][0]["field"] == "password"
    client.post("/api/v1/users/", {"username": "carol"}, format="json")
    taken = client.post("/api/v1/users/", {"username": "Carol"}, format="json")
    assert taken.status_code == 409


def test_token_endpoint_exchanges_credentials(api, user):
    response = api.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": "correct-horse-battery"},
        format="json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token.startswith("rbc_") and len(token) == 47


def test_token_endpoint_rejects_bad_credentials_with_400(api, user):
    response = api.post(
        "/api/v1/auth/token/", {"username": user.username, "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Unable to log in with these credentials."}


def test_invalid_token_is_401(api, db):
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert api.get("/api/v1/projects/").status_code == 401


def test_csrf_is_enforced_on_session_posts(project, lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    response = client.post(
        f"/api/v1/projects/{project.pk}/items/", "[]", content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    client.get("/account/")
    token = client.cookies["csrftoken"].value
    response = client.patch(
        f"/api/v1/projects/{project.pk}/",
        '{"gold_rate": 0.2}',
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200


def test_csrf_is_enforced_on_page_forms(lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    assert client.post("/account/tokens/", {"name": "x", "scope": "read"}).status_code == 403
