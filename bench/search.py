"""Benchmark: the items search (prompt, conversation, response texts, external_id prefix) at
1,000,000 items beside 100,000, and the same search without its indexes.

Seeds one preference project per size with PostgreSQL ``COPY`` in a database of its own
(``rubric_bench_search``, dropped and recreated), builds the search's indexes as the migrations
do, ``VACUUM ANALYZE``. For each term (a word of a prompt, of a response, an external_id
prefix) the query is the items API's and browser's: ``ItemFilter`` over the project's items,
the first page of 100 by id. It prints the median of ``--runs`` runs after one warm-up, the
plan's access path (``trgm``: a bitmap of the search's four indexes; ``id``: the primary key in
page order, stopping at 100 matches, which the planner takes when many items match; ``seq``: a
sequential scan of the items), and the baseline: the same query with the planner's index and
bitmap scans turned off (what the search costs without its indexes), side by side with the ratio.

Target: at 1,000,000 items no search reads every item (no ``seq`` plan) and each answers in
under 100 ms.

    .venv/bin/python bench/search.py            # 100,000 and 1,000,000 items: minutes
    .venv/bin/python bench/search.py --smoke    # 2,000 and 4,000 items: seconds
"""

from __future__ import annotations

import argparse
import statistics
import time

from _support import (
    add_smoke_option,
    apply_smoke,
    bench_database,
    copy_item_rows,
    load_average,
    preference_rows,
    setup_django,
)

SIZES = (100_000, 1_000_000)
RUNS = 7
TARGET_MS = 100.0
INDEXES = (
    "item_search_prompt",
    "item_search_messages",
    "item_search_responses",
    "item_external_id_prefix",
)


def _terms(size: int) -> dict[str, str]:
    middle = size // 2 + 7
    return {
        "prompt word": f"question {middle}:",
        "response word": f"answer b to question {middle // 3},",
        "external_id prefix": f"s{size}-{middle // 1000:04d}",
    }


def _query(project, term: str):
    from annotation.filters import ItemFilter
    from annotation.models import Item

    found = ItemFilter({"q": term}, queryset=Item.objects.filter(project=project))
    assert found.is_valid()
    return found.qs.order_by("id")[:100]


def _access(plan: str) -> str:
    """`seq`: reads every item; `trgm`: a bitmap of the search's four indexes; `id`: walks
    the primary key in page order and stops at 100 matches (the planner's choice when many
    items match); else the names of the indexes it reads."""
    if "Seq Scan on annotation_item" in plan:
        return "seq"
    if all(name in plan for name in INDEXES):
        return "trgm"
    if "annotation_item_pkey" in plan:
        return "id"
    return "+".join(name for name in INDEXES if name in plan) or "other"


def _timed(project, term: str, runs: int, *, indexes: bool) -> tuple[float, int, str]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if not indexes:
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL enable_indexonlyscan = off")
        plan = _query(project, term).explain()
        found = len(list(_query(project, term)))  # warm-up
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            list(_query(project, term))
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), found, _access(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--runs", type=int, default=RUNS)
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, sizes=[2_000, 4_000], runs=3)
    with load_average(), bench_database("search") as url:
        setup_django(url)
        from django.db import connection

        from annotation.models import Project

        projects = {}
        for size in args.sizes:
            project = Project.objects.create(name=f"search {size:,}", kinds=["preference"])
            started = time.perf_counter()
            copy_item_rows(project.pk, preference_rows(size, f"s{size}"))
            seeded = time.perf_counter() - started
            print(f"seeded {size:,} items in {seeded:.1f} s", flush=True)
            projects[size] = project
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE annotation_item")
        print(
            f"\nitems search, first page of 100: median of {args.runs} runs after one warm-up, "
            "ms; baseline: the same query with index and bitmap scans turned off\n"
        )
        print(
            f"{'items':>10}  {'term':<20}{'found':>6}{'indexed':>10}{'plan':>6}"
            f"{'baseline':>10}{'plan':>6}{'ratio':>8}"
        )
        met = True
        for size, project in projects.items():
            for name, term in _terms(size).items():
                fast, found, access = _timed(project, term, args.runs, indexes=True)
                slow, found_slow, slow_access = _timed(project, term, args.runs, indexes=False)
                assert found == found_slow, (found, found_slow)
                print(
                    f"{size:>10,}  {name:<20}{found:>6}{fast:>10.1f}{access:>6}"
                    f"{slow:>10.1f}{slow_access:>6}{slow / fast:>7.1f}x",
                    flush=True,
                )
                if size == max(args.sizes) and (access == "seq" or fast > TARGET_MS):
                    met = False
        print(
            f"\ntarget: no seq plan and under {TARGET_MS:.0f} ms at {max(args.sizes):,} items: "
            f"{'met' if met else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
