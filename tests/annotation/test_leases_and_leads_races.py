"""Races on memberships and leases, with real threads against PostgreSQL."""

import pytest
from django.db import connection

from annotation.models import Assignment, AssignmentStatus, Item, Membership, Role
from annotation.queue import assignment_claim_next
from annotation.services import membership_remove, membership_set
from core.errors import Conflict
from tests.annotation.test_queue_concurrency import run_threads
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_leads_demoting_each_other_at_once_leave_one_lead(require_postgres):
    project = ProjectFactory()
    first, second = (MembershipFactory(project=project, role=Role.LEAD) for _ in range(2))
    pairs = [(first, second), (second, first)]
    outcomes = [None, None]

    def demote(i):
        actor, target = pairs[i]
        try:
            membership_set(
                project=project, actor=actor.user, username=target.user.username, role="annotator"
            )
            outcomes[i] = "done"
        except Conflict:
            outcomes[i] = "refused"

    run_threads(demote, 2)
    assert sorted(outcomes) == ["done", "refused"]
    assert Membership.objects.filter(project=project, role=Role.LEAD).count() == 1


def test_two_leads_removing_each_other_at_once_leave_one_lead(require_postgres):
    project = ProjectFactory()
    first, second = (MembershipFactory(project=project, role=Role.LEAD) for _ in range(2))
    pairs = [(first, second), (second, first)]
    outcomes = [None, None]

    def remove(i):
        actor, target = pairs[i]
        try:
            membership_remove(project=project, actor=actor.user, membership=target)
            outcomes[i] = "done"
        except Conflict:
            outcomes[i] = "refused"

    run_threads(remove, 2)
    assert sorted(outcomes) == ["done", "refused"]
    assert Membership.objects.filter(project=project, role=Role.LEAD).count() == 1


def test_parallel_claims_of_one_annotator_hold_one_lease(require_postgres):
    project = ProjectFactory(annotations_per_item=2)
    ItemFactory.create_batch(10, project=project)
    membership = MembershipFactory(project=project, role=Role.ANNOTATOR)
    results = [None] * 8

    def claim(i):
        results[i] = assignment_claim_next(membership=membership)

    run_threads(claim, 8)
    assert {a.pk for a in results} == {results[0].pk}
    active = Assignment.objects.filter(annotator=membership.user, status=AssignmentStatus.ACTIVE)
    assert active.count() == 1
    # The counters on the items agree: exactly one slot is leased.
    assert sum(Item.objects.filter(project=project).values_list("active_count", flat=True)) == 1


def test_the_database_refuses_a_second_active_lease(require_postgres):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    project = ProjectFactory()
    membership = MembershipFactory(project=project)
    first, second = ItemFactory.create_batch(2, project=project)
    now = timezone.now()
    values = {"project": project, "annotator": membership.user, "claimed_at": now}
    Assignment.objects.create(item=first, expires_at=now, **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(item=second, expires_at=now, **values)
    connection.close()
