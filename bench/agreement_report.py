"""Benchmark: the whole agreement report job, database to stored report, at two sizes.

Seeds two projects with PostgreSQL ``COPY`` (100,000 and 1,000,000 annotations by default:
preference, refusal and instruction items, 2 or 3 annotators each, some gold items, realistic
response texts that the report must not read), then runs ``agreement_report_build`` for each
in a fresh subprocess and prints wall-clock seconds and peak resident memory of that process.

* seconds  = the build: read every annotation (``COPY`` parsed into numpy columns on
             PostgreSQL), compute, store
* COPY s   = ``COPY (the report's SELECT) TO STDOUT``, the bytes discarded: the read's floor
* peak MB  = the process's peak RSS during the build (VmHWM, reset just before it)
* growth   = peak RSS minus RSS just before the build (Django, numpy and psycopg are loaded;
             pyarrow is not: the COPY reader imports it on first use, inside the build)

``--compare`` also builds each report with the tuple reader (a server-side cursor of tuples,
the reader before COPY; agreement.reader.READ_WITH_COPY off), alternating with the COPY reader
over ``--rounds`` rounds on the same data, and prints every round.

Targets: under 30 s for 1,000,000 annotations, and memory flat from 100,000 to 1,000,000
(peak ratio close to 1). Works in its own database, ``rubric_bench_agreement``, which it drops
and recreates (and keeps for ``--reuse``, except in smoke mode).

    .venv/bin/python bench/agreement_report.py [--sizes 100000 1000000] [--annotators 20]
    .venv/bin/python bench/agreement_report.py --reuse   # measure again without seeding
    .venv/bin/python bench/agreement_report.py --reuse --compare --rounds 3
    .venv/bin/python bench/agreement_report.py --smoke   # 300 and 1,000 annotations: seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _support import (
    ROOT,
    add_smoke_option,
    apply_smoke,
    bench_database,
    bench_database_url,
    load_average,
    setup_django,
)
from agreement_alpha import peak_rss, reset_peak_rss

SEED = 20_240_601
CRITERIA = ("helpfulness", "harmlessness", "honesty")
HARM = ("none", "violence", "self_harm", "hate", "illegal_activity", "privacy", "malware")
CATEGORIES = ("summarization", "question_answering", "translation", "code", "reasoning", "other")
DECISIONS = ("refuse", "comply", "partial")
FILLER = "The assistant should explain the steps clearly and note the caveats. " * 4


def copy_text(value: str) -> str:
    """A value in COPY's text format (JSON from json.dumps has no raw tabs or newlines)."""
    return value.replace("\\", "\\\\")


def seed(project_id: int, annotators: list[int], n_annotations: int, seed: int) -> int:
    """COPY items, assignments and annotations of one project; returns annotations written."""
    from django.db import connection

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM annotation_item")
        next_item = cursor.fetchone()[0] + 1
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM annotation_assignment")
        next_assignment = cursor.fetchone()[0] + 1

    # Items: kind, gold, overlap (2 or 3) and the true answer, drawn in bulk.
    n_items = n_annotations // 2 + 1
    kind_draw = rng.random(n_items).tolist()
    gold_draw = (rng.random(n_items) < 0.03).tolist()
    overlap = rng.choice([2, 2, 3], size=n_items).tolist()
    truths = rng.integers(-3, 4, size=n_items).tolist()
    # Annotators of an item: a random offset and stride over the list (distinct when k <= 3).
    offsets = rng.integers(0, len(annotators), size=n_items).tolist()
    strides = rng.integers(1, len(annotators) // 3 + 1, size=n_items).tolist()
    items, annotations = [], []
    written = 0
    for i in range(n_items):
        if written >= n_annotations:
            break
        item_id = next_item + i
        draw, truth = kind_draw[i], truths[i]
        kind = "preference" if draw < 0.6 else "refusal" if draw < 0.85 else "instruction"
        answer = {
            "preference": {"rating": truth},
            "refusal": {"decision": DECISIONS[truth % 3], "harm_category": HARM[truth % 7]},
            "instruction": {"category": CATEGORIES[truth % 6]},
        }[kind]
        items.append((item_id, kind, gold_draw[i], answer))
        k = min(overlap[i], n_annotations - written)
        for j in range(k):
            user_id = annotators[(offsets[i] + j * strides[i]) % len(annotators)]
            annotations.append((item_id, kind, gold_draw[i], answer, user_id))
        written += k

    # Randomness drawn in bulk: one row of each array per annotation.
    n = len(annotations)
    noisy = (rng.random(n) < 0.3).tolist()
    shift = rng.integers(-2, 3, size=n).tolist()
    wobble = rng.integers(-1, 2, size=(n, len(CRITERIA))).tolist()
    left_first = (rng.random(n) < 0.5).tolist()
    pick = rng.integers(0, 42, size=n).tolist()  # divisible by 3, 6 and 7
    spent = rng.lognormal(3.5, 0.8, size=n).tolist()

    def clip(value: int) -> int:
        return max(-3, min(3, value))

    payloads = []
    for i, (item_id, kind, gold, answer, user_id) in enumerate(annotations):
        if kind == "preference":
            rating = clip(answer["rating"] + (shift[i] if noisy[i] else 0))
            crit = {name: clip(rating + w) for name, w in zip(CRITERIA, wobble[i], strict=True)}
            payload = {"rating": rating, "criteria": crit, "rationale": FILLER[:120]}
            order = "AB" if left_first[i] else "BA"
            truth = answer["rating"]
            correct = (rating > 0) - (rating < 0) == (truth > 0) - (truth < 0)
        elif kind == "refusal":
            decision = DECISIONS[pick[i] % 3] if noisy[i] else answer["decision"]
            harm = HARM[pick[i] % 7] if noisy[i] else answer["harm_category"]
            payload = {"decision": decision, "response": FILLER, "harm_category": harm}
            order, correct = "", decision == answer["decision"]
        else:
            category = CATEGORIES[pick[i] % 6] if noisy[i] else answer["category"]
            payload = {"response": FILLER * 2, "category": category}
            order, correct = "", category == answer["category"]
        payloads.append(
            (item_id, user_id, json.dumps(payload), order, spent[i], correct if gold else None)
        )
    print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    # Annotations arrive over time, not item by item: store them in a shuffled order.
    shuffled = rng.permutation(len(payloads))

    from django.utils import timezone

    now = timezone.now().isoformat()
    with connection.cursor() as cursor:
        # A bulk load: skip the deferred foreign-key triggers (the rows are consistent by
        # construction); needs a superuser, as the local benchmark database has.
        cursor.execute("SET session_replication_role = replica")
        raw = cursor.cursor

        def load(table: str, columns: str, lines) -> None:
            clock = time.perf_counter()
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                chunk = []
                for line in lines:
                    chunk.append(line)
                    if len(chunk) == 10_000:
                        copy.write("".join(chunk))
                        chunk = []
                copy.write("".join(chunk))
            print(f"  {table} {time.perf_counter() - clock:.1f} s", flush=True)

        def item_lines():
            for item_id, kind, gold, answer in items:
                data = {"prompt": f"Request {item_id}: answer carefully."}
                if kind == "preference":
                    data["responses"] = [{"text": f"A {item_id}"}, {"text": f"B {item_id}"}]
                known = copy_text(json.dumps(answer)) if gold else r"\N"
                yield (
                    f"{item_id}\t{project_id}\text-{item_id}\t{kind}\t{copy_text(json.dumps(data))}"
                    f"\t{{}}\t0\ttrain\t{'t' if gold else 'f'}\t{known}\t{item_id:064x}\t\t"
                    f"\topen\t\t\t0\t0\t{now}\t{now}\n"
                )

        load(
            "annotation_item",
            "id, project_id, external_id, kind, data, metadata, priority, split, is_gold, gold, "
            "content_hash, data_hash, metadata_hash, status, agreement, review_reason, "
            "submitted_count, active_count, created_at, updated_at",
            item_lines(),
        )
        order = shuffled.tolist()
        load(
            "annotation_assignment",
            "id, project_id, item_id, annotator_id, status, claimed_at, expires_at, "
            "finished_at, display_order",
            (
                f"{next_assignment + position}\t{project_id}\t{payloads[index][0]}"
                f"\t{payloads[index][1]}\tsubmitted\t{now}\t{now}\t{now}\t{payloads[index][3]}\n"
                for position, index in enumerate(order)
            ),
        )

        def annotation_lines():
            for position, index in enumerate(order):
                item_id, user_id, payload, display, seconds, correct = payloads[index]
                gold_correct = r"\N" if correct is None else ("t" if correct else "f")
                yield (
                    f"{project_id}\t{item_id}\t{user_id}\t{next_assignment + position}"
                    f"\t{copy_text(payload)}\t{display}\t{seconds!r}\t1\t{gold_correct}\t{now}\n"
                )

        load(
            "annotation_annotation",
            "project_id, item_id, annotator_id, assignment_id, payload, display_order, "
            "seconds_spent, guidelines_version, gold_correct, created_at",
            annotation_lines(),
        )
        for table in ("annotation_item", "annotation_assignment"):
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            cursor.execute(f"SELECT setval({sequence}, (SELECT MAX(id) FROM {table}))")
        cursor.execute("SET session_replication_role = DEFAULT")
    return len(payloads)


def worker(project_id: int, reader_name: str) -> None:
    """One measured build, in a process of its own."""
    from agreement import reader
    from agreement.models import AgreementReport
    from agreement.services import agreement_report_build

    reader.READ_WITH_COPY = reader_name == "copy"

    report = AgreementReport.objects.create(project_id=project_id)
    gc.collect()
    baseline = reset_peak_rss()
    started = time.perf_counter()
    report = agreement_report_build(report_id=report.pk)
    seconds = time.perf_counter() - started
    peak = peak_rss()
    rating = report.fields["preference.rating"]
    result = {
        "copy_seconds": copy_floor(project_id),
        "seconds": seconds,
        "peak_mb": peak,
        "growth_mb": peak - baseline,
        "baseline_mb": baseline,
        "annotation_count": report.annotation_count,
        "alpha_ordinal": rating["alpha_ordinal"],
        "annotators": len(report.annotators),
    }
    print(json.dumps(result))


def copy_floor(project_id: int) -> float:
    """Seconds to ``COPY (the report's SELECT) TO STDOUT`` in the same snapshot settings, the
    bytes thrown away: the floor of the report's read (the baseline of issue 16's 2x)."""
    from django.db import connection

    from agreement import reader
    from agreement.engine import ReportBuilder
    from annotation.models import Project

    project = Project.objects.get(pk=project_id)
    builder = ReportBuilder(fields=reader.report_fields(project), project_kinds=project.kinds)
    sql, params = reader.annotation_rows_query(project, builder.paths).query.sql_with_params()
    started = time.perf_counter()
    statement = f"COPY ({sql}) TO STDOUT"
    with (
        reader.snapshot(),
        connection.cursor() as cursor,
        cursor.cursor.copy(statement, params) as copy,
    ):
        for _ in copy:
            pass
    return time.perf_counter() - started


READERS = ("copy", "tuples")  # the shipped reader first; tuples: the reader before COPY


def measure(url: str, project_id: int, reader_name: str = "copy") -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(project_id)]
    options = ["--database-url", url, "--reader", reader_name]
    done = subprocess.run(command + options, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the build of project {project_id} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_all(args: argparse.Namespace, url: str, projects: dict[int, int]) -> int:
    """Each size, ``--rounds`` times; with ``--compare`` each round builds with the tuple
    reader, then with the COPY reader, so that both see the same load. Reports the medians."""
    readers = ("tuples", "copy") if args.compare else ("copy",)
    runs: dict[str, dict[int, list[dict]]] = {name: {} for name in readers}
    for round_number in range(args.rounds):
        for size, pk in projects.items():
            for name in readers:
                result = measure(url, pk, name)
                runs[name].setdefault(size, []).append(result)
                if args.rounds > 1 or args.compare:
                    print(
                        f"  round {round_number + 1}, {size:,}, {name}: {result['seconds']:.2f} s,"
                        f" COPY {result['copy_seconds']:.2f} s,"
                        f" {result['seconds'] / result['copy_seconds']:.2f}x,"
                        f" peak {result['peak_mb']:.1f} MB (load {_load_now()})",
                        flush=True,
                    )
    status = report(args, {size: _median(rs) for size, rs in runs["copy"].items()})
    if args.compare:
        compare(runs)
    return status


def _load_now() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def _median(results: list[dict]) -> dict:
    """The run of median build time (its other figures with it)."""
    ordered = sorted(results, key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def compare(runs: dict[str, dict[int, list[dict]]]) -> None:
    print("\nCOPY reader vs tuple reader (alternating, medians of the rounds):\n")
    header = (
        f"{'annotations':>12} {'reader':>7} {'seconds':>8} {'COPY s':>8} {'vs COPY':>8} "
        f"{'peak MB':>8} {'growth MB':>10}  same alpha"
    )
    print(header)
    print("-" * len(header))
    for size in runs["copy"]:
        alphas = set()
        for name in ("tuples", "copy"):
            r = _median(runs[name][size])
            seconds = sorted(x["seconds"] for x in runs[name][size])
            alphas |= {x["alpha_ordinal"] for x in runs[name][size]}
            print(
                f"{size:>12,} {name:>7} {r['seconds']:8.2f} {r['copy_seconds']:8.2f} "
                f"{r['seconds'] / r['copy_seconds']:7.2f}x {r['peak_mb']:8.1f} "
                f"{r['growth_mb']:10.1f}  {'yes' if len(alphas) == 1 else 'NO'}"
                f"  (rounds: {', '.join(f'{x:.2f}' for x in seconds)} s)"
            )
        ratio = _median(runs["copy"][size])["seconds"] / _median(runs["tuples"][size])["seconds"]
        print(f"{'':>12} copy / tuples: {ratio:.2f}x")


def main(args: argparse.Namespace) -> int:
    with load_average():
        if args.reuse:
            url = bench_database_url("agreement")
            env = {**os.environ, "DATABASE_URL": url}
            command = [sys.executable, "manage.py", "migrate", "-v", "0"]
            subprocess.run(command, cwd=ROOT, env=env, check=True)
            return run(args, url)
        with bench_database("agreement", keep=not args.smoke) as url:
            return run(args, url)


def run(args: argparse.Namespace, url: str) -> int:
    setup_django(url)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import Project
    from annotation.services import project_create

    if args.reuse:
        projects = {
            size: Project.objects.values_list("pk", flat=True).get(name=f"agreement {size:,}")
            for size in args.sizes
        }
        return measure_all(args, url, projects)

    User = get_user_model()
    lead = User.objects.create_user("bench-lead", password="bench-lead-pass-1")
    annotators = [
        User.objects.create_user(f"annotator-{i:02d}").pk  # unusable password: no hashing
        for i in range(args.annotators)
    ]
    projects = {}
    for n, size in enumerate(args.sizes):
        project = project_create(
            actor=lead, values={"name": f"agreement {size:,}", "agreement_every": 0}
        )
        started = time.perf_counter()
        written = seed(project.pk, annotators, size, SEED + n)
        print(f"seeded {written:,} annotations with COPY in {time.perf_counter() - started:.1f} s")
        projects[size] = project.pk
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()

    return measure_all(args, url, projects)


def report(args: argparse.Namespace, results: dict[int, dict]) -> int:
    print(
        f"\n{args.annotators} annotators, 60% preference / 25% refusal / 15% instruction items, "
        "2-3 annotations per item, 3% gold; PostgreSQL\n"
    )
    header = (
        f"{'annotations':>12} {'seconds':>8} {'COPY s':>8} {'vs COPY':>8} {'peak MB':>8} "
        f"{'growth MB':>10}  alpha (ordinal)"
    )
    print(header)
    print("-" * len(header))
    for size, r in results.items():
        print(
            f"{size:>12,} {r['seconds']:8.2f} {r['copy_seconds']:8.2f} "
            f"{r['seconds'] / r['copy_seconds']:7.2f}x {r['peak_mb']:8.1f} "
            f"{r['growth_mb']:10.1f}  {r['alpha_ordinal']:.6f}"
        )
    print(
        "(COPY s: COPY (the report's SELECT) TO STDOUT, the bytes discarded: the floor of the"
        " read; target at 1,000,000: within 2x)"
    )
    small, large = results[min(results)], results[max(results)]
    time_ratio = large["seconds"] / small["seconds"]
    peak_ratio = large["peak_mb"] / small["peak_mb"]
    print(
        f"\n{max(results):,} / {min(results):,}: time x{time_ratio:.2f}, "
        f"peak RSS x{peak_ratio:.3f}, growth {small['growth_mb']:.1f} -> "
        f"{large['growth_mb']:.1f} MB"
    )
    fast = large["seconds"] < 30
    flat = peak_ratio < 1.15
    print(f"target < 30 s at {max(results):,}: {'met' if fast else 'MISSED'}")
    print(f"target memory flat (peak ratio < 1.15): {'met' if flat else 'MISSED'}")
    if args.smoke:
        print("(smoke mode: the targets are those of the full sizes and do not fail the run)")
        return 0
    return 0 if fast and flat else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100_000, 1_000_000])
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument(
        "--reuse", action="store_true", help="measure the projects seeded by an earlier run"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also build with the tuple reader (before COPY), alternating with the COPY reader",
    )
    parser.add_argument("--rounds", type=int, default=1, help="builds per size (and reader)")
    parser.add_argument("--worker", type=int, metavar="PROJECT_ID", help="internal: one build")
    parser.add_argument("--reader", choices=READERS, default="copy", help="internal: the reader")
    parser.add_argument("--database-url", help="internal: the worker's database")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, sizes=[300, 1_000], annotators=6)
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        setup_django(arguments.database_url)
        worker(arguments.worker, arguments.reader)
    else:
        sys.exit(main(arguments))
