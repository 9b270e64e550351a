"""A bulk drop racing annotators' claims, with real threads against PostgreSQL: whichever
commits first, no dropped item keeps an active lease, and the bulk is all or nothing."""

import pytest

from annotation.models import Assignment, AssignmentStatus, Item, ItemStatus, Role
from annotation.queue import assignment_claim_next
from console.item_actions import items_bulk
from tests.annotation.test_queue_concurrency import run_threads
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_bulk_drop_racing_claims_leaves_no_lease_on_a_dropped_item(require_postgres):
    project = ProjectFactory(annotations_per_item=2, gold_rate=0)
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    items = ItemFactory.create_batch(30, project=project)
    annotators = [MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(4)]
    outcome = {}

    def work(i):
        if i == 0:
            result = items_bulk(
                project=project, actor=lead, item_ids=[item.pk for item in items], action="drop"
            )
            outcome["changed"] = result.changed
        else:
            for _ in range(5):
                assignment_claim_next(membership=annotators[i - 1])

    run_threads(work, 5)
    assert outcome["changed"] == 30
    assert set(Item.objects.filter(project=project).values_list("status", flat=True)) == {
        ItemStatus.DROPPED
    }
    active = Assignment.objects.filter(item__project=project, status=AssignmentStatus.ACTIVE)
    assert not active.exists()
    assert sum(Item.objects.filter(project=project).values_list("active_count", flat=True)) == 0
