"""Writing agreement reports: request one, schedule one every N annotations, build, fail, thin.

A report is built in three phases so that a worker killed at any moment never leaves a
half-written report: (1) mark the report ``running`` and commit, (2) read
(:mod:`agreement.reader`) and compute (:mod:`agreement.engine`) everything in memory without
writing, (3) in one transaction store the figures and mark it ``done``. A killed run leaves the
report ``running`` and the previous ``done`` report in place; the broker redelivers the message
(``acks_late`` + ``reject_on_worker_lost``), or the outbox's sweeper hands the job back once its
heartbeat stops (core/outbox.py), and the job starts again from scratch.

Retention: a project's newest REPORTS_KEPT_WHOLE done reports are kept whole; older ones keep
their per-field figures (the agreement over time) and drop the per-annotator rows and kappa
matrices, which grow with the square of the team and are superseded by newer reports.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from agreement import reader
from agreement.engine import ReportBuilder, ReportResult
from agreement.events import AgreementFinished
from agreement.models import REPORT_TASK, AgreementReport
from agreement.selectors import agreement_report_active, agreement_report_is_active
from annotation.models import Annotation, Project
from core import events, outbox
from core.audit import audit_record
from core.db import read_one
from core.models import JobStatus

logger = logging.getLogger(__name__)

# Done reports of a project kept whole; older ones keep their per-field figures (the agreement
# over time) and lose the per-annotator rows and kappa matrices, which the newest report
# supersedes (with annotators x annotators kappa pairs they are most of a report's size).
REPORTS_KEPT_WHOLE = 30


def agreement_report_request(
    *, project: Project, actor: Any, trigger: str = "manual"
) -> AgreementReport:
    """Queue a report and enqueue its task once committed.

    While a report of the project is already queued or running it is returned instead of a
    second one, so a double click or a burst of submits computes once."""
    with transaction.atomic():
        # Serialise requests of one project: two of them must not both see "none active".
        # FOR NO KEY UPDATE: it excludes another request's lock, never the FOR KEY SHARE that
        # every insert referring to the project takes (submits, reviews): a plain FOR UPDATE
        # queued them all behind this and deadlocked with them (found by bench/soak.py).
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values_list(
            "pk"
        ).first()
        active = agreement_report_active(project=project)
        if active is not None:
            return active
        report = AgreementReport.objects.create(
            project=project,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action="agreement_report.request",
            obj=report,
            project=project,
            after={"status": report.status, "trigger": trigger},
        )
        # Recorded with the report; the outbox hands it to a worker once this commits (at
        # once, or when the task queue is back: the report waits, queued).
        outbox.enqueue(REPORT_TASK, key=report.outbox_key, report_id=report.pk)
    if not connection.in_atomic_block:
        report.refresh_from_db()  # tasks running in-process may have finished it already
    return report


def agreement_report_requeued(reason: str, *, report_id: int) -> None:
    """The outbox hands a report whose worker stopped back to the queue: queued again."""
    outbox.record_requeued(AgreementReport, report_id)


def agreement_report_give_up(reason: str, *, report_id: int) -> None:
    """The outbox gave up on the report (its worker kept dying, or the database stayed away)."""
    agreement_report_fail(report_id=report_id, error=reason)


def agreement_maybe_schedule(*, project: Project) -> AgreementReport | None:
    """Request a report once ``project.agreement_every`` non-gold annotations arrived since the
    last one was requested. Called after every submit, so it stays cheap: it reads at most
    ``agreement_every`` index entries of the newest annotations, never the whole project."""
    every = project.agreement_every
    if every <= 0:
        return None
    latest = (
        AgreementReport.objects.filter(project=project)
        .only("id", "status", "created_at")
        .order_by("-id")
        .first()
    )
    if agreement_report_is_active(latest):
        return None
    new = Annotation.objects.filter(project=project, item__is_gold=False)
    if latest is not None:
        # The newest annotation at the time of the last request: an index walk back from the
        # newest id over the (fewer than `every`) annotations that arrived since.
        mark = (
            Annotation.objects.filter(project=project, created_at__lte=latest.created_at)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        if mark is not None:
            new = new.filter(id__gt=mark)
    if new.order_by("id").values_list("id", flat=True)[:every].count() < every:
        return None
    return agreement_report_request(project=project, actor=None, trigger="automatic")


_DUE_SQL = """
WITH latest AS (
    SELECT id, status, created_at FROM review_agreementreport
    WHERE project_id = %(project)s ORDER BY id DESC LIMIT 1
)
SELECT p.agreement_every, latest.status, latest.created_at,
       CASE WHEN p.agreement_every <= 0 THEN 0 ELSE (
           SELECT count(*) FROM (
               SELECT 1 FROM annotation_annotation n
               JOIN annotation_item i ON i.id = n.item_id
               WHERE n.project_id = %(project)s AND NOT i.is_gold
                 AND n.id > COALESCE((
                     SELECT m.id FROM annotation_annotation m
                     WHERE m.project_id = %(project)s AND m.created_at <= latest.created_at
                     ORDER BY m.id DESC LIMIT 1), 0)
               ORDER BY n.id
               LIMIT (SELECT agreement_every FROM annotation_project WHERE id = %(project)s)
           ) x) END
FROM annotation_project p LEFT JOIN latest ON true
WHERE p.id = %(project)s
"""


def agreement_maybe_schedule_for(*, project_id: int) -> AgreementReport | None:
    """`agreement_maybe_schedule` after every submit, as one statement on PostgreSQL: the
    project's `agreement_every`, its latest report and the annotations since, read at once."""
    if connection.vendor != "postgresql":
        return agreement_maybe_schedule(project=Project.objects.get(pk=project_id))
    row = read_one(_DUE_SQL, {"project": project_id})
    if row is None:
        return None
    every, status, created_at, arrived = row
    if every <= 0 or arrived < every:
        return None
    if agreement_report_is_active(AgreementReport(status=status, created_at=created_at)):
        return None
    return agreement_report_request(
        project=Project.objects.get(pk=project_id), actor=None, trigger="automatic"
    )


def agreement_report_fail(*, report_id: int, error: str) -> None:
    """Mark a report failed (unless it finished meanwhile), with the reason."""
    report = outbox.record_fail(AgreementReport, report_id, error, action="agreement_report.fail")
    if report is not None:
        events.announce(
            AgreementFinished(
                project_id=report.project_id, report_id=report.pk, status=JobStatus.FAILED
            )
        )


def agreement_report_build(*, report_id: int) -> AgreementReport:
    """Compute and store the report. Safe to run again after a crash, and to run twice."""
    report = AgreementReport.objects.select_related("project").get(pk=report_id)
    if report.status == JobStatus.DONE:
        return report
    # Phase 1: say it is running (committed at once outside a transaction).
    AgreementReport.objects.filter(pk=report_id).exclude(status=JobStatus.DONE).update(
        status=JobStatus.RUNNING, error=""
    )
    # Phase 2: read and compute; nothing is written.
    result = _compute(report.project)
    # Phase 3: store everything at once.
    with transaction.atomic():
        report = (
            AgreementReport.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=report_id)
        )
        if report.status == JobStatus.DONE:  # a duplicate delivery finished first
            return report
        before = {"status": report.status}
        report.status, report.error = JobStatus.DONE, ""
        report.fields, report.annotators, report.kappa = (
            result.fields,
            result.annotators,
            result.kappa,
        )
        report.annotation_count = result.annotation_count
        report.computed_at = timezone.now()
        report.save()
        _thin_old_reports(report.project)
        audit_record(
            actor=None,
            action="agreement_report.done",
            obj=report,
            project=report.project,
            before=before,
            after={"status": report.status, "annotation_count": report.annotation_count},
        )
        events.announce(
            AgreementFinished(
                project_id=report.project_id, report_id=report.pk, status=JobStatus.DONE
            )
        )
    return report


def _thin_old_reports(project: Project) -> int:
    """Empty the annotator rows and kappa of the project's done reports older than the newest
    REPORTS_KEPT_WHOLE (the dashboard's and the page's figures come from those). Returns how
    many were thinned; each report is thinned once."""
    done = AgreementReport.objects.filter(project=project, status=JobStatus.DONE)
    newest = done.order_by("-computed_at", "-id").values_list("id", flat=True)
    kept = list(newest[:REPORTS_KEPT_WHOLE])
    if len(kept) < REPORTS_KEPT_WHOLE:
        return 0
    return (
        done.exclude(pk__in=kept).exclude(annotators=[], kappa={}).update(annotators=[], kappa={})
    )


PRUNE_BATCH = 1_000


def agreement_reports_prune(*, keep: int | None = None) -> int:
    """Delete every project's finished (done or failed) reports older than its newest `keep`
    (setting RUBRIC_AGREEMENT_REPORTS_KEPT, default 50); queued and running ones stay. Returns
    how many were deleted. The audit events of the deleted reports stay: the audit is never
    pruned (it records that each report was requested and computed, and by whom)."""
    keep = settings.RUBRIC_AGREEMENT_REPORTS_KEPT if keep is None else keep
    ranked = AgreementReport.objects.annotate(
        newer=Window(RowNumber(), partition_by=[F("project_id")], order_by=[F("id").desc()])
    )
    old = ranked.filter(newer__gt=keep, status__in=[JobStatus.DONE, JobStatus.FAILED])
    ids = list(old.values_list("pk", flat=True))
    deleted = 0
    for start in range(0, len(ids), PRUNE_BATCH):
        with transaction.atomic():
            batch = ids[start : start + PRUNE_BATCH]
            deleted += AgreementReport.objects.filter(pk__in=batch).delete()[0]
    if deleted:
        logger.info("pruned %s agreement reports (newest %s per project kept)", deleted, keep)
    return deleted


def _compute(project: Project) -> ReportResult:
    """Phase 2 of a build: read the project's annotations and compute; nothing is written."""
    with reader.snapshot():
        builder = ReportBuilder(fields=reader.report_fields(project), project_kinds=project.kinds)
        for batch in reader.annotation_batches(project, builder.paths):
            builder.add_columns(batch)
        names = reader.usernames(builder.annotator_ids)
    return builder.result(names)
