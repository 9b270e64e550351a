"""Bulk import: 100,000 preference items through the REST endpoint vs psycopg COPY.

Pushes the items to a real gunicorn server (2 workers) in batches of 10,000 (the API's limit),
once from one client sending batch after batch and once from two clients at a time (one per
worker), then inserts the same rows into the same table with `COPY ... FROM STDIN` as the floor,
and prints items/s for each and their ratio to COPY. Needs PostgreSQL (DATABASE_URL, default the
local server); it works in its own database, `rubric_bench_import`, which it creates and drops.

    .venv/bin/python bench/import.py [--items 100000] [--batch 10000] [--keep]
    .venv/bin/python bench/import.py --smoke   # 200 items in batches of 50, in seconds
"""

import argparse
import hashlib
import http.client
import json
import threading
import time
from urllib.parse import urlparse

from _support import (
    add_smoke_option,
    apply_smoke,
    bench_database,
    copy_item_rows,
    gunicorn,
    load_average,
    preference_rows,
    setup_django,
)


def make_rows(n: int, tag: str) -> list[dict]:
    return list(preference_rows(n, tag))


def push_api(
    base: str, token: str, project_id: int, rows: list[dict], batch: int, clients: int = 1
) -> float:
    """Push the rows in batches; with several clients, each sends every n-th batch at once."""
    url = urlparse(base)
    bodies = [json.dumps(rows[i : i + batch]).encode() for i in range(0, len(rows), batch)]
    failures: list[str] = []

    def send(mine: list[bytes]) -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        for body in mine:
            conn.request(
                "POST",
                f"/api/v1/projects/{project_id}/items/",
                body=body,
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            payload = response.read()
            if response.status not in (200, 201):  # 200: nothing created
                failures.append(f"import failed: {response.status} {payload[:500]!r}")

    threads = [threading.Thread(target=send, args=(bodies[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(failures[0])
    return time.perf_counter() - started


def copy_rows(project_id: int, rows: list[dict]) -> float:
    started = time.perf_counter()
    copy_item_rows(project_id, rows)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, items=200, batch=50)

    with load_average(), bench_database("import", keep=args.keep) as url:
        run(args, url)


def run(args: argparse.Namespace, url: str) -> None:
    setup_django(url)
    from django.contrib.auth import get_user_model

    from annotation.models import Item
    from annotation.services import project_create
    from core.services import token_for

    lead = get_user_model().objects.create_user("bench-lead", password="bench-lead-pass-1")
    token = token_for(user=lead).key
    rows = make_rows(args.items, "pref")
    timings: list[tuple[str, float]] = []
    with gunicorn(url, workers=2) as base:
        for clients in (1, 2):
            project = project_create(actor=lead, values={"name": f"bench api {clients}"})
            seconds = push_api(base, token, project.pk, rows, args.batch, clients)
            assert Item.objects.filter(project=project).count() == args.items
            timings.append((f"REST API, {clients} client(s)", seconds))
        seconds = push_api(base, token, project.pk, rows, args.batch, 1)
        timings.append(("REST API re-push, all unchanged", seconds))
    copy_project = project_create(actor=lead, values={"name": "bench copy"})
    copy_seconds = copy_rows(copy_project.pk, rows)
    assert Item.objects.filter(project=copy_project).count() == args.items
    digest = hashlib.sha256(json.dumps(rows[:3]).encode()).hexdigest()[:12]

    print(
        f"{args.items:,} preference items, batches of {args.batch:,}, gunicorn 2 workers, "
        f"PostgreSQL (rows {digest})"
    )
    print(f"{'path':<36}{'seconds':>10}{'items/s':>12}{'x COPY time':>13}")
    for name, seconds in [*timings, ("psycopg COPY (floor)", copy_seconds)]:
        print(
            f"{name:<36}{seconds:>10.2f}{args.items / seconds:>12,.0f}"
            f"{seconds / copy_seconds:>13.2f}"
        )
    print("target: >= 10,000 items/s through the API, within 5x of COPY")


if __name__ == "__main__":
    main()
