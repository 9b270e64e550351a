"""A worker process killed with SIGKILL mid-export: the sweeper notices the heartbeat stop,
hands the job to the queue again, another worker builds it from scratch: one file, no partial
file left, the page never shows `running` forever."""

import hashlib
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from annotation.models import Role
from core.models import AuditEvent, JobStatus, OutboxJob, OutboxState
from exports import services
from tests.conftest import _redis_reachable, needs
from tests.exports.test_export_api import pref
from tests.factories import MembershipFactory, ProjectFactory
from tests.workers import celery_broker, start_worker, stop, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("transactional_db")]

FAST = {
    "RUBRIC_JOB_HEARTBEAT_SECONDS": "0.5",
    "RUBRIC_JOB_STALE_SECONDS": "3",
    "RUBRIC_OUTBOX_TICK_SECONDS": "1",
}


def test_a_worker_killed_mid_export_is_swept_and_the_export_built_once(
    settings, approved, tmp_path
):
    needs(connection.vendor == "postgresql", "a real worker needs PostgreSQL")
    needs(_redis_reachable(django_settings.REDIS_URL), "a real worker needs Redis")
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    settings.RUBRIC_JOB_STALE_SECONDS = 3
    broker = django_settings.REDIS_URL
    queue = f"rubric-kill-{uuid.uuid4().hex[:8]}"
    env = {**FAST, "DJANGO_MEDIA_ROOT": str(media)}
    project = ProjectFactory(name="Killed")
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    for n in range(120):
        approved(project, data=pref(f"Question {n}?", f"A{n}", f"B{n}"))

    slow = start_worker(
        queue=queue,
        broker=broker,
        log=tmp_path / "slow.log",
        app="tests.slow_worker",
        env={**env, "RUBRIC_TEST_SECONDS_PER_RECORD": "0.05"},
    )
    second = None
    try:
        with celery_broker(broker, queue):
            job = services.export_request(
                project=project, actor=lead, format="trl-preference", split="train"
            )
            temp = Path(media) / "tmp"

            def half_way():
                job.refresh_from_db()
                partial = list(temp.glob(f"export-{job.pk}-*.partial")) if temp.exists() else []
                return job.status == JobStatus.RUNNING and partial

            wait_for(half_way, timeout=60, what="the slow worker to start writing")
            time.sleep(1.5)  # about 30 of the 120 records in
            job.refresh_from_db()
            assert job.status == JobStatus.RUNNING
            os.kill(slow.pid, signal.SIGKILL)  # the whole worker: nothing in it can react
            slow.wait(timeout=10)

            job.refresh_from_db()
            assert job.status == JobStatus.RUNNING
            assert list(temp.glob(f"export-{job.pk}-*.partial"))  # a killed worker's leftover
            assert OutboxJob.objects.get(key=job.outbox_key).state == OutboxState.RUNNING

            # another worker, whose beat runs the sweeper every second
            second = start_worker(
                queue=queue, broker=broker, log=tmp_path / "second.log", beat=True, env=env
            )

            def over():
                job.refresh_from_db()
                return job.status in (JobStatus.DONE, JobStatus.FAILED)

            wait_for(over, timeout=90, what="the export to be swept and built again")
    finally:
        stop(slow)
        if second is not None:
            stop(second)

    log = (tmp_path / "second.log").read_text()
    assert job.status == JobStatus.DONE, (job.error, log[-3000:])
    outbox_job = OutboxJob.objects.get(key=job.outbox_key)
    assert (outbox_job.state, outbox_job.attempts) == (OutboxState.DONE, 2)
    requeue = AuditEvent.objects.get(action="export.requeue", object_id=str(job.pk))
    assert "stopped: no heartbeat since" in requeue.after["reason"]
    # one file (and its manifest) under the export's name, nothing partial left behind
    folder = media / "exports" / str(project.pk) / str(job.pk)
    name = Path(job.file.name).name
    assert sorted(p.name for p in folder.iterdir()) == [name, f"{name}.manifest.json"]
    assert not list((media / "tmp").glob("*.partial"))
    content = (media / job.file.name).read_bytes()
    assert hashlib.sha256(content).hexdigest() == job.sha256
    assert content.count(b"\n") == job.records == 120
