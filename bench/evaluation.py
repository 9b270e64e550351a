"""Evaluation report: database to stored report, vs COPY of the same data.

Seeds with COPY into a fresh database (`rubric_bench_evaluation`, dropped afterwards unless
--keep): approved rubric items scored by two annotators each (the annotations) with their
final records, and approved preference items comparing two of the models with their final
records. Then runs the worker's code path, `evaluation.services.evaluation_report_build` (read
every final record and annotation, bootstrap and Wilson intervals, Bradley-Terry with
bootstrap, consistency, alpha per criterion, store the report), in a fresh subprocess whose
peak RSS is printed; and, as the floor, `COPY (SELECT <the same columns>) TO STDOUT` streamed
to /dev/null.

    .venv/bin/python bench/evaluation.py [--annotations 200000] [--comparisons 100000]
    .venv/bin/python bench/evaluation.py --smoke   # 2,000 annotations, 1,000 comparisons

Target (issue 13): under 15 s and under 300 MB at 200,000 annotations and 100,000
comparisons among 8 models.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _support import (
    ROOT,
    add_smoke_option,
    apply_smoke,
    bench_database,
    load_average,
    setup_django,
)
from agreement_alpha import peak_rss, reset_peak_rss

SEED = 20_240_613
TARGET_SECONDS, TARGET_MB = 15, 300
FLOOR_SQL = [
    """COPY (
        SELECT f.item_id, i.data -> 'response' ->> 'model', i.data ->> 'group',
               i.data -> 'tags', f.payload -> 'scores', a.rubric_version, f.created_at
        FROM review_finalrecord f JOIN annotation_item i ON i.id = f.item_id
        LEFT JOIN annotation_annotation a ON a.id = f.source_annotation_id
        WHERE f.project_id = {project} AND f.kind = 'rubric' AND f.is_current
          AND i.status = 'approved' AND NOT i.is_gold ORDER BY f.item_id
    ) TO STDOUT""",
    """COPY (
        SELECT a.item_id, a.payload -> 'scores', a.rubric_version
        FROM annotation_annotation a JOIN annotation_item i ON i.id = a.item_id
        WHERE a.project_id = {project} AND i.kind = 'rubric' AND i.status = 'approved'
          AND NOT i.is_gold ORDER BY a.item_id, a.id
    ) TO STDOUT""",
    """COPY (
        SELECT f.item_id, i.data -> 'responses' -> 0 ->> 'model',
               i.data -> 'responses' -> 1 ->> 'model', f.payload ->> 'rating'
        FROM review_finalrecord f JOIN annotation_item i ON i.id = f.item_id
        WHERE f.project_id = {project} AND f.kind = 'preference' AND f.is_current
          AND i.status = 'approved' AND NOT i.is_gold ORDER BY f.item_id
    ) TO STDOUT""",
]


def seed(annotations: int, comparisons: int, n_models: int) -> dict:
    """COPY the project's items, assignments, annotations and final records."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import connection
    from psycopg.types.json import Jsonb

    from annotation.kinds import content_hash, default_rubric, json_hash
    from annotation.models import Membership, Project, Role

    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    User = get_user_model()
    lead = User.objects.create(username="lead")
    annotators = [User.objects.create(username=f"annotator{i}") for i in range(10)]
    project = Project.objects.create(name="Evaluation bench", annotations_per_item=2)
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    for user in annotators:
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    models = [f"model-{k}" for k in range(n_models)]
    quality = np.linspace(2.0, 4.2, n_models)  # model k's mean score
    criteria = [c for c in default_rubric() if isinstance(c["scale"], dict)]
    n_items = annotations // 2
    item_columns = (
        "id, project_id, external_id, kind, data, metadata, priority, split, is_gold, "
        "content_hash, data_hash, metadata_hash, status, agreement, review_reason, "
        "submitted_count, active_count, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY annotation_item ({item_columns}) FROM STDIN") as copy:
            for i in range(1, n_items + comparisons + 1):
                if i <= n_items:
                    kind = "rubric"
                    model = models[i % n_models]
                    data = {
                        "prompt": f"Test case {i // 4}, variant {i % 4}: answer carefully.",
                        "response": {"text": f"Response {i} of {model}. " * 8, "model": model},
                        "group": f"case-{i // (4 * n_models)}",
                        "tags": ["adversarial"] if i % 5 == 0 else ["general"],
                    }
                else:
                    kind = "preference"
                    a, b = rng.choice(n_models, size=2, replace=False).tolist()
                    data = {
                        "prompt": f"Comparison {i}",
                        "responses": [
                            {"text": f"Answer A {i}", "model": models[a]},
                            {"text": f"Answer B {i}", "model": models[b]},
                        ],
                    }
                copy.write_row(
                    (
                        i,
                        project.pk,
                        f"{kind}-{i:07d}",
                        kind,
                        Jsonb(data),
                        Jsonb({}),
                        0.0,
                        "eval",
                        False,
                        content_hash(kind, data),
                        json_hash([kind, data, None]),
                        json_hash({}),
                        "approved",
                        "agreed",
                        "",
                        2 if kind == "rubric" else 0,
                        0,
                        "now",
                        "now",
                    )
                )
        assignment_columns = (
            "id, project_id, item_id, annotator_id, status, claimed_at, expires_at, display_order"
        )
        annotation_columns = (
            "id, project_id, item_id, annotator_id, assignment_id, payload, display_order, "
            "guidelines_version, created_at"
        )
        finals: list[tuple] = []
        payloads = []
        for i in range(1, n_items + 1):
            base = quality[i % n_models] + rng.normal(0, 0.6)
            for j in range(2):
                scores = {
                    c["name"]: int(np.clip(round(base + rng.normal(0, 0.5)), 1, 5))
                    for c in criteria
                }
                scores["overall"] = bool(base + rng.normal(0, 0.4) > 3.2)
                payloads.append((i, annotators[(i + j * 3) % len(annotators)].pk, scores))
        with raw.copy(f"COPY annotation_assignment ({assignment_columns}) FROM STDIN") as copy:
            for n, (item, annotator, _) in enumerate(payloads, start=1):
                copy.write_row((n, project.pk, item, annotator, "submitted", "now", "now", ""))
        with raw.copy(f"COPY annotation_annotation ({annotation_columns}) FROM STDIN") as copy:
            for n, (item, annotator, scores) in enumerate(payloads, start=1):
                copy.write_row(
                    (n, project.pk, item, annotator, n, Jsonb({"scores": scores}), "", 1, "now")
                )
                if n % 2 == 1:
                    finals.append((item, project.pk, "rubric", Jsonb({"scores": scores}), n))
        record_columns = (
            "item_id, project_id, kind, category, decision, payload, provenance, is_current, "
            "source_annotation_id, created_at"
        )
        with raw.copy(f"COPY review_finalrecord ({record_columns}) FROM STDIN") as copy:
            for item, pid, kind, payload, source in finals:
                copy.write_row((item, pid, kind, "", "", payload, "unanimous", True, source, "now"))
            for i in range(n_items + 1, n_items + comparisons + 1):
                rating = int(rng.choice([-3, -2, -1, 0, 1, 2, 3]))
                payload = Jsonb({"rating": rating})
                copy.write_row(
                    (i, project.pk, "preference", "", "", payload, "unanimous", True, None, "now")
                )
        for table, column in (
            ("annotation_item", "id"),
            ("annotation_assignment", "id"),
            ("annotation_annotation", "id"),
        ):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"(SELECT MAX({column}) FROM {table}))"
            )
        for table in (
            "annotation_item",
            "annotation_assignment",
            "annotation_annotation",
            "review_finalrecord",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"project": project.pk, "lead": lead.pk, "seconds": time.perf_counter() - started}


def build(project_id: int, lead_id: int) -> dict:
    """The worker's code path, timed, in this (fresh) process."""
    from django.contrib.auth import get_user_model

    from annotation.models import Project
    from evaluation import services
    from evaluation.models import EvaluationReport
    from evaluation.reader import Filters

    project = Project.objects.get(pk=project_id)
    lead = get_user_model().objects.get(pk=lead_id)
    # Created directly, not requested: a request hands its job to the outbox, which with no
    # broker builds the report in-process at once (before the measurement) and with one
    # publishes a message nobody here consumes. The build below is the worker's code path.
    report = EvaluationReport.objects.create(
        project=project, requested_by=lead, filters=Filters().as_dict()
    )
    before = reset_peak_rss()
    started = time.perf_counter()
    services.evaluation_report_build(report_id=report.pk)
    seconds = time.perf_counter() - started
    report = EvaluationReport.objects.get(pk=report.pk)
    if report.status != "done":
        raise SystemExit(f"report failed: {report.error}")
    return {
        "seconds": seconds,
        "rss_mb": peak_rss(),
        "rss_before_mb": before,
        "sha256": report.data_sha256,
        "items": report.result["items"],
        "comparisons": report.result["comparisons"],
        "models": len(report.result["models"]),
        "top": report.result["bradley_terry"][0]["model"] if report.result["bradley_terry"] else "",
    }


def floor(url: str, project_id: int) -> dict:
    """COPY of the same rows, in the same order, streamed to /dev/null (best of two)."""
    import psycopg

    best = None
    with psycopg.connect(url) as conn, open(os.devnull, "wb") as sink:
        for _ in range(2):
            started = time.perf_counter()
            for sql in FLOOR_SQL:
                with conn.cursor() as cursor, cursor.copy(sql.format(project=project_id)) as copy:
                    for block in copy:
                        sink.write(block)
            seconds = time.perf_counter() - started
            best = seconds if best is None else min(best, seconds)
    return {"seconds": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=int, default=200_000)
    parser.add_argument("--comparisons", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, annotations=2_000, comparisons=1_000)
    if args.phase:  # the build, in a fresh process
        setup_django(os.environ["DATABASE_URL"])
        project_id, lead_id = map(int, args.phase.split(","))
        print(json.dumps(build(project_id, lead_id)))
        return
    with load_average(), bench_database("evaluation", keep=args.keep) as url:
        setup_django(url)
        seeded = seed(args.annotations, args.comparisons, args.models)
        from django.db import connections

        connections.close_all()
        print(
            f"evaluation report: {args.annotations:,} rubric annotations, "
            f"{args.comparisons:,} comparisons, {args.models} models "
            f"(seeded in {seeded['seconds']:.1f} s)",
            flush=True,
        )
        out = subprocess.run(
            [sys.executable, __file__, "--phase", f"{seeded['project']},{seeded['lead']}"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        built = json.loads(out.stdout.strip().splitlines()[-1])
        base = floor(url, seeded["project"])
        print(f"{'':2}{'':34}{'seconds':>9}{'peak MB':>10}")
        print(f"  {'report build (worker path)':34}{built['seconds']:9.2f}{built['rss_mb']:10.1f}")
        print(f"  {'COPY ... TO STDOUT (floor)':34}{base['seconds']:9.2f}")
        ratio = built["seconds"] / base["seconds"] if base["seconds"] else float("inf")
        print(
            f"  report/COPY time {ratio:.2f}x; {built['items']:,} items, "
            f"{built['comparisons']:,} comparisons, {built['models']} models, top "
            f"{built['top']}; sha256 {built['sha256'][:12]}"
        )
        met = built["seconds"] < TARGET_SECONDS and built["rss_mb"] < TARGET_MB
        print(
            f"target < {TARGET_SECONDS} s and < {TARGET_MB} MB at {args.annotations:,} "
            f"annotations: {'met' if met else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
