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
        events._subscribers["test.pinged"].remove((broken, False))


def test_event_types_are_registered_by_name():
    assert events.event_types.get("annotation.submitted") is AnnotationSubmitted
    assert events.event_types.get("item.approved") is ItemApproved
    assert Pinged(project_id=4, n=5).as_dict() == {"project_id": 4, "n": 5}


def test_review_routes_completed_items_inside_the_submit_transaction():
    from review.subscribers import route_completed_item

    assert route_completed_item in events.subscribers(ItemCompleted)
    assert (route_completed_item, True) in events._subscribers[ItemCompleted.type]


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
        events._subscribers[ItemApproved.type].remove((approved, False))
