from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Project
from core import outbox
from core.models import JobStatus, in_choices

BUILD_TASK = "exports.build"  # the Celery task that builds an export (exports/tasks.py)


class ExportSplit(models.TextChoices):
    TRAIN = "train", "Train"
    EVAL = "eval", "Eval"
    ALL = "all", "All"


class ExportJob(outbox.OutboxBacked, models.Model):
    outbox_task = BUILD_TASK

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=32)
    split = models.CharField(max_length=8, choices=ExportSplit.choices, default=ExportSplit.TRAIN)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    records = models.PositiveIntegerField(default=0)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    manifest = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="exports/", blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=in_choices("status", JobStatus), name="export_status_valid"
            ),
            models.CheckConstraint(
                condition=in_choices("split", ExportSplit), name="export_split_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=1), name="export_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} {self.format} ({self.status})"
