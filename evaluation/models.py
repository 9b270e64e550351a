"""Evaluation reports: one row per requested report, its figures stored as JSON once done."""

from django.db import models

from annotation.models import Project
from core.models import JobStatus, in_choices
from core.report_jobs import ReportJob

REPORT_TASK = "evaluation.report"  # the Celery task that builds a report (evaluation/tasks.py)


class EvaluationReport(ReportJob):
    """Its figures: evaluation.services builds them; the API's serializer describes them."""

    outbox_task = REPORT_TASK

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="evaluation_reports"
    )
    # What the report is restricted to: {"split": "all" | "train" | "eval", "tag": str | None,
    # "category": str | None}.
    filters = models.JSONField(default=dict, blank=True)

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
