"""Agreement reports older than each project's newest N are pruned; the audit is not."""

from django.test import override_settings

from agreement.models import AgreementReport
from agreement.services import agreement_reports_prune
from agreement.tasks import prune_reports
from core.audit import audit_record
from core.models import AuditEvent, JobStatus
from tests.factories import ProjectFactory


def reports(project, n, status=JobStatus.DONE):
    made = []
    for _ in range(n):
        report = AgreementReport.objects.create(project=project, status=status)
        audit_record(
            actor=None, action="agreement_report.done", obj=report, project=project, after={}
        )
        made.append(report)
    return made


def test_each_project_keeps_its_newest_reports(db):
    one, two = ProjectFactory(), ProjectFactory()
    old_one, new_one = reports(one, 3), reports(one, 2)
    two_reports = reports(two, 2)
    assert agreement_reports_prune(keep=2) == 3
    assert set(AgreementReport.objects.filter(project=one)) == set(new_one)
    assert set(AgreementReport.objects.filter(project=two)) == set(two_reports)
    assert not AgreementReport.objects.filter(pk__in=[r.pk for r in old_one]).exists()


def test_pruning_never_deletes_audit_events(db):
    project = ProjectFactory()
    reports(project, 4)
    before = AuditEvent.objects.filter(project=project).count()
    agreement_reports_prune(keep=1)
    assert AgreementReport.objects.filter(project=project).count() == 1
    assert AuditEvent.objects.filter(project=project).count() == before == 4


def test_queued_and_running_reports_are_never_pruned(db):
    project = ProjectFactory()
    running = reports(project, 1, JobStatus.RUNNING)
    reports(project, 1, JobStatus.FAILED)
    queued = reports(project, 1, JobStatus.QUEUED)
    done = reports(project, 2)
    assert agreement_reports_prune(keep=1) == 2  # the failed one and the older done one
    assert set(AgreementReport.objects.filter(project=project)) == {running[0], queued[0], done[1]}


@override_settings(RUBRIC_AGREEMENT_REPORTS_KEPT=3)
def test_the_periodic_task_keeps_the_setting_number(db, settings):
    project = ProjectFactory()
    reports(project, 5)
    assert prune_reports() == 2
    assert AgreementReport.objects.filter(project=project).count() == 3
    assert "agreement.prune_reports" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


def test_the_default_keeps_fifty(settings):
    assert settings.RUBRIC_AGREEMENT_REPORTS_KEPT == 50
