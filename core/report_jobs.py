"""Report jobs: a report a lead requests for a project (evaluation, calibration), built once by
an outbox task, its figures stored as JSON with the code version and the hash of the data they
came from, so a cited number can be traced.

The concrete model adds its project (core imports no app) and what it is restricted to; its
app's services call ``report_build`` with the function that computes the figures."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from core import outbox
from core.audit import audit_record
from core.models import JobStatus


class ReportJob(outbox.OutboxBacked, models.Model):
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    # The figures (the app's computation builds them; its API's serializer describes them).
    result = models.JSONField(default=dict, blank=True)
    code_version = models.CharField(max_length=100, blank=True, default="")
    # sha256 of the rows the figures were computed from.
    data_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


def report_build(
    model: type[ReportJob], *, report_id: int, compute: Callable[[Any], dict], action: str
) -> Any:
    """Compute a report's figures (``compute(report)``: reads only), then store them in one
    transaction and audit it as ``action``. Safe to run again after a crash (a killed run
    leaves the report running and the previous one in place) and to run twice (the second
    finds it done)."""
    report = model.objects.select_related("project").get(pk=report_id)
    if report.status == JobStatus.DONE:
        return report
    model.objects.filter(pk=report_id).exclude(status=JobStatus.DONE).update(
        status=JobStatus.RUNNING, error=""
    )
    result = compute(report)
    with transaction.atomic():
        report = (
            model.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=report_id)
        )
        if report.status == JobStatus.DONE:
            return report
        before = {"status": report.status}
        report.status, report.error = JobStatus.DONE, ""
        report.result = result
        report.code_version = result["code_version"][:100]
        report.data_sha256 = result["data_sha256"]
        report.computed_at = timezone.now()
        report.save()
        audit_record(
            actor=None,
            action=action,
            obj=report,
            project=report.project,
            before=before,
            after={"status": report.status, "data_sha256": report.data_sha256},
        )
    return report
