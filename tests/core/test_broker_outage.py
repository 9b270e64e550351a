"""Redis down for real: the broker URL points at a closed port; then the broker URL is pointed
at a fresh Redis server the test starts on another port (nothing of the jobs was ever in a
broker: they wait in PostgreSQL), with a real worker (and its beat: the outbox's relay).
Redis killed and brought back empty on its own port is the soak's (bench/soak.py)."""

import time

import pytest
from django.db import connection

from agreement.models import AgreementReport
from annotation.models import Role
from core.models import AuditEvent, JobStatus, OutboxJob, OutboxState
from evaluation.models import EvaluationReport
from exports.models import ExportJob
from tests.conftest import needs
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory
from tests.workers import celery_broker, free_port, redis_server, start_worker, stop, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("transactional_db")]


def test_with_redis_down_work_goes_on_and_jobs_run_once_when_it_is_back(
    settings, make_api, client, tmp_path
):
    needs(connection.vendor == "postgresql", "a real worker needs PostgreSQL")
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    queue = f"rubric-outage-{port}"
    settings.REDIS_URL = broker  # what /healthz checks
    settings.MEDIA_ROOT = str(tmp_path / "media")
    project = ProjectFactory(name="Outage", annotations_per_item=2, agreement_every=2)
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    annotators = [MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(2)]
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    item = ItemFactory(project=project)

    with celery_broker(broker, queue):
        # --- Redis is down ----------------------------------------------------------------
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["broker"].startswith("unreachable")

        # annotators claim and submit (opposite sides: a dispute), as fast as ever
        for user, rating in zip(annotators, (-2, 3), strict=True):
            api = make_api(user)
            started = time.monotonic()
            claimed = api.post(f"/api/v1/projects/{project.pk}/claim/")
            assert claimed.status_code == 200
            submitted = api.post(
                f"/api/v1/assignments/{claimed.json()['assignment']['id']}/submit/",
                {"payload": {"rating": rating}},
                format="json",
            )
            assert submitted.status_code == 201, submitted.content
            assert time.monotonic() - started < 2
        # the reviewer reviews
        reviewing = make_api(reviewer)
        assert reviewing.get(f"/api/v1/projects/{project.pk}/review-queue/").json()["count"] == 1
        annotation_id = submitted.json()["id"]
        decided = reviewing.post(
            f"/api/v1/items/{item.pk}/review/",
            {"decision": "approve", "annotation": annotation_id},
            format="json",
        )
        assert decided.status_code in (200, 201), decided.content

        # the lead asks for an export: queued, and told it waits for the task queue
        leading = make_api(lead)
        started = time.monotonic()
        response = leading.post(
            f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-preference"}, format="json"
        )
        assert time.monotonic() - started < 2
        assert response.status_code == 202
        body = response.json()
        assert body["status"] == "queued"
        assert body["waiting"]
        export_id = body["id"]

        def told_why():
            waiting = leading.get(f"/api/v1/exports/{export_id}/").json()["waiting"] or ""
            return "unreachable" in waiting and waiting

        note = wait_for(told_why, timeout=20, what="the relay to try the broker")
        assert "starts by itself when the queue is back" in note
        # the two submits asked for an agreement report: it waits too
        report = AgreementReport.objects.get(project=project)
        assert report.status == JobStatus.QUEUED
        # and so does an evaluation report the lead asks for
        asked = leading.post(f"/api/v1/projects/{project.pk}/evaluation/", {}, format="json")
        assert asked.status_code == 202 and asked.json()["status"] == "queued"
        evaluation = EvaluationReport.objects.get(pk=asked.json()["id"])
        jobs = client.get("/healthz").json()["jobs"]
        assert jobs["waiting"] == 3 and jobs["oldest_waiting_seconds"] >= 0

        # --- a fresh Redis on another port, the broker URL pointed at it, and a worker (with
        # its beat, which runs the relay) -----------------------------------------------------
        revived = free_port()
        fresh = f"redis://127.0.0.1:{revived}/0"
        settings.REDIS_URL = fresh
        with redis_server(revived, tmp_path), celery_broker(fresh, queue):
            worker = start_worker(
                queue=queue,
                broker=fresh,
                log=tmp_path / "worker.log",
                beat=True,
                env={
                    "RUBRIC_OUTBOX_TICK_SECONDS": "1",
                    "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
                },
            )
            try:

                def finished():
                    return (
                        ExportJob.objects.filter(
                            pk=export_id, status__in=[JobStatus.DONE, JobStatus.FAILED]
                        ).exists()
                        and AgreementReport.objects.filter(
                            pk=report.pk, status=JobStatus.DONE
                        ).exists()
                        and EvaluationReport.objects.filter(
                            pk=evaluation.pk, status=JobStatus.DONE
                        ).exists()
                    )

                wait_for(finished, timeout=60, what="the export and the reports to run")
                assert client.get("/healthz").json()["status"] == "ok"
                # run once: let the beat tick a few more times, then count
                time.sleep(3)
            finally:
                stop(worker)
            log = (tmp_path / "worker.log").read_text()

    export = ExportJob.objects.get(pk=export_id)
    assert export.status == JobStatus.DONE, (export.error, log[-3000:])
    assert export.records == 1
    for key in (export.outbox_key, report.outbox_key, evaluation.outbox_key):
        job = OutboxJob.objects.get(key=key)
        assert (job.state, job.attempts) == (OutboxState.DONE, 1)
    assert AuditEvent.objects.filter(action="export.start", object_id=str(export_id)).count() == 1
    assert AuditEvent.objects.filter(action="export.done", object_id=str(export_id)).count() == 1
    assert AuditEvent.objects.filter(action="agreement_report.done").count() == 1
    assert leading.get(f"/api/v1/exports/{export_id}/").json()["waiting"] is None
