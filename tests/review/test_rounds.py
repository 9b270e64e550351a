"""A rejection sends an item back for fresh annotations, or drops it."""

import pytest

from annotation.models import ItemStatus
from annotation.queue import assignment_claim_next, item_requeue
from core.errors import ApplicationError
from review.models import Review
from review.services import review_decide
from tests.factories import ItemFactory, MembershipFactory, annotate


@pytest.fixture
def disputed(project):
    project.review_sample_rate = 0.0
    project.save()
    item = ItemFactory(project=project)
    first, second = (MembershipFactory(project=project).user for _ in range(2))
    annotate(item, first, {"rating": -2})
    annotate(item, second, {"rating": 2})
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW
    return item


def test_annotate_again_opens_a_new_round_for_those_who_have_not_annotated_it(
    project, disputed, reviewer
):
    review_decide(item_id=disputed.pk, reviewer=reviewer, decision="reject", note="Both off.")
    disputed.refresh_from_db()
    assert (disputed.status, disputed.round, disputed.submitted_count) == (ItemStatus.OPEN, 2, 0)
    assert Review.objects.get(item=disputed).then == "annotate_again"
    fresh = [MembershipFactory(project=project) for _ in range(2)]
    for membership in fresh:
        assert assignment_claim_next(membership=membership).item_id == disputed.pk
    earlier = disputed.annotations.values_list("annotator", flat=True)
    for user_id in earlier:
        membership = project.memberships.get(user_id=user_id)
        assert assignment_claim_next(membership=membership) is None


def test_the_second_round_completes_on_its_own_annotations(project, disputed, reviewer):
    review_decide(item_id=disputed.pk, reviewer=reviewer, decision="reject", note="Again.")
    for _ in range(2):
        annotate(disputed, MembershipFactory(project=project).user, {"rating": 1})
    disputed.refresh_from_db()
    assert (disputed.status, disputed.round, disputed.agreement) == (
        ItemStatus.APPROVED,
        2,
        "agreed",
    )
    assert disputed.annotations.count() == 4  # the first round's stay for the record
    assert disputed.final_records.get(is_current=True).source_annotation.round == 2


def test_drop_takes_the_item_out_and_a_lead_can_requeue_it(project, disputed, reviewer, lead):
    review_decide(
        item_id=disputed.pk, reviewer=reviewer, decision="reject", note="Spam.", then="drop"
    )
    disputed.refresh_from_db()
    assert disputed.status == ItemStatus.DROPPED
    item_requeue(item_id=disputed.pk, actor=lead, project=project)
    disputed.refresh_from_db()
    assert (disputed.status, disputed.round) == (ItemStatus.OPEN, 2)


def test_annotate_again_with_nobody_left_stalls_the_item(project, disputed):
    # The only members are the two annotators and the reviewer deciding: after the reviewer
    # leaves, nobody who has not annotated it is left.
    reviewer = MembershipFactory(project=project, role="reviewer").user
    review_decide(item_id=disputed.pk, reviewer=reviewer, decision="reject", note="Again.")
    disputed.refresh_from_db()
    assert disputed.status == ItemStatus.OPEN  # the reviewer may still annotate it
    annotate(disputed, reviewer, {"rating": 1})
    disputed.refresh_from_db()
    assert disputed.status == ItemStatus.STALLED


@pytest.mark.parametrize("then", ["delete", 3])
def test_an_unknown_then_is_a_400(disputed, reviewer, then):
    with pytest.raises(ApplicationError) as error:
        review_decide(
            item_id=disputed.pk, reviewer=reviewer, decision="reject", note="x", then=then
        )
    assert error.value.extra["errors"][0]["field"] == "then"


def test_then_goes_with_a_rejection_only(disputed, reviewer):
    first = disputed.annotations.first()
    with pytest.raises(ApplicationError):
        review_decide(
            item_id=disputed.pk,
            reviewer=reviewer,
            decision="approve",
            annotation_id=first.pk,
            then="drop",
        )
