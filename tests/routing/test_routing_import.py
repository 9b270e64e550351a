"""Production items at import: a prediction validated like an annotation, and the routing
policy deciding auto / audit / human with the rule that fired."""

import json
import math

import pytest

from annotation import kinds
from annotation.models import Item, ItemStatus, ItemTally
from core.models import AuditEvent
from review.models import FinalRecord
from routing.policy import audit_draw
from tests.factories import item_row


def url(project):
    return f"/api/v1/projects/{project.pk}/items/"


@pytest.fixture
def client(lead, make_api):
    return make_api(lead)


def push(client, project, rows):
    return client.generic("POST", url(project), json.dumps(rows), content_type="application/json")


def refusal(n, confidence, decision="refuse", **extra):
    return item_row(
        kinds.REFUSAL,
        n,
        prediction={
            "payload": {"decision": decision, "response": "I can't help.", "harm_category": "none"},
            "confidence": confidence,
            "model": "prod-7b",
        },
        source="production",
        **extra,
    )


def settle(project, **values):
    for key, value in values.items():
        setattr(project, key, value)
    project.save()


@pytest.mark.parametrize(
    "prediction, field",
    [
        ({"payload": {"decision": "maybe"}, "confidence": 0.9}, "prediction.payload.decision"),
        (
            {
                "payload": {"decision": "refuse", "response": "x", "harm_category": "none"},
                "confidence": 1.5,
            },
            "prediction.confidence",
        ),
        (
            {
                "payload": {"decision": "refuse", "response": "x", "harm_category": "none"},
                "confidence": "high",
            },
            "prediction.confidence",
        ),
        (
            {
                "payload": {"decision": "refuse", "response": "x", "harm_category": "none"},
                "confidence": True,
            },
            "prediction.confidence",
        ),
        (
            {"payload": {"decision": "refuse", "response": "x", "harm_category": "none"}},
            "prediction.confidence",
        ),
        ({"confidence": 0.5}, "prediction.payload"),
        (
            {
                "payload": {"decision": "refuse", "response": "x", "harm_category": "none"},
                "confidence": 0.5,
                "extra": 1,
            },
            "prediction.extra",
        ),
        ("yes", "prediction"),
    ],
)
def test_an_invalid_prediction_is_a_400_per_item_and_nothing_is_written(
    client, project, prediction, field
):
    good = refusal(1, 0.9)
    bad = item_row(kinds.REFUSAL, 2, prediction=prediction)
    response = push(client, project, [good, bad])
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} >= {(1, field)}
    assert all(e["index"] == 1 for e in errors)
    assert not Item.objects.filter(project=project).exists()


def test_a_confidence_that_is_not_finite_is_refused(client, project):
    row = refusal(1, 0.5)
    row["prediction"]["confidence"] = math.inf
    body = json.dumps([row], allow_nan=True)
    response = client.generic("POST", url(project), body, content_type="application/json")
    assert response.status_code == 400


def test_unknown_source_and_empty_signal_are_400(client, project):
    response = push(
        client, project, [refusal(1, 0.9) | {"source": "web"}, refusal(2, 0.9) | {"signal": " "}]
    )
    assert response.status_code == 400
    assert {(e["index"], e["field"]) for e in response.json()["errors"]} == {
        (0, "source"),
        (1, "signal"),
    }


def test_items_route_at_above_and_below_the_threshold(client, project):
    settle(project, auto_accept_above=0.9, audit_rate=0.0, always_review=[])
    rows = [refusal(1, 0.9), refusal(2, 0.95), refusal(3, 0.89999), item_row(kinds.REFUSAL, 4)]
    assert push(client, project, rows).status_code == 201
    items = {i.external_id: i for i in Item.objects.filter(project=project)}
    at, above, below, none = (items[f"refusal-{n}"] for n in (1, 2, 3, 4))
    assert (at.route, at.route_rule, at.status) == ("auto", "above_threshold", "approved")
    assert (above.route, above.status) == ("auto", "approved")
    assert (below.route, below.route_rule, below.status) == ("human", "below_threshold", "open")
    assert (none.route, none.status) == ("", "open")
    final = FinalRecord.objects.get(item=at, is_current=True)
    assert final.provenance == "auto"
    assert final.payload == rows[0]["prediction"]["payload"]
    assert final.approved_by is None
    assert at.prediction == {**rows[0]["prediction"], "confidence": 0.9}
    tallies = {(t.status, t.count) for t in ItemTally.objects.filter(project=project)}
    assert tallies == {("approved", 2), ("open", 2)}


def test_auto_acceptance_is_off_by_default(client, project):
    assert project.auto_accept_above is None
    push(client, project, [refusal(1, 0.99)])
    item = Item.objects.get(project=project)
    assert (item.route, item.route_rule, item.status) == ("human", "auto_accept_off", "open")


@pytest.mark.parametrize(
    "rule, extra, fired",
    [
        ({"signal": True}, {"signal": "user_thumbs_down"}, "signal"),
        ({"tag": "vip"}, {"metadata": {"tags": ["vip"]}}, "tag:vip"),
        ({"category": "medical"}, {"metadata": {"category": "medical"}}, "category:medical"),
        ({"decision_not": "comply"}, {}, "decision_not:comply"),
    ],
)
def test_always_review_rules_send_items_to_people_whatever_their_confidence(
    client, project, rule, extra, fired
):
    settle(project, auto_accept_above=0.5, audit_rate=0.0, always_review=[rule])
    push(client, project, [refusal(1, 0.99, **extra)])
    item = Item.objects.get(project=project)
    assert (item.route, item.route_rule, item.status) == ("human", fired, "open")


def test_a_rule_that_does_not_fire_leaves_the_item_to_the_threshold(client, project):
    settle(
        project,
        auto_accept_above=0.5,
        audit_rate=0.0,
        always_review=[{"decision_not": "refuse"}, {"signal": True}],
    )
    push(client, project, [refusal(1, 0.99)])
    assert Item.objects.get(project=project).route == "auto"


def test_the_audit_share_is_within_binomial_tolerance_and_stable_on_reimport(client, project):
    settle(project, auto_accept_above=0.5, audit_rate=0.05, always_review=[])
    n = 10_000
    rows = [
        item_row(kinds.PREFERENCE, i, prediction={"payload": {"rating": 2}, "confidence": 0.9})
        for i in range(n)
    ]
    assert push(client, project, rows).status_code == 201
    audited = set(
        Item.objects.filter(project=project, route="audit").values_list("external_id", flat=True)
    )
    sd = math.sqrt(n * 0.05 * 0.95)
    assert abs(len(audited) - n * 0.05) < 4 * sd
    assert Item.objects.filter(project=project, route="auto").count() == n - len(audited)
    assert audited == {
        r["external_id"] for r in rows if audit_draw(project.pk, r["external_id"]) < 0.05
    }
    # The same items, imported again: unchanged, and the same ones audited.
    response = push(client, project, rows)
    assert response.json()["unchanged"] == n
    again = set(
        Item.objects.filter(project=project, route="audit").values_list("external_id", flat=True)
    )
    assert again == audited


def test_the_audit_draw_is_the_same_items_in_a_fresh_import(client, project, make_api, lead):
    settle(project, auto_accept_above=0.5, audit_rate=0.2, always_review=[])
    rows = [refusal(i, 0.9) for i in range(300)]
    push(client, project, rows)
    first = set(
        Item.objects.filter(project=project, route="audit").values_list("external_id", flat=True)
    )
    Item.objects.filter(project=project).delete()
    FinalRecord.objects.filter(project=project).delete()
    push(client, project, rows)
    second = set(
        Item.objects.filter(project=project, route="audit").values_list("external_id", flat=True)
    )
    assert first == second and 30 < len(first) < 90


def test_routing_is_audited_with_the_rules_that_fired(client, project):
    settle(project, auto_accept_above=0.8, audit_rate=0.0, always_review=[{"signal": True}])
    push(client, project, [refusal(1, 0.9), refusal(2, 0.5), refusal(3, 0.9, signal="policy_flag")])
    event = AuditEvent.objects.get(project=project, action="items.route")
    assert event.after["routed"] == {
        "auto:above_threshold": 1,
        "human:below_threshold": 1,
        "human:signal": 1,
    }
    assert event.after["auto_accepted"] == 1


def test_an_auto_accepted_item_cannot_change_by_reimport_but_its_metadata_can(client, project):
    settle(project, auto_accept_above=0.5, audit_rate=0.0, always_review=[])
    push(client, project, [refusal(1, 0.9)])
    changed = refusal(1, 0.4)
    response = push(client, project, [changed])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "data"
    response = push(client, project, [refusal(1, 0.9, metadata={"note": "x"})])
    assert response.json()["updated"] == 1
    item = Item.objects.get(project=project)
    assert (item.route, item.status) == ("auto", "approved")


def test_a_changed_prediction_of_an_open_item_routes_it_again(client, project):
    settle(project, auto_accept_above=0.8, audit_rate=0.0, always_review=[])
    push(client, project, [refusal(1, 0.5)])
    assert Item.objects.get(project=project).route_rule == "below_threshold"
    response = push(client, project, [refusal(1, 0.95)])
    assert response.json()["updated"] == 1
    item = Item.objects.get(project=project)
    assert (item.route, item.status) == ("auto", "approved")
    assert FinalRecord.objects.filter(item=item, is_current=True, provenance="auto").count() == 1
    assert {(t.status, t.count) for t in ItemTally.objects.filter(project=project)} == {
        ("approved", 1),
        ("open", 0),
    }


def test_item_detail_shows_route_rule_and_prediction(client, project, reviewer, make_api):
    settle(project, auto_accept_above=0.8, audit_rate=0.0, always_review=[])
    push(client, project, [refusal(1, 0.95), refusal(2, 0.5, signal="novel_topic")])
    auto = Item.objects.get(project=project, external_id="refusal-1")
    body = client.get(f"/api/v1/items/{auto.pk}/").json()
    assert (body["route"], body["route_rule"], body["status"]) == (
        "auto",
        "above_threshold",
        "approved",
    )
    assert body["final_record"]["provenance"] == "auto"
    assert body["prediction"]["confidence"] == 0.95
    assert body["prediction"]["model"] == "prod-7b"
    assert body["source"] == "production"
    other = Item.objects.get(project=project, external_id="refusal-2")
    body = client.get(f"/api/v1/items/{other.pk}/").json()
    assert (body["route"], body["route_rule"], body["signal"]) == (
        "human",
        "below_threshold",
        "novel_topic",
    )
    # Reviewers never read the confidence (nor the model's name); the answer itself only
    # where they review the item, as the review guards allow (tests/review/test_guards.py).
    blind = make_api(reviewer).get(f"/api/v1/items/{other.pk}/").json()
    assert blind["prediction"] is None


def test_an_item_without_a_prediction_reads_as_peoples(client, project):
    push(client, project, [item_row(kinds.REFUSAL, 1)])
    item = Item.objects.get(project=project)
    body = client.get(f"/api/v1/items/{item.pk}/").json()
    assert (body["route"], body["route_rule"], body["prediction"], body["source"]) == (
        "human",
        "no_prediction",
        None,
        "curated",
    )


def test_a_reopened_auto_item_is_peoples_from_then_on(client, project):
    settle(project, auto_accept_above=0.5, audit_rate=0.0, always_review=[])
    push(client, project, [refusal(1, 0.9)])
    item = Item.objects.get(project=project)
    response = client.post(f"/api/v1/items/{item.pk}/reopen/", {}, format="json")
    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert (item.status, item.route, item.route_rule) == ("in_review", "human", "reopened")
    assert not FinalRecord.objects.filter(item=item, is_current=True).exists()


def test_preference_certainty_is_the_margin(client, project):
    rows = [
        item_row(kinds.PREFERENCE, 1, prediction={"payload": {"rating": 0}, "confidence": 0.9}),
        item_row(kinds.PREFERENCE, 2, prediction={"payload": {"rating": -3}, "confidence": 0.6}),
        item_row(kinds.PREFERENCE, 3),
    ]
    push(client, project, rows)
    certainty = dict(Item.objects.filter(project=project).values_list("external_id", "certainty"))
    assert certainty == {
        "preference-1": 0.0,
        "preference-2": pytest.approx(0.6),
        "preference-3": None,
    }
    assert Item.objects.get(external_id="preference-1").status == ItemStatus.OPEN


def test_the_leads_item_page_shows_source_route_rule_and_prediction(client, project, lead):
    from django.test import Client

    settle(project, auto_accept_above=0.8, audit_rate=0.0, always_review=[{"signal": True}])
    push(client, project, [refusal(1, 0.95, signal="<b>flag</b>")])
    item = Item.objects.get(project=project)
    web = Client()
    web.force_login(lead)
    page = web.get(f"/projects/{project.pk}/items/{item.pk}/").content.decode()
    assert 'data-testid="route">human<' in page  # the signal rule fired
    assert 'data-testid="route-rule">signal<' in page
    assert "&lt;b&gt;flag&lt;/b&gt;" in page and "<b>flag</b>" not in page
    assert "confidence 0.95" in page and "prod-7b" in page


def test_a_reopened_auto_item_is_reviewed_like_any_other(client, project, reviewer, make_api):
    from django.test import Client

    settle(project, auto_accept_above=0.5, audit_rate=0.0, always_review=[])
    push(client, project, [refusal(1, 0.9)])
    item = Item.objects.get(project=project)
    assert client.post(f"/api/v1/items/{item.pk}/reopen/", {}, format="json").status_code == 200
    web = Client()
    web.force_login(reviewer)
    assert web.get(f"/projects/{project.pk}/review/").status_code == 200
    assert web.get(f"/projects/{project.pk}/review/items/{item.pk}/").status_code == 200
    final = {"decision": "comply", "response": "Here is how.", "harm_category": "none"}
    response = make_api(reviewer).post(
        f"/api/v1/items/{item.pk}/review/", {"decision": "approve", "final": final}, format="json"
    )
    assert response.status_code in (200, 201), response.content
    record = FinalRecord.objects.get(item=item, is_current=True)
    assert (record.provenance, record.payload) == ("edited", final)
