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
  above t have an error rate whose Wilson upper bound is under the project's
  `calibration_target`, with the share of all predicted items (the traffic) it would
  automate. None below MIN_EVIDENCE judged items, with the reason. The judged items are not
  weighted: below the current threshold every item is judged, above it only the audit
  sample, so the error of a threshold under the current one is over-estimated (the
  recommendation errs on the safe side);
* the current threshold's measured error with its interval, and whether the last
  DRIFT_WINDOW audits drift from it.
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
from core import db
from core.version import code_version
from review.models import FinalRecord, Provenance

BINS = 10
GRID = 100  # thresholds 0.00, 0.01, ..., 1.00
MIN_EVIDENCE = 100
DRIFT_WINDOW = 50
Z = 1.959963984540054  # the 97.5th percentile of the normal distribution


def wilson(successes: float, n: float, z: float = Z) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion (None, None for n = 0)."""
    if n <= 0:
        return None, None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Judged:
    """The judged items as arrays, in the order their human finals were written."""

    confidence: np.ndarray  # float, 0..1
    correct: np.ndarray  # bool
    audited: np.ndarray  # bool: routed to the audit sample

    @classmethod
    def of(cls, rows: list[tuple[float, bool, bool]]) -> Judged:
        return cls(
            confidence=np.array([r[0] for r in rows], dtype=float),
            correct=np.array([r[1] for r in rows], dtype=bool),
            audited=np.array([r[2] for r in rows], dtype=bool),
        )


def bins_of(judged: Judged, bins: int = BINS) -> list[dict[str, Any]]:
    index = np.minimum((judged.confidence * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        right = int(judged.correct[mask].sum())
        low, high = wilson(right, n)
        out.append(
            {
                "low": round(b / bins, 10),
                "high": round((b + 1) / bins, 10),
                "n": n,
                "accuracy": right / n if n else None,
                "ci_low": low,
                "ci_high": high,
                "mean_confidence": float(judged.confidence[mask].mean()) if n else None,
            }
        )
    return out


def ece_of(bins: list[dict[str, Any]]) -> float | None:
    n = sum(b["n"] for b in bins)
    if not n:
        return None
    return sum(b["n"] / n * abs(b["accuracy"] - b["mean_confidence"]) for b in bins if b["n"])


def brier_of(judged: Judged) -> float | None:
    if not len(judged.confidence):
        return None
    return float(np.mean((judged.confidence - judged.correct.astype(float)) ** 2))


def error_at(judged: Judged, threshold: float) -> dict[str, Any]:
    """The error rate of the judged items at or above `threshold`, Wilson interval, n."""
    mask = judged.confidence >= threshold
    n = int(mask.sum())
    wrong = int((~judged.correct[mask]).sum())
    low, high = wilson(wrong, n)
    return {"value": wrong / n if n else None, "low": low, "high": high, "n": n}


def recommend(
    judged: Judged, *, target: float, traffic: np.ndarray
) -> tuple[float | None, float | None, str | None]:
    """(threshold, automated share, reason when None). `traffic`: the confidences of every
    predicted item, as counts per 0.01 step (GRID + 1 entries)."""
    n = len(judged.confidence)
    if n < MIN_EVIDENCE:
        return (
            None,
            None,
            f"Not enough evidence: {n} judged item(s) with a prediction, at least "
            f"{MIN_EVIDENCE} are needed to recommend a threshold.",
        )
    order = np.argsort(judged.confidence)
    sorted_conf = judged.confidence[order]
    wrong_cum = np.cumsum((~judged.correct[order])[::-1])[::-1]  # wrong at index and above
    total = traffic.sum()
    for step in range(GRID + 1):
        t = step / GRID
        first = int(np.searchsorted(sorted_conf, t - 1e-12, side="left"))
        above = n - first
        if above == 0:
            break
        wrong = int(wrong_cum[first])
        _, high = wilson(wrong, above)
        if wrong / above < target and high is not None and high < target:
            share = float(traffic[step:].sum() / total) if total else None
            return t, share, None
    return (
        None,
        None,
        f"No threshold keeps the error's 95 % upper bound under the target of {target:g} on "
        f"the {n} judged items: the model is not reliable enough at any confidence, or more "
        "audits are needed.",
    )


def drift_of(judged: Judged, current: dict[str, Any], target: float) -> dict[str, Any] | None:
    """The last DRIFT_WINDOW audits against the current threshold's measured error: a warning
    when their interval lies wholly above it or above the target."""
    recent = np.flatnonzero(judged.audited)[-DRIFT_WINDOW:]
    n = len(recent)
    if not n:
        return None
    wrong = int((~judged.correct[recent]).sum())
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
    bins = bins_of(judged)
    recommended, share, reason = recommend(judged, target=target, traffic=traffic)
    current = (
        error_at(judged, threshold)
        if threshold is not None
        else {"value": None, "low": None, "high": None, "n": 0}
    )
    warnings = []
    if threshold is not None and audit_rate == 0:
        warnings.append(
            "The audit rate is 0 while auto-acceptance is on: items above the threshold are no "
            "longer judged, so calibration there can no longer be measured."
        )
    drift = drift_of(judged, current, target) if threshold is not None else None
    if drift is not None and drift["drifting"]:
        warnings.append(
            f"The last {drift['n']} audits erred on {drift['value']:.1%} of items (95 % interval "
            f"{drift['low']:.1%}-{drift['high']:.1%}), above the measured error or the target."
        )
    if current["high"] is not None and current["high"] >= target:
        warnings.append(
            f"The current threshold's measured error may exceed the target of {target:.1%} "
            f"(95 % upper bound {current['high']:.1%} on {current['n']} judged items)."
        )
    total = int(traffic.sum())
    return {
        "n": len(judged.confidence),
        "predicted": total,
        "bins": bins,
        "ece": ece_of(bins),
        "brier": brier_of(judged),
        "recommended_threshold": recommended,
        "recommended_reason": reason,
        "automated_share": share,
        "target": target,
        "threshold": threshold,
        "audit_rate": audit_rate,
        "current_threshold_error": current,
        "drift": drift,
        "warnings": warnings,
    }


# --- reading a project -------------------------------------------------------------------------


_PAGE = 20_000


def _judged_rows(project: Project) -> tuple[list[tuple[float, bool, bool]], str]:
    """(confidence, correct, audited) per item with a prediction and a human final, in the
    order the finals were written, and the sha256 of those rows.

    Read a page at a time by record id (keyset), the payloads as JSON text: correctness is
    decided once per distinct (kind, predicted payload, final payload), so the many items
    that share a pair (a preference's few ratings, a refusal's decisions) cost a dict lookup
    instead of two JSON decodes and the kind's rule."""
    if connection.vendor != "postgresql":
        return _judged_rows_orm(project)
    table, items = FinalRecord._meta.db_table, Item._meta.db_table
    sql = f"""
        SELECT f.id, f.item_id, f.kind, (i.prediction->>'confidence')::float,
               (i.prediction->'payload')::text, f.payload::text, i.route = %s
        FROM {table} f JOIN {items} i ON i.id = f.item_id
        WHERE f.project_id = %s AND f.is_current AND f.provenance <> %s
          AND i.prediction IS NOT NULL AND f.id > %s
        ORDER BY f.id
        LIMIT %s
    """  # noqa: S608  (table names from the models; values are parameters)
    digest = hashlib.sha256()
    rows: list[tuple[float, bool, bool]] = []
    decided: dict[tuple[str, str, str], bool] = {}
    last = 0
    while True:
        page = db.fetch_all(
            sql, [Route.AUDIT.value, project.pk, Provenance.AUTO.value, last, _PAGE]
        )
        lines = []
        for record_id, item_id, kind_name, confidence, predicted, final, audited in page:
            key = (kind_name, predicted, final)
            correct = decided.get(key)
            if correct is None:
                correct = decided[key] = kinds.kind_get(kind_name).prediction_correct(
                    json.loads(predicted), json.loads(final)
                )
            audited = bool(audited)
            rows.append((float(confidence), correct, audited))
            lines.append(f"{item_id}:{confidence!r}:{int(correct)}:{int(audited)}\n")
            last = record_id
        digest.update("".join(lines).encode())
        if len(page) < _PAGE:
            return rows, digest.hexdigest()


def _judged_rows_orm(project: Project) -> tuple[list[tuple[float, bool, bool]], str]:
    """The same rows through the ORM (SQLite, the embedded default)."""
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
    return rows, digest.hexdigest()


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
    rows, data_sha256 = _judged_rows(project)
    traffic = traffic_of(project)
    result = figures(
        Judged.of(rows),
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
    result["data_sha256"] = data_sha256
    return result
