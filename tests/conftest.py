import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

# .ci/run sets this: there a missing service fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("RUBRIC_REQUIRE_SERVICES") == "1"
# .ci/run's second pass, on the embedded default (SQLite, tasks in-process), sets this: the
# tests that need PostgreSQL, Redis or a real worker ran in its first pass.
EMBEDDED_PASS = os.environ.get("RUBRIC_EMBEDDED_PASS") == "1"


def needs(condition: bool, reason: str) -> None:
    """Skip a test whose service is missing on a developer machine; fail it in CI."""
    if condition:
        return
    if EMBEDDED_PASS:
        pytest.skip(f"{reason}: ran in the pass on PostgreSQL and Redis")
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (RUBRIC_REQUIRE_SERVICES=1: CI must not skip)")
    pytest.skip(reason)


@pytest.fixture
def require_postgres(db):
    needs(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def project(db):
    return ProjectFactory()


def _member(project, role):
    return MembershipFactory(project=project, role=role).user


@pytest.fixture
def lead(project):
    return _member(project, Role.LEAD)


@pytest.fixture
def reviewer(project):
    return _member(project, Role.REVIEWER)


@pytest.fixture
def annotator(project):
    return _member(project, Role.ANNOTATOR)


@pytest.fixture
def api():
    """An unauthenticated API client."""
    return APIClient()


@pytest.fixture
def make_api():
    from core.services import token_for

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user=user).key}")
        return client

    return make


@pytest.fixture
def user(db):
    return UserFactory()


def _redis_reachable(url: str) -> bool:
    import redis

    if not url:
        return False
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def _celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """The worker process, started once per session; `celery_worker` routes tasks to it."""
    import os
    import time
    import uuid

    from django.conf import settings
    from django.db import connection

    from config.celery import app
    from tests.workers import start_worker, stop

    needs(connection.vendor == "postgresql", "a real worker needs PostgreSQL (set DATABASE_URL)")
    needs(_redis_reachable(settings.REDIS_URL), "a real worker needs Redis (set REDIS_URL)")
    queue = f"rubric-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("celery") / f"{queue}.log"
    process = start_worker(queue=queue, broker=settings.REDIS_URL, log=log, name=queue)
    previous_broker = app.conf.broker_url
    app.conf.broker_url = settings.REDIS_URL
    try:
        deadline = time.monotonic() + 60
        destination = [f"{queue}@{os.uname().nodename}"]
        while not app.control.inspect(destination=destination, timeout=1).ping():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start; see {log}")
        yield queue
    finally:
        app.conf.broker_url = previous_broker
        stop(process)


@pytest.fixture
def celery_worker(_celery_worker_process):
    """A real Celery worker process on Redis, using the test database, on a queue of its own.

    Tests that use it also need `transactional_db` so the rows they write are committed and
    visible to the worker. During such a test tasks go to the worker; every other test runs
    them in-process."""
    from config.celery import app

    previous = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager, app.conf.task_default_queue = False, _celery_worker_process
    try:
        yield _celery_worker_process
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous
