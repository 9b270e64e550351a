"""Reading agreement reports: the latest done one, a pending one, and who may see which names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from agreement.models import AgreementReport
from annotation.models import Membership, Project
from annotation.pseudonyms import blind_annotator_rows
from annotation.selectors import can_see_identities
from core.models import JobStatus

# A queued or running report older than this is presumed lost (its worker and message gone):
# it no longer blocks a new request. A million annotations take well under a minute.
STALE_AFTER = timedelta(hours=1)


def agreement_report_latest(*, project: Project) -> AgreementReport | None:
    """The newest finished report of the project (what GET and the page show)."""
    return AgreementReport.objects.filter(project=project, status=JobStatus.DONE).first()


def agreement_report_people(
    *, report: AgreementReport | None, membership: Membership
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """A report's per-annotator rows and kappa pairs as this member may see them: names for
    leads, per-project pseudonyms for everyone else (reviewers read reports blind)."""
    if report is None:
        return [], {}
    if can_see_identities(membership):
        return report.annotators, report.kappa
    project = membership.project
    rows, names = blind_annotator_rows(project, report.annotators, name_key="annotator")

    def alias(name: str) -> str:
        return names.get(name) or "Annotator ?"

    kappa = {
        key: sorted(
            (
                dict(zip(("a", "b"), sorted((alias(p["a"]), alias(p["b"]))), strict=True))
                | {k: v for k, v in p.items() if k not in ("a", "b")}
                for p in pairs
            ),
            key=lambda p: (p["a"], p["b"]),
        )
        for key, pairs in report.kappa.items()
    }
    return rows, kappa


def agreement_report_pending(
    *, project: Project, after: AgreementReport | None
) -> AgreementReport | None:
    """The newest report requested after ``after`` that is not done: queued, running or failed."""
    reports = AgreementReport.objects.filter(project=project).exclude(status=JobStatus.DONE)
    if after is not None:
        reports = reports.filter(pk__gt=after.pk)
    return reports.defer("fields", "annotators", "kappa").first()


def agreement_report_is_active(report: AgreementReport | None) -> bool:
    """Queued or running, and recent enough that a worker may still be on it."""
    return (
        report is not None
        and report.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        and report.created_at > timezone.now() - STALE_AFTER
    )


def agreement_report_active(*, project: Project) -> AgreementReport | None:
    """The project's report a worker may still be on, if any (see agreement_report_is_active)."""
    report = (
        AgreementReport.objects.filter(
            project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        )
        .defer("fields", "annotators", "kappa")
        .first()
    )
    return report if agreement_report_is_active(report) else None


@dataclass
class AgreementReading:
    """What a member reads of the project's agreement: the newest finished report (None
    before the first), its per-annotator rows and kappa pairs as the member may see them, and
    a newer report that is queued, running or failed."""

    report: AgreementReport | None
    annotators: list[dict[str, Any]]
    kappa: dict[str, list[dict[str, Any]]]
    pending: AgreementReport | None

    @property
    def annotation_count(self) -> int:
        return self.report.annotation_count if self.report else 0

    @property
    def fields(self) -> dict[str, Any]:
        return self.report.fields if self.report else {}


def agreement_report_read(*, membership: Membership) -> AgreementReading:
    latest = agreement_report_latest(project=membership.project)
    annotators, kappa = agreement_report_people(report=latest, membership=membership)
    return AgreementReading(
        report=latest,
        annotators=annotators,
        kappa=kappa,
        pending=agreement_report_pending(project=membership.project, after=latest),
    )
