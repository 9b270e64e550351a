import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 20 + "9f8e7d6c5b4a39281706f5e4d3c2b1a0ZYXWVUTSRQ"


def run_check(**env):
    unwanted = {"DJANGO_SECRET_KEY", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in unwanted}
    base.update(env)
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
            "--settings",
            "config.settings.production",
        ],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_a_missing_secret_key():
    result = run_check(REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = run_check(DJANGO_SECRET_KEY="x" * 60, REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_requires_a_broker():
    result = run_check(DJANGO_SECRET_KEY=STRONG_KEY)
    assert result.returncode != 0
    assert "REDIS_URL must be set" in result.stderr


def test_production_passes_the_deploy_checks():
    result = run_check(DJANGO_SECRET_KEY=STRONG_KEY, REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stderr


def test_debug_is_off_by_default(settings):
    from config.settings import base

    assert base.env_bool("DJANGO_DEBUG_UNSET_FOR_TEST") is False
    assert settings.DEBUG is False


@pytest.mark.django_db
def test_healthz_reports_the_database_and_broker(client, settings):
    settings.REDIS_URL = ""
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"].startswith("reachable")
    assert body["broker"] == "none configured: tasks run in-process"


@pytest.mark.django_db
def test_healthz_says_when_the_broker_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    # 200: the web servers keep serving annotation and review; jobs wait in the outbox
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"].startswith("unreachable")
    assert "wait in the outbox" in body["reasons"][0]
    assert body["jobs"] == {"waiting": 0, "oldest_waiting_seconds": None}


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_does_not_answer(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def refuse(self, sql, params=None):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/projects/{project_id}/items/" in schema.content
    docs = client.get("/api/docs/").content.decode()
    assert "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs


@pytest.mark.django_db
def test_login_page_and_account_token(client, user):
    assert client.get("/login/").status_code == 200
    assert client.get("/account/").status_code == 302
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert "No tokens." in page
    made = client.post("/account/tokens/", {"name": "laptop", "scope": "read"})
    assert made.status_code == 200
    assert "Copy it now" in made.content.decode()
