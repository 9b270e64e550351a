"""Shared set-up for the benchmarks: a fresh PostgreSQL database and a real gunicorn server."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The project's packages import from here on; those of plain Python (annotation.kinds, say)
# before Django is set up.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_database_url(name: str) -> str:
    """DATABASE_URL with its database name replaced by `name` (default: local PostgreSQL)."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rubric")
    parts = urlparse(base)
    if not parts.scheme.startswith("postgres"):
        sys.exit("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://...")
    return urlunparse(parts._replace(path=f"/{name}"))


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    admin = urlunparse(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path[1:]}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parts.path[1:]}"')
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(url: str, *, workers: int = 2, threads: int = 1):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


_ITEM_COLUMNS = (
    "project_id, external_id, kind, data, metadata, priority, split, is_gold, content_hash, "
    "data_hash, metadata_hash, status, agreement, review_reason, submitted_count, "
    "active_count, created_at, updated_at"
)


def copy_item_rows(project_id: int, rows) -> int:
    """Insert item rows ({external_id, kind, data, metadata, priority}) with COPY, hashes
    included, exactly as the import service stores them. Needs setup_django first."""
    from django.db import connection
    from psycopg.types.json import Jsonb

    from annotation.kinds import content_hash, json_hash

    count = 0
    sql = f"COPY annotation_item ({_ITEM_COLUMNS}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(
                (
                    project_id,
                    row["external_id"],
                    row["kind"],
                    Jsonb(row["data"]),
                    Jsonb(row["metadata"]),
                    row["priority"],
                    "train",
                    False,
                    content_hash(row["kind"], row["data"]),
                    json_hash([row["kind"], row["data"], None]),
                    json_hash(row["metadata"]),
                    "open",
                    "",
                    "",
                    0,
                    0,
                    "now",
                    "now",
                )
            )
            count += 1
    return count


def preference_rows(n: int, tag: str):
    """n realistic preference items, generated lazily."""
    for i in range(n):
        yield {
            "external_id": f"{tag}-{i:07d}",
            "kind": "preference",
            "data": {
                "prompt": f"Question {i}: how should a careful assistant answer this request?",
                "responses": [
                    {"text": f"Answer A to question {i}, short and direct.", "model": "model-a"},
                    {
                        "text": f"Answer B to question {i}, longer, with caveats.",
                        "model": "model-b",
                    },
                ],
            },
            "metadata": {"source": "bench", "uncertainty": (i % 100) / 100},
            "priority": (i % 100) / 100,
        }


def copy_text(value: str) -> str:
    """A value in COPY's text format: backslashes doubled, tabs and newlines escaped."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_lines(table: str, columns: str, lines, *, batch: int = 10_000) -> float:
    """COPY pre-formatted text lines (tab-separated, newline-terminated) into `table`;
    returns the seconds it took. Needs setup_django first."""
    from django.db import connection

    started = time.monotonic()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        chunk = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= batch:
                copy.write("".join(chunk))
                chunk = []
        copy.write("".join(chunk))
    return time.monotonic() - started


def next_ids(*tables: str) -> dict[str, int]:
    """The next free id of each table (for COPY with explicit ids)."""
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
            out[table] = cursor.fetchone()[0]
    return out


def reset_sequences(*tables: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
