"""Agreement reports: one row per requested report, its figures stored as JSON once done."""

from django.conf import settings
from django.db import models

from annotation.models import Project
from core import outbox
from core.models import JobStatus, in_choices

REPORT_TASK = "agreement.report"  # the Celery task that builds a report (agreement/tasks.py)


class AgreementReport(outbox.OutboxBacked, models.Model):
    outbox_task = REPORT_TASK

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agreement_reports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    annotation_count = models.PositiveIntegerField(default=0)
    fields = models.JSONField(default=dict, blank=True)
    annotators = models.JSONField(default=list, blank=True)
    kappa = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The model began in the review app; its table kept the name (no data moved).
        db_table = "review_agreementreport"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("status", JobStatus), name="agreement_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "status", "-id"], name="agreement_latest")]

    def __str__(self) -> str:
        return f"agreement report {self.pk} ({self.status})"
