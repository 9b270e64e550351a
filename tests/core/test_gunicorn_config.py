"""The gunicorn settings the app ships (config/gunicorn.conf.py), as the Dockerfile runs them."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "gunicorn.conf.py"


def load(monkeypatch, **env):
    names = ("HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_KEEPALIVE")
    for name in (*names, "GUNICORN_ACCESS_LOG"):
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
