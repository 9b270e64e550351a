"""Benchmark: server time of the lead's dashboard at 100,000 items beside 10,000 items.

Seeds two projects with PostgreSQL ``COPY`` in a database of its own (``rubric_bench_dashboard``,
dropped and recreated; kept for ``--reuse`` except in smoke mode): 100,000 items with 200,000
annotations, and 10,000 items with 20,000 annotations. Both have the same shape: 60 %
preference, 25 % instruction, 15 % refusal items; 80 % of the items annotated by two annotators
and half of those by a third, out of 50; 1 % gold items; 70 % of the annotated items approved
(with their final records), 20 % in review, 10 % rejected; annotations spread over the last 60
days; some duplicate prompts; 30 done agreement reports. The rollups the app keeps as it goes
(annotations per annotator and day, items per kind and status, the duplicate flags) are then
built by the app's own rebuild functions (those of ``manage.py rebuild_rollups``), and
``VACUUM ANALYZE`` leaves the database as autovacuum would.

Each page is requested in-process with Django's test client (session of a lead, no network):
3 warm-up requests (``--warm-up``), then the median (and 90th percentile) of 20 (``--runs``).
Pages: the dashboard, its JSON API, and for orientation the items browser (first page, and a
prompt search).

Target: every dashboard page under 300 ms at 100,000 items and within 2x of its time at
10,000 items. ``--queries`` prints each query of the dashboard page with its time.

    .venv/bin/python bench/dashboard.py            # seed, then measure
    .venv/bin/python bench/dashboard.py --reuse    # measure the seeded database again
    .venv/bin/python bench/dashboard.py --smoke    # 200 and 100 items, 3 runs: seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

from _support import (
    ROOT,
    add_smoke_option,
    apply_smoke,
    bench_database,
    bench_database_url,
    copy_lines,
    copy_text,
    load_average,
    next_ids,
    reset_sequences,
    setup_django,
)

from annotation import kinds  # plain Python: needs no Django set-up (after _support)
from annotation.kinds import refusal

SIZES = (100_000, 10_000)
ANNOTATORS = 50
RUNS, WARM_UP = 20, 3  # the defaults of --runs and --warm-up
TARGET_MS, TARGET_RATIO = 300.0, 2.0
CATEGORIES = tuple(kinds.default_categories())  # a project's default list
HARM = ("none", "violence", "self_harm", "hate", "illegal_activity", "privacy", "malware")
DECISIONS = refusal.DECISIONS
NULL = r"\N"  # COPY's text format
FILLER = "The assistant should explain the steps clearly and note the caveats. " * 3


def _kind(i: int) -> str:
    slot = i % 20
    return "preference" if slot < 12 else "instruction" if slot < 17 else "refusal"


def _item_data(i: int, kind: str) -> dict:
    # Every 500th item repeats its predecessor's prompt (and kind): a duplicate pair.
    n = i - 1 if i % 500 == 1 and _kind(i - 1) == kind else i
    data: dict = {"prompt": f"Request {n}: how should a careful assistant answer? {FILLER}"}
    if kind == "preference":
        data["responses"] = [{"text": f"Answer A to {n}. {FILLER}"}, {"text": f"Answer B {n}."}]
    elif kind == "instruction":
        data["category"] = CATEGORIES[(n * 7) % len(CATEGORIES) if n % 3 else 6]
    else:
        data["harm_category"] = HARM[(n * 5) % len(HARM)]
    return data


def _answer(i: int, kind: str) -> dict:
    if kind == "preference":
        return {"rating": (-2, -1, 1, 2, 3)[i % 5]}
    if kind == "instruction":
        return {
            "response": FILLER,
            "category": CATEGORIES[(i * 7) % len(CATEGORIES) if i % 3 else 6],
        }
    return {"decision": DECISIONS[i % 3], "response": FILLER, "harm_category": HARM[(i * 5) % 7]}


def seed(project_id: int, n_items: int, annotators: list[int]) -> None:
    """COPY one project: items, assignments, annotations, final records, reports."""
    from django.db import connection
    from django.utils import timezone

    from annotation.importing import duplicates_refresh
    from annotation.kinds import content_hash, json_hash, kind_get
    from annotation.rollups import activity_rebuild, tally_rebuild

    started = time.monotonic()
    ids = next_ids(
        "annotation_item", "annotation_assignment", "annotation_annotation", "review_finalrecord"
    )
    now = timezone.now()
    annotated = int(n_items * 0.8)
    third = int(n_items * 0.4)
    items, assignments, annotations, finals = [], [], [], []
    for i in range(n_items):
        item_id = ids["annotation_item"] + i
        kind = _kind(i)
        data = _item_data(i, kind)
        gold = i % 100 == 99
        answer = _answer(i, kind)
        gold_answer = {k: v for k, v in answer.items() if k != "response"} if gold else None
        overlap = (3 if i < third else 2) if i < annotated else 0
        if gold or not overlap:
            status, agreement = "open", ""
        else:
            status = ("approved",) * 7 + ("in_review",) * 2 + ("rejected",)
            status = status[(i // 20) % 10]  # independent of the kind (i % 20)
            agreement = "agreed" if status == "approved" else "disputed"
        items.append(
            f"{item_id}\t{project_id}\tx-{i:07d}\t{kind}\t{copy_text(json.dumps(data))}"
            f'\t{{"source": "bench"}}\t{(i % 100) / 100}\ttrain\t{"t" if gold else "f"}'
            f"\t{copy_text(json.dumps(gold_answer)) if gold else NULL}"
            f"\t{content_hash(kind, data)}\t{json_hash([kind, data, gold_answer])}"
            f"\t{json_hash({'source': 'bench'})}\t{status}\t{agreement}"
            f"\t{'disputed' if status == 'in_review' else ''}\t{overlap}\t0\t{now}\t{now}\n"
        )
        for slot in range(overlap):
            user = annotators[(i * 3 + slot) % len(annotators)]
            at = now - timedelta(days=(i * 7919 + slot * 13) % 60, seconds=(i * 31) % 86_400)
            assignment_id = ids["annotation_assignment"] + len(assignments)
            order = ("AB", "BA")[(i + slot) % 2] if kind == "preference" else ""
            payload = dict(answer)
            if kind == "preference" and slot == 1 and status != "approved":
                payload["rating"] = -payload["rating"]
            correct = ("t" if (i + slot) % 4 else "f") if gold else NULL
            assignments.append(
                f"{assignment_id}\t{project_id}\t{item_id}\t{user}\tsubmitted\t{at}\t{at}\t{at}"
                f"\t{order}\n"
            )
            annotations.append(
                f"{project_id}\t{item_id}\t{user}\t{assignment_id}"
                f"\t{copy_text(json.dumps(payload))}\t{order}\t{10 + (i * slot) % 90}\t1"
                f"\t{correct}\t{at}\n"
            )
        if status == "approved":
            category, decision = kind_get(kind).coverage_labels(answer)
            finals.append(
                f"{item_id}\t{project_id}\t{kind}\t{category}\t{decision}"
                f"\t{copy_text(json.dumps(answer))}\tunanimous\tt\t{now}\n"
            )
    with connection.cursor() as cursor:
        # A bulk load of rows consistent by construction: skip the foreign-key triggers.
        cursor.execute("SET session_replication_role = replica")
    copy_lines(
        "annotation_item",
        "id, project_id, external_id, kind, data, metadata, priority, split, is_gold, gold, "
        "content_hash, data_hash, metadata_hash, status, agreement, review_reason, "
        "submitted_count, active_count, created_at, updated_at",
        items,
    )
    copy_lines(
        "annotation_assignment",
        "id, project_id, item_id, annotator_id, status, claimed_at, expires_at, finished_at, "
        "display_order",
        assignments,
    )
    copy_lines(
        "annotation_annotation",
        "project_id, item_id, annotator_id, assignment_id, payload, display_order, "
        "seconds_spent, guidelines_version, gold_correct, created_at",
        annotations,
    )
    copy_lines(
        "review_finalrecord",
        "item_id, project_id, kind, category, decision, payload, provenance, is_current, "
        "created_at",
        finals,
    )
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = DEFAULT")
    reset_sequences(
        "annotation_item", "annotation_assignment", "annotation_annotation", "review_finalrecord"
    )
    _reports(project_id, annotators, now)
    activity_rebuild(project_id=project_id)
    tally_rebuild(project_id=project_id)
    duplicates_refresh(project_id=project_id)
    print(
        f"  project {project_id}: {len(items):,} items, {len(annotations):,} annotations, "
        f"{len(finals):,} final records in {time.monotonic() - started:.1f} s",
        flush=True,
    )


def _reports(project_id: int, annotators: list[int], now) -> None:
    from django.contrib.auth import get_user_model

    from agreement.models import AgreementReport
    from core.models import JobStatus

    names = dict(get_user_model().objects.filter(pk__in=annotators).values_list("pk", "username"))
    reports = []
    for r in range(30):
        alpha = 0.4 + r / 100
        fields = {
            "preference.rating": {"alpha_ordinal": alpha, "alpha_interval": alpha + 0.02},
            **{
                f"preference.criteria.{c}": {"alpha_ordinal": alpha - 0.1}
                for c in ("helpfulness", "harmlessness", "honesty")
            },
            "refusal.decision": {"alpha_nominal": alpha + 0.1},
            "refusal.harm_category": {"alpha_nominal": alpha - 0.05},
            "instruction.category": {"alpha_nominal": alpha + 0.05},
        }
        rows = [
            {
                "user_id": pk,
                "annotator": names[pk],
                "annotations": 4000,
                "agreement_with_others": 0.8,
                "agreement_pairs": 3000,
                "gold_answers": 40,
                "gold_accuracy": 0.75,
                "median_seconds": 42.0,
                "position_bias_left": 0.5 + (pk % 5) / 20,
                "position_choices": 1500,
            }
            for pk in annotators
        ]
        reports.append(
            AgreementReport(
                project_id=project_id,
                status=JobStatus.DONE,
                fields=fields,
                annotators=rows,
                computed_at=now - timedelta(hours=30 - r),
            )
        )
    AgreementReport.objects.bulk_create(reports)


def build(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import Membership, Role
    from annotation.services import project_create

    User = get_user_model()
    lead = User.objects.create_user("bench-lead", password="bench-lead-pass-1")
    annotators = [
        User.objects.create_user(f"annotator-{i:02d}").pk  # unusable password: no hashing
        for i in range(ANNOTATORS)
    ]
    for size in args.sizes:
        project = project_create(
            actor=lead, values={"name": f"dashboard {size:,}", "agreement_every": 0}
        )
        Membership.objects.bulk_create(
            [Membership(project=project, user_id=pk, role=Role.ANNOTATOR) for pk in annotators]
        )
        seed(project.pk, size, annotators)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE {time.monotonic() - started:.1f} s", flush=True)


def timed(
    client, urls: dict[tuple[str, int], str], runs: int, warm_up: int
) -> dict[tuple[str, int], tuple[float, float]]:
    """Median and 90th percentile (ms) of each url. The urls are requested in turn within each
    round, so that load from other processes falls on every page and size alike."""
    for _ in range(warm_up):
        for url in urls.values():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
    times: dict[tuple[str, int], list[float]] = {key: [] for key in urls}
    for _ in range(runs):
        for key, url in urls.items():
            started = time.perf_counter()
            response = client.get(url)
            times[key].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    out = {}
    for key, values in times.items():
        values.sort()
        out[key] = (statistics.median(values), values[max(0, int(len(values) * 0.9) - 1)])
    return out


def query_times(client, url: str) -> list[tuple[float, str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return sorted(
        ((float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries), reverse=True
    )


def measure(args: argparse.Namespace, label: str) -> bool:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from annotation.models import Project

    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username="bench-lead"))
    pages = {
        "dashboard page": lambda pk: reverse("console:dashboard", args=[pk]),
        "dashboard API": lambda pk: f"/api/v1/projects/{pk}/dashboard/",
        "items browser": lambda pk: reverse("console:items", args=[pk]),
        "items search": lambda pk: reverse("console:items", args=[pk]) + "?q=request+12345",
    }
    projects = {size: Project.objects.get(name=f"dashboard {size:,}").pk for size in args.sizes}
    urls = {(name, size): url(pk) for name, url in pages.items() for size, pk in projects.items()}
    measured = timed(client, urls, args.runs, args.warm_up)
    figures = {name: {size: measured[(name, size)] for size in args.sizes} for name in pages}
    if args.queries:
        for size, pk in projects.items():
            print(f"\nqueries of the dashboard page at {size:,} items (ms):")
            for ms, sql in query_times(client, pages["dashboard page"](pk)):
                print(f"  {ms:8.1f}  {sql[:150]}")
    big, small = max(args.sizes), min(args.sizes)
    print(
        f"\n{label}: server time per request, median (p90) of {args.runs} after {args.warm_up} "
        "warm-up, in ms:\n"
    )
    print(f"{'page':<16}{small:>16,} items{big:>16,} items{'ratio':>9}  target")
    failed = False
    for name, by_size in figures.items():
        (m_small, p_small), (m_big, p_big) = by_size[small], by_size[big]
        ratio = m_big / m_small
        dashboard = name.startswith("dashboard")
        ok = m_big < TARGET_MS and ratio <= TARGET_RATIO
        failed |= dashboard and not ok
        verdict = ("ok" if ok else "MISSED") if dashboard else "(not a target)"
        print(
            f"{name:<16}{m_small:>9.1f} ({p_small:>5.1f}){m_big:>11.1f} ({p_big:>5.1f})"
            f"{ratio:>8.2f}x  {verdict}"
        )
    print(
        f"target: dashboard pages under {TARGET_MS:.0f} ms at {big:,} items and within "
        f"{TARGET_RATIO:.0f}x of {small:,} items"
    )
    return not failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", action="store_true", help="measure without seeding again")
    parser.add_argument("--queries", action="store_true", help="print each query's time")
    parser.add_argument("--sizes", type=int, nargs=2, default=list(SIZES))
    parser.add_argument("--runs", type=int, default=RUNS, help="measured requests per page")
    parser.add_argument("--warm-up", type=int, default=WARM_UP, help="requests before those")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, sizes=[200, 100], runs=3, warm_up=1)
    with load_average():
        if args.reuse:
            url = bench_database_url("dashboard")
            env = {**os.environ, "DATABASE_URL": url}
            command = [sys.executable, "manage.py", "migrate", "-v", "0"]
            subprocess.run(command, cwd=ROOT, env=env, check=True)
            setup_django(url)
            return run(args)
        print("seeding (PostgreSQL COPY) ...", flush=True)
        with bench_database("dashboard", keep=not args.smoke) as url:
            setup_django(url)
            build(args)
            return run(args)


def run(args: argparse.Namespace) -> int:
    met = measure(args, "dashboard")
    if args.smoke:
        print("(smoke mode: the targets are those of the full sizes and do not fail the run)")
        return 0
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
