"""A soak: annotators, reviewers and leads against gunicorn and a real Celery worker, with the
worker killed and Redis taken away in the middle; then the invariants, checked in SQL.

32 annotators (claim, submit; now and then a skip, a heartbeat, a draft, a submit sent twice)
and 2 reviewers (review-claim, approve or reject to annotate again), HTTP clients with API tokens,
work for `--seconds` against gunicorn, while 2 leads request exports (rotating formats) and
agreement reports and follow them (status, download). A Celery worker (solo pool, with the
beat: the outbox's relay and sweeper, their clocks shortened to seconds) builds the jobs. The
soak runs its own redis-server on a free port (broker and cache of the web and the worker; the
machine's Redis is never touched). In the middle:

* at 25 % of the run the worker is killed with SIGKILL (its whole process group; if a job is
  running then, mid-job), and started again a few seconds later;
* at 50 % redis-server is killed with SIGKILL and, after 20 % of the run, started again on the
  same port, empty (every message it held is lost);
* at 80 % every PostgreSQL connection to the soak's database is terminated
  (`pg_terminate_backend`, as a database restart would);
* at 90 % one gunicorn worker is killed with SIGKILL (requests in flight on it get no answer;
  the clients send a submit again until an answer comes).

When the clients stop, the soak waits for every job to settle, stops the processes, and checks
in SQL (bench/soak_checks.py): every submit a client saw answered 2xx has exactly one annotation
row and no annotation exists that no client submitted; no item exceeds its overlap; every
counter (item submitted and active counts, item tallies, annotator days, served counts, final
records) matches its rows; every requested job (and every report the app scheduled itself) is
done, finished exactly once, its export file there with its sha256. It prints throughput, p50
and p99 per operation, error counts by status, each phase beside the calm first quarter (the
baseline), and the load average. A broken invariant, a job not settled, a 5xx other than a 503
(database trouble answered with Retry-After, expected when the connections are cut) or a submit
replay answered with another annotation fails the run.

Works in its own database, `rubric_bench_soak`, which it creates and drops.

    .venv/bin/python bench/soak.py [--seconds 120] [--annotators 32] [--reviewers 2]
    .venv/bin/python bench/soak.py --smoke   # 12 s, 4 annotators, 300 items
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import soak_checks
from _support import (
    PY,
    ROOT,
    add_smoke_option,
    apply_smoke,
    bench_database,
    free_port,
    gunicorn,
    load_average,
    percentile,
    setup_django,
    sigterm_exits,
)

EXPORT_FORMATS = ["trl-preference", "trl-sft", "openai-chat", "trl-kto", "sharegpt"]
CATEGORIES = ["summarization", "question_answering", "translation", "code", "reasoning", "other"]
HARM_CATEGORIES = ["none", "violence", "illegal_activity", "privacy", "malware", "other"]
DECISIONS = ["refuse", "comply", "partial"]
SKIP_REASONS = ["unclear_guidelines", "needs_expertise", "broken_item"]
# Seconds a client waits after a 503 or a dropped connection before it tries again.
RETRY_WAIT = 0.5
SUBMIT_TRIES = 8
IDLE_SECONDS = 1.0  # a connection idle this long is opened anew (gunicorn's keep-alive is 2 s)


# --- processes -----------------------------------------------------------------------------------


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


class RedisServer:
    """The soak's own redis-server on `port` (nothing saved: a restart comes back empty)."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port, self.directory = port, directory
        self.process: subprocess.Popen | None = None
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            sys.exit("The soak needs redis-server on PATH (apt-get install redis-server).")

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait(lambda: _answers_ping(self.port), timeout=10, what=f"redis-server on {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class Worker:
    """A Celery worker (solo pool) with the beat, in a process group of its own: SIGKILL to the
    group kills the worker and its beat at once, as a machine or an OOM kill would."""

    def __init__(self, env: dict[str, str], directory: Path, queue: str) -> None:
        self.env, self.directory, self.queue = env, directory, queue
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.log = directory / "worker.log"

    def start(self) -> None:
        self.starts += 1
        command = [PY, "-m", "celery", "-A", "config", "worker", "--pool", "solo"]
        command += ["--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        command += ["-Q", self.queue, "-n", f"{self.queue}-{self.starts}@%h"]
        command += ["-B", "--scheduler", "celery.beat:Scheduler"]  # in memory: no shelve file
        handle = open(self.log, "a")  # noqa: SIM115 (the process writes it)
        handle.write(f"\n--- start {self.starts} ---\n")
        handle.flush()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        marker = f"{self.queue}-{self.starts}@"

        def ready() -> bool:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited; see {self.log}")
            text = self.log.read_text(errors="replace")
            return any(marker in line and "ready." in line for line in text.splitlines())

        _wait(ready, timeout=timeout, what="the Celery worker")

    def kill(self) -> None:
        """SIGKILL to the worker's whole process group (the worker and its beat)."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        self.process = None


# --- the clients ---------------------------------------------------------------------------------


@dataclass
class Record:
    at: float  # seconds since the run started, when the request was sent
    op: str
    status: int  # 0: no answer (the connection dropped or timed out)
    seconds: float


@dataclass
class Shared:
    base: str
    project_id: int
    started: float
    stop: threading.Event
    records: list[Record] = field(default_factory=list)
    seen: soak_checks.Seen = field(default_factory=soak_checks.Seen)
    surprises: list[str] = field(default_factory=list)  # what must never happen
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One HTTP client with its API token; reconnects after a dropped connection."""

    def __init__(self, shared: Shared, token: str) -> None:
        self.shared = shared
        self.url = urlparse(shared.base)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0

    def call(self, op: str, method: str, path: str, body=None) -> tuple[int, object]:
        if self.conn is not None and time.monotonic() - self.used > IDLE_SECONDS:
            # gunicorn closes a keep-alive connection idle for 2 s: a request sent on it would
            # fail without reaching the server (a client's artefact, not the server's answer).
            self.conn.close()
            self.conn = None
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)
        data = json.dumps(body) if body is not None else None
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            response = self.conn.getresponse()
            raw = response.read()
            status = response.status
            if status == 503 and not response.getheader("Retry-After"):
                self.shared.surprises.append(f"{op} answered 503 without Retry-After")
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            status, raw = 0, b""
        self.used = time.monotonic()
        self.shared.records.append(
            Record(started - self.shared.started, op, status, time.perf_counter() - started)
        )
        if status == 503 or status == 0:
            time.sleep(RETRY_WAIT)
        try:
            parsed = json.loads(raw) if raw and status != 0 else None
        except ValueError:
            parsed = None
        if status >= 500 and status != 503:
            self.shared.surprises.append(f"{op} answered {status}: {raw[:200]!r}")
        return status, parsed


def _lean(item_id: int) -> int:
    """The side most annotators of an item lean to, so that most items agree."""
    return 1 if random.Random(item_id).random() < 0.5 else -1


def payload_for(item: dict, rng: random.Random) -> dict:
    kind, item_id = item["kind"], item["id"]
    agree = rng.random() < 0.8
    if kind == "preference":
        side = _lean(item_id) if agree else rng.choice([-1, 1])
        return {"rating": side * rng.randint(1, 3)}
    if kind == "refusal":
        decision = DECISIONS[item_id % 3] if agree else rng.choice(DECISIONS)
        return {
            "decision": decision,
            "response": f"I would answer item {item_id} this way ({rng.random():.4f}).",
            "harm_category": HARM_CATEGORIES[item_id % len(HARM_CATEGORIES)],
        }
    category = CATEGORIES[item_id % len(CATEGORIES)] if agree else rng.choice(CATEGORIES)
    return {"response": f"A response to item {item_id} ({rng.random():.4f}).", "category": category}


def annotator_loop(shared: Shared, token: str, user_id: int, think: float) -> None:
    client = Client(shared, token)
    rng = random.Random(token)
    project = shared.project_id
    while not shared.stop.is_set():
        status, body = client.call("claim", "POST", f"/api/v1/projects/{project}/claim/")
        if status == 204:
            shared.stop.wait(0.5)
            continue
        if status != 200:
            continue
        assignment = body["assignment"]["id"]
        item = body["item"]
        if think:
            time.sleep(rng.uniform(0, 2 * think))
        roll = rng.random()
        if roll < 0.03:
            client.call("heartbeat", "POST", f"/api/v1/assignments/{assignment}/heartbeat/")
        elif roll < 0.06:
            draft = {"draft": {"note": f"half done {rng.random():.3f}"}}
            client.call("draft", "PUT", f"/api/v1/assignments/{assignment}/draft/", draft)
        if rng.random() < 0.04:
            reason = {"reason": rng.choice(SKIP_REASONS), "flag": rng.random() < 0.2}
            client.call("skip", "POST", f"/api/v1/assignments/{assignment}/skip/", reason)
            continue
        submit(shared, client, assignment, user_id, payload_for(item, rng), rng)


def submit(shared, client, assignment, user_id, payload, rng) -> None:
    """Submit, sent again until an answer comes (a submit replayed returns the annotation it
    made); now and then sent twice on purpose. What the client saw goes to `shared.seen`."""
    path = f"/api/v1/assignments/{assignment}/submit/"
    body = {"payload": payload, "seconds_spent": round(rng.uniform(5, 90), 1)}
    for _ in range(SUBMIT_TRIES):
        status, answer = client.call("submit", "POST", path, body)
        if status in (200, 201):
            annotation = answer["id"]
            with shared.lock:
                before = shared.seen.submits.get(assignment)
                shared.seen.submits[assignment] = (annotation, user_id)
                shared.seen.uncertain.discard(assignment)
            if before is not None and before[0] != annotation:
                shared.surprises.append(f"assignment {assignment}: a replay gave {annotation}")
            if status == 201 and rng.random() < 0.03:
                again, replay = client.call("submit replay", "POST", path, body)
                if again in (0, 503):
                    pass  # no answer (the faults): an extra send, nothing to learn from it
                elif again != 200 or replay["id"] != annotation:
                    shared.surprises.append(
                        f"assignment {assignment}: a replay answered {again} {replay}"
                    )
            return
        if status not in (0, 503):
            return  # a 4xx: nothing was written (a lost lease echoes the payload)
        with shared.lock:  # no answer: the submit may or may not have been written
            shared.seen.uncertain.add(assignment)


def reviewer_loop(shared: Shared, token: str) -> None:
    client = Client(shared, token)
    rng = random.Random(token)
    project = shared.project_id
    while not shared.stop.is_set():
        status, body = client.call(
            "review-claim", "POST", f"/api/v1/projects/{project}/review-claim/"
        )
        if status == 204:
            shared.stop.wait(0.5)
            continue
        if status != 200:
            continue
        item = body["item"]
        if rng.random() < 0.85 and item["annotations"]:
            decision = {"decision": "approve", "annotation": rng.choice(item["annotations"])["id"]}
        else:
            decision = {
                "decision": "reject",
                "note": "Annotate again, please.",
                "then": "annotate_again",
            }
        client.call("review", "POST", f"/api/v1/items/{item['id']}/review/", decision)


def lead_loop(shared: Shared, token: str, what: str, every: float) -> None:
    """Request an export (rotating formats) or an agreement report every `every` seconds and
    follow what was asked: the job's status, an export's download once done."""
    client = Client(shared, token)
    project = shared.project_id
    rng = random.Random(token)
    pending: set[int] = set()
    n = 0
    while not shared.stop.is_set():
        if what == "export":
            fmt = EXPORT_FORMATS[n % len(EXPORT_FORMATS)]
            body = {"format": fmt, "split": rng.choice(["train", "all"])}
            status, answer = client.call(
                "export request", "POST", f"/api/v1/projects/{project}/exports/", body
            )
            if status == 202:
                with shared.lock:
                    shared.seen.exports.add(answer["id"])
                pending.add(answer["id"])
            for job in sorted(pending):
                status, answer = client.call("export status", "GET", f"/api/v1/exports/{job}/")
                if status == 200 and answer["status"] == "done":
                    pending.discard(job)
                    client.call("export download", "GET", f"/api/v1/exports/{job}/download/")
        else:
            status, answer = client.call(
                "agreement request", "POST", f"/api/v1/projects/{project}/agreement/"
            )
            if status == 202:
                with shared.lock:
                    shared.seen.reports.add(answer["id"])
            client.call("agreement read", "GET", f"/api/v1/projects/{project}/agreement/")
        client.call("healthz", "GET", "/healthz")
        n += 1
        shared.stop.wait(every)


# --- set-up --------------------------------------------------------------------------------------


def item_rows(count: int, gold: int):
    """`count` items: 70 % preference, 20 % refusal, 10 % instruction; the first `gold` of them
    gold items with a known answer."""
    for i in range(count):
        roll = i % 10
        row: dict = {"external_id": f"soak-{i:06d}", "priority": (i * 7919 % 1000) / 1000}
        prompt = f"Request {i}: how should a careful assistant answer this?"
        if roll < 7:
            row["kind"] = "preference"
            row["data"] = {
                "prompt": prompt,
                "responses": [
                    {"text": f"Answer A to request {i}, short.", "model": "model-a"},
                    {"text": f"Answer B to request {i}, with caveats.", "model": "model-b"},
                ],
            }
            answer = {"rating": -2}
        elif roll < 9:
            row["kind"] = "refusal"
            row["data"] = {"prompt": prompt, "model_response": f"Sure, here is how ({i})."}
            answer = {"decision": "refuse"}
        else:
            row["kind"] = "instruction"
            row["data"] = {"prompt": f"Summarise text {i} in one sentence."}
            answer = {"category": "summarization"}
        if i < gold:
            row["gold"] = answer
        yield row


def seed(base: str, args) -> dict:
    """The project, its members and their tokens; the items pushed through the REST API."""
    from django.contrib.auth import get_user_model

    from annotation.models import Membership, Role
    from annotation.services import project_create
    from core.models import TokenScope
    from core.tokens import token_for

    User = get_user_model()
    leads = [User.objects.create(username=f"soak-lead-{i}") for i in range(2)]
    project = project_create(
        actor=leads[0],
        values={
            "name": "Soak",
            "annotations_per_item": 2,
            "review_sample_rate": 0.1,
            "gold_rate": 0.05,
            "agreement_every": args.agreement_every,
        },
    )
    Membership.objects.create(project=project, user=leads[1], role=Role.LEAD)
    people = {"leads": [], "annotators": [], "reviewers": []}
    for lead in leads:
        people["leads"].append((token_for(user=lead).key, lead.pk))
    for role, label, count in (
        (Role.ANNOTATOR, "annotators", args.annotators),
        (Role.REVIEWER, "reviewers", args.reviewers),
    ):
        for i in range(count):
            user = User.objects.create(username=f"soak-{label[:-1]}-{i}")
            Membership.objects.create(project=project, user=user, role=role)
            key = token_for(user=user, scope=TokenScope.ANNOTATE).key
            people[label].append((key, user.pk))
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
    headers = {"Authorization": f"Token {people['leads'][0][0]}"}
    headers["Content-Type"] = "application/x-ndjson"
    rows = list(item_rows(args.items, args.gold))
    for start in range(0, len(rows), 10_000):
        batch = "".join(json.dumps(r) + "\n" for r in rows[start : start + 10_000])
        conn.request("POST", f"/api/v1/projects/{project.pk}/items/", body=batch, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 201:
            raise RuntimeError(f"import answered {response.status}: {body[:500]!r}")
    conn.close()
    return {"project": project.pk, **people}


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Timeline:
    worker_killed: float = 0.0
    worker_back: float = 0.0
    killed_mid_job: str = ""
    redis_down: float = 0.0
    redis_back: float = 0.0
    connections_cut: float = 0.0
    connections_killed: int = 0
    web_killed: float = 0.0
    web_pid: int = 0
    settled: float | None = None  # seconds after the clients stopped

    def phases(self, seconds: float) -> list[tuple[str, float, float]]:
        return [
            ("baseline (calm)", 0.0, self.worker_killed),
            ("worker killed", self.worker_killed, self.worker_back),
            ("worker back", self.worker_back, self.redis_down),
            ("Redis down", self.redis_down, self.redis_back),
            ("Redis back", self.redis_back, self.connections_cut),
            ("DB connections cut", self.connections_cut, self.web_killed),
            ("web worker killed", self.web_killed, seconds),
        ]


def running_job() -> str:
    from core.models import OutboxJob, OutboxState

    job = OutboxJob.objects.filter(state=OutboxState.RUNNING).order_by("id").first()
    return f"{job.task} {job.kwargs}" if job is not None else ""


def faults(
    shared: Shared, timeline: Timeline, worker: Worker, redis: RedisServer, lead_token: str, args
) -> None:
    """The faults, on the main thread, at their times."""
    seconds = args.seconds
    lead = Client(shared, lead_token)
    project = shared.project_id

    def until(at: float) -> None:
        delay = shared.started + at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)

    until(0.25 * seconds)
    # Kill mid-job when there is one: ask for a report (the longest job), then watch for a
    # running job for a moment.
    status, answer = lead.call(
        "agreement request", "POST", f"/api/v1/projects/{project}/agreement/"
    )
    if status == 202:
        with shared.lock:
            shared.seen.reports.add(answer["id"])
    deadline = time.monotonic() + min(3.0, 0.05 * seconds)
    while not (found := running_job()) and time.monotonic() < deadline:
        time.sleep(0.02)
    timeline.killed_mid_job = found
    worker.kill()
    timeline.worker_killed = time.perf_counter() - shared.started
    until(timeline.worker_killed + max(2.0, 0.05 * seconds))
    worker.start()
    timeline.worker_back = time.perf_counter() - shared.started
    until(0.5 * seconds)
    redis.kill()
    timeline.redis_down = time.perf_counter() - shared.started
    until(0.7 * seconds)
    redis.start()
    timeline.redis_back = time.perf_counter() - shared.started
    until(0.8 * seconds)
    timeline.connections_killed = terminate_connections()
    timeline.connections_cut = time.perf_counter() - shared.started
    until(0.9 * seconds)
    timeline.web_pid = kill_a_web_worker(shared.base)
    timeline.web_killed = time.perf_counter() - shared.started
    until(seconds)


def terminate_connections() -> int:
    """pg_terminate_backend on every other connection to the soak's database (the web's, the
    worker's, the beat's), as a database restart or a failover would; returns how many."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()"""
        )
        return cursor.fetchone()[0]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_a_web_worker(base: str) -> int:
    """SIGKILL one gunicorn worker (requests in flight on it get no answer; the master starts
    another); returns its pid, 0 when none was found."""
    bind = base.removeprefix("http://")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gunicorn" in command and bind.encode() in command:
            children = _children(int(entry.name))
            if children:
                os.kill(children[0], signal.SIGKILL)
                return children[0]
    return 0


def settle(project_id: int, timeout: float) -> float | None:
    """Wait until every job of the project is done or failed; the seconds it took, or None."""
    from agreement.models import AgreementReport
    from core.models import OutboxJob, OutboxState
    from exports.models import ExportJob

    open_states = ["queued", "running"]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        busy = (
            ExportJob.objects.filter(project_id=project_id, status__in=open_states).exists()
            or AgreementReport.objects.filter(
                project_id=project_id, status__in=open_states
            ).exists()
            or OutboxJob.objects.exclude(state__in=[OutboxState.DONE, OutboxState.FAILED]).exists()
        )
        if not busy:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


@contextmanager
def stopping(*stoppers):
    with sigterm_exits():
        try:
            yield
        finally:
            for stop in stoppers:
                try:
                    stop()
                except Exception as exc:  # keep stopping the others
                    print(f"while stopping: {exc!r}", file=sys.stderr)


def run(args: argparse.Namespace, url: str) -> int:
    setup_django(url)
    directory = Path(tempfile.mkdtemp(prefix="rubric-soak-"))
    media = directory / "media"
    port = free_port()
    queue = f"soak-{port}"
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": url,
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "RUBRIC_CELERY_QUEUE": queue,
        "DJANGO_MEDIA_ROOT": str(media),
        # The outbox's clocks, shortened so that a bounded run sees them act.
        "RUBRIC_OUTBOX_TICK_SECONDS": "1",
        "RUBRIC_JOB_HEARTBEAT_SECONDS": "1",
        "RUBRIC_JOB_STALE_SECONDS": "5",
        "RUBRIC_OUTBOX_SENT_TIMEOUT_SECONDS": "10",
        "RUBRIC_OUTBOX_RETRY_SECONDS": "1",
    }
    redis = RedisServer(port, directory)
    worker = Worker({**os.environ, **env}, directory, queue)
    timeline = Timeline()
    with stopping(worker.stop, redis.kill):
        redis.start()
        worker.start()
        with gunicorn(url, workers=args.workers, threads=args.threads, env=env) as base:
            people = seed(base, args)
            worker.wait_ready()
            shared = Shared(base, people["project"], time.perf_counter(), threading.Event())
            threads = [
                threading.Thread(
                    target=annotator_loop, args=(shared, key, uid, args.think_ms / 1000)
                )
                for key, uid in people["annotators"]
            ]
            threads += [
                threading.Thread(target=reviewer_loop, args=(shared, key))
                for key, _ in people["reviewers"]
            ]
            every = max(1.0, args.seconds / 15)
            threads += [
                threading.Thread(target=lead_loop, args=(shared, key, what, every))
                for (key, _), what in zip(people["leads"], ("export", "agreement"), strict=True)
            ]
            shared.started = time.perf_counter()
            for thread in threads:
                thread.start()
            try:
                faults(shared, timeline, worker, redis, people["leads"][1][0], args)
            finally:
                shared.stop.set()
                for thread in threads:
                    thread.join()
            elapsed = time.perf_counter() - shared.started
            timeline.settled = settle(shared.project_id, args.drain)
        worker.stop()
        redis.kill()
        found = soak_checks.all_problems(shared.project_id, shared.seen, media_root=media)
        report(args, shared, timeline, found, elapsed, worker)
    failed = any(found.values()) or shared.surprises or timeline.settled is None
    if not failed:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        print(f"kept for inspection: {directory} (worker.log)")
    return 1 if failed else 0


# --- the report ----------------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> float:
    return 1000 * percentile(values, q)


def _ok(records: list[Record], op: str) -> list[Record]:
    return [r for r in records if r.op == op and 200 <= r.status < 300]


def job_figures(project_id: int) -> dict:
    from django.db.models import Count, Q

    from agreement.models import AgreementReport
    from core.models import OutboxJob
    from exports.models import ExportJob

    keys = [
        f"exports.build:{i}"
        for i in ExportJob.objects.filter(project_id=project_id).values_list("id", flat=True)
    ]
    keys += [
        f"agreement.report:{i}"
        for i in AgreementReport.objects.filter(project_id=project_id).values_list("id", flat=True)
    ]
    return OutboxJob.objects.filter(key__in=keys).aggregate(
        jobs=Count("id"),
        rerun=Count("id", filter=Q(attempts__gt=1)),
        republished=Count("id", filter=Q(publishes__gt=1)),
    )


def report(args, shared: Shared, timeline: Timeline, found, elapsed: float, worker: Worker) -> None:
    from agreement.models import AgreementReport
    from annotation.models import Annotation, Item, ItemStatus
    from review.models import Review

    records = shared.records
    project = shared.project_id
    print(
        f"soak: {elapsed:.0f} s, {args.annotators} annotators + {args.reviewers} reviewers + 2 "
        f"leads (API tokens), gunicorn {args.workers} workers x {args.threads} threads, a Celery "
        "worker (solo pool, with the beat), its own redis-server, PostgreSQL"
    )
    print(
        f"items: {args.items:,} (70 % preference, 20 % refusal, 10 % instruction; {args.gold} "
        "gold), overlap 2, review sample 0.1, gold rate 0.05"
    )
    mid = (
        f" (mid-job: {timeline.killed_mid_job})" if timeline.killed_mid_job else " (no job running)"
    )
    print(
        f"faults: worker SIGKILL at {timeline.worker_killed:.1f} s{mid}, started again at "
        f"{timeline.worker_back:.1f} s; redis-server SIGKILL at {timeline.redis_down:.1f} s, "
        f"back (empty) at {timeline.redis_back:.1f} s; {timeline.connections_killed} PostgreSQL "
        f"connections terminated at {timeline.connections_cut:.1f} s; gunicorn worker "
        f"{timeline.web_pid or '(none found)'} SIGKILL at {timeline.web_killed:.1f} s"
    )
    print(
        f"{'phase':<18}{'seconds':>8}{'submits':>9}{'submits/s':>11}{'claim p50':>11}"
        f"{'claim p99':>11}{'submit p50':>12}{'submit p99':>12}{'errors':>8}{'vs baseline':>13}"
    )
    baseline_rate = None
    for name, start, end in [*timeline.phases(elapsed), ("whole run", 0.0, elapsed)]:
        inside = [r for r in records if start <= r.at < end]
        submits = _ok(inside, "submit")
        claims = [r.seconds for r in _ok(inside, "claim")]
        errors = sum(1 for r in inside if r.status == 0 or r.status >= 500)
        span = max(end - start, 1e-9)
        rate = len(submits) / span
        if baseline_rate is None:
            baseline_rate = rate
        ratio = f"{rate / baseline_rate:.2f}x" if baseline_rate else "-"
        print(
            f"{name:<18}{span:>8.1f}{len(submits):>9,}{rate:>11.1f}{_ms(claims, 0.5):>11.1f}"
            f"{_ms(claims, 0.99):>11.1f}{_ms([r.seconds for r in submits], 0.5):>12.1f}"
            f"{_ms([r.seconds for r in submits], 0.99):>12.1f}{errors:>8}{ratio:>13}"
        )
    print(f"{'operation':<20}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    by_op: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_op[r.op].append(r)
    for op in sorted(by_op):
        rows = by_op[op]
        times = [r.seconds for r in rows]
        statuses = Counter("no answer" if r.status == 0 else str(r.status) for r in rows)
        shown = ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items()))
        print(f"{op:<20}{len(rows):>9,}{_ms(times, 0.5):>9.1f}{_ms(times, 0.99):>9.1f}  {shown}")
    errors = Counter(
        "no answer" if r.status == 0 else str(r.status)
        for r in records
        if r.status == 0 or r.status >= 400
    )
    print(
        "errors by status: "
        + (", ".join(f"{s}: {n:,}" for s, n in sorted(errors.items())) or "none")
        + f"; {len(records) / elapsed:.1f} requests/s in all"
    )
    statuses = Counter(Item.objects.filter(project_id=project).values_list("status", flat=True))
    print(
        f"after the run: {Annotation.objects.filter(project_id=project).count():,} annotations, "
        f"{Review.objects.filter(item__project_id=project).count():,} reviews, items "
        + ", ".join(f"{s} {statuses.get(s, 0):,}" for s in ItemStatus.values if statuses.get(s))
    )
    jobs = job_figures(project)
    automatic = AgreementReport.objects.filter(project_id=project, requested_by=None).count()
    down = [
        r
        for r in records
        if timeline.redis_down <= r.at < timeline.redis_back
        and r.op in ("export request", "agreement request")
        and r.status == 202
    ]
    settled = (
        f"settled {timeline.settled:.1f} s after the clients stopped"
        if timeline.settled is not None
        else f"NOT settled {args.drain:.0f} s after the clients stopped"
    )
    print(
        f"jobs: {len(shared.seen.exports)} exports and {len(shared.seen.reports)} agreement "
        f"reports requested (202), {automatic} reports scheduled by the app; {jobs['jobs']} "
        f"outbox jobs, {jobs['rerun']} run again after their worker died, {jobs['republished']} "
        f"handed to the broker more than once, {len(down)} requested while Redis was down; "
        f"{settled}; worker started {worker.starts} times"
    )
    print(
        f"clients saw {len(shared.seen.submits):,} submits answered 2xx "
        f"({len(shared.seen.uncertain)} without an answer)"
    )
    for group, problems in found.items():
        print(f"invariants, {group}: " + ("ok" if not problems else f"{len(problems)} broken"))
        for problem in problems:
            print(f"  {problem}")
    for surprise in shared.surprises[:20]:
        print(f"  unexpected: {surprise}")
    if shared.surprises:
        print(f"unexpected answers: {len(shared.surprises)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--reviewers", type=int, default=2)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--gold", type=int, default=40)
    parser.add_argument("--agreement-every", type=int, default=100)
    parser.add_argument("--think-ms", type=float, default=20, help="mean pause before a submit")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument(
        "--drain", type=float, default=120, help="seconds the jobs may take to settle after"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(
        parser,
        args,
        seconds=12,
        annotators=4,
        items=300,
        gold=6,
        agreement_every=10,
        workers=2,
        threads=4,
        drain=60,
    )
    with load_average(), bench_database("soak", keep=args.keep) as url:
        return run(args, url)


if __name__ == "__main__":
    sys.exit(main())
