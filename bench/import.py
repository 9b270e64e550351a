"""Bulk import: 100,000 preference items through the REST endpoint vs psycopg COPY.

Pushes the items to a real gunicorn server in batches of 10,000 (the API's limit), then inserts
the same rows into the same table with `COPY ... FROM STDIN` as the floor, and prints items/s for
both and their ratio. Needs PostgreSQL (DATABASE_URL, default the local server); it works in its
own database, `rubric_bench_import`, which it drops and recreates.

    .venv/bin/python bench/import.py [--items 100000] [--batch 10000]
"""

import argparse
import hashlib
import http.client
import json
import time
from urllib.parse import urlparse

from _support import (
    bench_database_url,
    copy_item_rows,
    gunicorn,
    preference_rows,
    recreate_database,
    setup_django,
)


def make_rows(n: int, tag: str) -> list[dict]:
    return list(preference_rows(n, tag))


def push_api(base: str, token: str, project_id: int, rows: list[dict], batch: int) -> float:
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    bodies = [json.dumps(rows[i : i + batch]).encode() for i in range(0, len(rows), batch)]
    started = time.perf_counter()
    for body in bodies:
        conn.request(
            "POST",
            f"/api/v1/projects/{project_id}/items/",
            body=body,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        payload = response.read()
        if response.status != 201:
            raise SystemExit(f"import failed: {response.status} {payload[:500]!r}")
    return time.perf_counter() - started


def copy_rows(project_id: int, rows: list[dict]) -> float:
    started = time.perf_counter()
    copy_item_rows(project_id, rows)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()

    url = bench_database_url("rubric_bench_import")
    recreate_database(url)
    setup_django(url)
    from django.contrib.auth import get_user_model

    from annotation.models import Item
    from annotation.services import project_create
    from core.services import token_for

    lead = get_user_model().objects.create_user("bench-lead", password="bench-lead-pass-1")
    api_project = project_create(actor=lead, settings={"name": "bench api"})
    copy_project = project_create(actor=lead, settings={"name": "bench copy"})
    token = token_for(user=lead).key
    rows = make_rows(args.items, "pref")

    with gunicorn(url, workers=2) as base:
        api_seconds = push_api(base, token, api_project.pk, rows, args.batch)
        repush_seconds = push_api(base, token, api_project.pk, rows, args.batch)
    copy_seconds = copy_rows(copy_project.pk, rows)

    assert Item.objects.filter(project=api_project).count() == args.items
    assert Item.objects.filter(project=copy_project).count() == args.items
    digest = hashlib.sha256(json.dumps(rows[:3]).encode()).hexdigest()[:12]

    api_rate, copy_rate = args.items / api_seconds, args.items / copy_seconds
    print(f"{args.items:,} preference items, batches of {args.batch:,}, PostgreSQL (rows {digest})")
    print(f"{'path':<34}{'seconds':>10}{'items/s':>12}")
    print(f"{'REST API (gunicorn, 2 workers)':<34}{api_seconds:>10.2f}{api_rate:>12,.0f}")
    repush_rate = args.items / repush_seconds
    print(f"{'REST API re-push (all unchanged)':<34}{repush_seconds:>10.2f}{repush_rate:>12,.0f}")
    print(f"{'psycopg COPY (floor)':<34}{copy_seconds:>10.2f}{copy_rate:>12,.0f}")
    ratio = api_seconds / copy_seconds
    print(f"API / COPY time ratio: {ratio:.2f}x (target: within 5x, and >= 10,000 items/s)")


if __name__ == "__main__":
    main()
