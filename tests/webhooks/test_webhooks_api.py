"""The webhooks REST API: leads only, the secret shown once, validation, the log."""

import pytest

from annotation.models import Role
from core.models import AuditEvent
from core.tokens import token_for
from tests.factories import MembershipFactory, ProjectFactory
from webhooks.models import Delivery, DeliveryState, Endpoint


def url(project):
    return f"/api/v1/projects/{project.pk}/webhooks/"


@pytest.fixture
def hook(project, lead, make_api, receiver):
    response = make_api(lead).post(
        url(project),
        {"url": receiver.url, "events": ["item.approved", "export.finished"]},
        format="json",
    )
    assert response.status_code == 201
    return response.json()


def test_a_lead_registers_an_endpoint_and_sees_its_secret_once(project, lead, make_api, hook):
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert hook["events"] == ["item.approved", "export.finished"]
    assert hook["active"] is True and hook["project"] == project.pk
    client = make_api(lead)
    listed = client.get(url(project)).json()
    assert [e["id"] for e in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in client.get(f"/api/v1/webhooks/{hook['id']}/").json()
    assert AuditEvent.objects.filter(action="webhook.create").exists()


def test_two_endpoints_get_different_secrets(project, lead, make_api, receiver, hook):
    other = make_api(lead).post(
        url(project), {"url": receiver.url, "events": ["item.rejected"]}, format="json"
    )
    assert other.json()["secret"] != hook["secret"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1:1/h", "events": []}, "events"),
        ({"url": "http://127.0.0.1:1/h", "events": ["item.exploded"]}, "events"),
        ({"url": "http://127.0.0.1:1/h"}, "events"),
        ({"events": ["item.approved"]}, "url"),
        ({"url": "not a url", "events": ["item.approved"]}, "url"),
        ({"url": "ftp://127.0.0.1/h", "events": ["item.approved"]}, "url"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(project, lead, make_api, body, field):
    response = make_api(lead).post(url(project), body, format="json")
    assert response.status_code == 400
    named = {str(error.get("field", "")).split(".")[0] for error in response.json()["errors"]}
    assert field in named, response.json()
    assert not Endpoint.objects.exists()


def test_reviewers_get_403_and_non_members_404(project, make_api, hook):
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    client = make_api(reviewer)
    assert client.get(url(project)).status_code == 403
    assert client.get(f"/api/v1/webhooks/{hook['id']}/").status_code == 403
    outsider = MembershipFactory(project=ProjectFactory(), role=Role.LEAD).user
    client = make_api(outsider)
    assert client.get(url(project)).status_code == 404
    assert client.get(f"/api/v1/webhooks/{hook['id']}/").status_code == 404
    assert client.patch(f"/api/v1/webhooks/{hook['id']}/", {"active": False}).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{hook['id']}/").status_code == 404
    assert client.get(f"/api/v1/webhooks/{hook['id']}/deliveries/").status_code == 404
    assert client.get("/api/v1/webhooks/x/").status_code == 404


def test_a_read_token_cannot_register(project, lead, api, receiver):
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user=lead, scope='read').key}")
    response = api.post(url(project), {"url": receiver.url, "events": ["item.approved"]})
    assert response.status_code == 403
    assert api.get(url(project)).status_code == 200


def test_patch_changes_events_and_turns_off(project, lead, make_api, hook):
    client = make_api(lead)
    response = client.patch(
        f"/api/v1/webhooks/{hook['id']}/",
        {"events": ["item.stalled"], "active": False},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["events"] == ["item.stalled"] and body["active"] is False
    assert body["disabled_reason"] == "Turned off by a lead."


def test_delete_removes_the_endpoint_and_its_log(project, lead, make_api, hook):
    endpoint = Endpoint.objects.get(pk=hook["id"])
    Delivery.objects.create(
        endpoint=endpoint,
        event_type="item.approved",
        next_attempt_at=endpoint.created_at,
        created_at=endpoint.created_at,
    )
    assert make_api(lead).delete(f"/api/v1/webhooks/{hook['id']}/").status_code == 204
    assert not Endpoint.objects.exists() and not Delivery.objects.exists()


def test_redeliver_to_a_disabled_endpoint_is_409(project, lead, make_api, hook):
    endpoint = Endpoint.objects.get(pk=hook["id"])
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event_type="item.approved",
        state=DeliveryState.FAILED,
        next_attempt_at=endpoint.created_at,
        created_at=endpoint.created_at,
    )
    client = make_api(lead)
    client.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"active": False}, format="json")
    response = client.post(f"/api/v1/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 409 and "disabled" in response.json()["detail"]
    outsider = MembershipFactory(project=ProjectFactory(), role=Role.LEAD).user
    assert (
        make_api(outsider).post(f"/api/v1/deliveries/{delivery.pk}/redeliver/").status_code == 404
    )
