"""Benchmark: webhooks on approvals, delivered by a real Celery worker to a receiver that
answers in 5 ms.

In a database of its own (``rubric_bench_webhooks``, dropped afterwards), a project whose items
are approved by their one annotation (overlap 1, no review sample): each submit approves its
item and announces ``item.approved``. The bench starts a Redis server of its own (a free port,
never the machine's) and a Celery worker (4 threads) on it, and a threaded HTTP receiver on
127.0.0.1 that answers 200 after 5 ms.

1. The cost added to a request: ``2 x --approvals`` submits through the REST API
   (in-process test client, token auth), alternately with the project's one endpoint (asking
   for ``item.approved``) turned off (the baseline) and on, before the worker starts: with it
   on the request also records the delivery and its outbox job (the POST itself is a
   worker's, off the request path).
2. Delivery: the worker starts and takes that backlog, then ``--approvals`` more submits, and
   from commit to receipt (the body's ``created``, stamped right after the commit, to the
   receiver's clock) p50 and p99. Every delivery must arrive exactly once (event ids counted).

Target: the cost added to a submit under 1 ms (p50).

    .venv/bin/python bench/webhooks.py                 # 10,000 approvals each way
    .venv/bin/python bench/webhooks.py --smoke         # 40 each way: seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _support import (
    PY,
    ROOT,
    add_smoke_option,
    apply_smoke,
    bench_database,
    free_port,
    load_average,
    percentile,
    setup_django,
    sigterm_exits,
)

APPROVALS = 10_000
RECEIVER_MS = 5.0
TARGET_ADDED_MS = 1.0


class Receiver:
    """Records each delivery's event id and arrival time; answers 200 after RECEIVER_MS."""

    def __init__(self, delay_ms: float) -> None:
        self.arrivals: list[tuple[str, float, str]] = []  # (event id, time, created)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event = json.loads(body)
                with receiver.lock:
                    receiver.arrivals.append((event["id"], arrived, event["created"]))
                time.sleep(delay_ms / 1000)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_redis(port: int, folder: str) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("bench/webhooks.py needs redis-server (apt-get install redis-server)")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    deadline = time.monotonic() + 15
    while True:
        try:
            if redis.Redis(port=port, socket_connect_timeout=0.5).ping():
                return process
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.1)


def start_worker(database: str, broker: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": broker,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "WEBHOOKS_ALLOW_PRIVATE": "1",
    }
    command = [PY, "-m", "celery", "-A", "config", "worker", "--pool", "threads"]
    command += ["--concurrency", "4", "--loglevel", "WARNING", "--without-gossip"]
    command += ["--without-mingle", "--without-heartbeat"]
    handle = open(log, "w")  # noqa: SIM115 (the worker writes it)
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def submit_once(client, membership, n: int) -> float:
    """Claim (not timed) and submit (timed, the whole request) one item; milliseconds."""
    from annotation.queue import assignment_claim_next

    assignment = assignment_claim_next(membership=membership)
    assert assignment is not None, "ran out of items"
    started = time.perf_counter()
    response = client.post(
        f"/api/v1/assignments/{assignment.pk}/submit/",
        {"payload": {"rating": (-2, 1, 3)[n % 3]}},
        content_type="application/json",
    )
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 201, response.content
    return elapsed


def run(args: argparse.Namespace, database: str, broker: str, folder: str) -> None:
    os.environ["REDIS_URL"] = broker
    os.environ["WEBHOOKS_ALLOW_PRIVATE"] = "1"
    setup_django(database)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from annotation.importing import item_import
    from annotation.models import Membership, Project, Role
    from core.tokens import token_for
    from webhooks.models import Delivery, DeliveryState, Endpoint
    from webhooks.services import endpoint_create

    user_model = get_user_model()
    lead = user_model.objects.create_user("bench-lead")
    annotator = user_model.objects.create_user("bench-annotator")
    project = Project.objects.create(
        name="Webhooks bench", annotations_per_item=1, review_sample_rate=0, gold_rate=0
    )
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    membership = Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    warm = min(20, args.approvals)
    total = 3 * args.approvals + warm
    rows = [
        {
            "external_id": f"w-{n}",
            "kind": "preference",
            "data": {
                "prompt": f"Which answer is better? {n}",
                "responses": [{"text": f"First answer {n}."}, {"text": f"Second answer {n}."}],
            },
        }
        for n in range(total)
    ]
    for start in range(0, total, 10_000):
        item_import(project=project, rows=rows[start : start + 10_000], actor=lead)
    token = token_for(user=annotator).key
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token}")
    receiver = Receiver(args.receiver_ms)
    endpoint = endpoint_create(
        project=project, actor=lead, url=receiver.url, events=["item.approved"]
    )
    switch = Endpoint.objects.filter(pk=endpoint.pk)

    # 1. The request's cost, the worker not yet running (deliveries wait in the broker):
    # submits alternate between the endpoint off (the baseline) and on, so both see the same
    # database and the same machine load.
    for n in range(warm):
        submit_once(client, membership, n)
    baseline, with_hook = [], []
    for n in range(2 * args.approvals):
        on = n % 2 == 1
        switch.update(active=on)
        (with_hook if on else baseline).append(submit_once(client, membership, n))
    switch.update(active=True)
    backlog = Delivery.objects.filter(endpoint=endpoint).count()

    # 2. Delivery: a worker takes the backlog, then each approval from commit to receipt.
    worker = start_worker(database, broker, Path(folder) / "worker.log")
    try:
        deadline = time.monotonic() + args.wait
        while len(receiver.arrivals) < backlog and time.monotonic() < deadline:
            time.sleep(0.1)
        timed_from = len(receiver.arrivals)
        for n in range(args.approvals):
            submit_once(client, membership, n)
            time.sleep(args.pace_ms / 1000)
        expected = Delivery.objects.filter(endpoint=endpoint).count()
        while len(receiver.arrivals) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a duplicate would come now
        delivered = Delivery.objects.filter(
            endpoint=endpoint, state=DeliveryState.DELIVERED
        ).count()
    finally:
        stop(worker)
        receiver.stop()

    ids = [event_id for event_id, _, _ in receiver.arrivals]
    duplicates = len(ids) - len(set(ids))
    latencies = [
        (arrived - datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()) * 1000
        for _, arrived, created in receiver.arrivals[timed_from:]
    ]
    print()
    print(f"submit request, {len(baseline):,} each, alternating      p50 ms   p99 ms")
    for name, values in (
        ("endpoint off (baseline)", baseline),
        ("one endpoint on, item.approved", with_hook),
    ):
        print(f"  {name:<36} {percentile(values, 0.5):8.2f} {percentile(values, 0.99):8.2f}")
    added = percentile(with_hook, 0.5) - percentile(baseline, 0.5)
    ratio = statistics.median(with_hook) / statistics.median(baseline)
    verdict = "met" if added < TARGET_ADDED_MS else "MISSED"
    print(
        f"added by webhooks: p50 {added:+.2f} ms (x{ratio:.2f} of the baseline); "
        f"target < {TARGET_ADDED_MS:g} ms: {verdict}"
    )
    missing = expected - len(set(ids))
    print(
        f"deliveries: {expected:,} approvals, {len(set(ids)):,} received, {duplicates} "
        f"duplicates, {missing} missing, {delivered:,} marked delivered"
    )
    if latencies:
        print(
            f"commit to receipt ({len(latencies):,} approvals, one every "
            f"{args.pace_ms:g} ms + its request): p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms (receiver answers in "
            f"{args.receiver_ms:g} ms; 1 worker, 4 threads)"
        )
    if missing or duplicates:
        sys.exit("not every event was delivered exactly once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--approvals", type=int, default=APPROVALS, help="per phase")
    parser.add_argument("--receiver-ms", type=float, default=RECEIVER_MS)
    parser.add_argument("--wait", type=float, default=900, help="seconds to wait for deliveries")
    parser.add_argument("--pace-ms", type=float, default=2.0, help="pause between timed submits")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, approvals=40, wait=60)
    with load_average(), sigterm_exits(), tempfile.TemporaryDirectory() as folder:
        port = free_port()
        redis = start_redis(port, folder)
        try:
            with bench_database("webhooks") as database:
                run(args, database, f"redis://127.0.0.1:{port}/0", folder)
        finally:
            stop(redis)


if __name__ == "__main__":
    main()
