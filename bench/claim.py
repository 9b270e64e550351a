"""Claim + submit under 32 concurrent clients through gunicorn, at 10,000 and 1,000,000 items.

For each size: a fresh project of N open preference items (overlap 2), 32 annotators each
running 2 cycles at once to warm the server up (every worker thread's connection opened and
its statements prepared, as on a server that has been running), then one annotator alone,
then the 32 each running `--cycles` rounds of POST claim / POST submit against a real
gunicorn server, the tables vacuumed before each phase (as autovacuum would). Prints
cycles/s, claim p50 and p99 at both sizes and their ratio, the SQL queries one claim costs (and
the claim query's plan), and checks the queue's invariants afterwards: a failed request or a
broken invariant fails the run.

Works in its own database, `rubric_bench_claim`, which it creates and drops.

    .venv/bin/python bench/claim.py [--sizes 10000,1000000] [--clients 32] [--cycles 40]
    .venv/bin/python bench/claim.py --smoke   # 200 and 400 items, 4 clients x 5 cycles

With ``--configs 2x1,3x2,2x2@5,3x2/gthread`` (workers x threads, ``@`` keep-alive seconds,
``/`` a gunicorn worker class) it compares gunicorn settings instead: for each, a fresh server
with the shipped config/gunicorn.conf.py but those workers, threads, keep-alive and worker
class (the shipped ones when not given), one client then 32 at the first size; the settings
config/gunicorn.conf.py ships (marked) are the baseline each is compared with.

Each run also prints where the CPU went: the machine's busy cores and CPU per cycle, of all
and of gunicorn's and PostgreSQL's processes, and the ceiling this puts on 32 clients / one.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from urllib.parse import urlparse

from _support import (
    ROOT,
    CpuMeter,
    add_smoke_option,
    apply_smoke,
    bench_database,
    copy_item_rows,
    gunicorn,
    load_average,
    percentile,
    preference_rows,
    setup_django,
)


def client_loop(base, token, project_id, cycles, latencies, errors, barrier, submits=None):
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    rng = random.Random(token)
    barrier.wait()
    for _ in range(cycles):
        started = time.perf_counter()
        conn.request("POST", f"/api/v1/projects/{project_id}/claim/", headers=headers)
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status == 204:
            return
        if response.status != 200:
            errors.append(f"claim {response.status} {body[:200]!r}")
            return
        assignment = json.loads(body)["assignment"]["id"]
        payload = json.dumps({"payload": {"rating": rng.choice([-2, -1, 1, 3])}})
        started = time.perf_counter()
        conn.request(
            "POST", f"/api/v1/assignments/{assignment}/submit/", body=payload, headers=headers
        )
        response = conn.getresponse()
        body = response.read()
        if submits is not None:
            submits.append(time.perf_counter() - started)
        if response.status != 201:
            errors.append(f"submit {response.status} {body[:200]!r}")
            return


def invariant_violations(project) -> list[str]:
    from django.db.models import Count, F, Q

    from annotation.models import Annotation, Item

    problems = []
    over = Item.objects.filter(project=project).filter(
        Q(submitted_count__gt=project.annotations_per_item)
        | Q(active_count__gt=project.annotations_per_item - F("submitted_count"))
    )
    problems += [f"item {i} over its overlap" for i in over.values_list("id", flat=True)[:10]]
    twice = (
        Annotation.objects.filter(project=project)
        .values("item_id", "annotator_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    problems += [f"annotated twice: {row}" for row in twice[:10]]
    mismatch = (
        Item.objects.filter(project=project, submitted_count__gt=0)
        .annotate(n=Count("annotations"))
        .exclude(n=F("submitted_count"))
    )
    problems += [
        f"counter mismatch on item {i}" for i in mismatch.values_list("id", flat=True)[:10]
    ]
    return problems


def queries_per_claim(project, user) -> tuple[int, str]:
    """Statements of one claim through the service (transaction control not counted; the
    API adds two: the token and the membership), and the claim statement's plan under
    EXPLAIN (ANALYZE, BUFFERS), rolled back."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from annotation import queue
    from annotation.models import Membership
    from annotation.queue import assignment_claim_next

    try:
        from annotation import queue_sql
    except ImportError:  # the code of before (this bench measures both): the ORM claim
        queue_sql = None
    membership = Membership.objects.select_related("project").get(project=project, user=user)
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        assignment_claim_next(membership=membership)
        transaction.set_rollback(True)
    if queue_sql is None:
        with transaction.atomic():
            plan = (
                queue._claimable(membership, timezone.now())
                .select_for_update(skip_locked=True, of=("self",))[:1]
                .explain(analyze=True, buffers=True)
            )
            transaction.set_rollback(True)
        return sum(1 for q in captured if not q["sql"].startswith(control)), plan
    params = {
        "membership": membership.pk,
        "project": project.pk,
        "user": user.pk,
        "now": timezone.now(),
        "sided": queue._sided_kinds(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + queue_sql.typed(queue_sql.claim_sql()), params
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    counted = [q["sql"] for q in captured if not q["sql"].startswith(control)]
    if os.environ.get("BENCH_SHOW_SQL"):
        print("\n---\n".join(sql[:300] for sql in counted))
    return len(counted), plan


def p99_ms(latencies: list[float]) -> float:
    return 1000 * percentile(latencies, 0.99)


def run_solo(base, token, project_id, cycles) -> dict:
    """One client, claim then submit, sequentially: the latency of each request."""
    claims: list[float] = []
    submits: list[float] = []
    errors: list[str] = []
    barrier = threading.Barrier(1)
    meter = CpuMeter().start()
    started = time.perf_counter()
    client_loop(base, token, project_id, cycles, claims, errors, barrier, submits)
    elapsed = time.perf_counter() - started
    return {
        **meter.stop(len(submits)),
        "claim_p50_ms": 1000 * statistics.median(claims) if claims else float("nan"),
        "claim_p99_ms": p99_ms(claims),
        "submit_p50_ms": 1000 * statistics.median(submits) if submits else float("nan"),
        "submit_p99_ms": p99_ms(submits),
        "cycles_per_s": len(submits) / elapsed,
        "errors": errors,
    }


WARM_UP_CYCLES = 2


def vacuum(*, analyze: bool = False) -> None:
    """What autovacuum does on a running server (it may be off on a test machine's
    PostgreSQL): the dead rows of the phases before cleared (and, after the seeding, planner
    statistics). Without it each phase runs on more dead rows than the one before: one
    client's PostgreSQL CPU per cycle grew from 3.5 to 5.2 to 6.3 ms over three phases, and
    fell back to 4.0 ms after a VACUUM."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"VACUUM {'(ANALYZE) ' if analyze else ''}"
            "annotation_item, annotation_assignment, annotation_annotation"
        )


def run_clients(base, tokens, project_id, cycles, latencies, errors, meter=None) -> float:
    """A client per token, all at once, each `cycles` claim + submit cycles; the seconds from
    the start (when `meter` starts) to the last one's end."""
    barrier = threading.Barrier(len(tokens) + 1)
    threads = [
        threading.Thread(
            target=client_loop,
            args=(base, token, project_id, cycles, latencies, errors, barrier),
        )
        for token in tokens
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    if meter is not None:
        meter.start()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def run_size(base, size, clients, cycles, solo_cycles):
    from django.contrib.auth import get_user_model

    from annotation.models import Membership, Role
    from annotation.services import project_create
    from core.services import token_for

    User = get_user_model()
    lead = User.objects.get_or_create(username="bench-lead")[0]
    project = project_create(
        actor=lead,
        values={
            "name": f"claim bench {size}",
            "annotations_per_item": 2,
            "review_sample_rate": 0,
            "agreement_every": 0,  # the queue alone, not agreement reports run in-process
        },
    )
    started = time.perf_counter()
    copy_item_rows(project.pk, preference_rows(size, f"s{size}"))
    seeded = time.perf_counter() - started
    vacuum(analyze=True)
    tokens, users = [], []
    for i in range(clients + 2):
        user = User.objects.get_or_create(username=f"bench-annotator-{i}")[0]
        Membership.objects.get_or_create(
            project=project, user=user, defaults={"role": Role.ANNOTATOR}
        )
        users.append(user)
        tokens.append(token_for(user=user).key)

    # A running server is warm: every worker thread has its database connection and its
    # prepared statements. A few cycles of all clients at once, not counted, make it so.
    warm_errors: list[str] = []
    run_clients(base, tokens[:clients], project.pk, WARM_UP_CYCLES, [], warm_errors)
    vacuum()
    solo = run_solo(base, tokens[-2], project.pk, solo_cycles)
    latencies: list[float] = []
    errors: list[str] = warm_errors + solo["errors"]
    vacuum()
    meter = CpuMeter()
    elapsed = run_clients(base, tokens[:clients], project.pk, cycles, latencies, errors, meter)
    cpu = meter.stop(len(latencies))
    queries, plan = queries_per_claim(project, users[-1])
    return {
        **cpu,
        "size": size,
        "solo": solo,
        "seeded_s": seeded,
        "cycles": len(latencies),
        "cycles_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": p99_ms(latencies),
        "queries": queries,
        "plan": plan,
        "errors": errors,
        "violations": invariant_violations(project),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--solo-cycles", type=int, default=200, help="one client's cycles")
    workers, threads, keepalive, _worker = shipped_config()
    parser.add_argument("--workers", type=int, default=workers, help="default: the shipped")
    parser.add_argument("--threads", type=int, default=threads, help="default: the shipped")
    parser.add_argument(
        "--keepalive", type=int, default=keepalive, help="seconds; default: the shipped"
    )
    parser.add_argument(
        "--configs",
        default="",
        help="compare gunicorn settings at the first size, e.g. 2x1,3x2,2x2@5,3x2/gthread "
        "(workers x threads, @ keep-alive seconds, / a worker class; default: the shipped "
        "keep-alive and worker class)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --configs (medians)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(
        parser,
        args,
        sizes="200,400",
        clients=4,
        cycles=5,
        workers=2,
        threads=2,
        solo_cycles=10,
        rounds=1,
    )

    with load_average(), bench_database("claim", keep=args.keep) as url:
        if args.configs:
            return compare_configs(args, url)
        return run(args, url)


Config = tuple[int, int, int, str]  # workers, threads, keep-alive seconds, worker class


def shipped_config() -> Config:
    """The workers, threads, keep-alive and worker class config/gunicorn.conf.py ships
    (without the environment's)."""
    import runpy

    names = (
        "WEB_CONCURRENCY",
        "GUNICORN_THREADS",
        "GUNICORN_KEEPALIVE",
        "GUNICORN_WORKER_CLASS",
    )
    saved = {name: os.environ.pop(name, None) for name in names}
    try:
        values = runpy.run_path(os.path.join(ROOT, "config", "gunicorn.conf.py"))
    finally:
        os.environ.update({name: value for name, value in saved.items() if value is not None})
    return values["workers"], values["threads"], values["keepalive"], values["worker_class"]


def parse_config(text: str, shipped: Config) -> Config:
    """Workers, threads, keep-alive and worker class of "2x2", "2x2@5" or "2x2@5/gthread"
    (the shipped keep-alive and worker class when not given)."""
    text, _, worker = text.partition("/")
    sizes, _, seconds = text.partition("@")
    workers, threads = (int(n) for n in sizes.split("x"))
    return workers, threads, int(seconds) if seconds else shipped[2], worker or shipped[3]


def config_name(config: Config) -> str:
    workers, threads, keepalive, worker = config
    name = f"{workers}x{threads}@{keepalive}"
    return name if worker == shipped_config()[3] else f"{name}/{worker}"


def _median_run(runs: list[dict]) -> dict:
    """The median of each figure over the runs; errors and violations of all of them."""

    def median(key, inner=None):
        return statistics.median(r[inner][key] if inner else r[key] for r in runs)

    return {
        "cycles_per_s": median("cycles_per_s"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "busy_cores": None if runs[0]["busy_cores"] is None else median("busy_cores"),
        "solo": {
            k: median(k, "solo")
            for k in (
                "claim_p50_ms",
                "claim_p99_ms",
                "submit_p50_ms",
                "submit_p99_ms",
                "cycles_per_s",
            )
        },
        "errors": [e for r in runs for e in r["errors"]],
        "violations": [v for r in runs for v in r["violations"]],
    }


def compare_configs(args: argparse.Namespace, url: str) -> int:
    size = int(args.sizes.split(",")[0])
    shipped = shipped_config()
    configs = [parse_config(c, shipped) for c in args.configs.split(",")]
    if shipped not in configs:
        configs.insert(0, shipped)
    setup_django(url)
    # Rounds take the settings in turn, so a spell of load elsewhere on the machine falls on
    # all of them; each figure is the median over the rounds.
    runs: dict[Config, list[dict]] = {config: [] for config in configs}
    for _ in range(args.rounds):
        for config in configs:
            workers, threads, keepalive, worker = config
            with gunicorn(
                url, workers=workers, threads=threads, keepalive=keepalive, worker_class=worker
            ) as base:
                found = run_size(base, size, args.clients, args.cycles, args.solo_cycles)
                runs[config].append(found)
                print(
                    f"  {config_name(config)}: one client "
                    f"{found['solo']['cycles_per_s']:.1f} cycles/s; {args.clients} clients "
                    f"{found['cycles_per_s']:.1f} cycles/s, claim p99 {found['p99_ms']:.1f} ms",
                    flush=True,
                )
    results = {config: _median_run(found) for config, found in runs.items()}
    base_result = results[shipped]
    print(
        f"gunicorn settings, {size:,} open items, overlap 2, medians of {args.rounds} round(s): "
        f"{args.clients} clients x {WARM_UP_CYCLES} cycles to warm up, then one client x "
        f"{args.solo_cycles} cycles, then {args.clients} clients x {args.cycles} cycles; "
        f"baseline: the shipped "
        f"{config_name(shipped)} (config/gunicorn.conf.py)"
    )
    n = args.clients
    print(
        f"{'workers x threads @ keep-alive s':>33}{'1: claim p50':>13}{'1: submit p50':>14}"
        f"{'1: p99s':>16}{'1: cycles/s':>12}{f'{n}: cycles/s':>13}{f'{n} / 1':>8}"
        f"{f'{n}: claim p50':>14}"
        f"{f'{n}: claim p99':>14}{f'{n}: busy cores':>16}{'cycles/s vs base':>17}"
        f"{'p99 vs base':>12}"
    )
    problems = 0
    for config, r in results.items():
        solo = r["solo"]
        mark = " *" if config == shipped else "  "
        print(
            f"{config_name(config) + mark:>33}{solo['claim_p50_ms']:>13.1f}"
            f"{solo['submit_p50_ms']:>14.1f}"
            f" {f'{solo["claim_p99_ms"]:.1f} / {solo["submit_p99_ms"]:.1f}':>15}"
            f"{solo['cycles_per_s']:>12.1f}"
            f"{r['cycles_per_s']:>13.1f}{r['cycles_per_s'] / solo['cycles_per_s']:>7.2f}x"
            f"{r['p50_ms']:>14.1f}{r['p99_ms']:>14.1f}{r['busy_cores'] or float('nan'):>16.2f}"
            f"{r['cycles_per_s'] / base_result['cycles_per_s']:>16.2f}x"
            f"{r['p99_ms'] / base_result['p99_ms']:>11.2f}x"
        )
        problems += len(r["errors"]) + len(r["violations"])
    print(
        "(ms; * the shipped settings; 1: one client; p99s: claim / submit; busy cores: the "
        "whole machine's; targets:"
    )
    print(" one client p50 under 6 ms, 32 clients at least 2.5x one client's cycles/s with claim")
    print(" p99 under 250 ms)")
    return 1 if problems else 0


def print_cpu(results: list[dict], clients: int) -> None:
    """Where the CPU goes: busy cores of the whole machine (server, PostgreSQL and this client)
    and CPU ms per cycle, of all and of gunicorn's and PostgreSQL's processes, for one client
    and for all; the ceiling is the cycles/s the machine's cores could give at one client's CPU
    per cycle, as a multiple of one client's cycles/s."""
    if results[0]["busy_cores"] is None:
        print("CPU: /proc/stat unavailable, not measured")
        return
    cores = os.cpu_count()
    print(
        f"CPU of the whole machine ({cores} cores: gunicorn, PostgreSQL and this client), "
        "ms per cycle:"
    )
    print(
        f"{'open items':>12}{'clients':>9}{'busy cores':>12}{'all':>8}{'gunicorn':>10}"
        f"{'PostgreSQL':>12}{'client':>8}{'ceiling':>9}"
    )
    for r in results:
        for n, figures in ((1, r["solo"]), (clients, r)):
            ms = figures["cpu_ms_per_cycle"]
            client = figures["client_cores"] / figures["busy_cores"] * ms
            groups = figures["group_ms_per_cycle"]
            ceiling = f"{cores / figures['busy_cores']:>8.2f}x" if n == 1 else ""
            print(
                f"{r['size']:>12,}{n:>9}{figures['busy_cores']:>12.2f}{ms:>8.2f}"
                f"{groups['gunicorn']:>10.2f}{groups['postgres']:>12.2f}{client:>8.2f}{ceiling}"
            )
    print(
        "(ceiling: the cycles/s the cores could give at one client's CPU per cycle, "
        "as a multiple of one client's)"
    )


def run(args: argparse.Namespace, url: str) -> int:
    sizes = [int(s) for s in args.sizes.split(",")]
    setup_django(url)
    results = []
    with gunicorn(
        url, workers=args.workers, threads=args.threads, keepalive=args.keepalive
    ) as base:
        for size in sizes:
            results.append(run_size(base, size, args.clients, args.cycles, args.solo_cycles))

    print(
        f"claim + submit, {args.clients} concurrent clients x {args.cycles} cycles (after "
        f"{WARM_UP_CYCLES} each to warm the server up, not counted; vacuumed before each "
        f"phase), overlap 2, "
        f"gunicorn {args.workers} workers x {args.threads} threads, keep-alive "
        f"{args.keepalive} s, {shipped_config()[3]}, PostgreSQL"
    )
    print(
        f"{'open items':>12}{'cycles':>8}{'cycles/s':>10}{'claim p50 ms':>14}"
        f"{'claim p99 ms':>14}{'queries/claim':>15}{'violations':>12}"
    )
    for r in results:
        print(
            f"{r['size']:>12,}{r['cycles']:>8}{r['cycles_per_s']:>10.1f}{r['p50_ms']:>14.1f}"
            f"{r['p99_ms']:>14.1f}{r['queries']:>15}{len(r['violations']) + len(r['errors']):>12}"
        )
    print(f"one client, {args.solo_cycles} sequential claim + submit cycles:")
    print(
        f"{'open items':>12}{'claim p50 ms':>14}{'claim p99 ms':>14}{'submit p50 ms':>15}"
        f"{'submit p99 ms':>15}{'cycles/s':>10}"
    )
    for r in results:
        solo = r["solo"]
        print(
            f"{r['size']:>12,}{solo['claim_p50_ms']:>14.1f}{solo['claim_p99_ms']:>14.1f}"
            f"{solo['submit_p50_ms']:>15.1f}{solo['submit_p99_ms']:>15.1f}"
            f"{solo['cycles_per_s']:>10.1f}"
        )
    print_cpu(results, args.clients)
    for r in results:
        print(
            f"{r['size']:,}: {args.clients} clients / one client cycles/s: "
            f"{r['cycles_per_s'] / r['solo']['cycles_per_s']:.2f}x (target: at least 2.5x)"
        )
    if len(results) >= 2:
        first, last = results[0], results[-1]
        print(
            f"p99 ratio {last['size']:,} / {first['size']:,}: "
            f"{last['p99_ms'] / first['p99_ms']:.2f}x (target: within 1.5x); "
            f"p50 ratio {last['p50_ms'] / first['p50_ms']:.2f}x"
        )
    print("claim query plan at the largest size:")
    print(results[-1]["plan"])
    problems = 0
    for r in results:
        for problem in r["errors"] + r["violations"]:
            print(f"  {r['size']:,}: {problem}")
            problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
