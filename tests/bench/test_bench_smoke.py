"""Every script under bench/ in smoke mode (`--smoke`: tiny sizes, few repetitions), so that the
benches cannot rot: each must seed, measure, run its baseline and print its figures.

Each bench runs as a subprocess, as from a shell, in PostgreSQL databases of its own named after
this test run's database (`rubric_bench_<test database>_<bench>`), which it drops; whatever a
failed or killed run leaves behind is dropped here, and its processes (a gunicorn) are killed."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300  # seconds per bench; each takes 2 to 15 s on an idle 2-core machine (the soak 60)
NUMBER = r"[\d,]+(?:\.\d+)?"

# The figure lines each bench must print, as regular expressions matched against whole lines.
FIGURES = {
    "import": [
        rf"REST API, 1 client\(s\) +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"REST API, 2 client\(s\) +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"REST API re-push, all unchanged +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"psycopg COPY \(floor\) +{NUMBER} +{NUMBER} +1\.00",
    ],
    "claim": [
        # size, cycles (4 clients x 5), cycles/s, p50, p99, queries per claim, 0 violations
        rf" +200 +20 +{NUMBER} +{NUMBER} +{NUMBER} +\d+ +0",
        rf" +400 +20 +{NUMBER} +{NUMBER} +{NUMBER} +\d+ +0",
        rf"p99 ratio 400 / 200: {NUMBER}x .*; p50 ratio {NUMBER}x",
        r"one client, 10 sequential claim \+ submit cycles:",
        # claim p50 and p99, submit p50 and p99, cycles/s
        rf" +200 +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}",
        # where the CPU went: busy cores, CPU ms per cycle (all, gunicorn, PostgreSQL, the
        # client) for one client (and the ceiling it puts on the ratio) and for all four
        rf" +200 +1 +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}x",
        rf" +400 +4 +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"400: 4 clients / one client cycles/s: {NUMBER}x \(target: at least 2\.5x\)",
        r"claim query plan at the largest size:",
        r".*Execution Time: [\d.]+ ms",
    ],
    # The gunicorn settings compared: the shipped ones (the baseline, marked) and the others,
    # each with its keep-alive (either may be the shipped one: then it is the marked line) and
    # worker class (gunicorn's own named). One client's p50s, p99s, cycles/s; 4 clients'
    # cycles/s, ratio, p50, p99, busy cores; against the baseline.
    "claim --configs 1x1,3x1@5/gthread": [
        r"gunicorn settings, 200 open items, overlap 2, medians of 1 round\(s\): .*; "
        r"baseline: the shipped \d+x\d+@\d+ .*",
        rf" +\d+x\d+@\d+ \* +{NUMBER} +{NUMBER} +{NUMBER} / {NUMBER} +{NUMBER} +{NUMBER}"
        rf" +{NUMBER}x +{NUMBER} +{NUMBER} +{NUMBER} +1\.00x +1\.00x",
        *(
            rf" +{config}(?: \*)? +{NUMBER} +{NUMBER} +{NUMBER} / {NUMBER} +{NUMBER} +{NUMBER}"
            rf" +{NUMBER}x +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}x +{NUMBER}x"
            for config in (r"1x1@\d+", "3x1@5/gthread")
        ),
    ],
    "backlog": [
        *(
            pattern
            for state in ("from before the annotating", "after an ANALYZE")
            for pattern in (
                rf"planner statistics {state}:",
                rf"  claim statement \(EXPLAIN ANALYZE\) +{NUMBER} +{NUMBER} +{NUMBER}x",
                rf"  baseline: ORM queue scan of before +{NUMBER} +{NUMBER} +{NUMBER}x",
                rf"  claim through the service \(in process\) +{NUMBER} +{NUMBER} +{NUMBER}x",
                rf"  claim at 1,000 own waiting / at 0: {NUMBER}x \(target: within 1\.5x: "
                rf"(met|MISSED)\); baseline {NUMBER}x",
            )
        ),
        r".*Execution Time: [\d.]+ ms",
    ],
    "agreement_alpha": [
        rf"ours +interval +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +-?0\.\d+",
        rf"ours-rows +nominal +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +-?0\.\d+",
        r"baseline krippendorff: unavailable \(smoke mode\)",
        r" +ours-rows +interval +cold .* \|alpha difference\| .*",
        r"alphas agree to within 1e-06",
    ],
    "agreement_report": [
        # annotations, seconds, COPY seconds, ratio to COPY, peak MB, growth MB, alpha
        rf" +300 +{NUMBER} +{NUMBER} +{NUMBER}x +{NUMBER} +{NUMBER} +-?0\.\d+",
        rf" +1,000 +{NUMBER} +{NUMBER} +{NUMBER}x +{NUMBER} +{NUMBER} +-?0\.\d+",
        rf"1,000 / 300: time x{NUMBER}, peak RSS x{NUMBER}, .*",
        r"target < 30 s at 1,000: (met|MISSED)",
    ],
    "export": [
        rf" +100 export_build \(worker path\) +{NUMBER} +{NUMBER} +{NUMBER}",
        rf" +COPY \.\.\. TO STDOUT \(floor\) +{NUMBER} +{NUMBER} +{NUMBER}",
        rf" +COPY of the export SELECT +{NUMBER} +{NUMBER}",
        rf" +export/COPY time {NUMBER}x \(export/COPY of its own SELECT {NUMBER}x\); "
        rf"file {NUMBER} MB, 200 records, sha256 [0-9a-f]{{12}}; RSS before the export {NUMBER} MB",
        rf"peak RSS 200 / 100: {NUMBER}x",
    ],
    "dashboard": [
        rf"dashboard page +{NUMBER} \( *{NUMBER}\) +{NUMBER} \( *{NUMBER}\) +{NUMBER}x .*",
        rf"dashboard API +{NUMBER} \( *{NUMBER}\) +{NUMBER} \( *{NUMBER}\) +{NUMBER}x .*",
        rf"items search +{NUMBER} \( *{NUMBER}\) +{NUMBER} \( *{NUMBER}\) +{NUMBER}x .*",
        r"target: dashboard pages under 300 ms at 200 items and within 2x of 100 items",
    ],
    "search": [
        rf" +2,000  prompt word +1 +{NUMBER} +\S+ +{NUMBER} +seq +{NUMBER}x",
        rf" +4,000  response word +1 +{NUMBER} +\S+ +{NUMBER} +seq +{NUMBER}x",
        rf" +4,000  external_id prefix +100 +{NUMBER} +\S+ +{NUMBER} +seq +{NUMBER}x",
        r"target: no seq plan and under 100 ms at 4,000 items: (met|MISSED)",
    ],
    "evaluation": [
        r"evaluation report: 2,000 rubric annotations, 1,000 comparisons, 8 models .*",
        rf"  report build \(worker path\) +{NUMBER} +{NUMBER}",
        rf"  COPY \.\.\. TO STDOUT \(floor\) +{NUMBER}",
        rf"  report/COPY time {NUMBER}x; 1,000 items, 1,000 comparisons, 8 models, .*",
        r"target < 15 s and < 300 MB at 2,000 annotations: (met|MISSED)",
    ],
    "soak": [
        r"soak: \d+ s, 4 annotators \+ 2 reviewers \+ 2 leads .*",
        r"faults: worker SIGKILL at .*; redis-server SIGKILL at .*, back \(empty\) at .*; "
        r"\d+ PostgreSQL connections terminated at .*; gunicorn worker \d+ SIGKILL at .*",
        rf"baseline \(calm\) +{NUMBER} +{NUMBER} +{NUMBER} +.* +1\.00x",
        rf"Redis down +{NUMBER} +{NUMBER} +{NUMBER} +.* +{NUMBER}x",
        rf"whole run +{NUMBER} +{NUMBER} +{NUMBER} +.* +{NUMBER}x",
        rf"submit +{NUMBER} +{NUMBER} +{NUMBER}  (200: [\d,]+, )?201: .*",
        r"errors by status: .*",
        rf"jobs: .*; settled {NUMBER} s after the clients stopped; worker started 2 times",
        r"invariants, submits: ok",
        r"invariants, overlap: ok",
        r"invariants, counters: ok",
        r"invariants, jobs: ok",
    ],
    "routing": [
        rf"import without predictions \(baseline\) +{NUMBER} +{NUMBER} +1\.00",
        rf"import with predictions, routed +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"routed: {NUMBER} auto, {NUMBER} audit, {NUMBER} human; {NUMBER} human finals "
        rf"simulated; {NUMBER} items marked disputed",
        rf"calibration report \(worker path\) {NUMBER} s over {NUMBER} judged of 2,000 .*",
        rf"priority \(baseline\) +40 +{NUMBER} +{NUMBER} +1\.00",
        rf"uncertainty +40 +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"disagreement +40 +{NUMBER} +{NUMBER} +{NUMBER}",
        r"targets: import within 1\.3x \((met|MISSED)\), report under 5 s \((met|MISSED)\), "
        r"uncertainty claim p50 within 1\.2x \((met|MISSED)\), disagreement claim p50 within "
        r"1\.2x \((met|MISSED)\)",
    ],
    "hygiene": [
        rf"  MinHash LSH \+ exact Jaccard >= 0\.8 +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"  exact duplicates \(baseline\) +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"  near/exact time {NUMBER}x; recall of the {NUMBER} planted pairs at Jaccard >= 0\.8: "
        rf"{NUMBER}; {NUMBER} candidate pairs",
        r"target < 60 s and < 1,000 MB at 2,000 prompts: (met|MISSED)",
        r"  export_build \(database to stored file\)",
        r"  format and write only \(records in memory\)",
        rf"    without the scan \(baseline\) +{NUMBER} +{NUMBER} +1\.00",
        rf"    with the scan +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"    with the scan, redacting +{NUMBER} +{NUMBER} +{NUMBER}",
        r"  findings: CARD \d+, EMAIL \d+, PHONE \d+",
        r"target: the scan adds < 50% to the export's time: (met|MISSED) \([+-]\d+%\)",
    ],
    "webhooks": [
        rf"  endpoint off \(baseline\) +{NUMBER} +{NUMBER}",
        rf"  one endpoint on, item\.approved +{NUMBER} +{NUMBER}",
        rf"added by webhooks: p50 [+-]{NUMBER} ms \(x{NUMBER} of the baseline\); "
        r"target < 1 ms: (met|MISSED)",
        r"deliveries: 100 approvals, 100 received, 0 duplicates, 0 missing, 100 marked delivered",
        rf"commit to receipt \(40 approvals, .*\): p50 {NUMBER} ms, p99 {NUMBER} ms .*",
    ],
}
# Printed first and last by every bench (_support.load_average).
LOAD = r"load average at {}: (\d+\.\d\d \d+\.\d\d \d+\.\d\d \(1, 5, 15 min; \d+ CPUs\)|unavailable)"


def _url(name: str) -> str:
    database = connection.settings_dict
    return (
        f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
        f"{database['PORT'] or 5432}/{name}"
    )


def _drop_databases(prefix: str) -> list[str]:
    import psycopg

    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        names = [
            name
            for (name,) in admin.execute("SELECT datname FROM pg_database").fetchall()
            if name.startswith(prefix)
        ]
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return names


@pytest.fixture
def bench_env(require_postgres):
    """The environment of a bench run: its databases are named after this run's test database
    (two test runs never share one); no Redis, so that tasks run in-process as the benches
    expect, and the settings a shell would give (not the test settings)."""
    base = f"rubric_bench_{connection.settings_dict['NAME']}"[:45]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL", "RUBRIC_CELERY_QUEUE"}
    }
    env["DATABASE_URL"] = _url(base)
    _drop_databases(f"{base}_")
    yield env
    left = _drop_databases(f"{base}_")
    assert not left, f"the bench left its databases behind: {left}"


def _command(name: str) -> str:
    script, *options = name.split()
    return " ".join([f"bench/{script}.py", "--smoke", *options])


def run_bench(name: str, env: dict[str, str]) -> tuple[int, str, float]:
    """Run bench/NAME.py --smoke (NAME may carry more options after a space) in a process
    group of its own; kill the group if it hangs or leaves processes behind."""
    started = time.monotonic()
    script, *options = name.split()
    process = subprocess.Popen(
        [sys.executable, f"bench/{script}.py", "--smoke", *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the bench stops its servers, drops databases
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        pytest.fail(f"{_command(name)} took over {TIMEOUT} s:\n{output}")
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        pass  # nothing left in the group
    else:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"{_command(name)} left processes running:\n{output}")
    return process.returncode, output, time.monotonic() - started


@pytest.mark.parametrize("name", list(FIGURES))
def test_bench_runs_in_smoke_mode_and_prints_its_figures(name, bench_env):
    code, output, seconds = run_bench(name, bench_env)

    assert code == 0, f"{_command(name)} exited {code} after {seconds:.0f} s:\n{output}"
    lines = output.splitlines()
    for pattern in [LOAD.format("start"), *FIGURES[name], LOAD.format("end")]:
        assert any(re.fullmatch(pattern, line) for line in lines), (
            f"no line matches {pattern!r} in the output of {_command(name)}:\n{output}"
        )
