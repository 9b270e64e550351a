"""queue_order `uncertainty`: the least sure prediction first, still one indexed claim."""

import pytest
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Item, Membership, Role
from annotation.queue import _claimable
from tests.factories import ItemFactory, MembershipFactory, annotate


def claim(client, project):
    return client.post(f"/api/v1/projects/{project.pk}/claim/")


def skip(client, assignment_id):
    return client.post(f"/api/v1/assignments/{assignment_id}/skip/")


def _served(client, project, n):
    order = []
    for _ in range(n):
        body = claim(client, project).json()
        order.append(body["item"]["id"])
        assert skip(client, body["assignment"]["id"]).status_code == 200
    return order


@pytest.fixture
def annotator_api(project, make_api):
    return make_api(MembershipFactory(project=project, role=Role.ANNOTATOR).user)


def _items(project):
    return {
        name: ItemFactory(project=project, certainty=certainty, priority=priority)
        for name, certainty, priority in (
            ("sure", 0.95, 10.0),
            ("unsure", 0.2, 0.0),
            ("none", None, 100.0),
            ("middling", 0.6, 5.0),
        )
    }


def test_uncertainty_order_serves_the_least_sure_first_and_items_without_a_prediction_last(
    project, annotator_api
):
    project.queue_order = "uncertainty"
    project.save()
    items = _items(project)
    order = _served(annotator_api, project, 4)
    assert order == [items[n].pk for n in ("unsure", "middling", "sure", "none")]


def test_priority_order_is_unchanged(project, annotator_api):
    items = _items(project)
    order = _served(annotator_api, project, 4)
    assert order == [items[n].pk for n in ("none", "sure", "middling", "unsure")]


def test_partly_annotated_items_still_come_first_in_uncertainty_order(project, annotator_api):
    project.queue_order = "uncertainty"
    project.save()
    items = _items(project)
    other = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    annotate(items["sure"], other, {"rating": 1})  # one of its two annotations
    assert Item.objects.get(pk=items["sure"].pk).submitted_count == 1
    assert claim(annotator_api, project).json()["item"]["id"] == items["sure"].pk


def test_the_settings_api_takes_queue_order_and_refuses_an_unknown_one(project, lead, make_api):
    api = make_api(lead)
    url = f"/api/v1/projects/{project.pk}/"
    response = api.patch(url, {"queue_order": "random"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "queue_order"
    assert api.patch(url, {"queue_order": "uncertainty"}, format="json").status_code == 200
    project.refresh_from_db()
    assert project.queue_order == "uncertainty"


def test_the_uncertainty_claim_is_an_index_scan_on_postgresql(project, require_postgres):
    project.queue_order = "uncertainty"
    project.save()
    member = MembershipFactory(project=project, role=Role.ANNOTATOR)
    Item.objects.bulk_create(
        ItemFactory.build(project=project, external_id=f"bulk-{n}", certainty=(n % 997) / 997)
        for n in range(5_000)
    )
    membership = Membership.objects.select_related("project").get(pk=member.pk)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotation_item")
        query = _claimable(membership, timezone.now()).select_for_update(
            skip_locked=True, of=("self",)
        )[:1]
        plan = query.explain()
    assert "item_queue_uncertainty" in plan
    assert "Index Scan" in plan
    assert "Sort" not in plan  # the index gives the order: no sort of the open items


def test_a_threshold_outside_0_to_1_or_a_bad_rule_is_a_400(project, lead, make_api):
    api = make_api(lead)
    url = f"/api/v1/projects/{project.pk}/"
    for body, field in (
        ({"auto_accept_above": 1.5}, "auto_accept_above"),
        ({"auto_accept_above": -0.1}, "auto_accept_above"),
        ({"auto_accept_above": "high"}, "auto_accept_above"),
        ({"audit_rate": 2}, "audit_rate"),
        ({"calibration_target": 0}, "calibration_target"),
        ({"always_review": [{"signal": False}]}, "always_review"),
        ({"always_review": [{"colour": "red"}]}, "always_review"),
        ({"always_review": [{"tag": "a", "category": "b"}]}, "always_review"),
        ({"always_review": "signal"}, "always_review"),
    ):
        response = api.patch(url, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field
    response = api.patch(url, {"auto_accept_above": 0.9, "audit_rate": 0}, format="json")
    assert response.status_code == 200
    assert response.json()["auto_accept_above"] == 0.9
    response = api.patch(url, {"auto_accept_above": None}, format="json")
    assert response.status_code == 200 and response.json()["auto_accept_above"] is None


def test_the_settings_page_warns_when_audits_are_off_with_auto_acceptance_on(project, lead):
    from django.test import Client

    project.auto_accept_above, project.audit_rate = 0.9, 0.0
    project.save()
    web = Client()
    web.force_login(lead)
    page = web.get(f"/projects/{project.pk}/settings/").content.decode()
    assert 'data-testid="audit-off"' in page
    assert 'name="always_review"' in page


def test_the_one_statement_claim_takes_fresh_items_from_the_uncertainty_index(
    project, require_postgres
):
    """The claim as PostgreSQL runs it (annotation/queue_sql.py) orders fresh items by the
    same index as the ORM's query: no sort of the open items."""
    from annotation import queue, queue_sql

    member = MembershipFactory(project=project, role=Role.ANNOTATOR)
    Item.objects.bulk_create(
        ItemFactory.build(project=project, external_id=f"bulk-{n}", certainty=(n % 997) / 997)
        for n in range(5_000)
    )
    params = {
        "membership": member.pk,
        "project": project.pk,
        "user": member.user_id,
        "now": timezone.now(),
        "sided": queue._sided_kinds(),
    }
    plans = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_item")
        for order in ("priority", "uncertainty"):
            cursor.execute("EXPLAIN " + queue_sql.typed(queue_sql.claim_sql(order)), params)
            plans[order] = "\n".join(row[0] for row in cursor.fetchall())
    # the fresh probe's part of each plan, up to the next CTE
    fresh = {
        order: plan.split("\n  CTE fresh")[1].split("\n  CTE ")[0] for order, plan in plans.items()
    }
    assert "item_queue_uncertainty" in fresh["uncertainty"]
    assert "item_queue_uncertainty" not in fresh["priority"]
    assert "Sort" not in fresh["uncertainty"]
