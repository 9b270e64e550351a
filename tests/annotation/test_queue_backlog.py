"""Partly annotated items come first without the claim stepping over the caller's own waiting
items: they are found through the other annotators' waiting assignments."""

import json

import pytest
from django.db import connection, transaction
from django.utils import timezone

from annotation import queue_sql
from annotation.models import Assignment, Item, Membership, Role
from annotation.queue import _sided_kinds, assignment_claim_next
from bench._support import waiting_items
from tests.factories import ItemFactory, MembershipFactory, annotate, item_row

pytestmark = pytest.mark.usefixtures("require_postgres")


@pytest.fixture
def team(project):
    project.annotations_per_item = 2
    project.review_sample_rate = 0
    project.save()
    return [MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(3)]


def _claim(membership):
    fresh = Membership.objects.select_related("project", "user").get(pk=membership.pk)
    return assignment_claim_next(membership=fresh)


def test_a_callers_own_waiting_items_are_passed_over_for_others_partly_annotated_ones(
    project, team
):
    fast, slow, third = team
    own = [ItemFactory(project=project, priority=0.9) for _ in range(5)]
    theirs = ItemFactory(project=project, priority=0.1)
    ItemFactory(project=project, priority=0.5)  # fresh, of a higher priority than theirs
    for item in own:
        annotate(item, fast.user, {"rating": 1})
    annotate(theirs, slow.user, {"rating": 1})
    # fast: none of their own waiting items; slow's partly annotated one before a fresher
    # item of higher priority
    assert _claim(fast).item_id == theirs.pk
    # third: the partly annotated items first, by priority (fast's, then slow's)
    assert _claim(third).item_id == own[0].pk


def test_a_submit_marks_the_waiting_assignment_and_completion_clears_it(project, team):
    first, second, _ = team
    item = ItemFactory(project=project, priority=0.3)
    a = annotate(item, first.user, {"rating": 1}).assignment
    a.refresh_from_db()
    assert (a.queue_pending, a.queue_priority) == (True, 0.3)
    b = annotate(item, second.user, {"rating": 1}).assignment
    assert not Assignment.objects.filter(pk__in=[a.pk, b.pk], queue_pending=True).exists()


def test_with_only_the_callers_own_waiting_items_left_the_claim_is_empty(project, team):
    fast, slow, _ = team
    for _ in range(3):
        annotate(ItemFactory(project=project), fast.user, {"rating": 1})
    assert _claim(fast) is None
    assert _claim(slow) is not None


def test_a_new_priority_reaches_the_waiting_assignments(project, team, lead, make_api):
    item = ItemFactory(project=project, priority=0.2)
    annotation = annotate(item, team[0].user, {"rating": 1})
    row = {**item_row(), "external_id": item.external_id, "kind": item.kind, "data": item.data}
    row["priority"] = 0.8
    response = make_api(lead).generic(
        "POST",
        f"/api/v1/projects/{project.pk}/items/",
        json.dumps([row]),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content  # an update: nothing created
    assert Assignment.objects.get(pk=annotation.assignment_id).queue_priority == 0.8


def _item_rows_read(plan: dict) -> int:
    """Rows of annotation_item the plan's scans returned or filtered out, over all loops."""
    read = 0
    if plan.get("Relation Name") == "annotation_item":
        rows = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        read += plan.get("Actual Loops", 0) * rows
    for child in plan.get("Plans", ()):
        read += _item_rows_read(child)
    return read


@pytest.mark.parametrize("order", ["priority", "uncertainty", "disagreement"])
def test_statistics_from_before_the_annotating_do_not_make_a_claim_walk_the_backlog(
    project, team, order
):
    """Planner statistics taken while nobody had annotated anything (autovacuum analyzes a
    table only after a tenth of it changed) say that no item is partly annotated. The claim
    of a caller with 2,000 waiting items of their own still reads a handful of items: the
    partly annotated ones are looked up from the other annotators' candidates, never found by
    walking the queue index's range of partly annotated items (where the caller's own come
    first). The claim of before read 6,005 item rows here."""
    project.queue_order = order
    project.save()
    fast, slow, _ = team
    Item.objects.bulk_create(
        ItemFactory.build(project=project, external_id=f"bulk-{n}", priority=0.5)
        for n in range(3_000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_item, annotation_assignment")
    waiting_items(project.pk, fast.user_id, 2_000)  # `fast` annotated the first 2,000 items
    theirs = Item.objects.filter(project=project, submitted_count=0).order_by("id").first()
    annotate(theirs, slow.user, {"rating": 1})
    params = {
        "membership": fast.pk,
        "project": project.pk,
        "user": fast.user_id,
        "now": timezone.now(),
        "sided": _sided_kinds(),
    }
    sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + queue_sql.typed(queue_sql.claim_sql(order))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        (document,) = cursor.fetchone()
        transaction.set_rollback(True)
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    assert _item_rows_read(plan) < 30
    # ...and the claim gives the item another annotator left partly annotated
    assert _claim(fast).item_id == theirs.pk
