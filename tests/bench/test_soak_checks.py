"""The soak's invariant checks (bench/soak_checks.py) pass on a sound state built through the
services, and each fails on a state broken the way the soak is meant to catch."""

import sys
from pathlib import Path

import pytest
from django.db import connection

from agreement.services import agreement_report_request
from annotation.models import (
    Annotation,
    AnnotatorDay,
    Assignment,
    AssignmentStatus,
    Item,
    ItemStatus,
    ItemTally,
    Membership,
    Role,
)
from annotation.queue import assignment_claim_next, assignment_submit
from core.models import AuditEvent, OutboxJob
from exports.models import ExportJob
from exports.services import export_request
from review.models import FinalRecord
from review.services import review_decide
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import soak_checks

pytestmark = pytest.mark.usefixtures("require_postgres")


def _claim_and_submit(project, user, rating, seen):
    membership = Membership.objects.get(project=project, user=user)
    assignment = assignment_claim_next(membership=membership)
    annotation = assignment_submit(
        assignment_id=assignment.pk, annotator=user, payload={"rating": rating}
    ).annotation
    seen.submits[assignment.pk] = (annotation.pk, user.pk)
    return annotation


@pytest.fixture
def state(settings, tmp_path, django_capture_on_commit_callbacks):
    """A project after a short soak: an item annotated twice (a dispute) and approved by a
    reviewer, a second item annotated once and leased by a third annotator, a gold item
    answered, an export and an agreement report built (in-process, as without a broker)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    project = ProjectFactory(
        annotations_per_item=2, review_sample_rate=0, agreement_every=0, gold_rate=0
    )
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    first, second, third = (
        MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(3)
    )
    items = [ItemFactory(project=project, priority=1 - n / 10) for n in range(2)]
    ItemFactory(project=project, is_gold=True, gold={"rating": -2})
    seen = soak_checks.Seen()
    with django_capture_on_commit_callbacks(execute=True):
        disputed = _claim_and_submit(project, first, -2, seen)
        _claim_and_submit(project, second, 3, seen)
    assert Item.objects.get(pk=items[0].pk).status == ItemStatus.IN_REVIEW
    review_decide(
        item_id=items[0].pk, reviewer=reviewer, decision="approve", annotation_id=disputed.pk
    )
    _claim_and_submit(project, first, 1, seen)
    # the gold item, answered (gold items are served only when due: a gold rate of 1 now)
    project.gold_rate = 1
    project.save(update_fields=["gold_rate"])
    _claim_and_submit(project, third, -1, seen)
    project.gold_rate = 0
    project.save(update_fields=["gold_rate"])
    assignment_claim_next(membership=Membership.objects.get(project=project, user=third))
    with django_capture_on_commit_callbacks(execute=True):
        export = export_request(project=project, actor=lead, format="trl-preference")
        report = agreement_report_request(project=project, actor=lead)
    seen.exports.add(export.pk)
    seen.reports.add(report.pk)
    return project, seen, settings.MEDIA_ROOT


def problems(state):
    project, seen, media_root = state
    found = soak_checks.all_problems(project.pk, seen, media_root=media_root)
    return [problem for group in found.values() for problem in group]


def test_a_sound_state_has_no_problem(state):
    project, seen, _ = state
    assert Item.objects.filter(project=project, status=ItemStatus.APPROVED).count() == 1
    assert Assignment.objects.filter(project=project, status=AssignmentStatus.ACTIVE).count() == 1
    assert Annotation.objects.filter(project=project, item__is_gold=True).count() == 1
    assert ExportJob.objects.get(pk=min(seen.exports)).status == "done"
    assert problems(state) == []


def test_a_lost_submit_is_found(state):
    project, _, _ = state
    lost = Annotation.objects.filter(project=project, item__status=ItemStatus.OPEN).first()
    Annotation.objects.filter(pk=lost.pk).delete()
    found = problems(state)
    assert any(p.startswith("submits answered 2xx with no annotation row (lost): 1") for p in found)
    # the counters no longer match either
    assert any(p.startswith("items whose submitted_count") for p in found)


def test_a_submit_stored_twice_is_found(state):
    project, _, _ = state
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks: ALTER may run
        cursor.execute(
            """SELECT conname FROM pg_constraint
               WHERE conrelid = 'annotation_annotation'::regclass AND contype = 'u'"""
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE annotation_annotation DROP CONSTRAINT "{name}"')
    original = Annotation.objects.filter(project=project, item__status=ItemStatus.OPEN).first()
    original.pk = None
    original.save()
    found = problems(state)
    assert any(p.startswith("assignments with more than one annotation") for p in found)
    assert any(p.startswith("items annotated twice by one annotator") for p in found)


def test_an_annotation_no_client_saw_is_found(state):
    _, seen, _ = state
    assignment = max(seen.submits)
    del seen.submits[assignment]
    assert any(p.startswith("annotations no client submitted: 1") for p in problems(state))
    seen.uncertain.add(assignment)  # its response was lost: the client could not know
    assert problems(state) == []


def test_an_item_over_its_overlap_is_found(state):
    project, _, _ = state
    item = Item.objects.get(project=project, status=ItemStatus.APPROVED)
    intruder = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    source = Annotation.objects.filter(item=item).first()
    assignment = Assignment.objects.create(
        project=project,
        item=item,
        annotator=intruder,
        status=AssignmentStatus.SUBMITTED,
        claimed_at=source.created_at,
        expires_at=source.created_at,
    )
    Annotation.objects.create(
        project=project,
        item=item,
        annotator=intruder,
        assignment=assignment,
        payload=source.payload,
    )
    found = " | ".join(problems(state))
    assert (
        "items with more annotations in a round than the overlap (item, round, annotations): 1"
        in found
    )
    assert "exceed the overlap (item, annotations, leases): 1" in found


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (
            lambda p: Item.objects.filter(project=p, status=ItemStatus.OPEN).update(
                submitted_count=0
            ),
            "items whose submitted_count is not their annotations in the round",
        ),
        (
            lambda p: Item.objects.filter(project=p, active_count=1).update(active_count=0),
            "items whose active_count or lease_expires_at",
        ),
        (
            lambda p: ItemTally.objects.filter(project=p, status=ItemStatus.APPROVED).update(
                count=2
            ),
            "item tallies that are not the items' count",
        ),
        (
            lambda p: AnnotatorDay.objects.filter(project=p, gold_answers=1).update(gold_correct=0),
            "annotator days that are not the annotations' counts",
        ),
        (
            lambda p: AnnotatorDay.objects.filter(project=p).delete(),
            "annotator days that are not the annotations' counts",
        ),
        (
            lambda p: Membership.objects.filter(project=p, served_count=2).update(served_count=1),
            "memberships whose served counts are not their claims",
        ),
        (
            lambda p: FinalRecord.objects.filter(project=p).update(is_current=False),
            "items whose current final records do not match their status",
        ),
        (
            lambda p: Item.objects.filter(project=p, status=ItemStatus.APPROVED).update(
                status=ItemStatus.OPEN
            ),
            "items whose status does not fit their annotations",
        ),
    ],
    ids=[
        "submitted_count",
        "active_count",
        "item_tally",
        "annotator_day_gold",
        "annotator_day_missing",
        "served_count",
        "final_record",
        "status",
    ],
)
def test_a_counter_that_does_not_match_its_rows_is_found(state, breakage, expected):
    project, _, _ = state
    assert breakage(project)
    assert any(p.startswith(expected) for p in problems(state)), problems(state)


def test_a_job_left_unfinished_is_found(state):
    _, seen, _ = state
    export = min(seen.exports)
    ExportJob.objects.filter(pk=export).update(status="queued")
    OutboxJob.objects.filter(key=f"exports.build:{export}").update(state="sent")
    found = " | ".join(problems(state))
    assert "exports not done (id, status, outbox state): 1" in found
    assert "outbox jobs left unfinished" in found


def test_a_job_finished_twice_is_found(state):
    done = AuditEvent.objects.get(action="agreement_report.done")
    done.pk = None
    done.save()
    assert any(p.startswith("agreement reports not finished exactly once") for p in problems(state))


def test_a_requested_job_with_no_row_is_found(state):
    _, seen, _ = state
    seen.exports.add(max(seen.exports) + 1000)
    assert any(p.startswith("exports requested (202) with no row: 1") for p in problems(state))


def test_an_export_file_missing_or_changed_is_found(state):
    _, seen, media_root = state
    job = ExportJob.objects.get(pk=min(seen.exports))
    path = Path(media_root) / job.file.name
    path.write_bytes(path.read_bytes() + b"\n")
    (Path(media_root) / "tmp" / f"export-{job.pk}-left").write_bytes(b"partial")
    found = " | ".join(problems(state))
    assert "export files whose sha256 or size is not the job's: 1" in found
    assert "temporary export files left behind: 1" in found
    path.unlink()
    assert any(p.startswith("done exports without their file") for p in problems(state))


def test_an_unfinished_job_of_another_kind_is_found(state):
    job = OutboxJob.objects.create(task="core.something", kwargs={})
    found = problems(state)
    assert any(p.startswith("outbox jobs left unfinished") and str(job.pk) in p for p in found)
