"""The gunicorn settings the app ships (config/gunicorn.conf.py), as the Dockerfile runs them."""

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "gunicorn.conf.py"


def load(monkeypatch, **env):
    names = ("HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_KEEPALIVE")
    for name in (*names, "GUNICORN_WORKER_CLASS", "GUNICORN_ACCESS_LOG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_it_listens_on_loopback_unless_told_otherwise(monkeypatch):
    assert load(monkeypatch)["bind"] == "127.0.0.1:8000"
    everywhere = "0.0.0.0"  # noqa: S104 - what the container asks for
    assert load(monkeypatch, HOST=everywhere, PORT="9000")["bind"] == f"{everywhere}:9000"


def test_workers_and_threads_come_from_the_environment(monkeypatch):
    shipped = load(monkeypatch)
    assert shipped["workers"] >= 2 and shipped["threads"] >= 1
    chosen = load(monkeypatch, WEB_CONCURRENCY="7", GUNICORN_THREADS="3")
    assert (chosen["workers"], chosen["threads"]) == (7, 3)


def test_a_worker_takes_a_connection_only_when_a_thread_is_free_unless_keep_alive_is_on(
    monkeypatch,
):
    shipped = load(monkeypatch)
    assert shipped["keepalive"] == 0
    assert shipped["worker_connections"] == shipped["threads"]
    assert load(monkeypatch, GUNICORN_THREADS="3")["worker_connections"] == 3
    kept = load(monkeypatch, GUNICORN_KEEPALIVE="5")
    assert kept["keepalive"] == 5 and kept["worker_connections"] == 1000  # gunicorn's default


def test_the_access_log_goes_to_stdout_unless_turned_off(monkeypatch):
    assert load(monkeypatch)["accesslog"] == "-"
    assert load(monkeypatch, GUNICORN_ACCESS_LOG="")["accesslog"] is None


def test_the_image_serves_with_these_settings_on_all_its_interfaces():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"--config", "config/gunicorn.conf.py"' in dockerfile
    assert "HOST=0.0.0.0" in dockerfile


def test_the_worker_class_is_gunicorns_threaded_one_woken_alone_unless_told_otherwise(
    monkeypatch,
):
    shipped = load(monkeypatch)["worker_class"]
    assert shipped == "config.gunicorn_worker.ExclusiveAcceptThreadWorker"
    assert load(monkeypatch, GUNICORN_WORKER_CLASS="gthread")["worker_class"] == "gthread"


def _woken_by_one_connection(worker_class) -> int:
    """Two workers of this class wait on one listening socket, each in its own epoll set (as
    forked workers do); a client connects once. How many of them were woken?"""
    import selectors
    import socket
    import threading

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    config = Config()
    listener = socket.create_server(("127.0.0.1", 0))
    workers = [worker_class(1, 0, [listener], None, 30, config, Logger(config)) for _ in "ab"]
    woken = []
    started = threading.Barrier(3)

    def wait(worker):
        worker.poller = selectors.DefaultSelector()
        # Accepting, then full (every thread busy), then a thread free again.
        for accepting in (True, False, True):
            worker.set_accept_enabled(accepting)
        started.wait()
        if worker.poller.select(timeout=1.0):
            woken.append(worker)

    threads = [threading.Thread(target=wait, args=(w,)) for w in workers]
    try:
        for thread in threads:
            thread.start()
        started.wait()
        # Both are (about to be) inside epoll_wait: give them the moment to get there.
        threading.Event().wait(0.2)
        with socket.create_connection(listener.getsockname()):
            for thread in threads:
                thread.join()
    finally:
        listener.close()
        for worker in workers:
            worker.poller.close()
            worker.tmp.close()
    return len(woken)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="EPOLLEXCLUSIVE is Linux's")
def test_one_worker_is_woken_per_connection_not_all_of_them():
    from gunicorn.workers.gthread import ThreadWorker

    from config.gunicorn_worker import ExclusiveAcceptThreadWorker

    assert _woken_by_one_connection(ThreadWorker) == 2  # gunicorn's own: every worker
    assert _woken_by_one_connection(ExclusiveAcceptThreadWorker) == 1


def test_a_worker_imports_every_view_as_it_boots_and_freezes_what_it_loaded():
    """gunicorn loads config.wsgi before a worker takes requests: the URLconf (and every view
    with it) must be imported then, not lazily by the worker's first request, and what the
    imports made kept out of the garbage collector's full collections."""
    import os
    import subprocess

    probe = (
        "import gc, sys, config.wsgi; "
        "print('config.urls' in sys.modules, 'annotation.queue_apis' in sys.modules, "
        "gc.get_freeze_count() > 50_000)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]
