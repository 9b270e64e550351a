"""Evaluation reports: one row per requested report, its figures stored as JSON once done."""

from django.conf import settings
from django.db import models

from annotation.models import Project
from core import outbox
from core.models import JobStatus, in_choices

REPORT_TASK = "evaluation.report"  # the Celery task that builds a report (evaluation/tasks.py)


class EvaluationReport(outbox.OutboxBacked, models.Model):
    outbox_task = REPORT_TASK

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="evaluation_reports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    # What the report is restricted to: {"split": "all" | "train" | "eval", "tag": str | None,
    # "category": str | None}.
    filters = models.JSONField(default=dict, blank=True)
    # The figures (evaluation.services builds them; the API's serializer describes them).
    result = models.JSONField(default=dict, blank=True)
    code_version = models.CharField(max_length=100, blank=True, default="")
    # sha256 of the rows the figures were computed from, so a cited number can be traced.
    data_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("status", JobStatus), name="evaluation_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "status", "-id"], name="evaluation_latest")]

    def __str__(self) -> str:
        return f"evaluation report {self.pk} ({self.status})"
