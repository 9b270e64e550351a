"""Agreement reports: one streamed pass over a project's annotations, every figure, one row stored.

The numbers come from :mod:`review.agreement_engine`; this module reads the database, feeds it,
and stores the result. A report is built in three phases so that a worker killed at any moment
never leaves a half-written report: (1) mark the report ``running`` and commit, (2) read and
compute everything in memory without writing, (3) in one transaction store the figures and mark
it ``done``. A killed run leaves the report ``running`` and the previous ``done`` report in
place; the broker redelivers the message (``acks_late`` + ``reject_on_worker_lost``) and the job
starts again from scratch.

Memory does not grow with the number of annotations: rows are read from a server-side cursor
ordered by item and processed in batches of whole items; what survives a batch is O(values^2)
per field (coincidences), O(annotators x values^2) per nominal field (the pairs behind Cohen's
kappa) and O(annotators) per-annotator tallies. Seconds spent are kept exactly up to
``_MedianSketch.EXACT`` values per annotator (8 bytes each), then in a log-spaced histogram of
~14 KB (the median is then within 0.5 %): at most ~45 KB per annotator however many
annotations they make.

Choices worth knowing:

* Preference criteria are those of the project's current list (a criterion the lead removed
  is no longer reported); a harm category or instruction category removed from the lists but
  used in annotations still counts as a value of its field.
* Gold items are left out of the agreement fields (they score annotators instead); position
  bias, counts and time spent use every annotation, gold included.
* Units (items) with fewer than two values are dropped; any item with two or more annotations
  counts, complete or not.
* Gwet's AC1 uses Q = the number of values the field allows, and its chance term uses every
  rated item, including single-annotation ones (Gwet's formula for missing ratings, as
  :func:`review.agreement_engine.gwet_ac1` on the full value-count matrix).
* "Agreement with the others" of an annotator is the share of agreeing pairs between their value
  and each other annotator's value on the same item, pooled over the preferred side of
  preferences (ties a value of their own), refusal decisions and instruction categories.
* Retention: a project's newest REPORTS_KEPT_WHOLE done reports are kept whole; older ones
  keep their per-field figures (the agreement over time) and drop the per-annotator rows and
  kappa matrices, which grow with the square of the team and are superseded by newer reports.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.fields.json import KT, KeyTextTransform, KeyTransform
from django.utils import timezone

from agreement.models import AgreementReport
from annotation import kinds
from annotation.models import Annotation, Membership, Project
from annotation.pseudonyms import blind_annotator_rows
from annotation.selectors import can_see_identities
from core.audit import audit_record
from core.models import JobStatus
from review import agreement_engine as engine

logger = logging.getLogger(__name__)

# A queued or running report older than this is presumed lost (its worker and message gone):
# it no longer blocks a new request. A million annotations take well under a minute.
STALE_AFTER = timedelta(hours=1)
FETCH_CHUNK = 5_000  # rows per round trip of the server-side cursor
BATCH_ROWS = 20_000  # rows (whole items) processed at once
MAX_ERROR = 2_000  # characters of an error message kept on a failed report
# Done reports of a project kept whole; older ones keep their per-field figures (the agreement
# over time) and lose the per-annotator rows and kappa matrices, which the newest report
# supersedes (with annotators x annotators kappa pairs they are most of a report's size).
REPORTS_KEPT_WHOLE = 30

RATINGS: tuple[int, ...] = tuple(range(kinds.RATING_MIN, kinds.RATING_MAX + 1))
SIDES = (-1, 0, 1)  # A preferred, tie, B preferred
NON_TIE_SIDES = (-1, 1)

INSTRUCTION, PREFERENCE, REFUSAL = 0, 1, 2
_KIND_CODE = {kinds.INSTRUCTION: INSTRUCTION, kinds.PREFERENCE: PREFERENCE, kinds.REFUSAL: REFUSAL}
_AB, _BA = 1, 2
_ORDER_CODE = {"AB": _AB, "BA": _BA}

MISSING, UNKNOWN = -1, -2  # value codes: no value; a value outside the field's values

# Ratings arrive as numbers (SQLite) or as text (PostgreSQL's ->>).
_RATING_CODE: dict[Any, int] = {v: i for i, v in enumerate(RATINGS)} | {
    str(v): i for i, v in enumerate(RATINGS)
}
_TIE = RATINGS.index(0)
# Rating code -> side code (index into SIDES) and -> non-tie side code (index into NON_TIE_SIDES).
_SIDE_OF = np.array([SIDES.index((r > 0) - (r < 0)) for r in RATINGS], dtype=np.int64)
_NON_TIE_OF = np.array([{-1: 0, 0: MISSING, 1: 1}[(r > 0) - (r < 0)] for r in RATINGS])

# Columns of a streamed annotation row.
ITEM, ANNOTATOR, KIND, GOLD, ORDER, SECONDS, CORRECT = range(7)
RATING, DECISION, HARM, CATEGORY = range(7, 11)
CRITERIA = 11  # then one column per criterion of the project

# Columns of the per-annotator tallies.
_ANNOTATIONS, _SHARED, _PAIRS, _AGREE, _GOLD, _GOLD_OK, _CHOICES, _LEFT = range(8)
_N_TALLIES = 8

NOTE_NO_ANNOTATIONS = "nothing annotated for this field yet"


# --- selectors -------------------------------------------------------------------------------


def agreement_report_latest(*, project: Project) -> AgreementReport | None:
    """The newest finished report of the project (what GET and the page show)."""
    return AgreementReport.objects.filter(project=project, status=JobStatus.DONE).first()


def agreement_report_people(
    *, report: AgreementReport | None, membership: Membership
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """A report's per-annotator rows and kappa pairs as this member may see them: names for
    leads, per-project pseudonyms for everyone else (reviewers read reports blind)."""
    if report is None:
        return [], {}
    if can_see_identities(membership):
        return report.annotators, report.kappa
    project = membership.project
    rows, names = blind_annotator_rows(project, report.annotators, name_key="annotator")

    def alias(name: str) -> str:
        return names.get(name) or "Annotator ?"

    kappa = {
        key: sorted(
            (
                dict(zip(("a", "b"), sorted((alias(p["a"]), alias(p["b"]))), strict=True))
                | {k: v for k, v in p.items() if k not in ("a", "b")}
                for p in pairs
            ),
            key=lambda p: (p["a"], p["b"]),
        )
        for key, pairs in report.kappa.items()
    }
    return rows, kappa


def agreement_report_pending(
    *, project: Project, after: AgreementReport | None
) -> AgreementReport | None:
    """The newest report requested after ``after`` that is not done: queued, running or failed."""
    reports = AgreementReport.objects.filter(project=project).exclude(status=JobStatus.DONE)
    if after is not None:
        reports = reports.filter(pk__gt=after.pk)
    return reports.defer("fields", "annotators", "kappa").first()


def agreement_report_is_active(report: AgreementReport | None) -> bool:
    """Queued or running, and recent enough that a worker may still be on it."""
    return (
        report is not None
        and report.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        and report.created_at > timezone.now() - STALE_AFTER
    )


def _active_report(project: Project) -> AgreementReport | None:
    report = (
        AgreementReport.objects.filter(
            project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        )
        .defer("fields", "annotators", "kappa")
        .first()
    )
    return report if agreement_report_is_active(report) else None


# --- services: request, schedule, build ---------------------------------------------------------


def agreement_report_request(
    *, project: Project, actor: Any, trigger: str = "manual"
) -> AgreementReport:
    """Queue a report and enqueue its task once committed.

    While a report of the project is already queued or running it is returned instead of a
    second one, so a double click or a burst of submits computes once."""
    with transaction.atomic():
        # Serialise requests of one project: two of them must not both see "none active".
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
        active = _active_report(project)
        if active is not None:
            return active
        report = AgreementReport.objects.create(
            project=project,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action="agreement_report.request",
            obj=report,
            project=project,
            after={"status": report.status, "trigger": trigger},
        )
        transaction.on_commit(partial(_enqueue, report.pk))
    if not connection.in_atomic_block:
        report.refresh_from_db()  # tasks running in-process may have finished it already
    return report


def _enqueue(report_id: int) -> None:
    from review.tasks import agreement_report

    try:
        agreement_report.delay(report_id)
    except Exception as exc:  # the broker is unreachable: say so on the report
        logger.exception("could not enqueue agreement report %s", report_id)
        agreement_report_fail(
            report_id=report_id, error=f"Could not reach the task queue: {exc}".strip()
        )


def agreement_maybe_schedule(*, project: Project) -> AgreementReport | None:
    """Request a report once ``project.agreement_every`` non-gold annotations arrived since the
    last one was requested. Called after every submit, so it stays cheap: it reads at most
    ``agreement_every`` index entries of the newest annotations, never the whole project."""
    every = project.agreement_every
    if every <= 0:
        return None
    latest = (
        AgreementReport.objects.filter(project=project)
        .only("id", "status", "created_at")
        .order_by("-id")
        .first()
    )
    if agreement_report_is_active(latest):
        return None
    new = Annotation.objects.filter(project=project, item__is_gold=False)
    if latest is not None:
        # The newest annotation at the time of the last request: an index walk back from the
        # newest id over the (fewer than `every`) annotations that arrived since.
        mark = (
            Annotation.objects.filter(project=project, created_at__lte=latest.created_at)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        if mark is not None:
            new = new.filter(id__gt=mark)
    if new.order_by("id").values_list("id", flat=True)[:every].count() < every:
        return None
    return agreement_report_request(project=project, actor=None, trigger="automatic")


def agreement_report_fail(*, report_id: int, error: str) -> None:
    """Mark a report failed (unless it finished meanwhile), with the reason."""
    with transaction.atomic():
        report = (
            AgreementReport.objects.select_for_update()
            .filter(pk=report_id)
            .exclude(status=JobStatus.DONE)
            .first()
        )
        if report is None:
            return
        before = {"status": report.status}
        report.status, report.error = JobStatus.FAILED, error[:MAX_ERROR]
        report.save(update_fields=["status", "error"])
        audit_record(
            actor=None,
            action="agreement_report.fail",
            obj=report,
            project=report.project,
            before=before,
            after={"status": report.status, "error": report.error},
        )


def agreement_report_build(*, report_id: int) -> AgreementReport:
    """Compute and store the report. Safe to run again after a crash, and to run twice."""
    report = AgreementReport.objects.select_related("project").get(pk=report_id)
    if report.status == JobStatus.DONE:
        return report
    # Phase 1: say it is running (committed at once outside a transaction).
    AgreementReport.objects.filter(pk=report_id).exclude(status=JobStatus.DONE).update(
        status=JobStatus.RUNNING, error=""
    )
    # Phase 2: read and compute; nothing is written.
    result = _compute(report.project)
    # Phase 3: store everything at once.
    with transaction.atomic():
        report = (
            AgreementReport.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=report_id)
        )
        if report.status == JobStatus.DONE:  # a duplicate delivery finished first
            return report
        before = {"status": report.status}
        report.status, report.error = JobStatus.DONE, ""
        report.fields, report.annotators, report.kappa = (
            result.fields,
            result.annotators,
            result.kappa,
        )
        report.annotation_count = result.annotation_count
        report.computed_at = timezone.now()
        report.save()
        _thin_old_reports(report.project)
        audit_record(
            actor=None,
            action="agreement_report.done",
            obj=report,
            project=report.project,
            before=before,
            after={"status": report.status, "annotation_count": report.annotation_count},
        )
    return report


def _thin_old_reports(project: Project) -> int:
    """Empty the annotator rows and kappa of the project's done reports older than the newest
    REPORTS_KEPT_WHOLE (the dashboard's and the page's figures come from those). Returns how
    many were thinned; each report is thinned once."""
    done = AgreementReport.objects.filter(project=project, status=JobStatus.DONE)
    newest = done.order_by("-computed_at", "-id").values_list("id", flat=True)
    kept = list(newest[:REPORTS_KEPT_WHOLE])
    if len(kept) < REPORTS_KEPT_WHOLE:
        return 0
    return (
        done.exclude(pk__in=kept).exclude(annotators=[], kappa={}).update(annotators=[], kappa={})
    )


# --- reading -----------------------------------------------------------------------------------


@dataclass
class ReportResult:
    fields: dict[str, Any]
    annotators: list[dict[str, Any]]
    kappa: dict[str, list[dict[str, Any]]]
    annotation_count: int  # non-gold annotations read


@contextmanager
def _snapshot() -> Iterator[None]:
    """On PostgreSQL, read everything from one snapshot (a read-only REPEATABLE READ
    transaction): the values listed first and the rows streamed after agree. SQLite is not
    wrapped (its transactions would block submits); a value missing from the lists is then
    left out with a note."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # Every row is read: plan for the whole result, not for the first rows (a cursor's
            # default), and let the one big sort work in memory where it can.
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
        yield


def _observed_labels(project: Project) -> tuple[list[str], list[str]]:
    """Harm categories and instruction categories used in annotations: a lead may have
    removed a value from the project's lists after it was used."""
    rows = (
        Annotation.objects.filter(
            project=project,
            item__is_gold=False,
            item__kind__in=[kinds.REFUSAL, kinds.INSTRUCTION],
        )
        .order_by()
        .values_list("item__kind", KT("payload__harm_category"), KT("payload__category"))
        .distinct()
    )
    harm: set[str] = set()
    categories: set[str] = set()
    for kind, harm_category, category in rows:
        if kind == kinds.REFUSAL and isinstance(harm_category, str):
            harm.add(harm_category)
        elif kind == kinds.INSTRUCTION and isinstance(category, str):
            categories.add(category)
    return sorted(harm), sorted(categories)


def _criteria(project: Project) -> list[str]:
    return list(dict.fromkeys(project.criteria))


def _annotation_rows(project: Project) -> Iterator[tuple]:
    """Every annotation of the project, ordered by item, with only the payload keys used: as
    scalars, so no JSON is decoded in Python (texts such as responses are never read)."""
    criteria = [
        KeyTextTransform(name, KeyTransform("criteria", "payload")) for name in _criteria(project)
    ]
    return (
        Annotation.objects.filter(project=project)
        .order_by("item_id", "id")
        .values_list(
            "item_id",
            "annotator_id",
            "item__kind",
            "item__is_gold",
            "display_order",
            "seconds_spent",
            "gold_correct",
            KT("payload__rating"),
            KT("payload__decision"),
            KT("payload__harm_category"),
            KT("payload__category"),
            *criteria,
        )
        .iterator(chunk_size=FETCH_CHUNK)
    )


def _batches(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    """Lists of about ``size`` rows that never split an item's rows."""
    batch: list[tuple] = []
    current = None
    for row in rows:
        if row[ITEM] != current:
            if len(batch) >= size:
                yield batch
                batch = []
            current = row[ITEM]
        batch.append(row)
    if batch:
        yield batch


def _compute(project: Project) -> ReportResult:
    with _snapshot():
        extra_harm, extra_categories = _observed_labels(project)
        builder = _ReportBuilder(project, extra_harm, extra_categories)
        for batch in _batches(_annotation_rows(project), BATCH_ROWS):
            builder.add(batch)
        names = dict(
            get_user_model()
            .objects.filter(pk__in=builder.annotator_ids)
            .values_list("pk", get_user_model().USERNAME_FIELD)
        )
    return builder.result(names)


# --- accumulating ------------------------------------------------------------------------------


def _run_starts(item: np.ndarray) -> np.ndarray:
    """True where a new item begins (rows are grouped by item)."""
    new = np.empty(len(item), dtype=bool)
    if len(item):
        new[0] = True
        np.not_equal(item[1:], item[:-1], out=new[1:])
    return new


def _pairs(item: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index pairs (i, j), i < j, of the same item, for rows grouped by item."""
    firsts, seconds = [], []
    for distance in range(1, len(item)):
        same = np.flatnonzero(item[distance:] == item[:-distance])
        if len(same) == 0:
            break  # items are contiguous: no pair at this distance, none further
        firsts.append(same)
        seconds.append(same + distance)
    if not firsts:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    return np.concatenate(firsts), np.concatenate(seconds)


class _AC1:
    """Running sums behind Gwet's AC1, as :func:`engine.gwet_ac1` on all units at once."""

    def __init__(self, n_categories: int) -> None:
        self.q = n_categories
        self.paired_units = 0
        self.p_a_sum = 0.0
        self.rated_units = 0
        self.pi_sum = np.zeros(n_categories, dtype=np.float64)

    def add(self, counts: np.ndarray) -> None:
        r = counts.sum(axis=1)
        rated = r >= 1
        self.rated_units += int(np.count_nonzero(rated))
        self.pi_sum += (counts[rated] / r[rated, None]).sum(axis=0)
        paired = r >= 2
        if np.any(paired):
            c, rp = counts[paired], r[paired]
            self.p_a_sum += float(((c * (c - 1)).sum(axis=1) / (rp * (rp - 1))).sum())
            self.paired_units += int(np.count_nonzero(paired))

    def result(self) -> engine.AC1Result:
        q = self.q
        if self.paired_units == 0:
            return engine.AC1Result(None, 0, q, None, None, note=engine.NOTE_NO_PAIRABLE_UNITS)
        p_a = self.p_a_sum / self.paired_units
        if q < 2:
            note = "only one category; AC1 is undefined (percent agreement is 1.0)"
            return engine.AC1Result(None, self.paired_units, q, p_a, None, note=note)
        pi = self.pi_sum / self.rated_units
        p_e = float(np.sum(pi * (1.0 - pi)) / (q - 1))
        return engine.AC1Result((p_a - p_e) / (1.0 - p_e), self.paired_units, q, p_a, p_e)


def kappa_from_confusion(confusion: dict[tuple[int, int], int]) -> engine.KappaResult:
    """:func:`engine.cohen_kappa` from the counts of (value of a, value of b) over shared items."""
    n = sum(confusion.values())
    if n == 0:
        return engine.KappaResult(None, 0, None, None, note="no shared items")
    agree = sum(count for (a, b), count in confusion.items() if a == b)
    freq_a: dict[int, int] = {}
    freq_b: dict[int, int] = {}
    for (a, b), count in confusion.items():
        freq_a[a] = freq_a.get(a, 0) + count
        freq_b[b] = freq_b.get(b, 0) + count
    chance_count = sum(count * freq_b.get(label, 0) for label, count in freq_a.items())
    p_o, p_e = agree / n, chance_count / (n * n)
    if chance_count == n * n:
        note = "both annotators gave one and the same label throughout; kappa is undefined"
        return engine.KappaResult(None, n, p_o, p_e, note=note + " (observed agreement is 1.0)")
    return engine.KappaResult((p_o - p_e) / (1.0 - p_e), n, p_o, p_e)


# Pair keys pack (annotator a, annotator b, value of a, value of b) into one int64.
_ANNOTATOR_BITS = 20
_VALUE_BITS = 11


class _Field:
    """One field coded as value indices: coincidences per level, and optionally AC1 and the
    per-annotator-pair confusion counts behind Cohen's kappa."""

    def __init__(
        self,
        labels: Sequence[Any],
        levels: Sequence[engine.Level],
        *,
        ac1: bool = False,
        kappa: bool = False,
    ) -> None:
        if len(labels) >= 1 << _VALUE_BITS:
            raise ValueError("too many values for one field")
        self.labels = tuple(labels)
        self.accumulators = {
            level: engine.CoincidenceAccumulator(labels, level) for level in levels
        }
        self.ac1 = _AC1(len(labels)) if ac1 else None
        self.pair_counts: dict[int, int] | None = {} if kappa else None
        self.values = 0
        self.unknown = 0

    def add(
        self, item: np.ndarray, annotator: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Add the rows of whole items (grouped by item); returns the within-item pairs as
        (annotator, other annotator, equal?) when the field tracks pairs."""
        codes = np.asarray(codes, dtype=np.int64)
        self.unknown += int(np.count_nonzero(codes == UNKNOWN))
        keep = codes >= 0
        item, annotator, codes = item[keep], annotator[keep], codes[keep]
        if len(item) == 0:
            return None
        self.values += len(item)
        n_values = len(self.labels)
        group = np.cumsum(_run_starts(item)) - 1
        n_units = int(group[-1]) + 1
        counts = np.bincount(group * n_values + codes, minlength=n_units * n_values)
        counts = counts.reshape(n_units, n_values)
        for accumulator in self.accumulators.values():
            accumulator.add_counts(counts)
        if self.ac1 is not None:
            self.ac1.add(counts)
        if self.pair_counts is None:
            return None
        first, second = _pairs(item)
        a, b = annotator[first], annotator[second]
        va, vb = codes[first], codes[second]
        swap = a > b
        lo, hi = np.where(swap, b, a), np.where(swap, a, b)
        v_lo, v_hi = np.where(swap, vb, va), np.where(swap, va, vb)
        keys = (((lo << _ANNOTATOR_BITS | hi) << _VALUE_BITS | v_lo) << _VALUE_BITS) | v_hi
        unique, repeats = np.unique(keys, return_counts=True)
        pair_counts = self.pair_counts
        for key, count in zip(unique.tolist(), repeats.tolist(), strict=True):
            pair_counts[key] = pair_counts.get(key, 0) + count
        return a, b, va == vb

    def confusions(self) -> dict[tuple[int, int], dict[tuple[int, int], int]]:
        """Per annotator pair (lower index first): {(value of a, value of b): count}."""
        out: dict[tuple[int, int], dict[tuple[int, int], int]] = {}
        value_mask = (1 << _VALUE_BITS) - 1
        annotator_mask = (1 << _ANNOTATOR_BITS) - 1
        for key, count in (self.pair_counts or {}).items():
            v_hi, v_lo = key & value_mask, (key >> _VALUE_BITS) & value_mask
            pair = key >> (2 * _VALUE_BITS)
            a, b = pair >> _ANNOTATOR_BITS, pair & annotator_mask
            out.setdefault((a, b), {})[(v_lo, v_hi)] = count
        return out


class _MedianSketch:
    """Seconds spent by one annotator: exact up to ``EXACT`` values, then a log-spaced
    histogram with 1 % wide bins (a median within 0.5 %) in constant memory."""

    EXACT = 4_096
    LOW, HIGH, RATIO = 0.01, 7 * 86_400.0, 1.01
    _LOG_RATIO = math.log(RATIO)
    BINS = math.ceil(math.log(HIGH / LOW) / _LOG_RATIO) + 2  # bin 0: below LOW

    def __init__(self) -> None:
        self._exact: list[np.ndarray] = []
        self._n_exact = 0
        self._histogram: np.ndarray | None = None

    def add(self, values: np.ndarray) -> None:
        if self._histogram is None:
            self._exact.append(values)
            self._n_exact += len(values)
            if self._n_exact <= self.EXACT:
                return
            values = np.concatenate(self._exact)
            self._exact, self._histogram = [], np.zeros(self.BINS, dtype=np.int64)
        self._histogram += np.bincount(self._bin(values), minlength=self.BINS)

    def _bin(self, values: np.ndarray) -> np.ndarray:
        scaled = np.log(np.maximum(values, self.LOW) / self.LOW) / self._LOG_RATIO
        bins = np.floor(scaled).astype(np.intp) + 1
        bins[values < self.LOW] = 0
        return np.clip(bins, 0, self.BINS - 1)

    def _center(self, b: int) -> float:
        if b == 0:
            return self.LOW / 2
        return self.LOW * self.RATIO ** (b - 0.5)

    def median(self) -> float | None:
        if self._histogram is None:
            if self._n_exact == 0:
                return None
            return float(np.median(np.concatenate(self._exact)))
        cumulative = np.cumsum(self._histogram)
        n = int(cumulative[-1])
        low = int(np.searchsorted(cumulative, (n - 1) // 2, side="right"))
        high = int(np.searchsorted(cumulative, n // 2, side="right"))
        return (self._center(low) + self._center(high)) / 2


def _codes(raw: Sequence[Any], table: dict[Any, int]) -> np.ndarray:
    return np.fromiter(
        (MISSING if v is None else table.get(v, UNKNOWN) for v in raw),
        dtype=np.int64,
        count=len(raw),
    )


class _ReportBuilder:
    """Everything a report needs, fed with batches of whole items."""

    def __init__(self, project: Project, extra_harm: list[str], extra_categories: list[str]):
        self.project_kinds = set(project.kinds)
        self.criteria_order = _criteria(project)
        harm = list(dict.fromkeys([*project.harm_categories, *extra_harm]))
        categories = list(dict.fromkeys([*project.categories, *extra_categories]))
        self.decision_code = {v: i for i, v in enumerate(kinds.DECISIONS)}
        self.harm_code = {v: i for i, v in enumerate(harm)}
        self.category_code = {v: i for i, v in enumerate(categories)}
        self.rating = _Field(RATINGS, ("ordinal", "interval"))
        self.side = _Field(SIDES, ("nominal",), ac1=True, kappa=True)
        self.side_no_ties = _Field(NON_TIE_SIDES, ("nominal",))
        self.criteria = {
            name: _Field(RATINGS, ("ordinal", "interval")) for name in self.criteria_order
        }
        self.decision = _Field(kinds.DECISIONS, ("nominal",), ac1=True, kappa=True)
        self.harm = _Field(harm, ("nominal",), ac1=True, kappa=True)
        self.category = _Field(categories, ("nominal",), ac1=True, kappa=True)
        self.annotation_count = 0
        self.kind_counts = [0, 0, 0]
        self.annotator_ids: list[int] = []
        self._index: dict[int, int] = {}
        self._tallies = np.zeros((0, _N_TALLIES), dtype=np.int64)
        self._seconds: list[_MedianSketch] = []

    # -- per batch

    def _annotators(self, raw: Sequence[int]) -> np.ndarray:
        ids, inverse = np.unique(
            np.fromiter(raw, dtype=np.int64, count=len(raw)), return_inverse=True
        )
        index = self._index
        for user_id in ids.tolist():
            if user_id not in index:
                index[user_id] = len(index)
                self.annotator_ids.append(user_id)
                self._seconds.append(_MedianSketch())
        if len(index) > len(self._tallies):
            grown = np.zeros((len(index), _N_TALLIES), dtype=np.int64)
            grown[: len(self._tallies)] = self._tallies
            self._tallies = grown
        if len(index) >= 1 << _ANNOTATOR_BITS:
            raise ValueError("too many annotators for one report")
        return np.array([index[u] for u in ids.tolist()], dtype=np.int64)[inverse]

    def _tally(self, column: int, annotator: np.ndarray, weights: np.ndarray | None = None):
        if len(annotator):
            counts = np.bincount(annotator, weights=weights, minlength=len(self._tallies))
            self._tallies[:, column] += counts.astype(np.int64)

    def add(self, rows: list[tuple]) -> None:
        n = len(rows)
        cols = list(zip(*rows, strict=True))
        item = np.fromiter(cols[ITEM], dtype=np.int64, count=n)
        annotator = self._annotators(cols[ANNOTATOR])
        kind = np.fromiter((_KIND_CODE.get(k, -1) for k in cols[KIND]), dtype=np.int8, count=n)
        gold = np.fromiter(cols[GOLD], dtype=bool, count=n)
        order = np.fromiter((_ORDER_CODE.get(o, 0) for o in cols[ORDER]), dtype=np.int8, count=n)
        seconds = np.array(cols[SECONDS], dtype=np.float64)  # None becomes NaN
        correct = np.fromiter((-1 if c is None else int(c) for c in cols[CORRECT]), np.int8, n)
        rating = _codes(cols[RATING], _RATING_CODE)
        rating[kind != PREFERENCE] = MISSING

        # Per annotator, over every annotation (gold included).
        self._tally(_ANNOTATIONS, annotator)
        answered_gold = gold & (correct >= 0)
        self._tally(_GOLD, annotator[answered_gold])
        self._tally(_GOLD_OK, annotator[answered_gold & (correct == 1)])
        self._position_bias(annotator, kind, order, rating)
        self._seconds_spent(annotator, seconds)

        # Agreement, over non-gold annotations.
        fields = ~gold
        self.annotation_count += int(np.count_nonzero(fields))
        for code in (INSTRUCTION, PREFERENCE, REFUSAL):
            self.kind_counts[code] += int(np.count_nonzero(fields & (kind == code)))
        self._items_shared(item[fields], annotator[fields])
        preference = np.flatnonzero(fields & (kind == PREFERENCE))
        if len(preference):
            self._preferences(item, annotator, rating, cols[CRITERIA:], preference)
        refusal = np.flatnonzero(fields & (kind == REFUSAL))
        if len(refusal):
            it, an = item[refusal], annotator[refusal]
            decision = _codes([cols[DECISION][i] for i in refusal], self.decision_code)
            self._agreement_pairs(self.decision.add(it, an, decision))
            self.harm.add(it, an, _codes([cols[HARM][i] for i in refusal], self.harm_code))
        instruction = np.flatnonzero(fields & (kind == INSTRUCTION))
        if len(instruction):
            it, an = item[instruction], annotator[instruction]
            category = _codes([cols[CATEGORY][i] for i in instruction], self.category_code)
            self._agreement_pairs(self.category.add(it, an, category))

    def _position_bias(self, annotator, kind, order, rating) -> None:
        """A choice (a non-tie rating with a known display) went to the left response when A
        was preferred and shown left ("AB"), or B was preferred and shown left ("BA")."""
        choice = (kind == PREFERENCE) & (order > 0) & (rating >= 0) & (rating != _TIE)
        left = choice & (((rating < _TIE) & (order == _AB)) | ((rating > _TIE) & (order == _BA)))
        self._tally(_CHOICES, annotator[choice])
        self._tally(_LEFT, annotator[left])

    def _seconds_spent(self, annotator: np.ndarray, seconds: np.ndarray) -> None:
        known = ~np.isnan(seconds)
        if not np.any(known):
            return
        who, spent = annotator[known], seconds[known]
        order = np.argsort(who, kind="stable")
        who, spent = who[order], spent[order]
        starts = np.flatnonzero(_run_starts(who))
        for start, stop in zip(starts, [*starts[1:], len(who)], strict=True):
            # A copy, so a sketch never keeps a whole batch alive through a view.
            self._seconds[int(who[start])].add(spent[start:stop].copy())

    def _items_shared(self, item: np.ndarray, annotator: np.ndarray) -> None:
        if len(item) == 0:
            return
        group = np.cumsum(_run_starts(item)) - 1
        size = np.bincount(group)[group]
        self._tally(_SHARED, annotator[size >= 2])

    def _agreement_pairs(self, pairs) -> None:
        if pairs is None:
            return
        a, b, equal = pairs
        both = np.concatenate([a, b])
        self._tally(_PAIRS, both)
        self._tally(_AGREE, both, np.concatenate([equal, equal]).astype(np.float64))

    def _preferences(self, item, annotator, rating, raw_criteria, rows: np.ndarray) -> None:
        """The rating as ratings and as preferred sides, and each criterion of the project."""
        it, an, codes = item[rows], annotator[rows], rating[rows]
        self.rating.add(it, an, codes)
        known = codes >= 0
        side = np.where(known, _SIDE_OF[np.maximum(codes, 0)], codes)
        self._agreement_pairs(self.side.add(it, an, side))
        self.side_no_ties.add(it, an, np.where(known, _NON_TIE_OF[np.maximum(codes, 0)], codes))
        for name, raw in zip(self.criteria_order, raw_criteria, strict=True):
            self.criteria[name].add(it, an, _codes([raw[i] for i in rows], _RATING_CODE))

    # -- the report

    def result(self, usernames: dict[int, str]) -> ReportResult:
        names = [usernames.get(u, f"user {u}") for u in self.annotator_ids]
        fields: dict[str, Any] = {}
        kappa: dict[str, list[dict[str, Any]]] = {}
        if self._reported(PREFERENCE, kinds.PREFERENCE):
            fields["preference.rating"] = self._rating_figures()
            kappa["preference.rating"] = self._kappas(self.side, names)
            for name, criterion in self.criteria.items():
                fields[f"preference.criteria.{name}"] = _ordinal_figures(criterion)
        if self._reported(REFUSAL, kinds.REFUSAL):
            for key, field in (
                ("refusal.decision", self.decision),
                ("refusal.harm_category", self.harm),
            ):
                fields[key] = _nominal_figures(field)
                kappa[key] = self._kappas(field, names)
        if self._reported(INSTRUCTION, kinds.INSTRUCTION):
            fields["instruction.category"] = _nominal_figures(self.category)
            kappa["instruction.category"] = self._kappas(self.category, names)
        return ReportResult(
            fields=fields,
            annotators=self._annotator_rows(names),
            kappa=kappa,
            annotation_count=self.annotation_count,
        )

    def _reported(self, code: int, kind: str) -> bool:
        return kind in self.project_kinds or self.kind_counts[code] > 0

    def _rating_figures(self) -> dict[str, Any]:
        ordinal = self.rating.accumulators["ordinal"].result()
        interval = self.rating.accumulators["interval"].result()
        nominal = self.side.accumulators["nominal"].result()
        exact = self.rating.accumulators["ordinal"].percent_agreement()
        with_ties = self.side.accumulators["nominal"].percent_agreement()
        without_ties = self.side_no_ties.accumulators["nominal"].percent_agreement()
        if without_ties.agreement is None:
            without_ties = engine.PercentAgreement(
                None, 0, 0, note="no item has two or more non-tie ratings"
            )
        assert self.side.ac1 is not None
        ac1 = self.side.ac1.result()
        notes = _Notes(self.rating, ordinal)
        notes.add("alpha_ordinal", ordinal.note)
        notes.add("alpha_interval", interval.note)
        notes.add("alpha_nominal", nominal.note)
        notes.add("side_agreement_without_ties", without_ties.note)
        notes.add("ac1", ac1.note)
        return {
            "alpha_ordinal": ordinal.alpha,
            "alpha_interval": interval.alpha,
            "alpha_nominal": nominal.alpha,
            "percent_agreement": exact.agreement,
            "side_agreement_with_ties": with_ties.agreement,
            "side_agreement_without_ties": without_ties.agreement,
            "ac1": ac1.ac1,
            "units": ordinal.units,
            "annotations": self.rating.values,
            "notes": notes.lines(),
        }

    def _kappas(self, field: _Field, names: list[str]) -> list[dict[str, Any]]:
        out = []
        for (a, b), confusion in field.confusions().items():
            result = kappa_from_confusion(confusion)
            first, second = sorted((names[a], names[b]))
            entry = {
                "a": first,
                "b": second,
                "kappa": result.kappa,
                "items": result.items,
                "observed_agreement": result.observed_agreement,
            }
            if result.note:
                entry["note"] = result.note
            out.append(entry)
        return sorted(out, key=lambda e: (e["a"], e["b"]))

    def _annotator_rows(self, names: list[str]) -> list[dict[str, Any]]:
        rows = []
        for index, user_id in enumerate(self.annotator_ids):
            t = self._tallies[index].tolist()
            rows.append(
                {
                    "user_id": user_id,
                    "annotator": names[index],
                    "annotations": t[_ANNOTATIONS],
                    "items_shared": t[_SHARED],
                    "agreement_with_others": _share(t[_AGREE], t[_PAIRS]),
                    "agreement_pairs": t[_PAIRS],
                    "gold_answers": t[_GOLD],
                    "gold_accuracy": _share(t[_GOLD_OK], t[_GOLD]),
                    "median_seconds": self._seconds[index].median(),
                    "position_bias_left": _share(t[_LEFT], t[_CHOICES]),
                    "position_choices": t[_CHOICES],
                }
            )
        return sorted(rows, key=lambda r: (r["annotator"], r["user_id"]))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class _Notes:
    """Why figures are missing, one line per reason naming the figures it applies to."""

    def __init__(self, field: _Field, main: engine.AlphaResult) -> None:
        self._by_note: dict[str, list[str]] = {}
        self._empty = field.values == 0
        self._unpaired = main.units == 0
        self._unknown = field.unknown

    def add(self, figure: str, note: str | None) -> None:
        if note:
            self._by_note.setdefault(note, []).append(figure)

    def lines(self) -> list[str]:
        if self._empty:
            lines = [NOTE_NO_ANNOTATIONS]
        elif self._unpaired:
            lines = [f"{engine.NOTE_NO_PAIRABLE_UNITS}: no item has two or more annotations"]
        else:
            lines = [f"{', '.join(figures)}: {note}" for note, figures in self._by_note.items()]
        if self._unknown:
            lines.append(
                f"{self._unknown} value(s) outside the project's lists were left out "
                "(the lists changed while this report was read)"
            )
        return lines


def _ordinal_figures(field: _Field) -> dict[str, Any]:
    ordinal = field.accumulators["ordinal"].result()
    interval = field.accumulators["interval"].result()
    notes = _Notes(field, ordinal)
    notes.add("alpha_ordinal", ordinal.note)
    notes.add("alpha_interval", interval.note)
    return {
        "alpha_ordinal": ordinal.alpha,
        "alpha_interval": interval.alpha,
        "percent_agreement": field.accumulators["ordinal"].percent_agreement().agreement,
        "units": ordinal.units,
        "annotations": field.values,
        "notes": notes.lines(),
    }


def _nominal_figures(field: _Field) -> dict[str, Any]:
    nominal = field.accumulators["nominal"].result()
    assert field.ac1 is not None
    ac1 = field.ac1.result()
    notes = _Notes(field, nominal)
    notes.add("alpha_nominal", nominal.note)
    notes.add("ac1", ac1.note)
    return {
        "alpha_nominal": nominal.alpha,
        "percent_agreement": field.accumulators["nominal"].percent_agreement().agreement,
        "ac1": ac1.ac1,
        "units": nominal.units,
        "annotations": field.values,
        "notes": notes.lines(),
    }
