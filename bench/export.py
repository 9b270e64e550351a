"""Export: approved preference records on PostgreSQL to `trl-preference` JSONL vs COPY.

For each size, seeds that many approved preference items and their final records with COPY into
a fresh database (`rubric_bench_export_<size>`, dropped and recreated), then runs the export
worker's code path (`exports.services.export_build`: one streamed query that picks each
record's pair texts, the lines encoded a batch at a time, JSONL, sha256, the file moved into
storage with its manifest; the count and guideline versions read beside it by a helper
connection in the same snapshot) and, as the floor,
`COPY (SELECT <the same joined columns> ORDER BY item id) TO STDOUT` streamed to /dev/null with
psycopg; then COPY of the export's own SELECT (the rows built in the database). Each phase runs in a
fresh subprocess, so the peak RSS printed (ru_maxrss) is that of one export at one size.

    .venv/bin/python bench/export.py [--sizes 100000,1000000] [--keep]
    .venv/bin/python bench/export.py --smoke   # 100 and 200 records, in seconds

Target (issue 16): within 1.5x of COPY for 1,000,000 records, peak RSS under 100 MB and flat
in size. Needs PostgreSQL (DATABASE_URL, default the local server).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from _support import (
    ROOT,
    add_smoke_option,
    apply_smoke,
    bench_database_url,
    drop_database,
    load_average,
    recreate_database,
    setup_django,
    sigterm_exits,
)

FLOOR_SQL = """
COPY (
    SELECT i.id, i.external_id, i.kind, i.split, i.data, f.payload
    FROM review_finalrecord f JOIN annotation_item i ON i.id = f.item_id
    WHERE f.is_current AND i.project_id = {project} AND i.status = 'approved'
      AND NOT i.is_gold AND i.split = 'train'
    ORDER BY i.id
) TO STDOUT
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kB


def database(size: int) -> str:
    return bench_database_url(f"export_{size}")


# --- phases, each in its own process -----------------------------------------------------------


def seed(size: int) -> dict:
    """The project, its lead, `size` approved preference items and their final records."""
    url = database(size)
    recreate_database(url)
    setup_django(url)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from psycopg.types.json import Jsonb

    from annotation.kinds import content_hash, json_hash, kind_get
    from annotation.services import project_create

    lead = get_user_model().objects.create_user("bench-lead", password="bench-lead-pass-1")
    project = project_create(actor=lead, values={"name": "Bench export", "kinds": ["preference"]})
    item_columns = (
        "id, project_id, external_id, kind, data, metadata, priority, split, is_gold, "
        "content_hash, data_hash, metadata_hash, status, agreement, review_reason, "
        "submitted_count, active_count, created_at, updated_at"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY annotation_item ({item_columns}) FROM STDIN") as copy:
            for i in range(1, size + 1):
                data = {
                    "prompt": f"Question {i}: how should a careful assistant answer this request?",
                    "responses": [
                        {"text": f"Answer A to question {i}, short and direct.", "model": "m-a"},
                        {
                            "text": f"Answer B to question {i}, longer, with caveats.",
                            "model": "m-b",
                        },
                    ],
                }
                copy.write_row(
                    (
                        i,
                        project.pk,
                        f"pref-{i:07d}",
                        "preference",
                        Jsonb(data),
                        Jsonb({}),
                        0.0,
                        "train",
                        False,
                        content_hash("preference", data),
                        json_hash(["preference", data, None]),
                        json_hash({}),
                        "approved",
                        "agreed",
                        "",
                        2,
                        0,
                        "now",
                        "now",
                    )
                )
        record_columns = (
            "item_id, project_id, kind, category, decision, payload, provenance, is_current, "
            "created_at"
        )
        with raw.copy(f"COPY review_finalrecord ({record_columns}) FROM STDIN") as copy:
            for i in range(1, size + 1):
                rating = (-3, -2, -1, 1, 2, 3)[i % 6]
                payload = {
                    "rating": rating,
                    "criteria": {"helpfulness": rating, "harmlessness": 0, "honesty": rating},
                    "rationale": f"Rationale {i}: the chosen answer is clearer.",
                }
                category, decision = kind_get("preference").coverage_labels(payload)
                row = (i, project.pk, "preference", category, decision, Jsonb(payload))
                copy.write_row((*row, "unanimous", True, "now"))
        cursor.execute("SELECT setval(pg_get_serial_sequence('annotation_item', 'id'), %s)", [size])
        cursor.execute("VACUUM ANALYZE annotation_item")
        cursor.execute("VACUUM ANALYZE review_finalrecord")
    return {"project": project.pk, "lead": lead.pk, "seconds": time.perf_counter() - started}


def export(size: int, project_id: int, lead_id: int) -> dict:
    """The worker's code path, timed: export_build of one trl-preference train export (its file
    goes to DJANGO_MEDIA_ROOT, a temporary directory the driver sets)."""
    setup_django(database(size))
    from django.contrib.auth import get_user_model

    from annotation.models import Project
    from core import outbox
    from exports import services
    from exports.models import ExportJob

    # Built below, in this process, as a worker would: the request must not hand the job to
    # the task queue (an eager queue would build it inside export_request, untimed).
    outbox.enqueue = lambda *args, **kwargs: None
    project = Project.objects.get(pk=project_id)
    lead = get_user_model().objects.get(pk=lead_id)
    job = services.export_request(project=project, actor=lead, format="trl-preference")
    rss_before = peak_rss_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    services.export_build(job_id=job.pk)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    job = ExportJob.objects.get(pk=job.pk)
    if job.status != "done":
        raise SystemExit(f"export failed: {job.error}")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "records": job.records,
        "bytes": job.size_bytes,
        "sha256": job.sha256,
        "rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
    }


def _copy(conn, sql: str) -> tuple[float, int]:
    """The better of two runs of ``COPY (sql) TO STDOUT`` to /dev/null (the first may still
    warm the cache): seconds, bytes."""
    best, size_out = None, 0
    with open(os.devnull, "wb") as sink:
        for _ in range(2):
            size_out = 0
            started = time.perf_counter()
            with conn.cursor() as cursor, cursor.copy(sql) as copy:
                for block in copy:
                    sink.write(block)
                    size_out += len(block)
            seconds = time.perf_counter() - started
            best = seconds if best is None else min(best, seconds)
    return best, size_out


def floor(size: int, project_id: int) -> dict:
    """COPY of the same joined rows, in the same order, streamed to /dev/null (the baseline);
    and COPY of the export's own SELECT (its rows built in the database), which says how much
    of the export is the database's work."""
    import psycopg

    url = database(size)
    setup_django(url)
    from exports import selectors
    from exports.formats import format_get
    from exports.formats.sql import pair_columns_sql

    fmt = format_get("trl-preference")
    pair = pair_columns_sql(fmt.shape, fmt.kinds, **selectors.export_pair_columns())
    selection = selectors.ExportSelection(project_id=project_id, split="train")
    sql, params = selectors._stream_query(selection, pair, False, False)
    with psycopg.connect(url) as conn:
        seconds, size_out = _copy(conn, FLOOR_SQL.format(project=project_id))
        own_sql = psycopg.ClientCursor(conn).mogrify(sql, params)
        own_seconds, _ = _copy(conn, f"COPY ({own_sql}) TO STDOUT")
    return {
        "seconds": seconds,
        "bytes": size_out,
        "own_seconds": own_seconds,
        "rss_mb": peak_rss_mb(),
    }


# --- driver --------------------------------------------------------------------------------------


def phase(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, sizes="100,200")

    if args.phase:
        name, *values = args.phase
        numbers = [int(v) for v in values]
        result = {"seed": seed, "export": export, "floor": floor}[name](*numbers)
        print(json.dumps(result))
        return
    with load_average(), sigterm_exits():
        run(args)


def run(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results = {}
    # The export phases store their files here (their environment is this process's).
    media = tempfile.mkdtemp(prefix="rubric-bench-export-")
    os.environ["DJANGO_MEDIA_ROOT"] = media
    try:
        for size in sizes:
            seeded = phase("seed", str(size))
            print(f"seeded {size:,} records with COPY in {seeded['seconds']:.1f} s", flush=True)
            project, lead = str(seeded["project"]), str(seeded["lead"])
            copy = phase("floor", str(size), project)
            built = phase("export", str(size), project, str(lead))
            if built["records"] != size:
                raise SystemExit(f"exported {built['records']:,} records of {size:,}")
            results[size] = (built, copy)
    finally:
        shutil.rmtree(media, ignore_errors=True)
        if not args.keep:
            for size in sizes:
                drop_database(database(size))

    print()
    print("approved preference records -> trl-preference JSONL, PostgreSQL")
    header = f"{'records':>10} {'path':<28}{'seconds':>9}{'records/s':>12}{'peak RSS MB':>13}"
    print(header)
    for size, (run, copy) in results.items():
        rate, copy_rate = size / run["seconds"], size / copy["seconds"]
        print(
            f"{size:>10,} {'export_build (worker path)':<28}{run['seconds']:>9.2f}"
            f"{rate:>12,.0f}{run['rss_mb']:>13.0f}"
        )
        print(
            f"{'':>10} {'COPY ... TO STDOUT (floor)':<28}{copy['seconds']:>9.2f}"
            f"{copy_rate:>12,.0f}{copy['rss_mb']:>13.0f}"
        )
        print(
            f"{'':>10} {'COPY of the export SELECT':<28}{copy['own_seconds']:>9.2f}"
            f"{size / copy['own_seconds']:>12,.0f}"
        )
        print(
            f"{'':>10} export/COPY time {run['seconds'] / copy['seconds']:.2f}x "
            f"(export/COPY of its own SELECT {run['seconds'] / copy['own_seconds']:.2f}x); "
            f"file {run['bytes'] / 1e6:,.2f} MB, {run['records']:,} records, "
            f"sha256 {run['sha256'][:12]}; RSS before the export {run['rss_before_mb']:.0f} MB"
        )
        print(f"{'':>10} export CPU time (all its threads) {run['cpu_seconds']:.2f} s")
    if len(results) > 1:
        small, large = min(results), max(results)
        ratio = results[large][0]["rss_mb"] / results[small][0]["rss_mb"]
        print(f"peak RSS {large:,} / {small:,}: {ratio:.2f}x")
    print("target (issue 16): within 1.5x of COPY at 1,000,000 records, peak RSS < 100 MB, flat")


if __name__ == "__main__":
    main()
