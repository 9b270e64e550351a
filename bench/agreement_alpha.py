"""Benchmark: agreement.engine's Krippendorff's alpha vs the `krippendorff` PyPI package.

Usage:
    python bench/agreement_alpha.py           # 1,000,000 units x 5 annotators, 7 values
    python bench/agreement_alpha.py --units 20000   # a quicker run
    python bench/agreement_alpha.py --smoke   # 2,000 units, one warm run, no baseline: seconds

Each measurement runs in a fresh subprocess of this script (``--worker``), so one run's memory
cannot inflate another's peak. Inside the worker the data is generated and the inputs prepared
first; then

* cold s  = wall-clock time of the first call (what a Celery task calling once will see:
            includes first-touch page faults of freshly mapped memory),
* warm s  = best of ``--repeat`` further calls,
* peak MB = tracemalloc peak of one more call (numpy reports its buffers to tracemalloc),
* RSS MB  = growth of the peak resident set size during the cold call over the resident size
            just before it (the kernel's peak is reset through /proc/self/clear_refs on Linux;
            elsewhere ru_maxrss is used, which cannot see growth below earlier peaks).

The `krippendorff` package is GPL-3.0: it is a benchmark-only baseline, never a project
dependency, and agreement/engine.py neither imports nor derives from it. In smoke mode,
and whenever the package is missing, the bench runs its own side only, says that the baseline
is unavailable and compares the streamed path with the in-memory one instead.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _support import add_smoke_option, apply_smoke, load_average

REPO_ROOT = Path(__file__).resolve().parents[1]
LEVELS = ("interval", "nominal")
IMPLEMENTATIONS = ("ours", "ours-rows", "krippendorff")
ROWS_CHUNK = 100_000  # annotation rows per chunk in the streamed (database-like) path
AGREEMENT_TOLERANCE = 1e-6


def generate(units: int, coders: int, n_values: int, missing: float, seed: int) -> np.ndarray:
    """Coders x units ratings 1..n_values with NaN for missing; row by row to keep peaks low.

    Each unit has a "true" value and annotators deviate from it by -1/0/+1 at random, so alpha
    is clearly positive rather than ~0 as with independent uniform ratings.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, n_values + 1, size=units)
    data = np.empty((coders, units), dtype=np.float64)
    for coder in range(coders):
        noise = rng.integers(-1, 2, size=units) * (rng.random(units) < 0.5)
        data[coder] = np.clip(truth + noise, 1, n_values)
        data[coder, rng.random(units) < missing] = np.nan
    return data


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / 1e6  # reported in kB
    except OSError:
        return None
    return None


def reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark if possible; return the baseline to measure from, MB."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # Linux >= 4.0: reset VmHWM (and ru_maxrss) to current RSS
    except OSError:
        return peak_rss()
    current = _proc_status_mb("VmRSS")
    return current if current is not None else peak_rss()


def peak_rss() -> float:
    """Peak resident set size in MB (VmHWM on Linux, else ru_maxrss)."""
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, kB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def make_runner(impl: str, level: str, data: np.ndarray) -> Callable[[], float]:
    """A zero-argument callable computing alpha; inputs are prepared before measuring."""
    if impl == "krippendorff":
        import krippendorff  # GPL-3.0, benchmark baseline only

        return lambda: float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))

    sys.path.insert(0, str(REPO_ROOT))
    from agreement.engine import CoincidenceAccumulator, alpha_from_reliability_data

    if impl == "ours":
        return lambda: alpha_from_reliability_data(data, level).alpha

    # ours-rows: (unit_id, value) rows ordered by unit, as a database cursor would yield them.
    present = ~np.isnan(data.T)
    unit_ids = np.broadcast_to(np.arange(data.shape[1]), data.shape).T[present]
    labels = data.T[present]
    values = np.unique(labels).tolist()

    def streamed() -> float:
        acc = CoincidenceAccumulator(values, level)
        for start in range(0, len(unit_ids), ROWS_CHUNK):
            stop = start + ROWS_CHUNK
            acc.add_rows(unit_ids[start:stop], labels[start:stop])
        return acc.result().alpha

    return streamed


def worker(args: argparse.Namespace) -> None:
    data = generate(args.units, args.coders, args.values, args.missing, args.seed)
    run = make_runner(args.impl, args.level, data)
    gc.collect()
    baseline = reset_peak_rss()
    start = time.perf_counter()
    alpha = run()
    cold = time.perf_counter() - start
    rss_growth = peak_rss() - baseline
    warm = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        run()
        warm.append(time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    report = {"cold": cold, "warm": min(warm, default=cold), "peak_mb": peak}
    print(json.dumps(report | {"rss_mb": rss_growth, "alpha": alpha}))


def measure(impl: str, level: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        impl,
        level,
        f"--units={args.units}",
        f"--coders={args.coders}",
        f"--values={args.values}",
        f"--missing={args.missing}",
        f"--seed={args.seed}",
        f"--repeat={args.repeat}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{impl} {level} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(args: argparse.Namespace) -> int:
    with load_average():
        return compare(args)


def compare(args: argparse.Namespace) -> int:
    if args.smoke:
        missing = "smoke mode"
    elif importlib.util.find_spec("krippendorff") is None:
        missing = (
            "not installed; pip install krippendorff for the benchmark only: it is GPL-3.0, "
            "never a project dependency"
        )
    else:
        missing = ""
    implementations = [impl for impl in IMPLEMENTATIONS if impl != "krippendorff" or not missing]
    print(
        f"{args.units:,} units x {args.coders} annotators, {args.values} values, "
        f"{args.missing:.0%} missing, seed {args.seed}; warm = best of {args.repeat} runs; "
        f"numpy {np.__version__}, Python {sys.version.split()[0]}\n"
    )
    results = {
        (impl, level): measure(impl, level, args) for level in LEVELS for impl in implementations
    }

    header = (
        f"{'implementation':<14} {'level':<9} {'cold s':>7} {'warm s':>7} {'peak MB':>8} "
        f"{'RSS MB':>8}  alpha"
    )
    print(header)
    print("-" * len(header))
    for (impl, level), r in results.items():
        print(
            f"{impl:<14} {level:<9} {r['cold']:7.3f} {r['warm']:7.3f} {r['peak_mb']:8.1f} "
            f"{r['rss_mb']:8.1f}  {r['alpha']:.12f}"
        )

    if missing:
        print(f"\nbaseline krippendorff: unavailable ({missing})")
        print("ratios ours-rows / ours instead (the streamed path beside the in-memory one)")
        reference, compared = "ours", ("ours-rows",)
    else:
        print("\nratios ours / krippendorff (lower is better; target: time < 1, memory <= 0.2)")
        reference, compared = "krippendorff", ("ours", "ours-rows")
    all_agree = True
    for level in LEVELS:
        theirs = results[(reference, level)]
        for impl in compared:
            ours = results[(impl, level)]
            difference = abs(ours["alpha"] - theirs["alpha"])
            all_agree &= difference <= AGREEMENT_TOLERANCE
            ratios = "  ".join(
                f"{key} {ours[key] / max(theirs[key], 1e-9):.3f}"
                for key in ("cold", "warm", "peak_mb", "rss_mb")
            )
            print(f"  {impl:<10} {level:<9} {ratios}  |alpha difference| {difference:.1e}")
    verdict = "agree" if all_agree else "DISAGREE"
    print(f"\nalphas {verdict} to within {AGREEMENT_TOLERANCE:g}")
    return 0 if all_agree else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--coders", type=int, default=5)
    parser.add_argument("--values", type=int, default=7, help="ratings are 1..VALUES")
    parser.add_argument("--missing", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=20_240_601)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--worker", nargs=2, metavar=("IMPL", "LEVEL"), help="internal: measure one run"
    )
    add_smoke_option(parser)
    args = parser.parse_args()
    apply_smoke(parser, args, units=2_000, repeat=1)
    if args.worker:
        args.impl, args.level = args.worker
        if args.impl not in IMPLEMENTATIONS or args.level not in LEVELS:
            parser.error(f"--worker takes one of {IMPLEMENTATIONS} and one of {LEVELS}")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        worker(arguments)
    else:
        sys.exit(main(arguments))
