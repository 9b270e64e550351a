"""Real processes for the fault tests: Celery workers (killable), a Redis server of their own,
and pointing this process's Celery app at another broker."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, step=0.1) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def database_url() -> str:
    from django.db import connection

    database = connection.settings_dict
    return (
        f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


def start_worker(
    *,
    queue: str,
    broker: str,
    log: Path,
    app: str = "config",
    beat: bool = False,
    name: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """A Celery worker process (solo pool: one process, so SIGKILL kills the whole worker) on
    the test database, consuming `queue` from `broker`; `beat` embeds the beat schedule (the
    outbox's relay and sweeper) with its schedule in memory; `name` is the node name before
    the host (default: the queue and a random suffix)."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-Q",
        queue,
        "-n",
        f"{name or f'{queue}-{uuid.uuid4().hex[:6]}'}@%h",
    ]
    if beat:
        # The schedule in memory: a shelve file (SQLite under Python 3.13) failed with "locking
        # protocol" once under load, which killed the beat and with it the outbox's relay.
        command += ["-B", "--scheduler", "celery.beat:Scheduler"]
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker,
        "RUBRIC_CELERY_QUEUE": queue,
        "RUBRIC_CELERY_EAGER": "0",
        **(env or {}),
    }
    handle = open(log, "a")  # noqa: SIM115 (the process writes it; closed with the process)
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen, *, timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def redis_server(port: int, directory: Path) -> Iterator[subprocess.Popen]:
    """A Redis server of the test's own on `port` (never the machine's shared one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        from tests.conftest import needs

        needs(False, "needs redis-server")  # skipped on a developer machine, failed in CI
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(port), timeout=10, what=f"redis-server on {port}")
        yield process
    finally:
        stop(process, timeout=10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def celery_broker(url: str, queue: str) -> Iterator[None]:
    """This process's Celery app publishes to `url`, on `queue`, not in-process."""
    from config.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue)

    def reset_pools() -> None:  # as Celery does after a fork: connect anew, to `url`
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = (
        url,
        False,
        queue,
    )
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = saved
        reset_pools()
