"""The outbox (core/outbox.py): jobs recorded with the change that asks for them, handed over
after commit, run once, requeued when their worker stops, failed with the reason at the end."""

from datetime import timedelta

import psycopg
import pytest
from django.db import OperationalError, transaction
from django.utils import timezone

from core import outbox
from core.models import OutboxJob, OutboxState
from tests.workers import celery_broker, free_port

CALLS: list = []
REQUEUED: list = []
GAVE_UP: list = []


def _requeued(reason, **kwargs):
    REQUEUED.append((reason, kwargs))


def _gave_up(reason, **kwargs):
    GAVE_UP.append((reason, kwargs))


@outbox.job("tests.outbox_probe", max_attempts=2, on_requeue=_requeued, on_give_up=_gave_up)
def probe(n: int, fail: str | None = None) -> None:
    CALLS.append(n)
    if fail == "database":
        raise OperationalError("server closed the connection unexpectedly")
    if fail == "driver":  # as from a raw cursor (COPY, a streamed read), not wrapped by Django
        raise psycopg.OperationalError("consuming input failed: server closed the connection")
    if fail == "bug":
        raise ValueError("a bug")


@pytest.fixture(autouse=True)
def _clear():
    CALLS.clear(), REQUEUED.clear(), GAVE_UP.clear()


def test_a_job_of_a_rolled_back_change_is_never_recorded_nor_run(
    db, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        outbox.enqueue("tests.outbox_probe", n=1)
        raise RuntimeError("the change fails")
    assert not OutboxJob.objects.exists()
    assert CALLS == []


def test_a_committed_job_is_handed_over_after_commit_and_runs_once(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        job = outbox.enqueue("tests.outbox_probe", key="probe:1", n=1)
        assert CALLS == []  # not before commit
    assert CALLS == [1]
    job.refresh_from_db()
    assert (job.state, job.attempts, job.publishes) == (OutboxState.DONE, 1, 1)

    # the periodic relay and a duplicate delivery change nothing
    assert outbox.relay() == 0
    probe.apply(kwargs={"n": 1, "outbox_id": job.pk})
    assert CALLS == [1]


def test_with_the_broker_down_a_job_waits_and_says_why(db):
    port = free_port()  # nothing listens there
    job = outbox.enqueue("tests.outbox_probe", key="probe:2", n=2)
    with celery_broker(f"redis://127.0.0.1:{port}/0", "tests-outbox"):
        assert outbox.relay(ids=[job.pk]) == 0
    job.refresh_from_db()
    assert job.state == OutboxState.PENDING
    assert "task queue is unreachable" in job.error
    assert job.available_at > timezone.now()  # retried a little later
    assert "starts by itself when the queue is back" in outbox.waiting_note(job)
    assert outbox.backlog()[0] == 1
    assert CALLS == []


def _running(job, *, seconds_ago: float, attempts: int = 1) -> None:
    OutboxJob.objects.filter(pk=job.pk).update(
        state=OutboxState.RUNNING,
        attempts=attempts,
        run="dead-run",
        worker="host:123",
        heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago),
    )


def test_the_sweeper_requeues_a_job_whose_heartbeat_stopped(db, settings):
    settings.RUBRIC_JOB_STALE_SECONDS = 30
    job = outbox.enqueue("tests.outbox_probe", n=3)
    _running(job, seconds_ago=31)

    swept = outbox.sweep()

    assert (swept.requeued, swept.relayed) == (1, 1)
    job.refresh_from_db()
    assert job.state == OutboxState.DONE and job.attempts == 2  # run again (in-process here)
    assert CALLS == [3]
    assert "host:123" in REQUEUED[0][0] and REQUEUED[0][1] == {"n": 3}


def test_a_live_heartbeat_is_left_alone(db, settings):
    settings.RUBRIC_JOB_STALE_SECONDS = 30
    job = outbox.enqueue("tests.outbox_probe", n=4)
    _running(job, seconds_ago=5)

    assert outbox.sweep().requeued == 0
    # and a second delivery while it runs does nothing
    probe.apply(kwargs={"n": 4, "outbox_id": job.pk})
    assert CALLS == []


def test_after_max_attempts_the_job_fails_with_the_reason(db, settings):
    settings.RUBRIC_JOB_STALE_SECONDS = 30
    job = outbox.enqueue("tests.outbox_probe", n=5)
    _running(job, seconds_ago=60, attempts=2)

    assert outbox.sweep().failed == 1

    job.refresh_from_db()
    assert job.state == OutboxState.FAILED
    assert job.error.startswith("Gave up after 2 attempts: the worker running it (host:123)")
    assert [(job.error, {"n": 5})] == GAVE_UP
    assert outbox.waiting_note(job) is None


def test_a_lost_database_connection_is_retried_later_then_fails(db, settings):
    job = outbox.enqueue("tests.outbox_probe", n=6, fail="database")
    outbox.relay()
    job.refresh_from_db()
    assert job.state == OutboxState.PENDING and job.attempts == 1
    assert "the database was unavailable" in job.error
    assert job.available_at > timezone.now()

    OutboxJob.objects.filter(pk=job.pk).update(available_at=timezone.now())
    outbox.relay()
    job.refresh_from_db()
    assert job.state == OutboxState.FAILED and job.attempts == 2
    assert GAVE_UP and "OperationalError" in GAVE_UP[0][0]


def test_a_connection_lost_under_a_raw_cursor_is_retried_later_too(db, settings):
    job = outbox.enqueue("tests.outbox_probe", n=9, fail="driver")
    outbox.relay()
    job.refresh_from_db()
    assert job.state == OutboxState.PENDING and job.attempts == 1
    assert "the database was unavailable" in job.error


def test_an_unexpected_error_fails_the_job_at_once(db):
    job = outbox.enqueue("tests.outbox_probe", n=7, fail="bug")
    outbox.relay()
    job.refresh_from_db()
    assert (job.state, job.error) == (OutboxState.FAILED, "ValueError: a bug")
    assert GAVE_UP == [("ValueError: a bug", {"n": 7, "fail": "bug"})]


def test_a_message_lost_from_the_broker_is_sent_again(db, settings):
    settings.RUBRIC_OUTBOX_SENT_TIMEOUT_SECONDS = 60
    job = outbox.enqueue("tests.outbox_probe", n=8)
    OutboxJob.objects.filter(pk=job.pk).update(
        state=OutboxState.SENT, sent_at=timezone.now() - timedelta(seconds=61)
    )

    swept = outbox.sweep()

    assert (swept.republished, swept.relayed) == (1, 1)
    assert CALLS == [8]
