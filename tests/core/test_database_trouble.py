"""PostgreSQL trouble during a request, provoked for real: the request's own connection is
terminated with pg_terminate_backend (from a second connection) at a chosen query. A 503 with
Retry-After, never a 500; safe requests retried once; a submit sent again makes one annotation."""

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from unittest import mock

import psycopg
import pytest
from django.db import connection

from annotation.models import Annotation, Item, Role
from tests.factories import ItemFactory, MembershipFactory
from tests.workers import ROOT, database_url, free_port, stop, wait_for

pytestmark = pytest.mark.usefixtures("transactional_db", "require_postgres")


def _terminate_own_backend() -> None:
    """Kill the Django connection's server process, as a database restart would."""
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@contextlib.contextmanager
def terminated_at(fragment: str, *, times: int = 1):
    """Terminate the connection just before the first `times` queries whose SQL contains
    `fragment` are sent: they fail as on a dead server."""
    left = [times]

    def wrapper(execute, sql, params, many, context):
        if left[0] and fragment in sql:
            left[0] -= 1
            _terminate_own_backend()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield left


@pytest.fixture
def setup(project, make_api):
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    ItemFactory(project=project)
    return make_api(lead), make_api(annotator)


def _terminate_connections_since(started) -> int:
    """Terminate every connection to the test database opened since `started`, but this one
    (the live server's: as a database restart kills idle connections)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_start >= %s",
            [started],
        )
        return cursor.fetchone()[0]


def _call(base: str, token: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def gunicorn(tmp_path):
    """gunicorn with one sync worker on the test database: one persistent connection, kept
    between requests (CONN_MAX_AGE), as in production."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        started = cursor.fetchone()[0]
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
    }
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-w", "1", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def answers():
        try:
            return urllib.request.urlopen(base + "/healthz", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(answers, timeout=60, what="gunicorn")
        yield base, started
    finally:
        stop(process)
        log.close()


def test_connections_killed_while_idle_fail_no_request(project, gunicorn):
    """Through gunicorn: Django's connection health checks replace the dead persistent
    connection at the start of the next request. A submit whose answer was lost, sent again
    after the restart, returns the same annotation."""
    from core.services import token_for

    base, started = gunicorn
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    ItemFactory(project=project)
    lead_token, annotator_token = token_for(user=lead).key, token_for(user=annotator).key
    assert _call(base, lead_token, "GET", "/api/v1/projects/")[0] == 200
    assert _terminate_connections_since(started) >= 1

    status, body = _call(base, lead_token, "GET", "/api/v1/projects/")
    assert status == 200 and body[0]["id"] == project.pk

    status, claimed = _call(base, annotator_token, "POST", f"/api/v1/projects/{project.pk}/claim/")
    assert status == 200
    url = f"/api/v1/assignments/{claimed['assignment']['id']}/submit/"
    status, first = _call(base, annotator_token, "POST", url, {"payload": {"rating": 1}})
    assert status == 201  # committed; say its answer never reached the client
    assert _terminate_connections_since(started) >= 1  # and the database restarted

    status, again = _call(base, annotator_token, "POST", url, {"payload": {"rating": 1}})
    assert status == 200 and again["id"] == first["id"]
    assert Annotation.objects.count() == 1


def test_a_read_whose_connection_dies_is_retried_once(project, setup):
    lead, _ = setup
    with terminated_at("FROM annotation_membership m") as left:
        response = lead.get(f"/api/v1/projects/{project.pk}/")
    assert left == [0]
    assert response.status_code == 200
    assert response.json()["id"] == project.pk


def test_a_read_that_fails_twice_is_a_json_503_with_retry_after(project, setup):
    lead, _ = setup
    with terminated_at("FROM annotation_membership m", times=2):
        response = lead.get(f"/api/v1/projects/{project.pk}/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "detail": "The database is not answering right now; try again in a few seconds."
    }


def test_a_page_that_fails_twice_is_a_503_page(project, client, setup):
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    client.force_login(lead)
    with terminated_at("FROM annotation_membership m", times=2):
        response = client.get(f"/projects/{project.pk}/exports/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Try again in a moment" in response.content.decode()


def test_a_submit_whose_connection_dies_is_a_503_and_sent_again_makes_one_annotation(
    project, setup
):
    _, annotator = setup
    claimed = annotator.post(f"/api/v1/projects/{project.pk}/claim/").json()
    url = f"/api/v1/assignments/{claimed['assignment']['id']}/submit/"
    body = {"payload": {"rating": -2}}

    with terminated_at('INSERT INTO "annotation_annotation"') as left:
        failed = annotator.post(url, body, format="json")
    assert left == [0]
    assert failed.status_code == 503 and failed["Retry-After"] == "5"
    assert not Annotation.objects.exists()  # rolled back with the connection

    again = annotator.post(url, body, format="json")
    assert again.status_code == 201
    assert Annotation.objects.count() == 1


@contextlib.contextmanager
def refused_at(fragment: str, code: str):
    """The server answers the first query whose SQL contains `fragment` with an error of this
    SQLSTATE condition (raised by PostgreSQL itself, in the request's transaction), as it does
    when it picks the request as a deadlock's victim or cannot serialise it."""
    left = [1]

    def wrapper(execute, sql, params, many, context):
        if left[0] and fragment in sql:
            left[0] -= 1
            execute(
                f"DO $$BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = '{code}'; END$$",
                None,
                False,
                context,
            )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield left


@pytest.mark.parametrize("code", ["serialization_failure", "deadlock_detected"])
def test_a_read_picked_as_a_deadlock_or_serialization_victim_is_retried_once(project, setup, code):
    lead, _ = setup
    with refused_at("FROM annotation_membership m", code) as left:
        response = lead.get(f"/api/v1/projects/{project.pk}/")
    assert left == [0]
    assert response.status_code == 200 and response.json()["id"] == project.pk


@pytest.mark.parametrize("code", ["serialization_failure", "deadlock_detected"])
def test_a_submit_picked_as_a_deadlock_or_serialization_victim_is_a_503_and_sent_again_once(
    project, setup, code
):
    _, annotator = setup
    claimed = annotator.post(f"/api/v1/projects/{project.pk}/claim/").json()
    url = f"/api/v1/assignments/{claimed['assignment']['id']}/submit/"
    body = {"payload": {"rating": 2}}

    with refused_at('INSERT INTO "annotation_annotation"', code) as left:
        failed = annotator.post(url, body, format="json")
    assert left == [0]
    assert failed.status_code == 503 and failed["Retry-After"] == "5"
    assert not Annotation.objects.exists()  # rolled back

    assert annotator.post(url, body, format="json").status_code == 201
    assert annotator.post(url, body, format="json").status_code == 200  # a replay: the same one
    assert Annotation.objects.count() == 1


def test_an_import_whose_connection_dies_at_its_copy_is_a_503_and_writes_nothing(
    project, setup, monkeypatch
):
    """COPY runs on psycopg's own cursor, outside Django's error wrapping unless the code puts
    it inside: the connection is terminated just as the COPY of the new items starts."""
    lead, _ = setup
    rows = [
        {"external_id": f"cut-{n}", "kind": "instruction", "data": {"prompt": f"Say {n}."}}
        for n in range(20)
    ]
    copy = psycopg.Cursor.copy
    started = []

    def cut(self, statement, *args, **kwargs):
        if "annotation_item" in str(statement) and not started:
            started.append(statement)
            _terminate_own_backend()
        return copy(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", cut)
    before = Item.objects.count()
    response = lead.post(f"/api/v1/projects/{project.pk}/items/", rows, format="json")
    assert started
    assert response.status_code == 503 and response["Retry-After"] == "5"
    monkeypatch.undo()
    assert Item.objects.count() == before


@contextlib.contextmanager
def _no_round_trips():
    """Within: a statement sent by psycopg outside Django fails, as the health check's would."""

    def refuse(*args, **kwargs):
        raise psycopg.OperationalError("the health check sent a statement")

    with mock.patch.object(type(connection.connection), "cursor", refuse):
        yield


def test_a_sound_idle_connection_passes_the_health_check_without_a_round_trip():
    connection.ensure_connection()

    with _no_round_trips():
        assert connection.is_usable()


def test_a_connection_the_server_ended_fails_the_health_check_and_is_replaced():
    connection.ensure_connection()
    _terminate_own_backend()

    wait_for(lambda: not connection.is_usable(), timeout=10, what="the ended session seen")
    connection.health_check_done = False  # as at the start of each request
    connection.close_if_health_check_failed()
    assert Item.objects.count() == 0  # on a new connection


def test_a_connection_inside_a_transaction_is_checked_with_a_statement():
    from django.db import transaction

    with transaction.atomic():
        Item.objects.count()  # the transaction has begun on the server
        with _no_round_trips():
            assert not connection.is_usable()  # it asked, and its statement failed
