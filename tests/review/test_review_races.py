"""Reviewers deciding the same item at the same moment, on PostgreSQL with real threads."""

import threading

import pytest
from django.db import connection

from annotation.models import ItemStatus, Role
from core.errors import Conflict
from review.models import FinalRecord, Review
from review.services import item_reopen, review_decide
from tests.factories import MembershipFactory
from tests.review.review_fixtures import annotations_of, disputed_preference


def race(calls):
    """Run the calls at once, each in its own thread and connection; return their outcomes."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = call()
        except Exception as error:  # the outcome is what the test inspects
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reviewers", [2, 8])
def test_of_reviewers_deciding_one_item_at_once_exactly_one_wins(require_postgres, reviewers):
    project = MembershipFactory(role=Role.LEAD).project
    item = disputed_preference(project)
    annotations = annotations_of(item)
    people = [MembershipFactory(project=project, role=Role.REVIEWER).user for _ in range(reviewers)]

    def decide(index, person):
        if index % 3 == 2:
            return lambda: review_decide(
                item_id=item.pk, reviewer=person, decision="reject", note="Neither.", then="drop"
            )
        return lambda: review_decide(
            item_id=item.pk,
            reviewer=person,
            decision="approve",
            annotation_id=annotations[index % 2].pk,
        )

    outcomes = race([decide(i, p) for i, p in enumerate(people)])

    wins = [o for o in outcomes if isinstance(o, Review)]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(wins) == 1 and len(conflicts) == reviewers - 1, outcomes
    assert Review.objects.filter(item=item).count() == 1
    winner = wins[0]
    assert all(c.extra["decision"]["id"] == winner.pk for c in conflicts)
    item.refresh_from_db()
    if winner.decision == "approve":
        assert item.status == ItemStatus.APPROVED
        assert FinalRecord.objects.filter(item=item, is_current=True).count() == 1
    else:
        assert item.status == ItemStatus.DROPPED
        assert not FinalRecord.objects.filter(item=item).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reopen_racing_a_decision_never_leaves_two_current_records(require_postgres):
    project = MembershipFactory(role=Role.LEAD).project
    lead = project.memberships.get().user
    item = disputed_preference(project)
    first, second = annotations_of(item)
    people = [MembershipFactory(project=project, role=Role.REVIEWER).user for _ in range(2)]
    review_decide(item_id=item.pk, reviewer=people[0], decision="approve", annotation_id=first.pk)

    outcomes = race(
        [
            lambda: item_reopen(item_id=item.pk, actor=lead, note="Again."),
            lambda: review_decide(
                item_id=item.pk, reviewer=people[1], decision="approve", annotation_id=second.pk
            ),
        ]
    )

    assert not any(isinstance(o, Exception) and not isinstance(o, Conflict) for o in outcomes)
    assert FinalRecord.objects.filter(item=item, is_current=True).count() <= 1
    item.refresh_from_db()
    current = FinalRecord.objects.filter(item=item, is_current=True).count()
    assert current == (1 if item.status == ItemStatus.APPROVED else 0)
