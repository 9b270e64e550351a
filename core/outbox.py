"""The transactional outbox: background jobs that survive a broker outage and a dead worker.

A service that needs work done in the background records it with :func:`enqueue` inside the
transaction of the change that asks for it (an export request, a report request, a webhook to
send): the job row (:class:`core.models.OutboxJob`) commits or rolls back with that change, so a
job is never lost between commit and publish, and never published for a change that did not
happen. The row names a Celery task (by name: core imports no app) and its keyword arguments.

Handing jobs to Celery (the relay, :func:`relay`):
* after commit, the job is handed over by a background thread of the web process, so a request
  never waits for the broker (with no broker configured, the embedded default, the task runs
  in-process at once, as before);
* a periodic task (``core.outbox_tick``, every ``RUBRIC_OUTBOX_TICK_SECONDS``) hands over what
  is left: jobs recorded while the broker was down, jobs of a process that died between commit
  and publish, jobs handed back to the queue by the sweeper. A worker also relays when it starts.
A job that cannot be published stays ``pending`` with the reason in ``error``; pages and
``/healthz`` say so; nothing fails.

Running (:func:`job`, the decorator of such tasks): the message carries the job's id; the worker
marks the job ``running`` (one run at a time: a duplicate delivery while a live run holds the
job, or after it finished, does nothing), writes a heartbeat every
``RUBRIC_JOB_HEARTBEAT_SECONDS`` from a thread beside the task, and marks it ``done``. Tasks
acknowledge late (``acks_late``, ``reject_on_worker_lost``): a worker child that dies gives the
message back to the broker.

Sweeping (:func:`sweep`, in the same periodic task): a ``running`` job whose heartbeat is older
than ``RUBRIC_JOB_STALE_SECONDS`` (its worker was killed as a whole, the machine went away) is
handed to the queue again, up to ``max_attempts`` runs; then it fails with the reason and the
app's ``on_give_up`` marks its own record failed, so no page shows ``running`` forever. A
``sent`` job no worker started within ``RUBRIC_OUTBOX_SENT_TIMEOUT_SECONDS`` (a message lost
from the broker) is published again. A database error while running (a lost connection) is
retried the same way, later.

Delivery is therefore at least once: the effect of every job must be idempotent (an export
writes one file under a fixed name and marks itself done once; a report is computed into its
own row).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, timedelta
from functools import partial
from typing import Any

import psycopg
from celery import current_app, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.audit import audit_record
from core.models import JobStatus, OutboxJob, OutboxState
from core.registry import Registry

logger = logging.getLogger(__name__)

ERROR_MAX = 2_000
RELAY_BATCH = 200


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def heartbeat_seconds() -> float:
    return _setting("RUBRIC_JOB_HEARTBEAT_SECONDS", 10)


def stale_seconds() -> float:
    return _setting("RUBRIC_JOB_STALE_SECONDS", 60)


def sent_timeout_seconds() -> float:
    return _setting("RUBRIC_OUTBOX_SENT_TIMEOUT_SECONDS", 600)


def retry_seconds() -> float:
    """How long a job waits before the next publish after the broker refused it."""
    return _setting("RUBRIC_OUTBOX_RETRY_SECONDS", 5)


# --- job types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobType:
    name: str
    max_attempts: int
    # Called with the reason and the job's kwargs, inside the transaction that changes the
    # outbox row: the app updates its own record (back to queued; failed with the reason).
    on_requeue: Callable[..., Any] | None
    on_give_up: Callable[..., Any] | None


job_types: Registry[JobType] = Registry("job type")
# Django's wrappers, and psycopg's own errors, which reach a job unwrapped from the raw cursors
# of COPY and of streamed reads (core.db): a connection lost there is as transient.
TRANSIENT = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def job(
    name: str,
    *,
    max_attempts: int = 3,
    on_requeue: Callable[..., Any] | None = None,
    on_give_up: Callable[..., Any] | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: a Celery task (named ``name``) run through the outbox.

    The function takes the job's keyword arguments. Called with an ``outbox_id`` (what the
    relay sends) it runs as described in the module's docstring; without one (a direct
    ``.delay()`` or ``.apply()``) it simply runs."""

    def wrap(function: Callable[..., Any]) -> Any:
        job_types.register(name)(
            JobType(
                name=name,
                max_attempts=max_attempts,
                on_requeue=on_requeue,
                on_give_up=on_give_up,
            )
        )

        @shared_task(
            name=name,
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
        )
        def task(*args: Any, outbox_id: int | None = None, **kwargs: Any) -> None:
            if outbox_id is None:
                function(*args, **kwargs)
            else:
                run(outbox_id, partial(function, *args, **kwargs))

        task.__doc__ = function.__doc__
        return task

    return wrap


_tasks_loaded = False


def _load_tasks() -> None:
    """Import every app's tasks module (Celery does so only when a worker starts)."""
    global _tasks_loaded
    if not _tasks_loaded:
        current_app.loader.import_default_modules()
        _tasks_loaded = True


def _job_type(name: str) -> JobType | None:
    _load_tasks()
    return job_types.get(name) if name in job_types else None


# --- recording ---------------------------------------------------------------------------------


def enqueue(task: str, *, key: str | None = None, delay: float = 0, **kwargs: Any) -> OutboxJob:
    """Record a job in the current transaction; it is handed to Celery once that commits, or,
    with a ``delay`` in seconds, by the first relay tick after that delay (a webhook's retry)."""
    kind = _job_type(task)
    extra = {"available_at": timezone.now() + timedelta(seconds=delay)} if delay > 0 else {}
    outbox_job = OutboxJob.objects.create(
        task=task,
        kwargs=kwargs,
        key=key,
        max_attempts=kind.max_attempts if kind is not None else 3,
        **extra,
    )
    transaction.on_commit(partial(_hand_over, outbox_job.pk))
    return outbox_job


def find(key: str) -> OutboxJob | None:
    return OutboxJob.objects.filter(key=key).first()


def find_many(keys: Iterable[str]) -> dict[str, OutboxJob]:
    keys = list(keys)
    if not keys:
        return {}
    return {job.key: job for job in OutboxJob.objects.filter(key__in=keys) if job.key}


def waiting_note(outbox_job: OutboxJob | None) -> str | None:
    """Why a job has not started or finished yet, in a sentence for a page; None when there
    is nothing to say (it runs, or it is over)."""
    if outbox_job is None:
        return None
    if outbox_job.state == OutboxState.PENDING:
        if outbox_job.error:
            return (
                f"Waiting for the task queue: {outbox_job.error} It starts by itself when the "
                "queue is back."
            )
        return "Waiting to be handed to the task queue."
    if outbox_job.state == OutboxState.SENT and outbox_job.attempts:
        return f"Queued again (attempt {outbox_job.attempts + 1} of {outbox_job.max_attempts})."
    return None


class OutboxBacked:
    """Mixin of an app's job record (an export, a report) built by one outbox task: the key of
    its outbox job and why it waits. The model sets ``outbox_task``, the task's name."""

    outbox_task: str

    @property
    def outbox_key(self) -> str:
        return f"{self.outbox_task}:{self.pk}"

    @property
    def waiting(self) -> str | None:
        """Why a queued or running job has not started or finished yet (the task queue is
        unreachable, a retry after its worker stopped), from its outbox job; else None."""
        if self.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return None
        return waiting_note(find(self.outbox_key))


def record_requeued(model: Any, pk: int) -> None:
    """A job record (an OutboxBacked model) whose worker stopped is handed back: queued again."""
    model.objects.filter(pk=pk, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED)


def record_fail(model: Any, pk: int, error: str, *, action: str) -> Any:
    """Mark a job record failed with the reason, unless it finished meanwhile, and audit it as
    `action`. Returns the record, or None when there was nothing to fail."""
    with transaction.atomic():
        unfinished = model.objects.select_for_update().exclude(status=JobStatus.DONE)
        record = unfinished.filter(pk=pk).first()
        if record is None:
            return None
        before = {"status": record.status}
        record.status, record.error = JobStatus.FAILED, error[:ERROR_MAX]
        record.save(update_fields=["status", "error"])
        audit_record(
            actor=None,
            action=action,
            obj=record,
            project=record.project,
            before=before,
            after={"status": record.status, "error": record.error},
        )
    return record


def backlog() -> tuple[int, float | None]:
    """Jobs not yet handed to the task queue, and the age in seconds of the oldest."""
    pending = OutboxJob.objects.filter(state=OutboxState.PENDING)
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    if oldest is None:
        return 0, None
    return pending.count(), (timezone.now() - oldest).total_seconds()


# --- the relay ---------------------------------------------------------------------------------


def _hand_over(job_id: int) -> None:
    """After commit: run in-process when there is no broker, else hand to the relay thread."""
    if current_app.conf.task_always_eager:
        relay(ids=[job_id])
    else:
        _publisher.submit(job_id)


def relay(*, ids: Iterable[int] | None = None, limit: int = RELAY_BATCH) -> int:
    """Hand due ``pending`` jobs (or those of ``ids``) to Celery; returns how many went.

    Each job is marked ``sent`` (and committed) before its message is published, under
    ``SKIP LOCKED``, so two relays never publish one job twice. A publish that fails hands the
    job and the rest of the batch back (``pending``, retried in RUBRIC_OUTBOX_RETRY_SECONDS)."""
    now = timezone.now()
    with transaction.atomic():
        due = OutboxJob.objects.select_for_update(skip_locked=True).filter(
            state=OutboxState.PENDING, available_at__lte=now
        )
        if ids is not None:
            due = due.filter(pk__in=list(ids))
        batch = list(due.order_by("available_at", "id")[:limit])
        if not batch:
            return 0
        OutboxJob.objects.filter(pk__in=[j.pk for j in batch]).update(
            state=OutboxState.SENT, sent_at=now, publishes=F("publishes") + 1
        )
    sent = 0
    for index, outbox_job in enumerate(batch):
        try:
            _publish(outbox_job)
        except Exception as exc:
            logger.warning("could not hand job %s to the task queue: %s", outbox_job.pk, exc)
            _hand_back([j.pk for j in batch[index:]], _broker_error(exc))
            break
        sent += 1
    return sent


def _broker_error(exc: Exception) -> str:
    text = str(exc).strip()
    return f"the task queue is unreachable ({type(exc).__name__}: {text})."[:ERROR_MAX]


def _publish(outbox_job: OutboxJob) -> None:
    _load_tasks()
    kwargs = {**outbox_job.kwargs, "outbox_id": outbox_job.pk}
    task = current_app.tasks.get(outbox_job.task)
    if task is None:  # a task this process does not know: a worker may
        current_app.send_task(outbox_job.task, kwargs=kwargs)
    else:
        task.apply_async(kwargs=kwargs, retry=False)


def _hand_back(ids: list[int], error: str) -> None:
    OutboxJob.objects.filter(pk__in=ids, state=OutboxState.SENT).update(
        state=OutboxState.PENDING,
        available_at=timezone.now() + timedelta(seconds=retry_seconds()),
        error=error,
    )


class _Publisher:
    """The web process's relay thread: after commit a job id goes on its queue and the request
    returns at once; the thread publishes (a broker that is down costs the thread, not the
    request). Ids lost with the process are left ``pending`` for the periodic relay."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.pid = 0
        self.lock = threading.Lock()

    def submit(self, job_id: int) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                self.queue = queue.SimpleQueue()
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._loop, name="outbox-relay", daemon=True)
                self.thread.start()
            self.queue.put(job_id)

    def _loop(self) -> None:
        while True:
            ids = [self.queue.get()]
            while True:
                try:
                    ids.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                relay(ids=ids)
            except Exception:
                logger.exception("outbox relay failed; the periodic relay will retry")
            finally:
                connection.close()


_publisher = _Publisher()


# --- running -----------------------------------------------------------------------------------


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def run(outbox_id: int, function: Callable[[], Any]) -> None:
    """Run one delivery of a job: start (or skip), heartbeat, and record how it ended."""
    run_id = _start(outbox_id)
    if run_id is None:
        return
    heartbeat = _Heartbeat(outbox_id, run_id)
    heartbeat.start()
    try:
        function()
    except TRANSIENT as exc:
        heartbeat.stop()
        if not connection.in_atomic_block:
            connection.close()  # a broken connection is replaced on the next query
        _ended(outbox_id, run_id, exc, transient=True)
        return
    except Exception as exc:
        heartbeat.stop()
        logger.exception("job %s failed", outbox_id)
        _ended(outbox_id, run_id, exc, transient=False)
        return
    finally:
        heartbeat.stop()  # also on a BaseException: the sweeper sees the heartbeat stop
    _ended(outbox_id, run_id, None, transient=False)


def _start(outbox_id: int) -> str | None:
    """Mark the job running under a new run id; None when this delivery has nothing to do."""
    now = timezone.now()
    with transaction.atomic():
        outbox_job = OutboxJob.objects.select_for_update().filter(pk=outbox_id).first()
        if outbox_job is None or outbox_job.state in (OutboxState.DONE, OutboxState.FAILED):
            return None
        stale = now - timedelta(seconds=stale_seconds())
        if outbox_job.state == OutboxState.RUNNING and (
            outbox_job.heartbeat_at is not None and outbox_job.heartbeat_at > stale
        ):
            logger.info("job %s is running elsewhere; this delivery does nothing", outbox_id)
            return None
        if outbox_job.attempts >= outbox_job.max_attempts:
            _give_up(outbox_job, f"it was started {outbox_job.attempts} times without finishing")
            return None
        outbox_job.state = OutboxState.RUNNING
        outbox_job.attempts += 1
        outbox_job.run = uuid.uuid4().hex
        outbox_job.started_at = outbox_job.heartbeat_at = now
        outbox_job.worker = _worker_name()
        outbox_job.save(
            update_fields=["state", "attempts", "run", "started_at", "heartbeat_at", "worker"]
        )
        return outbox_job.run


def _ended(outbox_id: int, run_id: str, exc: BaseException | None, *, transient: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        outbox_job = OutboxJob.objects.select_for_update().filter(pk=outbox_id).first()
        if outbox_job is None or outbox_job.run != run_id:
            return  # swept meanwhile: the newer run decides
        if exc is None:
            outbox_job.state, outbox_job.finished_at, outbox_job.error = OutboxState.DONE, now, ""
            outbox_job.save(update_fields=["state", "finished_at", "error"])
            return
        reason = f"{type(exc).__name__}: {str(exc).strip()}"[:ERROR_MAX]
        if transient and outbox_job.attempts < outbox_job.max_attempts:
            delay = retry_seconds() * 2**outbox_job.attempts
            _requeue(outbox_job, f"the database was unavailable ({reason})", delay=delay)
        else:
            _give_up(outbox_job, reason)


def _requeue(outbox_job: OutboxJob, reason: str, *, delay: float = 0) -> None:
    outbox_job.state = OutboxState.PENDING
    outbox_job.available_at = timezone.now() + timedelta(seconds=delay)
    outbox_job.error = reason[:ERROR_MAX]
    outbox_job.run = ""
    outbox_job.save(update_fields=["state", "available_at", "error", "run"])
    kind = _job_type(outbox_job.task)
    if kind is not None and kind.on_requeue is not None:
        _call_app(kind.on_requeue, outbox_job, reason)


def _give_up(outbox_job: OutboxJob, reason: str) -> None:
    outbox_job.state = OutboxState.FAILED
    outbox_job.finished_at = timezone.now()
    outbox_job.error = reason[:ERROR_MAX]
    outbox_job.run = ""
    outbox_job.save(update_fields=["state", "finished_at", "error", "run"])
    logger.error("job %s (%s) failed: %s", outbox_job.pk, outbox_job.task, reason)
    kind = _job_type(outbox_job.task)
    if kind is not None and kind.on_give_up is not None:
        _call_app(kind.on_give_up, outbox_job, reason)


def _call_app(hook: Callable[..., Any], outbox_job: OutboxJob, reason: str) -> None:
    try:
        with transaction.atomic():
            hook(reason, **outbox_job.kwargs)
    except Exception:
        logger.exception("job %s: %s failed", outbox_job.pk, hook.__qualname__)


class _Heartbeat:
    """Writes the run's heartbeat from a thread (its own database connection) while the task
    runs. Not started inside a transaction (a test's, or a caller's: the thread could not see
    the row), nor when tasks run in-process."""

    def __init__(self, outbox_id: int, run_id: str) -> None:
        self.outbox_id, self.run_id = outbox_id, run_id
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if connection.in_atomic_block or current_app.conf.task_always_eager:
            return  # in-process (no broker): no sweeper watches it
        self.thread = threading.Thread(target=self._loop, name="job-heartbeat", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
            self.thread = None

    def _loop(self) -> None:
        try:
            while not self.stopping.wait(heartbeat_seconds()):
                try:
                    OutboxJob.objects.filter(
                        pk=self.outbox_id, run=self.run_id, state=OutboxState.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except Exception:
                    logger.warning("job %s: heartbeat not written", self.outbox_id, exc_info=True)
                    connection.close()
        finally:
            connection.close()


# --- the sweeper -------------------------------------------------------------------------------


@dataclass
class Swept:
    requeued: int = 0
    failed: int = 0
    republished: int = 0
    relayed: int = 0


def sweep(*, limit: int = RELAY_BATCH) -> Swept:
    """Hand back jobs whose worker stopped (or fail them after ``max_attempts`` runs), publish
    again jobs sent long ago that no worker started, then relay what is due."""
    swept = Swept()
    now = timezone.now()
    stale = now - timedelta(seconds=stale_seconds())
    with transaction.atomic():
        stuck = (
            OutboxJob.objects.select_for_update(skip_locked=True)
            .filter(state=OutboxState.RUNNING, heartbeat_at__lt=stale)
            .order_by("id")[:limit]
        )
        for outbox_job in stuck:
            seen = outbox_job.heartbeat_at.astimezone(UTC)
            reason = (
                f"the worker running it ({outbox_job.worker}) stopped: no heartbeat since "
                f"{seen:%Y-%m-%d %H:%M:%S} UTC"
            )
            if outbox_job.attempts >= outbox_job.max_attempts:
                _give_up(outbox_job, f"Gave up after {outbox_job.attempts} attempts: {reason}.")
                swept.failed += 1
            else:
                _requeue(outbox_job, f"Retrying: {reason}.")
                swept.requeued += 1
    lost = now - timedelta(seconds=sent_timeout_seconds())
    swept.republished = OutboxJob.objects.filter(state=OutboxState.SENT, sent_at__lt=lost).update(
        state=OutboxState.PENDING,
        available_at=now,
        error="no worker started it after it was handed to the task queue; handed over again.",
    )
    swept.relayed = relay(limit=limit)
    return swept


def prune(*, days: int = 30) -> int:
    """Delete finished outbox rows older than ``days`` (the apps keep their own records)."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = OutboxJob.objects.filter(
        state__in=[OutboxState.DONE, OutboxState.FAILED], finished_at__lt=cutoff
    ).delete()
    return deleted
