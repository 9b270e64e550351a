"""The lead's webhooks page and an endpoint's delivery log."""

from annotation.models import Role
from tests.factories import MembershipFactory
from webhooks.models import Delivery, DeliveryState, Endpoint


def page(project):
    return f"/projects/{project.pk}/webhooks/"


def test_the_nav_links_the_page_for_leads_only(client, project, lead):
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/exports/").content.decode()
    assert f'href="{page(project)}"' in html
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    client.force_login(annotator)
    assert client.get(page(project)).status_code == 403


def test_adding_an_endpoint_shows_the_secret_once(client, project, lead, receiver):
    client.force_login(lead)
    response = client.post(
        f"/projects/{project.pk}/webhooks/new/",
        {"url": receiver.url, "events": ["item.approved", "item.rejected"], "description": "CI"},
    )
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    html = response.content.decode()
    assert 'data-testid="webhook-secret"' in html and endpoint.secret in html
    again = client.get(page(project)).content.decode()
    assert endpoint.secret not in again and receiver.url in again


def test_a_refused_url_is_said_on_the_form(client, project, lead, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    client.force_login(lead)
    response = client.post(
        f"/projects/{project.pk}/webhooks/new/",
        {"url": "http://10.0.0.1/<b>x</b>", "events": ["item.approved"]},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="url-error"' in html and "private address" in html
    assert "<b>x</b>" not in html
    assert not Endpoint.objects.exists()


def test_turning_off_and_on_and_deleting(client, project, lead, receiver):
    endpoint = Endpoint.objects.create(
        project=project, url=receiver.url, secret="s", events=["item.approved"]
    )
    client.force_login(lead)
    client.post(f"/webhooks/{endpoint.pk}/toggle/", {"active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.active
    client.post(f"/webhooks/{endpoint.pk}/toggle/", {"active": "1"})
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.disabled_reason == ""
    client.post(f"/webhooks/{endpoint.pk}/delete/")
    assert not Endpoint.objects.exists()


def test_the_log_shows_deliveries_and_redelivers(
    client, project, lead, receiver, django_capture_on_commit_callbacks
):
    endpoint = Endpoint.objects.create(
        project=project, url=receiver.url, secret="s", events=["export.finished"]
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event_type="export.finished",
        event={"project_id": project.pk, "export_id": 999, "status": "done"},
        state=DeliveryState.FAILED,
        attempts=1,
        response_code=500,
        error="The receiver answered 500.",
        next_attempt_at=endpoint.created_at,
        created_at=endpoint.created_at,
    )
    client.force_login(lead)
    html = client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert f'id="delivery-{delivery.pk}"' in html and "The receiver answered 500." in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/deliveries/{delivery.pk}/redeliver/", follow=True)
    assert 'data-testid="redelivered"' in response.content.decode()
    (request,) = receiver.wait(1)
    assert request.json["data"]["export"]["id"] == 999
    assert Delivery.objects.filter(redelivery_of=delivery, state="delivered").exists()
    other = MembershipFactory(project=project, role=Role.REVIEWER).user
    client.force_login(other)
    assert client.get(f"/webhooks/{endpoint.pk}/").status_code == 403
