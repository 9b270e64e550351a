"""Reading calibration reports and the routing counts a lead sees beside them."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from annotation.models import Item, Project, Route
from core.models import JobStatus
from routing.models import CalibrationReport


@dataclass
class CalibrationReading:
    report: CalibrationReport | None  # the latest done one
    pending: CalibrationReport | None  # a newer one queued, running or failed

    def as_data(self) -> dict[str, Any]:
        result = dict(self.report.result) if self.report is not None else {}
        return {
            "id": self.report.pk if self.report else None,
            "computed_at": self.report.computed_at if self.report else None,
            "code_version": self.report.code_version if self.report else None,
            "data_sha256": self.report.data_sha256 if self.report else None,
            **result,
            "empty": result.get("empty")
            if self.report
            else "No calibration report yet: request one.",
            "pending": self.pending,
        }


def calibration_report_read(*, project: Project) -> CalibrationReading:
    latest = (
        CalibrationReport.objects.filter(project=project, status=JobStatus.DONE)
        .order_by("-id")
        .first()
    )
    newer = CalibrationReport.objects.filter(project=project).exclude(status=JobStatus.DONE)
    if latest is not None:
        newer = newer.filter(pk__gt=latest.pk)
    return CalibrationReading(report=latest, pending=newer.order_by("-id").first())


def calibration_report_is_active(report: CalibrationReport | None) -> bool:
    return report is not None and report.status in (JobStatus.QUEUED, JobStatus.RUNNING)


def routing_counts(*, project: Project) -> dict[str, int]:
    """How many items of the project went each way: auto, audit, human (with a prediction),
    and items without a prediction."""
    counts = {"auto": 0, "audit": 0, "human": 0, "no_prediction": 0}
    rows = (
        Item.objects.filter(project=project).values_list("route").annotate(n=Count("*")).order_by()
    )
    for route, n in rows:
        counts[route if route in Route.values else "no_prediction"] += n
    return counts
