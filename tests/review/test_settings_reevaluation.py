"""A change of the settings the item-level rule reads re-evaluates the items it affects, in
the same transaction as the change."""

import pytest

from annotation.models import AssignmentStatus, ItemStatus
from annotation.queue import assignment_claim_next, assignment_skip, assignment_submit
from annotation.services import membership_set, project_update
from core.errors import Conflict
from review.models import FinalRecord
from review.services import review_decide
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    UserFactory,
    annotate,
    lease,
    tally_rows,
)


@pytest.fixture
def people(project):
    return [MembershipFactory(project=project).user for _ in range(4)]


def _set(project, **changes):
    project_update(project=project, actor=None, changes=changes)
    project.refresh_from_db()


def test_lowering_the_overlap_completes_items_that_now_have_enough(project, people):
    _set(project, annotations_per_item=3, review_sample_rate=0.0)
    agreed = ItemFactory(project=project)
    disputed = ItemFactory(project=project)
    short = ItemFactory(project=project)
    gold = ItemFactory(project=project, is_gold=True, gold={"rating": 1})
    for user in people[:2]:
        annotate(agreed, user, {"rating": -2})
    annotate(disputed, people[0], {"rating": -2})
    annotate(disputed, people[1], {"rating": 2})
    annotate(short, people[0], {"rating": 1})
    annotate(gold, people[0], {"rating": 1})
    annotate(gold, people[1], {"rating": 1})

    _set(project, annotations_per_item=2)

    statuses = {i.pk: i.status for i in project.items.all()}
    assert statuses[agreed.pk] == ItemStatus.APPROVED
    assert statuses[disputed.pk] == ItemStatus.IN_REVIEW
    assert statuses[short.pk] == ItemStatus.OPEN
    assert statuses[gold.pk] == ItemStatus.OPEN  # gold items are answered, never completed
    assert FinalRecord.objects.get(item=agreed, is_current=True).provenance == "unanimous"
    assert tally_rows(project)[("preference", "approved", False)] == 1


def test_lowering_the_overlap_ends_leases_on_items_it_completes(project, people):
    _set(project, annotations_per_item=3, review_sample_rate=0.0)
    item = ItemFactory(project=project)
    annotate(item, people[0], {"rating": 1})
    annotate(item, people[1], {"rating": 2})
    third = lease(item, people[2])

    _set(project, annotations_per_item=2)

    third.refresh_from_db()
    item.refresh_from_db()
    assert third.status == AssignmentStatus.EXPIRED
    assert (item.status, item.active_count, item.submitted_count) == (ItemStatus.APPROVED, 0, 2)
    with pytest.raises(Conflict) as lost:
        assignment_submit(assignment_id=third.pk, annotator=people[2], payload={"rating": 1})
    assert lost.value.extra["status"] == "lease_lost"
    assert item.annotations.count() == 2


def test_raising_the_overlap_sends_undecided_items_in_review_back_to_the_queue(
    project, people, lead
):
    _set(project, review_sample_rate=0.0)
    undecided = ItemFactory(project=project)
    annotate(undecided, people[0], {"rating": -2})
    annotate(undecided, people[1], {"rating": 2})  # disputed: in review
    decided = ItemFactory(project=project)
    annotate(decided, people[0], {"rating": -2})
    annotate(decided, people[1], {"rating": 3})
    review_decide(
        item_id=decided.pk, reviewer=lead, decision="reject", note="Both miss.", then="drop"
    )
    approved = ItemFactory(project=project)
    annotate(approved, people[0], {"rating": 1})
    annotate(approved, people[1], {"rating": 1})
    open_item = ItemFactory(project=project)
    annotate(open_item, people[0], {"rating": 1})

    _set(project, annotations_per_item=3)

    statuses = {i.pk: (i.status, i.agreement, i.review_reason) for i in project.items.all()}
    assert statuses[undecided.pk] == (ItemStatus.OPEN, "", "")
    assert statuses[decided.pk][0] == ItemStatus.DROPPED
    assert statuses[approved.pk][0] == ItemStatus.APPROVED  # an approval made stands
    assert statuses[open_item.pk][0] == ItemStatus.OPEN
    assert tally_rows(project)[("preference", "open", False)] == 2
    # Its third slot goes to someone who has not annotated it; it completes again after.
    membership = project.memberships.get(user=people[2])
    assignment = assignment_claim_next(membership=membership)
    assert assignment.item_id in {undecided.pk, open_item.pk}
    for annotator in (people[0], people[1]):
        claimed = assignment_claim_next(membership=project.memberships.get(user=annotator))
        assert claimed is None or claimed.item_id != undecided.pk


def test_raising_the_overlap_leaves_an_item_sent_back_for_review_that_a_reviewer_decided(
    project, people, lead
):
    from review.services import item_reopen

    _set(project, review_sample_rate=0.0)
    item = ItemFactory(project=project)
    annotate(item, people[0], {"rating": -2})
    annotate(item, people[1], {"rating": 2})
    review = review_decide(
        item_id=item.pk,
        reviewer=lead,
        decision="approve",
        annotation_id=item.annotations.first().pk,
    )
    assert review.decision == "approve"
    item_reopen(item_id=item.pk, actor=lead, note="Look again.")

    _set(project, annotations_per_item=3)

    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW  # a reviewer decided it once: it stays


def test_lowering_the_overlap_completes_a_stalled_item_that_now_has_enough(project):
    pair = [MembershipFactory(project=project).user for _ in range(2)]
    _set(project, annotations_per_item=3, review_sample_rate=0.0)
    item = ItemFactory(project=project)
    for user in pair:
        annotate(item, user, {"rating": -2})
    assert item.status == ItemStatus.STALLED  # both members annotated it; a third is wanted

    _set(project, annotations_per_item=2)

    item.refresh_from_db()
    assert (item.status, item.agreement) == (ItemStatus.APPROVED, "agreed")
    assert FinalRecord.objects.get(item=item, is_current=True).provenance == "unanimous"
    assert tally_rows(project) == {("preference", "approved", False): 1}


def test_lowering_the_overlap_leaves_a_stalled_item_that_still_needs_more(project):
    pair = [MembershipFactory(project=project).user for _ in range(2)]
    _set(project, annotations_per_item=4, review_sample_rate=0.0)
    item = ItemFactory(project=project)
    for user in pair:
        annotate(item, user, {"rating": -2})
    assert item.status == ItemStatus.STALLED

    _set(project, annotations_per_item=3)

    item.refresh_from_db()
    assert item.status == ItemStatus.STALLED
    assert tally_rows(project) == {("preference", "stalled", False): 1}


def test_raising_the_overlap_stalls_an_item_sent_back_that_no_member_left_can_annotate(project):
    pair = [MembershipFactory(project=project).user for _ in range(2)]
    _set(project, review_sample_rate=0.0)
    item = ItemFactory(project=project)
    annotate(item, pair[0], {"rating": -2})
    annotate(item, pair[1], {"rating": 2})  # disputed: in review, undecided
    assert item.status == ItemStatus.IN_REVIEW

    _set(project, annotations_per_item=3)

    item.refresh_from_db()
    assert item.status == ItemStatus.STALLED  # not open: nobody could ever claim it
    assert tally_rows(project) == {("preference", "stalled", False): 1}
    # A new member can take it: it opens again and completes with their annotation.
    newcomer = UserFactory()
    membership_set(project=project, actor=None, username=newcomer.username, role="annotator")
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN
    annotate(item, newcomer, {"rating": 2})
    assert item.status == ItemStatus.IN_REVIEW


def test_lowering_the_sample_rate_approves_sampled_items_now_outside_the_sample(project, people):
    _set(project, review_sample_rate=1.0)
    item = ItemFactory(project=project)
    annotate(item, people[0], {"rating": 1})
    annotate(item, people[1], {"rating": 2})
    item.refresh_from_db()
    assert (item.status, item.review_reason) == (ItemStatus.IN_REVIEW, "sampled")

    _set(project, review_sample_rate=0.0)

    item.refresh_from_db()
    assert (item.status, item.review_reason) == (ItemStatus.APPROVED, "")
    assert FinalRecord.objects.filter(item=item, is_current=True).exists()


def test_turning_on_text_auto_approval_approves_agreed_texts_waiting_in_review(project, people):
    _set(project, review_sample_rate=0.0)
    item = ItemFactory(project=project, kind="instruction")
    for user in people[:2]:
        annotate(item, user, {"response": "A short summary.", "category": "summarization"})
    item.refresh_from_db()
    assert (item.status, item.review_reason) == (ItemStatus.IN_REVIEW, "text")

    _set(project, auto_approve_text=True)

    item.refresh_from_db()
    assert item.status == ItemStatus.APPROVED


def test_a_settings_change_that_fails_validation_changes_no_item(project, people):
    from core.errors import ApplicationError

    _set(project, annotations_per_item=3, review_sample_rate=0.0)
    item = ItemFactory(project=project)
    for user in people[:2]:
        annotate(item, user, {"rating": 1})
    with pytest.raises(ApplicationError):
        project_update(
            project=project, actor=None, changes={"annotations_per_item": 2, "gold_rate": 7}
        )
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN


STATES = ("open", "stalled", "in_review", "approved", "dropped")


def _one_item_in_each_state(project, lead):
    """Overlap 3, three annotators and a lead: an item open, stalled, in review, approved and
    dropped, each brought there through the services."""
    a, b, c = (MembershipFactory(project=project).user for _ in range(3))
    _set(project, annotations_per_item=3, review_sample_rate=0.0)
    items = {state: ItemFactory(project=project) for state in STATES}
    annotate(items["open"], a, {"rating": 1})
    annotate(items["stalled"], a, {"rating": 2})
    annotate(items["stalled"], b, {"rating": 3})
    for user in (c, lead):
        assignment_skip(assignment_id=lease(items["stalled"], user).pk, annotator=user)
    for user, rating in ((a, -2), (b, 2), (c, 3)):
        annotate(items["in_review"], user, {"rating": rating})
        annotate(items["dropped"], user, {"rating": rating})
        annotate(items["approved"], user, {"rating": 1})
    review_decide(
        item_id=items["dropped"].pk, reviewer=lead, decision="reject", note="No.", then="drop"
    )
    statuses = {state: item.status for state, item in _fresh(items).items()}
    assert statuses == {state: state for state in STATES}
    return items


def _fresh(items):
    for item in items.values():
        item.refresh_from_db()
    return items


def test_lowering_the_overlap_on_items_in_each_state(project, lead):
    items = _one_item_in_each_state(project, lead)

    _set(project, annotations_per_item=2)

    statuses = {state: item.status for state, item in _fresh(items).items()}
    assert statuses == {
        "open": ItemStatus.OPEN,  # one annotation: still short
        "stalled": ItemStatus.APPROVED,  # two agreeing annotations: now complete
        "in_review": ItemStatus.IN_REVIEW,
        "approved": ItemStatus.APPROVED,
        "dropped": ItemStatus.DROPPED,
    }
    counts = {status: n for (_, status, _), n in tally_rows(project).items()}
    assert counts == {"open": 1, "in_review": 1, "approved": 2, "dropped": 1}


def test_raising_the_overlap_on_items_in_each_state(project, lead):
    items = _one_item_in_each_state(project, lead)

    _set(project, annotations_per_item=4)

    statuses = {state: item.status for state, item in _fresh(items).items()}
    assert statuses == {
        "open": ItemStatus.OPEN,
        "stalled": ItemStatus.STALLED,
        "in_review": ItemStatus.OPEN,  # undecided: back for a fourth annotation (the lead's)
        "approved": ItemStatus.APPROVED,  # an approval made stands
        "dropped": ItemStatus.DROPPED,  # a reviewer decided it
    }
    counts = {status: n for (_, status, _), n in tally_rows(project).items()}
    assert counts == {"open": 2, "stalled": 1, "approved": 1, "dropped": 1}
