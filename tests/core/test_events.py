"""Domain events: delivered after commit by default, inside the transaction when asked."""

from dataclasses import dataclass

import pytest
from django.db import transaction

from annotation.events import AnnotationSubmitted, ItemCompleted
from core import events
from core.events import Event, announce, event_type, subscribe
from review.events import ItemApproved
from tests.factories import ItemFactory, MembershipFactory, annotate


@event_type
@dataclass(frozen=True)
class Pinged(Event):
    type = "test.pinged"
    n: int


seen: list[tuple[str, int]] = []


@subscribe(Pinged)
def after_commit(event: Pinged) -> None:
    seen.append(("after", event.n))


@subscribe(Pinged, in_transaction=True)
def in_transaction(event: Pinged) -> None:
    seen.append(("during", event.n))


@pytest.fixture(autouse=True)
def _clear():
    seen.clear()


@pytest.mark.django_db(transaction=True)
def test_after_commit_subscribers_run_once_the_transaction_commits():
    with transaction.atomic():
        announce(Pinged(project_id=1, n=1))
        assert seen == [("during", 1)]
    assert seen == [("during", 1), ("after", 1)]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_delivers_nothing_after_commit():
    with pytest.raises(RuntimeError), transaction.atomic():
        announce(Pinged(project_id=1, n=2))
        raise RuntimeError("undo")
    assert seen == [("during", 2)]


@pytest.mark.django_db(transaction=True)
def test_a_failing_after_commit_subscriber_is_logged_and_others_still_run(caplog):
    @subscribe(Pinged)
    def broken(event):
        raise ValueError("boom")

    try:
        with transaction.atomic():
            announce(Pinged(project_id=1, n=3))
        assert ("after", 3) in seen
        assert "broken" in caplog.text
    finally:
        events._subscribers["test.pinged"].remove((broken, False, False))


def test_event_types_are_registered_by_name():
    assert events.event_types.get("annotation.submitted") is AnnotationSubmitted
    assert events.event_types.get("item.approved") is ItemApproved
    assert Pinged(project_id=4, n=5).as_dict() == {"project_id": 4, "n": 5}


def test_review_routes_completed_items_inside_the_submit_transaction():
    from review.subscribers import route_completed_item

    assert route_completed_item in events.subscribers(ItemCompleted)
    assert (route_completed_item, True, False) in events._subscribers[ItemCompleted.type]


@pytest.mark.django_db
def test_a_submit_announces_annotation_submitted_and_item_completed(
    project, django_capture_on_commit_callbacks
):
    project.review_sample_rate = 0.0
    project.save()
    item = ItemFactory(project=project)
    got = []

    @subscribe(ItemApproved)
    def approved(event):
        got.append(event)

    try:
        users = [MembershipFactory(project=project).user for _ in range(2)]
        with django_capture_on_commit_callbacks(execute=True):
            annotate(item, users[0], {"rating": 1})
            annotate(item, users[1], {"rating": 2})
        assert [(e.item_id, e.provenance, e.reviewer_id) for e in got] == [
            (item.pk, "unanimous", None)
        ]
    finally:
        events._subscribers[ItemApproved.type].remove((approved, False, False))


batches: list[list[int]] = []


@subscribe(Pinged, batch=True)
def in_batches(events: list[Pinged]) -> None:
    batches.append([event.n for event in events])


@pytest.fixture(autouse=True)
def _clear_batches():
    batches.clear()


@pytest.mark.django_db(transaction=True)
def test_a_batch_subscriber_gets_a_transactions_events_in_one_call_after_commit():
    with transaction.atomic():
        for n in range(5):
            announce(Pinged(project_id=1, n=n))
        assert batches == []
    assert batches == [[0, 1, 2, 3, 4]]
    assert [n for moment, n in seen if moment == "after"] == [0, 1, 2, 3, 4]  # one call each


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_takes_its_events_out_of_the_batch():
    with transaction.atomic():
        announce(Pinged(project_id=1, n=1))
        with pytest.raises(RuntimeError), transaction.atomic():
            announce(Pinged(project_id=1, n=2))
            raise RuntimeError("undo the savepoint")
        with transaction.atomic():
            announce(Pinged(project_id=1, n=3))
        announce(Pinged(project_id=1, n=4))
    assert sorted(n for batch in batches for n in batch) == [1, 3, 4]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_batch_of_one_is_delivered_at_once():
    announce(Pinged(project_id=1, n=7))
    assert batches == [[7]]


@pytest.mark.django_db(transaction=True)
def test_a_failing_batch_subscriber_is_logged_and_others_still_run(caplog):
    @subscribe(Pinged, batch=True)
    def broken(events):
        raise ValueError("boom")

    try:
        with transaction.atomic():
            announce(Pinged(project_id=1, n=8))
            announce(Pinged(project_id=1, n=9))
    finally:
        events._subscribers[Pinged.type].remove((broken, False, True))
    assert batches == [[8, 9]]
    assert "failed on 2 events" in caplog.text


def test_a_batch_is_delivered_after_commit_only():
    with pytest.raises(ValueError, match="after commit"):
        subscribe(Pinged, in_transaction=True, batch=True)
