"""Skips carry a reason and a flag; an item nobody can take stalls; a lead re-queues it."""

import pytest

from annotation.models import AssignmentStatus, Item, ItemStatus
from annotation.queue import assignment_claim_next, assignment_skip, item_requeue
from annotation.services import membership_remove, membership_set
from core.errors import ApplicationError, Conflict
from tests.factories import ItemFactory, MembershipFactory, UserFactory, annotate, tally_rows


def _claim(membership):
    return assignment_claim_next(membership=membership)


def test_a_skip_keeps_its_reason_note_and_flag(project):
    ItemFactory(project=project)
    membership = MembershipFactory(project=project)
    assignment = _claim(membership)
    assignment_skip(
        assignment_id=assignment.pk,
        annotator=membership.user,
        reason="broken_item",
        note="The second response is cut off.",
        flag=True,
    )
    assignment.refresh_from_db()
    assert (assignment.status, assignment.skip_reason, assignment.flagged) == (
        AssignmentStatus.SKIPPED,
        "broken_item",
        True,
    )
    assert assignment.skip_note == "The second response is cut off."


@pytest.mark.parametrize(
    ("reason", "note", "flag", "field"),
    [("bored", "", False, "reason"), ("other", "  ", False, "note"), ("", "", "yes", "flag")],
)
def test_a_bad_skip_is_a_400_naming_the_field_and_nothing_changes(
    project, reason, note, flag, field
):
    ItemFactory(project=project)
    membership = MembershipFactory(project=project)
    assignment = _claim(membership)
    with pytest.raises(ApplicationError) as error:
        assignment_skip(
            assignment_id=assignment.pk,
            annotator=membership.user,
            reason=reason,
            note=note,
            flag=flag,
        )
    assert error.value.extra["errors"][0]["field"] == field
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.ACTIVE


def test_an_item_everyone_skipped_stalls_and_a_lead_requeues_it(project, lead):
    item = ItemFactory(project=project)
    others = [MembershipFactory(project=project) for _ in range(2)]
    for membership in [project.memberships.get(user=lead), *others]:
        assignment = _claim(membership)
        assert assignment.item_id == item.pk
        assignment_skip(
            assignment_id=assignment.pk, annotator=membership.user, reason="needs_expertise"
        )
    item.refresh_from_db()
    assert item.status == ItemStatus.STALLED
    assert tally_rows(project)[("preference", "stalled", False)] == 1
    assert _claim(others[0]) is None

    item_requeue(item_id=item.pk, actor=lead, project=project)

    item.refresh_from_db()
    assert (item.status, item.round) == (ItemStatus.OPEN, 1)
    assert _claim(others[0]).item_id == item.pk  # who skipped may take it again


def test_an_item_stalls_only_when_nobody_is_left(project):
    item = ItemFactory(project=project)
    first, second = MembershipFactory(project=project), MembershipFactory(project=project)
    assignment = _claim(first)
    assignment_skip(assignment_id=assignment.pk, annotator=first.user)
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN
    assert _claim(second).item_id == item.pk


def test_a_new_member_unstalls_the_projects_stalled_items(project, lead):
    item = ItemFactory(project=project)
    membership = project.memberships.get(user=lead)
    assignment = _claim(membership)
    assignment_skip(assignment_id=assignment.pk, annotator=lead)
    item.refresh_from_db()
    assert item.status == ItemStatus.STALLED
    newcomer = UserFactory()
    membership_set(project=project, actor=lead, username=newcomer.username, role="annotator")
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN
    assert _claim(project.memberships.get(user=newcomer)).item_id == item.pk


def test_only_stalled_dropped_or_rejected_items_can_be_requeued(project, lead):
    item = ItemFactory(project=project)
    with pytest.raises(Conflict, match="can be re-queued"):
        item_requeue(item_id=item.pk, actor=lead, project=project)


def test_gold_items_never_stall(project):
    project.gold_rate = 1.0
    project.save()
    gold = ItemFactory(project=project, is_gold=True, gold={"rating": 1})
    membership = MembershipFactory(project=project)
    annotate(gold, membership.user, {"rating": 1})
    gold.refresh_from_db()
    assert gold.status == ItemStatus.OPEN


def test_removing_the_last_member_who_could_take_an_item_stalls_it(project, lead):
    leading = project.memberships.get(user=lead)
    skipper, leaving = MembershipFactory(project=project), MembershipFactory(project=project)
    held = ItemFactory(project=project, priority=3)  # skipped by two, held by who leaves
    skipped = ItemFactory(project=project, priority=2)  # skipped by two, who leaves never saw it
    untouched = ItemFactory(project=project, priority=1)  # only the lead skipped it
    for membership, items in ((leading, 3), (skipper, 2)):
        for _ in range(items):
            assignment = _claim(membership)
            assignment_skip(assignment_id=assignment.pk, annotator=membership.user)
    assert _claim(leaving).item_id == held.pk
    assert Item.objects.filter(project=project, status=ItemStatus.OPEN).count() == 3

    membership_remove(project=project, actor=lead, membership=leaving)

    statuses = {item.pk: item.status for item in Item.objects.filter(project=project)}
    assert statuses == {
        held.pk: ItemStatus.STALLED,  # its lease ended with the membership
        skipped.pk: ItemStatus.STALLED,
        untouched.pk: ItemStatus.OPEN,  # the skipper can still take it
    }
    assert tally_rows(project)[("preference", "stalled", False)] == 2
    assert _claim(skipper).item_id == untouched.pk
