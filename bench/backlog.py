"""A claim does not see the caller's own backlog: claim time at 0 and at N own waiting items.

A fast annotator on a slow team piles up items that they annotated and nobody else has yet
(partly annotated, so first in queue order for everyone else). The claim used to step over
each of them; now it finds partly annotated items through the other annotators' waiting rows
(`assignment_queue_pending`), so the caller's own are never scanned.

One project of `--items` open preference items, overlap 2. Annotator `zero` has no waiting
items; annotator `busy` has `--pending` of them (the first items, as `busy` would leave them).
For each, the claim statement runs `--repeat` times under EXPLAIN (ANALYZE, BUFFERS), each in
a transaction rolled back, and so does the baseline: the ORM claim query of before (its queue
scan, `annotation.queue._claimable`). Prints the medians side by side, their ratios, the whole
claim through the service, and the claim's plan at `--pending`.

All of it twice: first with the planner statistics taken before anyone annotated (autovacuum
analyzes a table only after a tenth of it changed, so on a large table they say for a long
while that no item is partly annotated), then after an ANALYZE.

Works in its own database, `rubric_bench_backlog`, which it creates and drops.

    .venv/bin/python bench/backlog.py [--items 200000] [--pending 100000] [--repeat 15]
    .venv/bin/python bench/backlog.py --smoke   # 3,000 items, 1,000 waiting, 5 repeats
"""

import argparse
import re
import statistics
import sys
import time

from _support import (
    add_smoke_option,
    apply_smoke,
    bench_database,
    copy_item_rows,
    load_average,
    preference_rows,
    setup_django,
    waiting_items,
)


def seed(items: int, pending: int):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import Membership, Role
    from annotation.services import project_create

    User = get_user_model()
    lead = User.objects.get_or_create(username="bench-lead")[0]
    project = project_create(
        actor=lead,
        values={"name": "backlog bench", "annotations_per_item": 2, "agreement_every": 0},
    )
    copy_item_rows(project.pk, preference_rows(items, "b"))
    members = {}
    for name in ("zero", "busy"):
        user = User.objects.get_or_create(username=f"bench-{name}")[0]
        members[name] = Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    analyze()  # what autovacuum would have done after the import
    # `busy` annotated the first `pending` items; nobody else has yet
    waiting_items(project.pk, members["busy"].user_id, pending)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM annotation_item")  # statistics stay as before the annotating
        cursor.execute("VACUUM annotation_assignment")
    return project, members


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_item, annotation_assignment")


def _execution_ms(plan: str) -> float:
    return float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))


def explain_claim(membership) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the claim statement, rolled back."""
    from django.db import connection, transaction
    from django.utils import timezone

    from annotation import queue, queue_sql

    params = {
        "membership": membership.pk,
        "project": membership.project_id,
        "user": membership.user_id,
        "now": timezone.now(),
        "sided": queue._sided_kinds(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + queue_sql.typed(queue_sql.claim_sql()), params
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def explain_baseline(membership) -> str:
    """The ORM claim query of before: the queue scan over item_queue, locked, rolled back."""
    from django.db import transaction
    from django.utils import timezone

    from annotation.queue import _claimable

    with transaction.atomic():
        plan = (
            _claimable(membership, timezone.now())
            .select_for_update(skip_locked=True, of=("self",))[:1]
            .explain(analyze=True, buffers=True)
        )
        transaction.set_rollback(True)
    return plan


def service_claim_ms(membership) -> float:
    from django.db import transaction

    from annotation.queue import assignment_claim_next

    started = time.perf_counter()
    with transaction.atomic():
        assert assignment_claim_next(membership=membership) is not None
        transaction.set_rollback(True)
    return 1000 * (time.perf_counter() - started)


def medians(membership, repeat: int) -> dict[str, float]:
    from annotation.models import Membership

    membership = Membership.objects.select_related("project", "user").get(pk=membership.pk)
    runs = {"claim": [], "baseline": [], "service": []}
    explain_claim(membership), explain_baseline(membership)  # warm the caches and the plans
    for _ in range(repeat):  # interleaved, so a burst of load hits all three alike
        runs["claim"].append(_execution_ms(explain_claim(membership)))
        runs["baseline"].append(_execution_ms(explain_baseline(membership)))
        runs["service"].append(service_claim_ms(membership))
    return {name: statistics.median(values) for name, values in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, items=3_000, pending=1_000, repeat=5)
    if args.pending >= args.items:
        parser.error("--pending must be below --items (fresh items are what gets claimed)")
    with load_average(), bench_database("backlog", keep=args.keep) as url:
        return run(args, url)


def run(args: argparse.Namespace, url: str) -> int:
    setup_django(url)
    started = time.perf_counter()
    _project, members = seed(args.items, args.pending)
    print(
        f"claim with the caller's own waiting items: {args.items:,} open preference items, "
        f"overlap 2, seeded in {time.perf_counter() - started:.1f} s; medians of {args.repeat}"
    )
    pending = f"{args.pending:,} own"
    rows = [
        ("claim statement (EXPLAIN ANALYZE)", "claim"),
        ("baseline: ORM queue scan of before", "baseline"),
        ("claim through the service (in process)", "service"),
    ]
    for statistics_state in ("from before the annotating", "after an ANALYZE"):
        if statistics_state == "after an ANALYZE":
            analyze()
        zero = medians(members["zero"], args.repeat)
        busy = medians(members["busy"], args.repeat)
        print(f"planner statistics {statistics_state}:")
        print(f"  {'ms':<44}{'0 own':>12}{pending:>14}{'ratio':>11}")
        for label, key in rows:
            print(
                f"  {label:<44}{zero[key]:>12.2f}{busy[key]:>14.2f}{busy[key] / zero[key]:>10.2f}x"
            )
        ratio = busy["claim"] / zero["claim"]
        print(
            f"  claim at {args.pending:,} own waiting / at 0: {ratio:.2f}x (target: within 1.5x: "
            f"{'met' if ratio <= 1.5 else 'MISSED'}); "
            f"baseline {busy['baseline'] / zero['baseline']:.2f}x"
        )
    print(f"claim plan, caller with {args.pending:,} own waiting items:")
    print(explain_claim(members["busy"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
