"""Writing evaluation reports: request one, build it (a worker), fail it.

A report is built like an agreement report: (1) marked ``running`` and committed, (2) read
(:mod:`evaluation.reader`) and computed (:mod:`evaluation.stats`) in memory without writing,
(3) stored with ``done`` in one transaction. A killed worker leaves it ``running``; the broker
redelivers the message (``acks_late``) and the build starts over.

What a report holds (the API's serializer describes it): per model the mean score of each
criterion with a 95 % bootstrap interval (items resampled, a fixed seed), the pass rate with a
Wilson interval and n; win / tie / loss counts per pair of models from comparisons and
Bradley-Terry strengths with bootstrap intervals; the spread of a model's scores within each
group of items and where its pass/fail changed; the per-model table by tag; the annotators'
reliability per criterion (Krippendorff's alpha, agreement.engine) with a warning below
0.667; the rubric version each criterion comes from; the code version and the sha256 of the
data read.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection, transaction

from agreement.engine import CoincidenceAccumulator
from agreement.reader import snapshot
from annotation import kinds
from annotation.models import Project
from core import jsonutil, outbox
from core.audit import audit_record
from core.errors import ApplicationError
from core.report_jobs import report_build
from core.version import code_version
from evaluation import reader, stats
from evaluation.models import REPORT_TASK, EvaluationReport
from evaluation.reader import Filters
from evaluation.selectors import evaluation_report_active

logger = logging.getLogger(__name__)

MAX_FILTER = 64
RELIABILITY_THRESHOLD = 0.667  # Krippendorff's lowest acceptable alpha for tentative conclusions
MAX_CONSISTENCY_ROWS = 2_000  # the (model, group) rows kept, most inconsistent first
MAX_CHANGED_GROUPS = 200  # groups listed per model where its pass/fail changed
MAX_TAGS = 50  # the most frequent tags get a table each


# --- requesting ------------------------------------------------------------------------------


def evaluation_filters_clean(
    *, split: Any = None, tag: Any = None, category: Any = None
) -> Filters:
    errors = []
    split = split or "all"
    if split not in reader.SPLITS:
        errors.append({"field": "split", "message": f"One of {', '.join(reader.SPLITS)}."})
    for name, value in (("tag", tag), ("category", category)):
        if value not in (None, "") and (not isinstance(value, str) or len(value) > MAX_FILTER):
            errors.append({"field": name, "message": f"Text of at most {MAX_FILTER} characters."})
    if errors:
        raise ApplicationError(
            f"Invalid filter: {errors[0]['field']}: {errors[0]['message']}", {"errors": errors}
        )
    return Filters(split=split, tag=tag or None, category=category or None)


def evaluation_report_request(
    *, project: Project, actor: Any, filters: Filters | None = None
) -> EvaluationReport:
    """Queue a report and its job (through the outbox). While one with the same filters is
    queued or running, that one is returned instead of a second."""
    filters = filters or Filters()
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
        active = evaluation_report_active(project=project, filters=filters.as_dict())
        if active is not None:
            return active
        report = EvaluationReport.objects.create(
            project=project,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            filters=filters.as_dict(),
        )
        audit_record(
            actor=actor,
            action="evaluation_report.request",
            obj=report,
            project=project,
            after={"status": report.status, "filters": report.filters},
        )
        # Recorded with the report; the outbox hands it to a worker once this commits (at
        # once, or when the task queue is back: the report waits, queued).
        outbox.enqueue(REPORT_TASK, key=report.outbox_key, report_id=report.pk)
    if not connection.in_atomic_block:
        report.refresh_from_db()  # tasks running in-process may have finished it already
    return report


def evaluation_report_requeued(reason: str, *, report_id: int) -> None:
    """The outbox hands a report whose worker stopped back to the queue: queued again."""
    outbox.record_requeued(EvaluationReport, report_id)


def evaluation_report_give_up(reason: str, *, report_id: int) -> None:
    """The outbox gave up on the report (its worker kept dying, or the database stayed away)."""
    evaluation_report_fail(report_id=report_id, error=reason)


def evaluation_report_fail(*, report_id: int, error: str) -> None:
    outbox.record_fail(EvaluationReport, report_id, error, action="evaluation_report.fail")


def evaluation_report_build(*, report_id: int) -> EvaluationReport:
    """Compute and store the report. Safe to run again after a crash, and to run twice."""
    return report_build(
        EvaluationReport,
        report_id=report_id,
        compute=lambda report: evaluation_compute(
            project=report.project, filters=Filters.of(report.filters)
        ),
        action="evaluation_report.done",
    )


# --- computing -------------------------------------------------------------------------------


@dataclass
class _Criterion:
    """A criterion as a report keys it: its name, unless one name had different scales in
    different rubric versions (then `name (vN)` per version)."""

    key: str
    name: str
    scale: Any
    description: str
    versions: list[int] = field(default_factory=list)

    @property
    def pass_fail(self) -> bool:
        return not isinstance(self.scale, dict)


class _Rubric:
    """The criteria of every version of a kind's rubric, and which version a record is of."""

    def __init__(self, versions: list[reader.Version]) -> None:
        self.versions = versions
        scales: dict[str, set[str]] = defaultdict(set)
        for version in versions:
            for c in version.criteria:
                scales[c["name"]].add(jsonutil.dumps(c.get("scale"), sort_keys=True).decode())
        self.by_version: dict[int, dict[str, _Criterion]] = {}
        self.criteria: dict[str, _Criterion] = {}
        for version in versions:
            mapping = {}
            for c in version.criteria:
                name = c["name"]
                key = name if len(scales[name]) == 1 else f"{name} (v{version.version})"
                criterion = self.criteria.setdefault(
                    key, _Criterion(key, name, c.get("scale"), c.get("description", ""))
                )
                criterion.versions.append(version.version)
                mapping[name] = criterion
            self.by_version[version.version] = mapping

    def version_at(self, when: Any) -> int:
        """The version that held at a moment (a reviewer's final is written under it)."""
        held = self.versions[0].version
        for version in self.versions:
            if version.since is not None and version.since <= when:
                held = version.version
        return held


def _hash_row(digest: Any, row: Any) -> None:
    digest.update(jsonutil.dumps(row, sort_keys=True))
    digest.update(b"\n")


def _model_table(
    rows: list[tuple[str, dict[str, Any]]],
    criteria: dict[str, _Criterion],
    seed: int,
    resamples: int,
) -> list[dict[str, Any]]:
    """Per model: n, each criterion's mean with its bootstrap interval (a pass/fail criterion:
    its pass rate with a Wilson interval), and the pass rate (every pass/fail passed)."""
    by_model: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    counts: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    judged: Counter[str] = Counter()
    for model, scores in rows:
        counts[model] += 1
        verdicts = []
        for key, value in scores.items():
            by_model[model][key].append(value)
            if isinstance(value, bool):
                verdicts.append(value)
        if verdicts:
            judged[model] += 1
            passed[model] += all(verdicts)
    table = []
    for model in sorted(counts):
        out: dict[str, Any] = {"model": model, "n": counts[model], "criteria": {}}
        for key in criteria:
            values = by_model[model].get(key, [])
            if criteria[key].pass_fail:
                interval = stats.wilson(sum(1 for v in values if v is True), len(values))
            else:
                # One generator per (model, criterion), seeded from both: a figure does not
                # change when another model or criterion joins the report.
                rng = np.random.default_rng([seed, _stable(model), _stable(key)])
                interval = stats.bootstrap_mean(
                    [float(v) for v in values], rng=rng, resamples=resamples
                )
            out["criteria"][key] = interval.as_dict("mean")
        out["pass_rate"] = stats.wilson(passed[model], judged[model]).as_dict()
        table.append(out)
    return table


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _consistency(
    groups: dict[tuple[str, str], list[dict[str, Any]]], criteria: dict[str, _Criterion]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = []
    summary: dict[str, dict[str, Any]] = {}
    for (model, group), scored in sorted(groups.items()):
        if len(scored) < 2:
            continue
        spreads = {}
        for key, criterion in criteria.items():
            if criterion.pass_fail:
                continue
            values = [s[key] for s in scored if key in s]
            value = stats.spread(values)
            if value is not None:
                spreads[key] = value
        verdicts = {
            all(v for v in s.values() if isinstance(v, bool))
            for s in scored
            if any(isinstance(v, bool) for v in s.values())
        }
        changed = len(verdicts) > 1
        rows.append(
            {
                "model": model,
                "group": group,
                "items": len(scored),
                "spread": spreads,
                "max_spread": max(spreads.values(), default=0.0),
                "pass_fail_changed": changed,
            }
        )
        entry = summary.setdefault(
            model, {"model": model, "groups": 0, "changed": 0, "changed_groups": [], "spread": []}
        )
        entry["groups"] += 1
        entry["spread"].append(max(spreads.values(), default=0.0))
        if changed:
            entry["changed"] += 1
            if len(entry["changed_groups"]) < MAX_CHANGED_GROUPS:
                entry["changed_groups"].append(group)
    for entry in summary.values():
        spread = entry.pop("spread")
        entry["mean_max_spread"] = float(np.mean(spread)) if spread else None
    rows.sort(key=lambda r: (not r["pass_fail_changed"], -r["max_spread"], r["model"], r["group"]))
    return rows[:MAX_CONSISTENCY_ROWS], [summary[m] for m in sorted(summary)]


def _alpha(accumulators: dict[str, CoincidenceAccumulator]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    units = 0
    for level, accumulator in accumulators.items():
        result = accumulator.result()
        out[f"alpha_{level}"] = result.alpha
        units = max(units, result.units)
        if result.note:
            out.setdefault("notes", []).append(f"{level}: {result.note}")
    out["units"] = units
    return out


def evaluation_compute(
    *,
    project: Project,
    filters: Filters,
    seed: int = stats.DEFAULT_SEED,
    resamples: int = stats.DEFAULT_RESAMPLES,
    bt_resamples: int = stats.BT_RESAMPLES,
) -> dict[str, Any]:
    """Read the project's approved items of the kinds that score or compare models and compute
    every figure of a report; nothing is written."""
    digest = hashlib.sha256()
    scored: list[tuple[str, dict[str, Any]]] = []
    tagged: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    criteria: dict[str, _Criterion] = {}
    versions_out: list[dict[str, Any]] = []
    version_items: Counter[int] = Counter()
    reliability: dict[str, Any] = {}
    outcomes: dict[tuple[str, str], list[int]] = {}
    compared = 0
    unnamed = 0
    with snapshot():
        for kind in reader.scoring_kinds(project):
            spec = kind.model_scoring
            assert spec is not None
            versions = reader.setting_versions(project, spec.setting) if spec.setting else []
            rubric = _Rubric(versions or [reader.Version(1, [], None)])
            criteria.update(rubric.criteria)
            item_ids = set()
            for row in reader.scored_rows(project, kind, filters):
                version = (
                    row.version if row.version is not None else rubric.version_at(row.approved_at)
                )
                mapping = (
                    rubric.by_version.get(version) or rubric.by_version[rubric.versions[-1].version]
                )
                scores = {mapping[n].key: v for n, v in row.scores.items() if n in mapping}
                _hash_row(
                    digest, [row.item_id, row.model, row.group, row.tags, row.scores, version]
                )
                if row.model is None:
                    unnamed += 1
                    continue
                item_ids.add(row.item_id)
                version_items[version] += 1
                scored.append((row.model, scores))
                for tag in row.tags:
                    tagged[tag].append((row.model, scores))
                if row.group is not None:
                    groups[(row.model, row.group)].append(scores)
            versions_out.extend(
                {
                    "version": v.version,
                    "criteria": v.criteria,
                    "items": version_items.get(v.version, 0),
                    "current": v is rubric.versions[-1],
                }
                for v in rubric.versions
            )
            reliability.update(
                _reliability(project, kind, filters, rubric, item_ids, kinds.Vocabulary, digest)
            )
        for kind in reader.comparison_kinds(project):
            for row in reader.compared_rows(project, kind, filters):
                _hash_row(digest, [row.item_id, row.first, row.second, row.outcome])
                if not row.first or not row.second or row.outcome is None:
                    continue
                if row.first == row.second:
                    continue
                compared += 1
                a, b = sorted((row.first, row.second))
                outcome = row.outcome if a == row.first else -row.outcome
                counts = outcomes.setdefault((a, b), [0, 0, 0])
                counts[0 if outcome < 0 else 1 if outcome == 0 else 2] += 1

    models = _model_table(scored, criteria, seed, resamples)
    compared_models = sorted({m for pair in outcomes for m in pair})
    pairwise = [
        {"a": a, "b": b, "wins": w, "ties": t, "losses": losses}
        for (a, b), (w, t, losses) in sorted(outcomes.items())
    ]
    bradley_terry: list[dict[str, Any]] = []
    bt_note = None
    if len(compared_models) < 2:
        bt_note = "Bradley-Terry strengths need comparisons between two or more models."
    else:
        comparisons = stats.Comparisons.from_outcomes(compared_models, outcomes)
        if not stats.connected(comparisons):
            bt_note = (
                "Some models were never compared, directly or through others: strengths of "
                "unconnected models are not comparable."
            )
        fitted = stats.bradley_terry(
            comparisons, rng=np.random.default_rng(seed), resamples=bt_resamples
        )
        bradley_terry = [
            {
                "model": s.model,
                "strength": s.strength,
                "low": s.low,
                "high": s.high,
                "wins": s.wins,
                "games": s.games,
            }
            for s in fitted
        ]
    consistency, consistency_summary = _consistency(groups, criteria)
    frequent = [t for t, _ in Counter({t: len(r) for t, r in tagged.items()}).most_common(MAX_TAGS)]
    by_tag = {tag: _model_table(tagged[tag], criteria, seed, resamples) for tag in sorted(frequent)}
    warnings = []
    for key, figures in reliability.items():
        alpha = figures.get("alpha")
        if alpha is not None and alpha < RELIABILITY_THRESHOLD:
            warnings.append(
                f"{key}: annotators' alpha is {alpha:.3f}, below {RELIABILITY_THRESHOLD}: a "
                "score nobody agrees on is not evidence."
            )
    if unnamed:
        warnings.append(f"{unnamed} approved item(s) name no model and are left out.")
    empty = None
    if not scored and not compared:
        empty = "No approved items that score or compare models match this report's filters."
    elif len({m for m, _ in scored} | set(compared_models)) < 2:
        empty = "Only one model so far: a ranking needs two or more."
    return {
        "code_version": code_version(),
        "data_sha256": digest.hexdigest(),
        "seed": seed,
        "resamples": resamples,
        "bt_resamples": bt_resamples,
        "filters": filters.as_dict(),
        "items": len(scored),
        "comparisons": compared,
        "empty": empty,
        "criteria": [
            {
                "key": c.key,
                "name": c.name,
                "description": c.description,
                "scale": c.scale,
                "versions": c.versions,
            }
            for c in criteria.values()
        ],
        "rubric_versions": versions_out,
        "models": models,
        "pairwise": pairwise,
        "bradley_terry": bradley_terry,
        "bradley_terry_note": bt_note,
        "consistency": consistency,
        "consistency_summary": consistency_summary,
        "by_tag": by_tag,
        "reliability": {key: figures.get("alpha") for key, figures in reliability.items()},
        "reliability_detail": reliability,
        "reliability_threshold": RELIABILITY_THRESHOLD,
        "warnings": warnings,
    }


def _reliability(
    project: Project,
    kind: kinds.ItemKind,
    filters: Filters,
    rubric: _Rubric,
    item_ids: set[int],
    vocabulary: type[kinds.Vocabulary],
    digest: Any,
) -> dict[str, dict[str, Any]]:
    """Krippendorff's alpha per criterion over the annotations of the report's items, with the
    values and levels the kind declares for its agreement fields (ordinal and interval on a
    scale, nominal for pass/fail). The headline `alpha` is the first level's."""
    accumulators: dict[str, dict[str, CoincidenceAccumulator]] = {}
    paths: dict[int, dict[str, tuple[str, str]]] = {}
    for version in rubric.versions:
        fields = kind.agreement_fields(vocabulary(rubric=tuple(version.criteria)), {})
        mapping = {}
        for f in fields:
            name = f.path[-1]
            criterion = rubric.by_version[version.version].get(name)
            if criterion is None:
                continue
            mapping[name] = (criterion.key, f)
            if criterion.key not in accumulators:
                accumulators[criterion.key] = {
                    level: CoincidenceAccumulator(f.values, level) for level in f.metrics
                }
        paths[version.version] = mapping
    current = rubric.versions[-1].version
    batch: dict[str, tuple[list[int], list[Any]]] = defaultdict(lambda: ([], []))
    seen = 0

    def flush() -> None:
        for key, (ids, labels) in batch.items():
            for accumulator in accumulators[key].values():
                accumulator.add_rows(np.asarray(ids, dtype=np.int64), labels)
        batch.clear()

    for item_id, scores, version in reader.annotation_scores(project, kind, filters, item_ids):
        mapping = paths.get(version if version is not None else current) or paths[current]
        for name, value in scores.items():
            if name in mapping and value in mapping[name][1].values:
                ids, labels = batch[mapping[name][0]]
                ids.append(item_id)
                labels.append(value)
        seen += 1
        if seen % 20_000 == 0:
            flush()
    flush()
    digest.update(f"annotations:{seen}\n".encode())
    out = {}
    for key, levels in accumulators.items():
        figures = _alpha(levels)
        first = next(iter(levels))
        figures["alpha"] = figures.get(f"alpha_{first}")
        figures["level"] = first
        figures["warning"] = figures["alpha"] is not None and figures["alpha"] < (
            RELIABILITY_THRESHOLD
        )
        out[key] = figures
    return out
