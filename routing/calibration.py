"""The calibration report: does a model's stated confidence match how often it is right?

Read from the items that carry a prediction and a human final record (the audit sample and
everything people decided; auto-accepted records are the model's own answer and never count).
A prediction is correct when it equals the human final by its kind's agreement rule
(`ItemKind.prediction_correct`). The figures, all plain numpy:

* accuracy per confidence bin (ten bins of width 0.1, the last one closed) with 95 % Wilson
  intervals and the bin's mean confidence: the reliability diagram;
* expected calibration error, ECE = sum over bins of n_b / n * |accuracy_b - confidence_b|,
  and the Brier score, the mean of (confidence - correct)^2;
* the recommended threshold: the lowest t on a 0.01 grid such that the judged items at or
  above t have an error rate under the project's `calibration_target` and a Wilson upper
  bound under it too, with the share of all predicted items (the traffic) it would
  automate. None below MIN_EVIDENCE judged items, with the reason;
* the current threshold's measured error with its interval, and whether the last
  DRIFT_WINDOW audits drift from it.

Weighting. Items under the auto-accept threshold all reach people; items above it only through
the audit draw, with probability `audit_rate`. An unweighted error rate above a threshold would
over-represent the items under the current one, so each judged item counts with the inverse of
its probability of having been judged (`inclusion_weights`: 1 / audit_rate for an audited
item, 1 for one routed to people): the error rate at or above a threshold (the recommendation
and the current threshold's measured error) is the weighted share of wrong predictions, and
its Wilson interval is taken on the weights' effective sample size (Kish: (sum w)^2 / sum w^2),
while `n` stays the raw count of judged items. The automated share needs no weight: it is read
from every predicted item (a census, `traffic_of`), not from the judged sample. The bins, ECE
and Brier describe the judged items as they are (unweighted).

The weight of an audited item is read from the project's audit rate when the report is built:
an item audited under an earlier rate counts with today's.

Reading. The judged items are aggregated in PostgreSQL into cells of equal (kind, predicted
payload, final payload, audited, confidence bin, threshold grid step, at or above the current
threshold) with their count and the sums of confidence and its square, so Python sees cells,
not items; the kind's rule decides each distinct (kind, predicted, final) once.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, FloatField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Floor

from annotation import kinds
from annotation.models import Item, Project, Route
from core.db import snapshot
from core.version import code_version
from review.models import FinalRecord, Provenance

BINS = 10
GRID = 100  # thresholds 0.00, 0.01, ..., 1.00
MIN_EVIDENCE = 100
DRIFT_WINDOW = 50
Z = 1.959963984540054  # the 97.5th percentile of the normal distribution
# An item is at or above grid threshold t when its confidence >= t - _SLACK (so 0.29 stored
# as 0.28999999999999998 still reaches 0.29).
_SLACK = 1e-12
_GRID_LOWS = [step / GRID - _SLACK for step in range(GRID + 1)]


def wilson(successes: float, n: float, z: float = Z) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion (None, None for n = 0)."""
    if n <= 0:
        return None, None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def weighted_error(
    wrong_weight: float, weight: float, weight_squares: float
) -> tuple[float | None, float | None, float | None, float | None]:
    """(error rate, Wilson low, high, effective sample size) of weighted judged items: the
    weighted share of wrong ones, its interval on Kish's effective n = (sum w)^2 / sum w^2
    (with unit weights: the plain rate and interval on n)."""
    if weight <= 0:
        return None, None, None, None
    n_effective = weight * weight / weight_squares
    value = wrong_weight / weight
    low, high = wilson(wrong_weight * n_effective / weight, n_effective)
    return value, low, high, n_effective


def inclusion_weights(audited: np.ndarray, audit_rate: float) -> np.ndarray:
    """The inverse of each judged item's probability of having been judged: 1 / audit_rate
    for an audited item, 1 for one routed to people. With an audit rate of 0 (audits from an
    earlier rate) the audited items count 1: their rate is no longer known."""
    weight = np.ones(len(audited), dtype=float)
    if audit_rate > 0:
        weight[np.asarray(audited, dtype=bool)] = 1 / audit_rate
    return weight


@dataclass
class Judged:
    """The judged items as arrays, in the order their human finals were written."""

    confidence: np.ndarray  # float, 0..1
    correct: np.ndarray  # bool
    audited: np.ndarray  # bool: routed to the audit sample
    weight: np.ndarray | None = None  # inverse probability of being judged; None: all 1

    def __post_init__(self) -> None:
        if self.weight is None:
            self.weight = np.ones(len(self.confidence), dtype=float)

    @classmethod
    def of(cls, rows: list[tuple[float, bool, bool]], *, audit_rate: float | None = None) -> Judged:
        """From (confidence, correct, audited) rows; with `audit_rate`, weighted by it
        (`inclusion_weights`), else every item counts 1."""
        judged = cls(
            confidence=np.array([r[0] for r in rows], dtype=float),
            correct=np.array([r[1] for r in rows], dtype=bool),
            audited=np.array([r[2] for r in rows], dtype=bool),
        )
        if audit_rate is not None:
            judged.weight = inclusion_weights(judged.audited, audit_rate)
        return judged


@dataclass
class Cells:
    """Judged items aggregated: each cell holds `n` items of one bin, grid step, side of the
    current threshold, correctness and weight, with the sums of their confidences and squares.
    Every figure is a sum over cells, so an item or a thousand alike cost one row."""

    bin: np.ndarray  # int: min(floor(confidence * BINS), BINS - 1)
    step: np.ndarray  # int: the highest grid step s with confidence >= s / GRID - _SLACK
    above: np.ndarray  # bool: confidence >= the current threshold
    correct: np.ndarray  # bool
    weight: np.ndarray  # float, per item of the cell
    n: np.ndarray  # int
    sum_confidence: np.ndarray  # float
    sum_squares: np.ndarray  # float: sum of confidence^2

    @classmethod
    def of_judged(cls, judged: Judged, threshold: float | None) -> Cells:
        """One cell per item."""
        confidence = judged.confidence
        return cls(
            bin=np.minimum((confidence * BINS).astype(int), BINS - 1),
            step=np.searchsorted(np.array(_GRID_LOWS), confidence, side="right") - 1,
            above=(
                confidence >= threshold
                if threshold is not None
                else np.zeros(len(confidence), dtype=bool)
            ),
            correct=judged.correct,
            weight=judged.weight,
            n=np.ones(len(confidence), dtype=np.int64),
            sum_confidence=confidence,
            sum_squares=confidence * confidence,
        )

    @property
    def total(self) -> int:
        return int(self.n.sum())


def bins_of(cells: Cells, bins: int = BINS) -> list[dict[str, Any]]:
    n_per = np.bincount(cells.bin, weights=cells.n, minlength=bins)
    right_per = np.bincount(cells.bin, weights=cells.n * cells.correct, minlength=bins)
    confidence_per = np.bincount(cells.bin, weights=cells.sum_confidence, minlength=bins)
    out = []
    for b in range(bins):
        n, right = int(n_per[b]), int(right_per[b])
        low, high = wilson(right, n)
        out.append(
            {
                "low": round(b / bins, 10),
                "high": round((b + 1) / bins, 10),
                "n": n,
                "accuracy": right / n if n else None,
                "ci_low": low,
                "ci_high": high,
                "mean_confidence": float(confidence_per[b] / n) if n else None,
            }
        )
    return out


def ece_of(bins: list[dict[str, Any]]) -> float | None:
    n = sum(b["n"] for b in bins)
    if not n:
        return None
    return sum(b["n"] / n * abs(b["accuracy"] - b["mean_confidence"]) for b in bins if b["n"])


def brier_of(cells: Cells) -> float | None:
    """Mean of (confidence - correct)^2: per cell, sum c^2 - 2 y sum c + y n."""
    total = cells.total
    if not total:
        return None
    y = cells.correct.astype(float)
    squares = cells.sum_squares - 2 * y * cells.sum_confidence + y * cells.n
    return float(squares.sum() / total)


def _error(mask: np.ndarray, cells: Cells) -> dict[str, Any]:
    n = cells.n[mask]
    w = cells.weight[mask]
    weight = float((w * n).sum())
    value, low, high, n_effective = weighted_error(
        float((w * n * ~cells.correct[mask]).sum()), weight, float((w * w * n).sum())
    )
    return {"value": value, "low": low, "high": high, "n": int(n.sum()), "n_effective": n_effective}


def error_at(cells: Cells) -> dict[str, Any]:
    """The weighted error rate of the judged items at or above the current threshold, its
    Wilson interval on the effective n, the raw n."""
    return _error(cells.above, cells)


def recommend(
    cells: Cells, *, target: float, traffic: np.ndarray
) -> tuple[float | None, float | None, str | None, dict[str, Any] | None]:
    """(threshold, automated share, reason when None, its error). `traffic`: the confidences
    of every predicted item, as counts per 0.01 step (GRID + 1 entries).

    The judged items per grid step, summed from the top: at step s, those at or above s / GRID."""
    n = cells.total
    if n < MIN_EVIDENCE:
        return (
            None,
            None,
            f"Not enough evidence: {n} judged item(s) with a prediction, at least "
            f"{MIN_EVIDENCE} are needed to recommend a threshold.",
            None,
        )

    def from_top(values: np.ndarray) -> np.ndarray:
        per_step = np.bincount(cells.step, weights=values, minlength=GRID + 1)
        return np.cumsum(per_step[::-1])[::-1]

    wrong = ~cells.correct
    raw = from_top(cells.n.astype(float))
    weight = from_top(cells.weight * cells.n)
    squares = from_top(cells.weight * cells.weight * cells.n)
    wrong_weight = from_top(cells.weight * cells.n * wrong)
    wrong_raw = from_top(cells.n * wrong)
    total = traffic.sum()
    for step in range(GRID + 1):
        if raw[step] == 0:
            break
        value, low, high, n_effective = weighted_error(
            float(wrong_weight[step]), float(weight[step]), float(squares[step])
        )
        if value < target and high is not None and high < target:
            share = float(traffic[step:].sum() / total) if total else None
            error = {
                "value": value,
                "low": low,
                "high": high,
                "n": int(raw[step]),
                "n_effective": n_effective,
                "wrong": int(wrong_raw[step]),
            }
            return step / GRID, share, None, error
    return (
        None,
        None,
        f"No threshold keeps the error's 95 % upper bound under the target of {target:g} on "
        f"the {n} judged items: the model is not reliable enough at any confidence, or more "
        "audits are needed.",
        None,
    )


def drift_of(
    recent_correct: np.ndarray, current: dict[str, Any], target: float
) -> dict[str, Any] | None:
    """The last DRIFT_WINDOW audits (correct or not, oldest first) against the current
    threshold's measured error: a warning when their interval lies wholly above it or above
    the target. Audits all have one weight, so their rate is unweighted."""
    recent = recent_correct[-DRIFT_WINDOW:]
    n = len(recent)
    if not n:
        return None
    wrong = int((~recent).sum())
    low, high = wilson(wrong, n)
    drifting = low is not None and (
        low > target or (current.get("high") is not None and low > current["high"])
    )
    return {"n": n, "value": wrong / n, "low": low, "high": high, "drifting": bool(drifting)}


def figures(
    judged: Judged,
    *,
    threshold: float | None,
    target: float,
    audit_rate: float,
    traffic: np.ndarray,
) -> dict[str, Any]:
    """Every figure of a report from the judged items and the traffic histogram (pure)."""
    return figures_of_cells(
        Cells.of_judged(judged, threshold),
        judged.correct[judged.audited],
        threshold=threshold,
        target=target,
        audit_rate=audit_rate,
        traffic=traffic,
    )


def figures_of_cells(
    cells: Cells,
    recent_audits: np.ndarray,
    *,
    threshold: float | None,
    target: float,
    audit_rate: float,
    traffic: np.ndarray,
) -> dict[str, Any]:
    """Every figure from the judged items' cells, the correctness of the last audits (oldest
    first) and the traffic histogram (pure)."""
    bins = bins_of(cells)
    recommended, share, reason, recommended_error = recommend(cells, target=target, traffic=traffic)
    current = (
        error_at(cells)
        if threshold is not None
        else {"value": None, "low": None, "high": None, "n": 0, "n_effective": None}
    )
    warnings = []
    if threshold is not None and audit_rate == 0:
        warnings.append(
            "The audit rate is 0 while auto-acceptance is on: items above the threshold are no "
            "longer judged, so calibration there can no longer be measured."
        )
    drift = drift_of(recent_audits, current, target) if threshold is not None else None
    if drift is not None and drift["drifting"]:
        warnings.append(
            f"The last {drift['n']} audits erred on {drift['value']:.1%} of items (95 % interval "
            f"{drift['low']:.1%}-{drift['high']:.1%}), above the measured error or the target."
        )
    if current["high"] is not None and current["high"] >= target:
        warnings.append(
            f"The current threshold's measured error may exceed the target of {target:.1%} "
            f"(95 % upper bound {current['high']:.1%} on {current['n']} judged items, "
            f"effective n {current['n_effective']:.0f} after weighting by the audit rate)."
        )
    total = int(traffic.sum())
    return {
        "n": cells.total,
        "predicted": total,
        "bins": bins,
        "ece": ece_of(bins),
        "brier": brier_of(cells),
        "recommended_threshold": recommended,
        "recommended_reason": reason,
        "recommended_error": recommended_error,
        "automated_share": share,
        "target": target,
        "threshold": threshold,
        "audit_rate": audit_rate,
        "weighted": bool((cells.weight != 1).any()),
        "current_threshold_error": current,
        "drift": drift,
        "warnings": warnings,
    }


# --- reading a project -------------------------------------------------------------------------


FETCH_CHUNK = 5_000  # cells fetched at once


@dataclass
class Reading:
    cells: Cells
    recent_audits: np.ndarray  # bool, oldest first
    data_sha256: str


def _judged_sql(threshold: float | None) -> tuple[str, str, list[Any]]:
    """The cells query and the last-audits query over the project's judged items."""
    table, items = FinalRecord._meta.db_table, Item._meta.db_table
    judged = f"""
        FROM {table} f JOIN {items} i ON i.id = f.item_id
        WHERE f.project_id = %s AND f.is_current AND f.provenance <> %s
          AND i.prediction IS NOT NULL
    """
    cells = f"""
        SELECT kind, predicted::text, final::text, audited,
               LEAST(floor(c * {BINS})::int, {BINS - 1}), width_bucket(c, %s::float8[]) - 1,
               COALESCE(c >= %s, false),
               count(*), sum(c), sum(c * c), sum(record_id)
        FROM (
            SELECT f.kind, i.prediction->'payload' AS predicted, f.payload AS final,
                   i.route = %s AS audited, (i.prediction->>'confidence')::float8 AS c,
                   f.id AS record_id
            {judged}
        ) judged
        GROUP BY kind, predicted, final, audited, 5, 6, 7
    """  # noqa: S608
    recent = f"""
        SELECT f.kind, (i.prediction->'payload')::text, f.payload::text
        {judged} AND i.route = %s
        ORDER BY f.id DESC
        LIMIT {DRIFT_WINDOW}
    """
    return cells, recent, [_GRID_LOWS, threshold]


def _judged_read(project: Project) -> Reading:
    """The project's judged items as cells, read from one snapshot: PostgreSQL groups them
    (a parallel aggregate: a client cursor, as a declared server-side cursor would rule out a
    parallel plan; what comes back is cells, not items), Python decides each distinct (kind,
    predicted, final) once by the kind's rule. The digest covers each cell with its count and
    the sum of its record ids, and the last audits."""
    if connection.vendor != "postgresql":
        return _judged_read_orm(project)
    cells_sql, recent_sql, extra = _judged_sql(project.auto_accept_above)
    common = [project.pk, Provenance.AUTO.value]
    decided: dict[tuple[str, str, str], bool] = {}

    def correct(kind_name: str, predicted: str, final: str) -> bool:
        key = (kind_name, predicted, final)
        found = decided.get(key)
        if found is None:
            found = decided[key] = kinds.kind_get(kind_name).prediction_correct(
                json.loads(predicted), json.loads(final)
            )
        return found

    rows = []
    with snapshot(), connection.cursor() as cursor:
        cursor.execute(cells_sql, [*extra, Route.AUDIT.value, *common])
        while page := cursor.fetchmany(FETCH_CHUNK):
            rows.extend(page)
        cursor.execute(recent_sql, [*common, Route.AUDIT.value])
        recent_rows = cursor.fetchall()[::-1]
    rows.sort(key=lambda r: r[:7])
    digest = hashlib.sha256()
    for kind_name, predicted, final, audited, b, step, above, n, _, _, records in rows:
        digest.update(f"{kind_name}|{predicted}|{final}|{audited:d}|{b}|{step}|{above:d}|".encode())
        digest.update(f"{n}|{records}\n".encode())
    recent = np.array([correct(*r) for r in recent_rows], dtype=bool)
    digest.update(f"recent:{''.join(str(int(c)) for c in recent)}".encode())
    audited = np.array([r[3] for r in rows], dtype=bool)
    cells = Cells(
        bin=np.array([r[4] for r in rows], dtype=np.int64),
        step=np.array([r[5] for r in rows], dtype=np.int64),
        above=np.array([r[6] for r in rows], dtype=bool),
        correct=np.array([correct(r[0], r[1], r[2]) for r in rows], dtype=bool),
        weight=inclusion_weights(audited, project.audit_rate),
        n=np.array([r[7] for r in rows], dtype=np.int64),
        sum_confidence=np.array([r[8] for r in rows], dtype=float),
        sum_squares=np.array([r[9] for r in rows], dtype=float),
    )
    return Reading(cells=cells, recent_audits=recent, data_sha256=digest.hexdigest())


def _judged_read_orm(project: Project) -> Reading:
    """The same through the ORM (SQLite, the embedded default): one cell per item."""
    digest = hashlib.sha256()
    rows = []
    records = (
        FinalRecord.objects.filter(project=project, is_current=True, item__prediction__isnull=False)
        .exclude(provenance=Provenance.AUTO)
        .order_by("id")
        .values_list("item_id", "kind", "payload", "item__prediction", "item__route")
    )
    for item_id, kind_name, payload, prediction, route in records.iterator(chunk_size=5_000):
        confidence = float(prediction["confidence"])
        correct = kinds.kind_get(kind_name).prediction_correct(prediction["payload"], payload)
        audited = route == Route.AUDIT
        rows.append((confidence, correct, audited))
        digest.update(f"{item_id}:{confidence!r}:{int(correct)}:{int(audited)}\n".encode())
    judged = Judged.of(rows, audit_rate=project.audit_rate)
    return Reading(
        cells=Cells.of_judged(judged, project.auto_accept_above),
        recent_audits=judged.correct[judged.audited],
        data_sha256=digest.hexdigest(),
    )


def traffic_of(project: Project) -> np.ndarray:
    """How many predicted items of the project have each confidence, per 0.01 step."""
    counts = np.zeros(GRID + 1, dtype=np.int64)
    steps = (
        Item.objects.filter(project=project, prediction__isnull=False)
        .annotate(step=Floor(Cast(KT("prediction__confidence"), FloatField()) * GRID))
        .values("step")
        .annotate(n=Count("*"))
        .order_by()
        .values_list("step", "n")
    )
    for step, n in steps:
        counts[min(max(int(step), 0), GRID)] += n
    return counts


def report_compute(*, project: Project) -> dict[str, Any]:
    reading = _judged_read(project)
    traffic = traffic_of(project)
    result = figures_of_cells(
        reading.cells,
        reading.recent_audits,
        threshold=project.auto_accept_above,
        target=project.calibration_target,
        audit_rate=project.audit_rate,
        traffic=traffic,
    )
    auto = Item.objects.filter(project=project, route=Route.AUTO).count()
    total = result["predicted"]
    result["current_automated_share"] = auto / total if total else None
    result["empty"] = (
        None
        if total
        else "No item of this project carries a prediction: import items with "
        '"prediction": {"payload", "confidence"} to measure calibration.'
    )
    result["code_version"] = code_version()
    result["data_sha256"] = reading.data_sha256
    return result
