"""Shared set-up for the benchmarks: a fresh PostgreSQL database, a real gunicorn server, the
`--smoke` option and the load average printed around each run."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The project's packages import from here on; those of plain Python (annotation.kinds, say)
# before Django is set up.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


BENCH_PREFIX = "rubric_bench"


def bench_database_url(name: str) -> str:
    """DATABASE_URL (default: local PostgreSQL) pointed at the bench database `<base>_<name>`.

    `<base>` is DATABASE_URL's own database when its name starts with `rubric_bench` (the smoke
    tests give each test run one of its own), else `rubric_bench`: a bench database is always
    named `rubric_bench_...` and is never DATABASE_URL's own database, which it drops."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rubric")
    parts = urlparse(base)
    if not parts.scheme.startswith("postgres"):
        sys.exit("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://...")
    own = parts.path.lstrip("/")
    prefix = own if own.startswith(BENCH_PREFIX) else BENCH_PREFIX
    return urlunparse(parts._replace(path=f"/{prefix}_{name}"))


def _admin_url(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def recreate_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path[1:]
    assert name.startswith(f"{BENCH_PREFIX}_"), f"not a bench database: {name}"
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def drop_database(url: str) -> None:
    """Drop a bench database (closing this process's Django connections to it first)."""
    import psycopg

    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()
    name = urlparse(url).path[1:]
    assert name.startswith(f"{BENCH_PREFIX}_"), f"not a bench database: {name}"
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def sigterm_exits():
    """Within: SIGTERM raises SystemExit, so that the finally blocks that stop servers and drop
    databases run when the bench is terminated (by the smoke tests' timeout, say)."""
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def bench_database(name: str, *, keep: bool = False):
    """A fresh, migrated bench database (see bench_database_url), dropped on the way out, on
    failure and on SIGTERM too, unless `keep`. Yields its url."""
    url = bench_database_url(name)
    with sigterm_exits():
        try:
            recreate_database(url)
            yield url
        finally:
            if not keep:
                drop_database(url)


def add_smoke_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes and few repetitions: the same code paths in seconds (what `make test` "
        "runs); options set to other values than their defaults still win",
    )


def apply_smoke(parser: argparse.ArgumentParser, args: argparse.Namespace, **tiny) -> None:
    """With --smoke, each option named here that was left at its default takes the tiny value."""
    if not args.smoke:
        return
    for name, value in tiny.items():
        if getattr(args, name) == parser.get_default(name):
            setattr(args, name, value)


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unavailable"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


@contextmanager
def load_average():
    """Print the load average when the bench starts and when it ends (on failure too): figures
    taken on a busy machine are not comparable with those of an idle one."""
    print(f"load average at start: {_load()}", flush=True)
    try:
        yield
    finally:
        print(f"load average at end: {_load()}", flush=True)


class CpuMeter:
    """CPU used between start() and stop(): the whole machine's busy cores (from /proc/stat,
    every process: server, database and this client) and this process's own (os.times). On a
    machine without /proc/stat the machine's figure is None."""

    def start(self) -> "CpuMeter":
        self._machine, self._own, self._wall = _machine_jiffies(), _own_cpu(), time.monotonic()
        self._groups = _group_jiffies()
        return self

    def stop(self, cycles: int) -> dict:
        machine, own, wall = _machine_jiffies(), _own_cpu(), time.monotonic()
        elapsed, cycles = wall - self._wall, max(1, cycles)
        busy = None
        if machine and self._machine:
            (busy_after, total_after), (busy_before, total_before) = machine, self._machine
            busy = (busy_after - busy_before) / max(1, total_after - total_before) * os.cpu_count()
        groups = _group_jiffies()
        tick = os.sysconf("SC_CLK_TCK")
        return {
            "busy_cores": busy,
            "client_cores": (own - self._own) / elapsed,
            "cpu_ms_per_cycle": None if busy is None else 1000 * busy * elapsed / cycles,
            # CPU ms per cycle of the server's processes and PostgreSQL's (a process that ended
            # inside the window is not counted)
            "group_ms_per_cycle": {
                name: 1000 * used / tick / cycles
                for name, used in _group_use(self._groups, groups).items()
            },
        }


def _machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot; idle and iowait count as not busy."""
    try:
        with open("/proc/stat") as f:
            fields = [int(n) for n in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]
    total = sum(fields[:8])  # guest time is counted in user already
    return total - idle, total


def _group_jiffies() -> dict[int, tuple[str, int]]:
    """Each gunicorn and PostgreSQL process: its group and its utime + stime in jiffies."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile, or not ours to read
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        if comm == "postgres" or cmdline.startswith(b"postgres"):
            group = "postgres"
        elif b"gunicorn" in cmdline:
            group = "gunicorn"
        else:
            continue
        found[int(stat.parent.name)] = (group, int(fields[11]) + int(fields[12]))
    return found


def _group_use(before: dict, after: dict) -> dict[str, int]:
    """Jiffies each group used between two snapshots, process by process."""
    used = {"gunicorn": 0, "postgres": 0}
    for pid, (group, jiffies) in after.items():
        earlier = before.get(pid)
        used[group] += jiffies - (earlier[1] if earlier and earlier[0] == group else 0)
    return used


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


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
def gunicorn(
    url: str,
    *,
    workers: int = 2,
    threads: int = 1,
    keepalive: int | None = None,
    worker_class: str | None = None,
    env: dict[str, str] | None = None,
):
    """A gunicorn server on a free port with the shipped settings (config/gunicorn.conf.py)
    but these workers and threads (and keep-alive seconds and worker class, when given),
    stopped on the way out, on failure and on SIGTERM too (see sigterm_exits). `env`: more
    environment variables (REDIS_URL, say)."""
    port = free_port()
    # Through the environment, as a deployment sets them: the config file derives settings
    # from these (worker_connections from threads and keep-alive).
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "GUNICORN_ACCESS_LOG": "",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        **({"GUNICORN_KEEPALIVE": str(keepalive)} if keepalive is not None else {}),
        **({"GUNICORN_WORKER_CLASS": worker_class} if worker_class else {}),
        **(env or {}),
    }
    command = [PY, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "--timeout", "300", "--log-level", "warning"]
    with sigterm_exits():
        proc = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 60
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
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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


def waiting_items(project_id: int, user_id: int, count: int) -> None:
    """The project's first `count` items (by id) as one annotator's submits leave them while
    nobody else has annotated them: submitted once, each with the annotator's waiting
    assignment (`queue_pending`). No annotation rows: a claim does not read them. Needs
    setup_django first (or a test's database)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE annotation_item SET submitted_count = 1 WHERE id IN (SELECT id FROM "
            "annotation_item WHERE project_id = %s ORDER BY id LIMIT %s)",
            [project_id, count],
        )
        cursor.execute(
            "INSERT INTO annotation_assignment (project_id, item_id, annotator_id, status, "
            "claimed_at, expires_at, finished_at, display_order, skip_reason, skip_note, "
            "flagged, queue_pending, queue_priority) "
            "SELECT project_id, id, %s, 'submitted', now(), now(), now(), 'AB', '', '', false, "
            "true, priority FROM annotation_item WHERE project_id = %s AND submitted_count = 1",
            [user_id, project_id],
        )


def percentile(values: Sequence[float], share: float) -> float:
    """The value `share` of the way up the sorted values (the nearest rank below: 0.5 the
    median of an odd count, 0.99 the p99); NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


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
