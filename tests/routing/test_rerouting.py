"""A lead changes the routing policy: untouched items are routed again (routing/rerouting.py)."""

import pytest
from django.test import Client

from annotation.models import Item
from core.models import AuditEvent
from review.models import FinalRecord
from routing import rerouting
from routing.policy import audit_draw
from tests.console.test_settings import VALID
from tests.factories import MembershipFactory, annotate, lease, tally_rows
from tests.routing.test_routing_import import push, refusal, settle

PAYLOAD = {"decision": "refuse", "response": "I can't help.", "harm_category": "none"}


@pytest.fixture
def client(lead, make_api):
    return make_api(lead)


def numbers(project, count, *, audited, start=0):
    """`count` item numbers whose external_id the audit draw puts below 0.5 (`audited`) or not."""
    found, n = [], start
    while len(found) < count:
        if (audit_draw(project.pk, f"refusal-{n}") < 0.5) == audited:
            found.append(n)
        n += 1
    return found


def state(project, n):
    item = Item.objects.get(project=project, external_id=f"refusal-{n}")
    return item.status, item.route, item.route_rule


def patch(client, project, **changes):
    response = client.patch(f"/api/v1/projects/{project.pk}/", changes, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_raising_the_threshold_leaves_approved_items_alone_and_sends_untouched_ones_below_it_to_people(  # noqa: E501
    project, client
):
    settle(project, auto_accept_above=0.5, audit_rate=0.5)
    auto = numbers(project, 1, audited=False)[0]
    mid, high = numbers(project, 2, audited=True)
    low = max(auto, high) + 1
    rows = [refusal(auto, 0.7), refusal(mid, 0.7), refusal(high, 0.95), refusal(low, 0.3)]
    assert push(client, project, rows).status_code == 201
    assert state(project, auto) == ("approved", "auto", "above_threshold")
    assert state(project, mid) == ("open", "audit", "audit_sample")

    body = patch(client, project, auto_accept_above=0.8)

    assert state(project, auto) == ("approved", "auto", "above_threshold")
    assert FinalRecord.objects.get(item__external_id=f"refusal-{auto}").is_current
    assert state(project, mid) == ("open", "human", "below_threshold")
    assert state(project, high) == ("open", "audit", "audit_sample")  # the same draw
    assert state(project, low) == ("open", "human", "below_threshold")
    assert body["rerouted"] == {
        "items": 3,
        "changed": 1,
        "auto_accepted": 0,
        "background": False,
    }
    event = AuditEvent.objects.filter(action="items.reroute").get()
    assert event.after["routed"] == {"audit:audit_sample": 1, "human:below_threshold": 2}
    assert event.after["moved"] == {"audit->human": 1}
    assert event.after["changed_external_ids"] == [f"refusal-{mid}"]
    assert event.after["auto_accept_above"] == 0.8


def test_lowering_the_threshold_auto_accepts_untouched_items_now_above_it(project, client, lead):
    settle(project, auto_accept_above=0.9, audit_rate=0.0)
    rows = [refusal(1, 0.7), refusal(2, 0.4), refusal(3, 0.95)]
    assert push(client, project, rows).status_code == 201
    assert state(project, 1) == ("open", "human", "below_threshold")

    body = patch(client, project, auto_accept_above=0.6)

    assert state(project, 1) == ("approved", "auto", "above_threshold")
    assert state(project, 2) == ("open", "human", "below_threshold")
    record = FinalRecord.objects.get(item__external_id="refusal-1", is_current=True)
    assert (record.provenance, record.payload, record.decision) == ("auto", PAYLOAD, "refuse")
    assert FinalRecord.objects.filter(item__external_id="refusal-3").count() == 1
    assert body["rerouted"]["auto_accepted"] == 1
    assert tally_rows(project) == {("refusal", "approved", False): 2, ("refusal", "open", False): 1}
    event = AuditEvent.objects.filter(action="items.reroute").get()
    assert event.actor == lead
    assert event.after["routed"] == {"auto:above_threshold": 1, "human:below_threshold": 1}


def test_items_with_annotations_or_a_lease_are_never_touched(project, client):
    settle(project, auto_accept_above=0.9, audit_rate=0.0)
    assert push(client, project, [refusal(n, 0.7) for n in (1, 2, 3)]).status_code == 201
    annotated, leased, untouched = (
        Item.objects.get(project=project, external_id=f"refusal-{n}") for n in (1, 2, 3)
    )
    annotate(annotated, MembershipFactory(project=project).user, PAYLOAD)
    lease(leased, MembershipFactory(project=project).user)

    body = patch(client, project, auto_accept_above=0.5)

    assert state(project, 1) == ("open", "human", "below_threshold")
    assert state(project, 2) == ("open", "human", "below_threshold")
    assert state(project, 3) == ("approved", "auto", "above_threshold")
    assert body["rerouted"]["items"] == 1
    assert not FinalRecord.objects.filter(item__in=[annotated, leased]).exists()
    assert untouched.pk in FinalRecord.objects.values_list("item_id", flat=True)


def test_turning_auto_acceptance_on_audits_the_items_the_draw_picks(project, client):
    settle(project, auto_accept_above=None, audit_rate=0.5)
    audited = numbers(project, 3, audited=True)
    passed = numbers(project, 3, audited=False)
    push(client, project, [refusal(n, 0.9) for n in audited + passed])
    assert {state(project, n) for n in audited + passed} == {("open", "human", "auto_accept_off")}

    patch(client, project, auto_accept_above=0.8)

    assert {state(project, n) for n in audited} == {("open", "audit", "audit_sample")}
    assert {state(project, n) for n in passed} == {("approved", "auto", "above_threshold")}


def test_an_always_review_rule_sends_untouched_items_to_people(project, client):
    settle(project, auto_accept_above=0.5, audit_rate=1.0, always_review=[])
    push(client, project, [refusal(1, 0.9, metadata={"tags": ["vip"]}), refusal(2, 0.9)])
    assert state(project, 1) == ("open", "audit", "audit_sample")

    patch(client, project, always_review=[{"tag": "vip"}])

    assert state(project, 1) == ("open", "human", "tag:vip")
    assert state(project, 2) == ("open", "audit", "audit_sample")


def test_other_settings_reroute_nothing(project, client):
    settle(project, auto_accept_above=0.9, audit_rate=0.0)
    push(client, project, [refusal(1, 0.7)])
    body = patch(client, project, review_sample_rate=0.5)
    assert body["rerouted"] is None
    assert not AuditEvent.objects.filter(action="items.reroute").exists()


def test_a_large_change_is_rerouted_through_the_outbox(
    project, client, monkeypatch, django_capture_on_commit_callbacks
):
    settle(project, auto_accept_above=0.9, audit_rate=0.0)
    push(client, project, [refusal(n, 0.7) for n in (1, 2, 3)])
    monkeypatch.setattr(rerouting, "INLINE_MAX", 2)
    monkeypatch.setattr(rerouting, "_BATCH", 2)
    with django_capture_on_commit_callbacks(execute=True):
        body = patch(client, project, auto_accept_above=0.5)
    assert body["rerouted"] == {
        "items": 3,
        "changed": None,
        "auto_accepted": None,
        "background": True,
    }
    assert {state(project, n) for n in (1, 2, 3)} == {("approved", "auto", "above_threshold")}
    assert FinalRecord.objects.filter(project=project, provenance="auto").count() == 3
    event = AuditEvent.objects.filter(action="items.reroute").get()
    assert event.after["background"] is True
    assert event.after["routed"] == {"auto:above_threshold": 3}


def test_the_settings_page_tells_the_lead_how_many_items_were_rerouted(project, lead, client):
    settle(project, auto_accept_above=0.9, audit_rate=0.0)
    push(client, project, [refusal(1, 0.7), refusal(2, 0.4)])
    web = Client()
    web.force_login(lead)
    url = f"/projects/{project.pk}/settings/"
    data = {**VALID, "auto_accept_above": "0.6", "audit_rate": "0"}
    page = web.post(url, data, follow=True).content.decode()
    assert page.count('data-testid="flash"') == 1  # one message: the browser tests read it
    assert "Settings saved. The routing policy changed: 2 untouched items" in page
    assert "1 changed route, 1 auto-accepted now" in page
    assert state(project, 1) == ("approved", "auto", "above_threshold")
