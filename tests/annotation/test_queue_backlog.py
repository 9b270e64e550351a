"""Partly annotated items come first without the claim stepping over the caller's own waiting
items: they are found through the other annotators' waiting assignments."""

import json

import pytest

from annotation.models import Assignment, Membership, Role
from annotation.queue import assignment_claim_next
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
