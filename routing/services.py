"""Writing what routing decides: final records of auto-accepted items, the routing audit, and
calibration reports (request, build, fail) through the transactional outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from annotation import kinds
from annotation.models import Item, Project
from core import db, events, outbox
from core.audit import audit_record
from core.models import JobStatus
from core.report_jobs import report_build
from review.events import ItemApproved
from review.models import FinalRecord, Provenance
from routing import calibration
from routing.models import REPORT_TASK, CalibrationReport

logger = logging.getLogger(__name__)

_BATCH = 2_000


def auto_accepted_finalise(*, project: Project, external_ids: Sequence[str]) -> int:
    """Write the final record (the prediction's payload, provenance `auto`) of each item the
    import approved by confidence, inside the import's transaction: one INSERT ... SELECT per
    kind and batch on PostgreSQL (the import's hot path), the ORM elsewhere."""
    written = 0
    for start in range(0, len(external_ids), _BATCH):
        chunk = list(external_ids[start : start + _BATCH])
        if connection.vendor == "postgresql":
            made = _insert_sql(project, chunk)
        else:
            FinalRecord.objects.filter(
                project=project, item__external_id__in=chunk, is_current=True
            ).update(is_current=False)
            made = _insert_orm(project, chunk)
        for record_id, item_id in made:
            events.announce(
                ItemApproved(
                    project_id=project.pk,
                    item_id=item_id,
                    final_record_id=record_id,
                    provenance=Provenance.AUTO,
                    reviewer_id=None,
                )
            )
        written += len(made)
    return written


def _insert_orm(project: Project, chunk: list[str]) -> list[tuple[int, int]]:
    rows = Item.objects.filter(project=project, external_id__in=chunk).values_list(
        "pk", "kind", "prediction"
    )
    records = []
    for pk, kind_name, prediction in rows:
        payload = prediction["payload"]
        category, decision = kinds.kind_get(kind_name).coverage_labels(payload)
        records.append(
            FinalRecord(
                item_id=pk,
                project_id=project.pk,
                kind=kind_name,
                category=category,
                decision=decision,
                payload=payload,
                provenance=Provenance.AUTO,
            )
        )
    FinalRecord.objects.bulk_create(records, batch_size=_BATCH)
    return [(r.pk, r.item_id) for r in records]


def _insert_sql(project: Project, chunk: list[str]) -> list[tuple[int, int]]:
    """The kind's coverage labels are read in SQL from the fields the kind declares
    (`coverage_field`, `decision_field`), as `ItemKind.coverage_labels` reads them; a kind that
    labels otherwise goes through the ORM."""
    kinds_here = (
        Item.objects.filter(project=project, external_id__in=chunk)
        .values_list("kind", flat=True)
        .distinct()
        .order_by()
    )
    condition, params = db.member_of("external_id", chunk)
    items = f"SELECT id FROM {Item._meta.db_table} WHERE project_id = %s AND {condition}"  # noqa: S608
    # Records replaced (an item routed again after its prediction changed): kept as history.
    db.fetch_all(
        f"UPDATE {FinalRecord._meta.db_table} SET is_current = false "  # noqa: S608
        f"WHERE is_current AND item_id IN ({items}) RETURNING id",
        [project.pk, *params],
    )
    made: list[tuple[int, int]] = []
    for kind_name in kinds_here:
        kind = kinds.kind_get(kind_name)
        if type(kind).coverage_labels is not kinds.ItemKind.coverage_labels:
            made += _insert_orm(project, chunk)
            continue
        sql = f"""
            INSERT INTO {FinalRecord._meta.db_table}
                (item_id, project_id, kind, category, decision, payload, provenance,
                 is_current, created_at)
            SELECT id, project_id, kind,
                COALESCE(prediction->'payload'->>%s, ''), COALESCE(prediction->'payload'->>%s, ''),
                prediction->'payload', %s, true, %s
            FROM {Item._meta.db_table}
            WHERE project_id = %s AND kind = %s AND {condition}
            ORDER BY id
            RETURNING id, item_id
        """  # noqa: S608  (table names from the models; values are parameters)
        made += [
            (record_id, item_id)
            for record_id, item_id in db.fetch_all(
                sql,
                [
                    kind.coverage_field or "-",
                    kind.decision_field or "-",
                    Provenance.AUTO.value,
                    timezone.now(),
                    project.pk,
                    kind_name,
                    *params,
                ],
            )
        ]
    return made


def routing_audit(*, project: Project, routed: dict[str, int], approved: int) -> None:
    """One audit event per import: how many items each rule sent where (each item also keeps
    its route and rule)."""
    audit_record(
        actor=None,
        action="items.route",
        obj=project,
        project=project,
        after={
            "routed": routed,
            "auto_accepted": approved,
            "auto_accept_above": project.auto_accept_above,
            "audit_rate": project.audit_rate,
            "always_review": project.always_review,
        },
    )


# --- calibration reports ------------------------------------------------------------------------


def calibration_report_request(*, project: Project, actor: Any) -> CalibrationReport:
    """Queue a report; while one of the project is queued or running, that one is returned."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
        active = (
            CalibrationReport.objects.filter(
                project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
            )
            .order_by("-id")
            .first()
        )
        if active is not None:
            return active
        report = CalibrationReport.objects.create(
            project=project,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action="calibration_report.request",
            obj=report,
            project=project,
            after={"status": report.status},
        )
        outbox.enqueue(REPORT_TASK, key=report.outbox_key, report_id=report.pk)
    if not connection.in_atomic_block:
        report.refresh_from_db()  # tasks running in-process may have finished it already
    return report


def calibration_report_requeued(reason: str, *, report_id: int) -> None:
    outbox.record_requeued(CalibrationReport, report_id)


def calibration_report_give_up(reason: str, *, report_id: int) -> None:
    calibration_report_fail(report_id=report_id, error=reason)


def calibration_report_fail(*, report_id: int, error: str) -> None:
    outbox.record_fail(CalibrationReport, report_id, error, action="calibration_report.fail")


def calibration_report_build(*, report_id: int) -> CalibrationReport:
    """Read, compute, then store in one transaction: a killed run leaves the report running
    and the previous one in place; running it again starts over."""
    return report_build(
        CalibrationReport,
        report_id=report_id,
        compute=lambda report: calibration.report_compute(project=report.project),
        action="calibration_report.done",
    )
