"""Calibration reports: one row per requested report, its figures stored as JSON once done."""

from django.conf import settings
from django.db import models

from annotation.models import Project
from core import outbox
from core.models import JobStatus, in_choices

REPORT_TASK = "routing.calibration_report"  # the Celery task that builds one (routing/tasks.py)


class CalibrationReport(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="calibration_reports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    # The figures (routing.calibration builds them; the API's serializer describes them).
    result = models.JSONField(default=dict, blank=True)
    code_version = models.CharField(max_length=100, blank=True, default="")
    # sha256 of the (confidence, correct, route) rows the figures come from.
    data_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    computed_at = models.DateTimeField(null=True, blank=True)

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

    @property
    def outbox_key(self) -> str:
        return f"{REPORT_TASK}:{self.pk}"

    @property
    def waiting(self) -> str | None:
        """Why a queued report has not started (the task queue is unreachable), or None."""
        if self.status != JobStatus.QUEUED:
            return None
        return outbox.waiting_note(outbox.find(self.outbox_key))
