"""Reading evaluation reports: the latest done one (for a set of filters), a pending one."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from annotation.models import Project
from core.models import JobStatus
from evaluation.models import EvaluationReport

# A queued or running report older than this is presumed lost: it no longer blocks a request.
STALE_AFTER = timedelta(hours=1)


def evaluation_report_latest(
    *, project: Project, filters: dict[str, Any] | None = None
) -> EvaluationReport | None:
    """The newest finished report of the project (with these filters, when given)."""
    reports = EvaluationReport.objects.filter(project=project, status=JobStatus.DONE)
    if filters is not None:
        reports = reports.filter(filters=filters)
    return reports.first()


def evaluation_report_pending(
    *, project: Project, after: EvaluationReport | None
) -> EvaluationReport | None:
    """The newest report requested after `after` that is not done: queued, running or failed."""
    reports = EvaluationReport.objects.filter(project=project).exclude(status=JobStatus.DONE)
    if after is not None:
        reports = reports.filter(pk__gt=after.pk)
    return reports.defer("result").first()


def evaluation_report_is_active(report: EvaluationReport | None) -> bool:
    return (
        report is not None
        and report.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        and report.created_at > timezone.now() - STALE_AFTER
    )


def evaluation_report_active(
    *, project: Project, filters: dict[str, Any]
) -> EvaluationReport | None:
    report = (
        EvaluationReport.objects.filter(
            project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING], filters=filters
        )
        .defer("result")
        .first()
    )
    return report if evaluation_report_is_active(report) else None


def evaluation_report_for_member(*, project: Project, report_id: Any) -> EvaluationReport | None:
    """A report of the project (the caller's membership already checked)."""
    try:
        pk = int(report_id)
    except (TypeError, ValueError):
        return None
    return EvaluationReport.objects.filter(project=project, pk=pk).first()


@dataclass
class EvaluationReading:
    """What a member reads: the newest finished report for the filters (None before the
    first) and a newer one that is queued, running or failed."""

    report: EvaluationReport | None
    pending: EvaluationReport | None

    def as_data(self) -> dict[str, Any]:
        """The report's figures with its id, time, provenance and the pending job."""
        report = self.report
        result = dict(report.result) if report is not None else {}
        return {
            **result,
            "id": report.pk if report is not None else None,
            "computed_at": report.computed_at if report is not None else None,
            "code_version": report.code_version if report is not None else None,
            "data_sha256": report.data_sha256 if report is not None else None,
            "filters": report.filters if report is not None else None,
            "pending": self.pending,
        }


def evaluation_report_read(*, project: Project, filters: dict[str, Any]) -> EvaluationReading:
    latest = evaluation_report_latest(project=project, filters=filters)
    return EvaluationReading(
        report=latest, pending=evaluation_report_pending(project=project, after=latest)
    )


CSV_HEADER_FIXED = ("model", "n", "pass_rate", "pass_rate_low", "pass_rate_high")


def evaluation_report_csv(report: EvaluationReport) -> str:
    """The per-model table as CSV, one row per model: n, the pass rate and its interval, each
    criterion's mean, interval, n and the rubric versions it comes from, the Bradley-Terry
    strength and interval, and on every row the report's rubric versions, code version and
    data sha256 (so a row copied alone still says where it comes from)."""
    result = report.result or {}
    keys = [c["key"] for c in result.get("criteria", [])]
    # The rubric versions each criterion's figures come from, as "1 2".
    versions_of = {
        c["key"]: " ".join(str(v) for v in c.get("versions", []))
        for c in result.get("criteria", [])
    }
    strengths = {row["model"]: row for row in result.get("bradley_terry", [])}
    models = {row["model"]: row for row in result.get("models", [])}
    header = [*CSV_HEADER_FIXED]
    for key in keys:
        header += [f"{key}_mean", f"{key}_low", f"{key}_high", f"{key}_n", f"{key}_versions"]
    header += ["bt_strength", "bt_low", "bt_high", "rubric_versions", "code_version", "data_sha256"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    versions = " ".join(str(v["version"]) for v in result.get("rubric_versions", []))
    for model in sorted(set(models) | set(strengths)):
        row = models.get(model, {})
        rate = row.get("pass_rate") or {}
        cells: list[Any] = [_cell(model), row.get("n", 0), rate.get("value"), rate.get("low")]
        cells.append(rate.get("high"))
        for key in keys:
            figure = (row.get("criteria") or {}).get(key) or {}
            cells += [figure.get("mean"), figure.get("low"), figure.get("high"), figure.get("n")]
            cells.append(versions_of[key])
        bt = strengths.get(model, {})
        cells += [bt.get("strength"), bt.get("low"), bt.get("high"), versions]
        cells += [report.code_version, report.data_sha256]
        writer.writerow(["" if c is None else c for c in cells])
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not read as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
