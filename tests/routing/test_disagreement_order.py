"""queue_order `disagreement`: items sent back after a disputed round first, then by priority,
still one indexed claim."""

import pytest
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Item, ItemStatus, Membership, Role
from annotation.queue import _claimable, item_requeue
from review.services import review_decide
from tests.factories import ItemFactory, MembershipFactory, annotate


def _served(client, project, n):
    order = []
    for _ in range(n):
        body = client.post(f"/api/v1/projects/{project.pk}/claim/").json()
        order.append(body["item"]["id"])
        skipped = client.post(f"/api/v1/assignments/{body['assignment']['id']}/skip/")
        assert skipped.status_code == 200
    return order


def _send_back(project, item, reviewer, **decision):
    """Two annotators disagree, a reviewer rejects: the item's next round opens."""
    for rating in (-2, 2):
        annotate(item, MembershipFactory(project=project).user, {"rating": rating})
    review_decide(item_id=item.pk, reviewer=reviewer, decision="reject", note="No.", **decision)
    item.refresh_from_db()
    return item


@pytest.fixture
def disagreement(project):
    project.queue_order = "disagreement"
    project.review_sample_rate = 0.0
    project.save()
    return project


@pytest.fixture
def annotator_api(project, make_api):
    return make_api(MembershipFactory(project=project, role=Role.ANNOTATOR).user)


def test_a_rejected_round_marks_the_item_disputed(disagreement, reviewer):
    item = _send_back(disagreement, ItemFactory(project=disagreement), reviewer)
    assert (item.status, item.round, item.disputed) == (ItemStatus.OPEN, 2, True)
    assert ItemFactory(project=disagreement).disputed is False


def test_a_lead_requeueing_a_dropped_item_marks_it_disputed(disagreement, reviewer, lead):
    item = _send_back(disagreement, ItemFactory(project=disagreement), reviewer, then="drop")
    assert (item.status, item.disputed) == (ItemStatus.DROPPED, False)
    item_requeue(item_id=item.pk, actor=lead, project=disagreement)
    item.refresh_from_db()
    assert (item.status, item.round, item.disputed) == (ItemStatus.OPEN, 2, True)


def test_a_disputed_item_is_claimed_before_a_higher_priority_undisputed_one(
    disagreement, reviewer, annotator_api
):
    disputed = _send_back(disagreement, ItemFactory(project=disagreement, priority=1.0), reviewer)
    urgent = ItemFactory(project=disagreement, priority=50.0)
    assert _served(annotator_api, disagreement, 2) == [disputed.pk, urgent.pk]


def test_ties_fall_back_to_priority_then_age(disagreement, annotator_api):
    low, high, same = (
        ItemFactory(project=disagreement, priority=p, disputed=d)
        for p, d in ((1.0, True), (9.0, True), (1.0, True))
    )
    calm_high, calm_low = (ItemFactory(project=disagreement, priority=p) for p in (100.0, 0.0))
    order = _served(annotator_api, disagreement, 5)
    assert order == [high.pk, low.pk, same.pk, calm_high.pk, calm_low.pk]


def test_the_priority_order_ignores_disputes(project, annotator_api):
    disputed = ItemFactory(project=project, priority=1.0, disputed=True)
    urgent = ItemFactory(project=project, priority=50.0)
    assert _served(annotator_api, project, 2) == [urgent.pk, disputed.pk]


def test_partly_annotated_items_still_come_first_in_disagreement_order(disagreement, annotator_api):
    ItemFactory(project=disagreement, disputed=True, priority=9.0)
    started = ItemFactory(project=disagreement)
    annotate(started, MembershipFactory(project=disagreement).user, {"rating": 1})
    body = annotator_api.post(f"/api/v1/projects/{disagreement.pk}/claim/").json()
    assert body["item"]["id"] == started.pk


def test_the_settings_api_takes_the_disagreement_order(project, lead, make_api):
    url = f"/api/v1/projects/{project.pk}/"
    response = make_api(lead).patch(url, {"queue_order": "disagreement"}, format="json")
    assert response.status_code == 200
    assert response.json()["queue_order"] == "disagreement"


def _bulk(project):
    Item.objects.bulk_create(
        ItemFactory.build(
            project=project,
            external_id=f"bulk-{n}",
            priority=float(n % 89),
            disputed=n % 50 == 0,
        )
        for n in range(5_000)
    )


def test_the_disagreement_claim_is_an_index_scan_on_postgresql(disagreement, require_postgres):
    member = MembershipFactory(project=disagreement, role=Role.ANNOTATOR)
    _bulk(disagreement)
    membership = Membership.objects.select_related("project").get(pk=member.pk)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotation_item")
        query = _claimable(membership, timezone.now()).select_for_update(
            skip_locked=True, of=("self",)
        )[:1]
        plan = query.explain()
    assert "item_queue_disagreement" in plan
    assert "Index Scan" in plan
    assert "Sort" not in plan  # the index gives the order: no sort of the open items


def test_the_one_statement_claim_takes_fresh_items_from_the_disagreement_index(
    project, require_postgres
):
    from annotation import queue, queue_sql

    member = MembershipFactory(project=project, role=Role.ANNOTATOR)
    _bulk(project)
    params = {
        "membership": member.pk,
        "project": project.pk,
        "user": member.user_id,
        "now": timezone.now(),
        "sided": queue._sided_kinds(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_item")
        cursor.execute("EXPLAIN " + queue_sql.typed(queue_sql.claim_sql("disagreement")), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    fresh = plan.split("\n  CTE fresh")[1].split("\n  CTE ")[0]
    assert "item_queue_disagreement" in fresh
    assert "Index Scan" in fresh
    assert "Sort" not in fresh


def test_the_fast_claim_serves_disputed_items_first_on_postgresql(disagreement, require_postgres):
    """The one-statement claim (annotation/queue_sql.py) in disagreement order, as the API
    runs it on PostgreSQL, outside the test's transaction handling of the ORM path."""
    from annotation.queue import assignment_claim_next

    calm = ItemFactory(project=disagreement, priority=99.0)
    disputed = ItemFactory(project=disagreement, priority=0.0, disputed=True)
    first = MembershipFactory(project=disagreement, role=Role.ANNOTATOR)
    second = MembershipFactory(project=disagreement, role=Role.ANNOTATOR)
    third = MembershipFactory(project=disagreement, role=Role.ANNOTATOR)
    assert assignment_claim_next(membership=first).item_id == disputed.pk
    assert assignment_claim_next(membership=second).item_id == disputed.pk
    assert assignment_claim_next(membership=third).item_id == calm.pk
