"""Calibration reports: one row per requested report, its figures stored as JSON once done."""

from django.db import models

from annotation.models import Project
from core.models import JobStatus, in_choices
from core.report_jobs import ReportJob

REPORT_TASK = "routing.calibration_report"  # the Celery task that builds one (routing/tasks.py)


class CalibrationReport(ReportJob):
    """Its figures: routing.calibration builds them (data_sha256 is that of the cells of
    judged items they come from); the API's serializer describes them."""

    outbox_task = REPORT_TASK

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="calibration_reports"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("status", JobStatus), name="calibration_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "status", "-id"], name="calibration_latest")]

    def __str__(self) -> str:
        return f"calibration report {self.pk} ({self.status})"
