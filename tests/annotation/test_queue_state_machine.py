"""Random sequences of claim / submit / skip / heartbeat / expire keep the queue's invariants."""

from datetime import timedelta

import pytest
from django.db.models import Count, Q
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from annotation.models import Annotation, Assignment, Item, ItemStatus, Role
from annotation.queue import (
    assignment_claim_next,
    assignment_heartbeat,
    assignment_skip,
    assignment_submit,
    assignments_expire,
)
from core.errors import Conflict
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

ANNOTATORS = 4


class QueueMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.project = ProjectFactory(annotations_per_item=2, review_sample_rate=0.5)
        ItemFactory.create_batch(6, project=self.project, kind="preference")
        self.members = [
            MembershipFactory(project=self.project, role=Role.ANNOTATOR) for _ in range(ANNOTATORS)
        ]
        self.current: dict[int, int] = {}  # annotator index -> assignment id held

    @rule(who=st.integers(0, ANNOTATORS - 1))
    def claim(self, who):
        assignment = assignment_claim_next(membership=self.members[who])
        if assignment is None:
            self.current.pop(who, None)
            assert not self._claimable_for(who)
        else:
            held = self.current.get(who)
            if held is not None and Assignment.objects.get(pk=held).status == "active":
                assert assignment.pk == held  # resume, never a second live lease
            self.current[who] = assignment.pk

    def _live(self, assignment_id) -> bool:
        assignment = Assignment.objects.get(pk=assignment_id)
        return assignment.status == "active" and assignment.expires_at > timezone.now()

    @rule(who=st.integers(0, ANNOTATORS - 1), rating=st.integers(-3, 3))
    def submit(self, who, rating):
        if who not in self.current:
            return
        assignment_id = self.current.pop(who)
        live = self._live(assignment_id)
        try:
            assignment_submit(
                assignment_id=assignment_id,
                annotator=self.members[who].user,
                payload={"rating": rating},
            )
            assert live
        except Conflict:
            assert not live

    @rule(who=st.integers(0, ANNOTATORS - 1))
    def skip(self, who):
        if who in self.current:
            # A skip succeeds whether the lease is live or has run out.
            assignment_skip(assignment_id=self.current.pop(who), annotator=self.members[who].user)

    @rule(who=st.integers(0, ANNOTATORS - 1))
    def heartbeat(self, who):
        if who in self.current:
            live = self._live(self.current[who])
            try:
                assignment_heartbeat(
                    assignment_id=self.current[who], annotator=self.members[who].user
                )
                assert live
            except Conflict:
                assert not live

    @rule(who=st.integers(0, ANNOTATORS - 1), sweep=st.booleans())
    def lease_runs_out(self, who, sweep):
        if who in self.current:
            past = timezone.now() - timedelta(seconds=1)
            Assignment.objects.filter(pk=self.current[who], status="active").update(expires_at=past)
            Item.objects.filter(assignments__pk=self.current[who]).update(lease_expires_at=past)
            if sweep:
                assignments_expire()

    def _claimable_for(self, who) -> bool:
        user = self.members[who].user
        now = timezone.now()
        live = Q(assignments__annotator=user) & ~Q(assignments__status="expired")
        return (
            Item.objects.filter(project=self.project, status="open", is_gold=False)
            .exclude(live)
            .annotate(
                live_slots=Count(
                    "assignments",
                    filter=Q(assignments__status="submitted")
                    | Q(assignments__status="active", assignments__expires_at__gt=now),
                )
            )
            .filter(live_slots__lt=2)
            .exists()
        )

    @invariant()
    def counters_match_the_rows(self):
        now = timezone.now()
        for item in Item.objects.filter(project=self.project):
            submitted = Annotation.objects.filter(item=item).count()
            active = Assignment.objects.filter(item=item, status="active")
            assert item.submitted_count == submitted
            assert item.active_count == active.count()
            assert submitted + active.filter(expires_at__gt=now).count() <= 2  # exact overlap
            if submitted == 2:
                assert item.status in (ItemStatus.APPROVED, ItemStatus.IN_REVIEW)
            elif item.status == ItemStatus.STALLED:
                # Nobody may take it: no lease on it and every member skipped or annotated it.
                assert not active.exists()
                live = Assignment.objects.filter(item=item).exclude(status="expired")
                assert live.values("annotator").distinct().count() == len(self.members)
            else:
                assert item.status == ItemStatus.OPEN

    @invariant()
    def nobody_holds_two_live_leases_or_annotates_twice(self):
        for member in self.members:
            assert Assignment.objects.filter(annotator=member.user, status="active").count() <= 1
        pairs = list(Annotation.objects.values_list("item_id", "annotator_id"))
        assert len(pairs) == len(set(pairs))


@pytest.mark.django_db
def test_queue_invariants_hold_under_random_operations():
    run_state_machine_as_test(
        QueueMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
