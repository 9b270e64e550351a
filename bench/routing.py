"""Production items routed by confidence: import with vs without predictions, the calibration
report, and claims in uncertainty and disagreement vs priority order.

1. Imports N preference items through the import service (what the REST endpoint calls) in
   batches of 10,000, once without predictions (the baseline) and once as production items
   with a prediction and a confidence, routed during the import (auto_accept_above 0.8, audit
   rate 0.05, a signal on 1 % of them), the two taking turns batch by batch: items/s of each
   and their ratio (target within 1.3x).
   The time the routed import spends in after-commit event subscribers (an auto-accepted
   item announces item.approved; webhooks looks up the project's endpoints for each) is
   printed apart, with the ratio it would have without them.
2. Gives every item routed to people (and the audit sample) a human final, right with the
   prediction's confidence as its probability (a calibrated model), with one SQL statement,
   then builds the calibration report as the worker does (target under 5 s at 1,000,000
   items); then the same on a copy of every 10th item with its final (the scaling).
3. Marks every 50th item disputed (an earlier round sent back), then claims with fresh
   annotators through the claim service, in `priority` order (the baseline) and in
   `uncertainty` and `disagreement` order: p50 and p99 of each and the p50 ratios (target
   within 1.2x).

Works in its own database, `rubric_bench_routing`, which it creates and drops.

    .venv/bin/python bench/routing.py [--items 1000000] [--claims 300] [--keep]
    .venv/bin/python bench/routing.py --smoke   # 2,000 items, 40 claims
"""

import argparse
import random
import statistics
import time

from _support import (
    add_smoke_option,
    apply_smoke,
    bench_database,
    load_average,
    percentile,
    preference_rows,
    setup_django,
)

BATCH = 10_000


def production_rows(n: int, tag: str, seed: int = 14):
    rng = random.Random(seed)
    for row in preference_rows(n, tag):
        confidence = round(rng.uniform(0.5, 1.0), 4)
        row["prediction"] = {
            "payload": {"rating": rng.choice([-2, 2])},
            "confidence": confidence,
            "model": "prod-model",
        }
        row["source"] = "production"
        if rng.random() < 0.01:
            row["signal"] = "user_thumbs_down"
        yield row


class SubscriberClock:
    """Time spent in after-commit event subscribers (core.events._deliver), by subscriber."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def __enter__(self) -> "SubscriberClock":
        from core import events

        self._events, self._deliver = events, events._deliver

        def timed(function, event):
            started = time.perf_counter()
            try:
                return self._deliver(function, event)
            finally:
                name = f"{function.__module__}.{function.__qualname__}"
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

        events._deliver = timed
        return self

    def __exit__(self, *exc) -> None:
        self._events._deliver = self._deliver

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def import_both(plain, plain_rows, routed, routed_rows, actor, clock) -> tuple[float, float]:
    """Import both streams batch by batch, taking turns (so a change of the machine's load
    weighs on both alike): (seconds without predictions, seconds with). `clock` times the
    routed batches' after-commit subscribers."""
    from itertools import islice

    from annotation.importing import item_import

    seconds = {"plain": 0.0, "routed": 0.0}
    streams = {"plain": (plain, iter(plain_rows)), "routed": (routed, iter(routed_rows))}
    while True:
        imported = 0
        for name, (project, rows) in streams.items():
            batch = list(islice(rows, BATCH))
            if not batch:
                continue
            imported += len(batch)
            started = time.perf_counter()
            if name == "routed":
                with clock:
                    item_import(project=project, rows=batch, actor=actor)
            else:
                item_import(project=project, rows=batch, actor=actor)
            seconds[name] += time.perf_counter() - started
        if not imported:
            return seconds["plain"], seconds["routed"]


def human_finals(project) -> int:
    """A human final for every item sent to people: the prediction's rating with probability
    its confidence, else the other side (so the model is calibrated by construction)."""
    from django.db import connection

    sql = """
        INSERT INTO review_finalrecord
            (item_id, project_id, kind, category, decision, payload, provenance, is_current,
             created_at)
        SELECT id, project_id, kind, '', '',
            CASE WHEN random() < (prediction->>'confidence')::float THEN prediction->'payload'
                 ELSE jsonb_build_object('rating', -((prediction->'payload'->>'rating')::int))
            END,
            'adjudicated', true, now()
        FROM annotation_item
        WHERE project_id = %s AND route IN ('human', 'audit')
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.14)")
        cursor.execute(sql, [project.pk])
        written = cursor.rowcount
        cursor.execute("ANALYZE annotation_item")
        cursor.execute("ANALYZE review_finalrecord")
    return written


ORDERS = ("priority", "uncertainty", "disagreement")


def mark_disputed(project, every: int = 50) -> int:
    """Every `every`-th item as one whose earlier round was disputed (as a rejection's next
    round leaves it), so the `disagreement` order has a head to serve from its index."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE annotation_item SET disputed = true WHERE project_id = %s AND id %% %s = 0",
            [project.pk, every],
        )
        marked = cursor.rowcount
        cursor.execute("ANALYZE annotation_item")
    return marked


def tenth_copy(project, lead):
    """A project holding every 10th item of `project` with its current final record, copied
    in SQL (the report's scaling: a tenth of the items)."""
    from django.db import connection

    from annotation.models import Item
    from annotation.services import project_create
    from review.models import FinalRecord

    small = project_create(
        actor=lead,
        values={
            "name": f"{project.name} (a tenth)",
            "auto_accept_above": project.auto_accept_above,
            "audit_rate": project.audit_rate,
        },
    )
    item_columns = [f.column for f in Item._meta.concrete_fields if f.column != "id"]
    record_columns = [
        f.column for f in FinalRecord._meta.concrete_fields if f.column not in ("id", "item_id")
    ]

    def select(columns, alias):
        return ", ".join("%s" if c == "project_id" else f"{alias}.{c}" for c in columns)

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO annotation_item ({', '.join(item_columns)}) "
            f"SELECT {select(item_columns, 'i')} FROM annotation_item i "
            "WHERE i.project_id = %s AND i.id %% 10 = 0 ORDER BY i.id",
            [small.pk, project.pk],
        )
        cursor.execute(
            f"INSERT INTO review_finalrecord (item_id, {', '.join(record_columns)}) "
            f"SELECT n.id, {select(record_columns, 'f')} FROM review_finalrecord f "
            "JOIN annotation_item o ON o.id = f.item_id "
            "JOIN annotation_item n ON n.project_id = %s AND n.external_id = o.external_id "
            "WHERE f.project_id = %s AND f.is_current AND o.id %% 10 = 0 ORDER BY f.id",
            [small.pk, small.pk, project.pk],
        )
        cursor.execute("ANALYZE annotation_item")
        cursor.execute("ANALYZE review_finalrecord")
    return small


def report_seconds(project, lead):
    """Build a calibration report as a worker does: (seconds, result)."""
    from routing.models import CalibrationReport
    from routing.services import calibration_report_build

    report = CalibrationReport.objects.create(project=project, requested_by=lead)
    started = time.perf_counter()
    report = calibration_report_build(report_id=report.pk)
    return time.perf_counter() - started, report.result


def claim_latencies(project, users, orders=ORDERS) -> dict[str, list[float]]:
    """Claims by fresh annotators, the queue orders taking turns claim by claim (so a change
    of the machine's load weighs on both alike)."""
    from annotation.models import Membership, Project, Role
    from annotation.queue import assignment_claim_next

    latencies: dict[str, list[float]] = {order: [] for order in orders}
    for n, user in enumerate(users):
        order = orders[n % len(orders)]
        Project.objects.filter(pk=project.pk).update(queue_order=order)
        membership = Membership.objects.select_related("project").get(
            project=project, user=user, role=Role.ANNOTATOR
        )
        started = time.perf_counter()
        assignment = assignment_claim_next(membership=membership)
        latencies[order].append(time.perf_counter() - started)
        assert assignment is not None, "the queue ran dry"
    return latencies


def _ms(values: list[float], q: float) -> float:
    return 1000 * percentile(values, q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, items=2_000, claims=40)
    with load_average(), bench_database("routing", keep=args.keep) as url:
        run(args, url)


def run(args: argparse.Namespace, url: str) -> None:
    setup_django(url)
    from django.contrib.auth import get_user_model

    from annotation.models import Item, Membership, Role
    from annotation.services import project_create

    User = get_user_model()
    lead = User.objects.create_user("bench-lead", password="bench-lead-pass-1")

    plain = project_create(actor=lead, values={"name": "bench without predictions"})
    routed = project_create(
        actor=lead,
        values={"name": "bench production", "auto_accept_above": 0.8, "audit_rate": 0.05},
    )
    clock = SubscriberClock()
    plain_seconds, routed_seconds = import_both(
        plain,
        preference_rows(args.items, "plain"),
        routed,
        production_rows(args.items, "prod"),
        lead,
        clock,
    )
    counts = {
        route: Item.objects.filter(project=routed, route=route).count()
        for route in ("auto", "audit", "human")
    }

    finals = human_finals(routed)
    # The report row as a request makes it, built here as a worker builds it.
    report_time, result = report_seconds(routed, lead)
    small = tenth_copy(routed, lead)
    small_time, small_result = report_seconds(small, lead)

    annotators = [
        User.objects.create_user(f"bench-annotator-{i}", password=None)
        for i in range(len(ORDERS) * args.claims)
    ]
    Membership.objects.bulk_create(
        Membership(project=routed, user=user, role=Role.ANNOTATOR) for user in annotators
    )
    disputed = mark_disputed(routed)
    taken = claim_latencies(routed, annotators)
    priority, uncertainty = taken["priority"], taken["uncertainty"]

    print(
        f"{args.items:,} preference items per import, batches of {BATCH:,} taking turns, "
        "through the import service, PostgreSQL"
    )
    print(f"{'import':<44}{'seconds':>10}{'items/s':>12}{'x baseline':>12}")
    for name, seconds in (
        ("import without predictions (baseline)", plain_seconds),
        ("import with predictions, routed", routed_seconds),
    ):
        print(
            f"{name:<44}{seconds:>10.2f}{args.items / seconds:>12,.0f}"
            f"{seconds / plain_seconds:>12.2f}"
        )
    rest = routed_seconds - clock.total
    print(
        f"{'  less after-commit event subscribers':<44}{rest:>10.2f}{args.items / rest:>12,.0f}"
        f"{rest / plain_seconds:>12.2f}"
    )
    for name, seconds in sorted(clock.seconds.items(), key=lambda kv: -kv[1]):
        print(f"    {name}: {seconds:.2f} s in {clock.calls[name]:,} calls")
    print(
        f"routed: {counts['auto']:,} auto, {counts['audit']:,} audit, {counts['human']:,} human; "
        f"{finals:,} human finals simulated; {disputed:,} items marked disputed"
    )
    print(
        f"calibration report (worker path) {report_time:.2f} s over {result['n']:,} judged of "
        f"{result['predicted']:,} predicted items; ECE {result['ece']:.4f}, Brier "
        f"{result['brier']:.4f}, recommended threshold {result['recommended_threshold']}"
    )
    current = result["current_threshold_error"]
    print(
        f"  current threshold's error {current['value']:.4f} (95 % {current['low']:.4f}-"
        f"{current['high']:.4f}), n {current['n']:,}, effective n {current['n_effective']:,.0f}"
        if current["value"] is not None
        else "  current threshold's error: nothing judged above it"
    )
    print(
        f"calibration report on a tenth ({small_result['predicted']:,} predicted, "
        f"{small_result['n']:,} judged; the baseline) {small_time:.2f} s: the full size takes "
        f"{report_time / small_time:.2f}x the time for "
        f"{result['n'] / max(small_result['n'], 1):.1f}x the judged items"
    )
    print(f"{'claim order':<32}{'claims':>8}{'p50 ms':>10}{'p99 ms':>10}{'p50 x':>8}")
    base = statistics.median(priority)
    for name, values in (
        ("priority (baseline)", priority),
        ("uncertainty", uncertainty),
        ("disagreement", taken["disagreement"]),
    ):
        print(
            f"{name:<32}{len(values):>8}{_ms(values, 0.5):>10.2f}{_ms(values, 0.99):>10.2f}"
            f"{statistics.median(values) / base:>8.2f}"
        )
    ratio = routed_seconds / plain_seconds
    claim_ratio = statistics.median(uncertainty) / base
    disagreement_ratio = statistics.median(taken["disagreement"]) / base
    print(
        f"targets: import within 1.3x ({'met' if ratio <= 1.3 else 'MISSED'}), report under "
        f"5 s ({'met' if report_time < 5 else 'MISSED'}), uncertainty claim p50 within 1.2x "
        f"({'met' if claim_ratio <= 1.2 else 'MISSED'}), disagreement claim p50 within 1.2x "
        f"({'met' if disagreement_ratio <= 1.2 else 'MISSED'})"
    )
    if args.items < 1_000_000:
        print(f"  (the report's target is at 1,000,000 items; this run has {args.items:,})")


if __name__ == "__main__":
    main()
