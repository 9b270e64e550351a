"""The queue under real concurrency: threads with their own PostgreSQL connections."""

import random
import threading
import time

import pytest
from django.db import connection

from annotation.models import Annotation, Assignment, Item, ItemStatus, Membership, Role
from annotation.queue import assignment_claim_next, assignment_skip, assignment_submit
from annotation.rollups import activity_rebuild, tally_rebuild
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    ProjectFactory,
    activity_rows,
    tally_rows,
)

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(target, count):
    errors = []
    barrier = threading.Barrier(count)

    def wrapped(index):
        try:
            barrier.wait(timeout=30)
            target(index)
        except Exception as exc:  # collected and re-raised in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    assert errors == [], errors


def test_fifty_threads_claiming_ten_items_get_exactly_twenty_slots(require_postgres):
    project = ProjectFactory(annotations_per_item=2)
    ItemFactory.create_batch(10, project=project)
    memberships = [MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(50)]
    results = [None] * 50

    def claim(i):
        results[i] = assignment_claim_next(membership=memberships[i])

    run_threads(claim, 50)
    claimed = [(a.item_id, a.annotator_id) for a in results if a is not None]
    assert len(claimed) == 20
    assert len(set(claimed)) == 20
    per_item = {}
    for item_id, _ in claimed:
        per_item[item_id] = per_item.get(item_id, 0) + 1
    assert sorted(per_item.values()) == [2] * 10
    assert all(item.active_count == 2 for item in Item.objects.filter(project=project))


def test_twenty_threads_claim_submit_and_skip_until_every_item_is_complete(require_postgres):
    project = ProjectFactory(annotations_per_item=2, review_sample_rate=0)
    ItemFactory.create_batch(500, project=project, kind="preference")
    memberships = [MembershipFactory(project=project, role=Role.ANNOTATOR) for _ in range(20)]

    def left_for(membership):
        # Open items short of annotations that this annotator has not had. "Nothing for you"
        # from a claim means nothing free right now: a slot held by another annotator comes
        # free again when they skip, and a real annotator would come back for it later.
        return (
            Item.objects.filter(project=project, status=ItemStatus.OPEN, submitted_count__lt=2)
            .exclude(assignments__annotator=membership.user)
            .exists()
        )

    def work(i):
        rng = random.Random(i)
        membership = memberships[i]
        while True:
            assignment = assignment_claim_next(membership=membership)
            if assignment is None:
                if not left_for(membership):
                    return
                time.sleep(0.05)
                continue
            if rng.random() < 0.15:
                assignment_skip(assignment_id=assignment.pk, annotator=membership.user)
            else:
                assignment_submit(
                    assignment_id=assignment.pk,
                    annotator=membership.user,
                    payload={"rating": rng.choice([-3, -1, 2, 3])},
                    seconds_spent=1.0,
                )

    run_threads(work, 20)
    items = list(Item.objects.filter(project=project))
    annotations = Annotation.objects.filter(project=project)
    assert annotations.count() == 1000
    assert all(item.submitted_count == 2 and item.active_count == 0 for item in items)
    assert all(item.status != ItemStatus.OPEN for item in items)
    pairs = list(annotations.values_list("item_id", "annotator_id"))
    assert len(pairs) == len(set(pairs))
    assert not Assignment.objects.filter(project=project, status="active").exists()
    served = sum(Membership.objects.filter(project=project).values_list("served_count", flat=True))
    assert served == Assignment.objects.filter(project=project).count()
    # The dashboard's per-annotator rollup, kept by 20 concurrent submitters, matches a recount.
    live = activity_rows(project)
    assert sum(n for n, _, _ in live.values()) == 1000
    activity_rebuild(project_id=project.pk)
    assert activity_rows(project) == live
    # So does the item tally, kept by the completions.
    tallies = tally_rows(project)
    assert sum(tallies.values()) == 500
    tally_rebuild(project_id=project.pk)
    assert tally_rows(project) == tallies
