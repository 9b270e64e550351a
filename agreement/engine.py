"""Inter-annotator agreement: Krippendorff's alpha, percent agreement, Gwet's AC1, Cohen's kappa,
and :class:`ReportBuilder`, which turns batches of annotation rows into every figure of a report.

Pure numpy (no Django, nothing of the project: the fields a report measures come in as
values), so that a Celery task can call it on data streamed out of the database
(:mod:`agreement.reader` reads, :mod:`agreement.services` stores).

Data model
----------
A *unit* is one annotated item; each unit receives values from some of the coders (annotators).
Missing values are normal. Most functions work on a *value-count matrix* ``counts`` of shape
``(n_units, n_values)`` where ``counts[u, v]`` is how many coders gave value ``values[v]`` to
unit ``u``. Coder identity is irrelevant to alpha, AC1 and percent agreement, and this layout
uses memory proportional to units x values instead of units x coders.

Ways in:

* :func:`value_counts` turns a reliability-data matrix (coders x units, ``np.nan`` or ``None``
  for a missing value; the textbook layout) into ``counts`` plus the value labels.
* :class:`CoincidenceAccumulator` takes chunks of ``(unit_id, value)`` rows sorted by unit, or
  chunks of count rows, and keeps only the ``values x values`` coincidence matrix, so a caller
  can feed millions of annotations from a database cursor.
* :func:`alpha_from_reliability_data` computes alpha from the reliability-data matrix in
  unit chunks without materialising ``counts``.

Choices worth knowing
---------------------
* Units with fewer than two values are *unpairable* and are dropped, as in Krippendorff (2011).
* Degenerate data never raise and never return ``nan``: the coefficient is ``None`` and
  ``note`` says why (no pairable units; every value the same, where chance-corrected
  coefficients are 0/0). Invalid *input* (unknown labels, negative values at the ratio level,
  ragged arrays) raises ``ValueError``.
* Percent agreement is pooled over pairs: the share of equal pairs among all within-unit pairs
  of values. (Gwet's ``p_a``, reported on :class:`AC1Result`, instead averages per unit.)
* Gwet's AC1 uses ``Q`` = the number of *possible* categories when the caller passes it, else
  the number of categories actually observed (the irrCAC default).

Reports
-------
:class:`ReportBuilder` takes rows of whole items (the columns ``ITEM`` ... ``CORRECT`` below,
then one per payload value), batch after batch, as tuples or as :class:`Columns` (numpy
arrays, texts as :class:`Coded`: each distinct value looked up once). What survives a batch
is O(values^2) per field (coincidences), O(annotators x values^2) per nominal field (the pairs
behind Cohen's kappa) and O(annotators) per-annotator tallies, so memory does not grow with
the number of annotations. Seconds spent are kept exactly up to ``_MedianSketch.EXACT`` values
per annotator (8 bytes each), then in a log-spaced histogram of ~14 KB (the median is then
within 0.5 %): at most ~45 KB per annotator however many annotations they make. In a report:

* Preference criteria are those the builder is given (the project's current list: a criterion
  the lead removed is no longer reported); harm and instruction categories are those it is
  given, which may include values since removed from the project's lists.
* Gold items are left out of the agreement fields (they score annotators instead); position
  bias, counts and time spent use every annotation, gold included.
* Units (items) with fewer than two values are dropped; any item with two or more annotations
  counts, complete or not.
* Gwet's AC1 uses Q = the number of values the field allows, and its chance term uses every
  rated item, including single-annotation ones (Gwet's formula for missing ratings, as
  :func:`gwet_ac1` on the full value-count matrix).
* "Agreement with the others" of an annotator is the share of agreeing pairs between their value
  and each other annotator's value on the same item, pooled over the preferred side of
  preferences (ties a value of their own), refusal decisions and instruction categories.

References: Krippendorff, K. (2011) "Computing Krippendorff's Alpha-Reliability";
Gwet, K. L. (2008) Brit. J. Math. Stat. Psychol. 61, 29-48, and Gwet (2014) Handbook of
Inter-Rater Reliability, 4th ed.; Cohen, J. (1960) Educ. Psychol. Meas. 20, 37-46.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")

# Rows of counts processed at once: bounds the float temporaries of the matrix product.
DEFAULT_CHUNK_UNITS = 65_536

NOTE_NO_PAIRABLE_UNITS = "no pairable units (no unit has two or more values)"
NOTE_ALL_SAME = "every pairable value is the same; alpha is undefined (percent agreement is 1.0)"


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlphaResult:
    """Krippendorff's alpha and what it was computed from.

    ``alpha`` is ``None`` exactly when ``note`` explains why it is undefined.
    """

    alpha: float | None
    level: str
    units: int  # pairable units (two or more values)
    pairable_values: int  # values in those units: Krippendorff's n
    note: str | None = None


@dataclass(frozen=True)
class PercentAgreement:
    """Share of equal pairs among all within-unit pairs of values (``None`` when no pairs)."""

    agreement: float | None
    units: int  # units that contributed at least one pair
    pairs: int
    note: str | None = None


@dataclass(frozen=True)
class PreferenceAgreement:
    """Agreement on the preferred side of a preference rating, with and without ties."""

    with_ties: PercentAgreement
    without_ties: PercentAgreement


@dataclass(frozen=True)
class AC1Result:
    """Gwet's AC1 with its observed (``p_a``) and chance (``p_e``) agreement."""

    ac1: float | None
    units: int  # units with two or more ratings
    categories: int  # Q
    observed_agreement: float | None
    chance_agreement: float | None
    note: str | None = None


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa for two annotators over the items both labelled."""

    kappa: float | None
    items: int
    observed_agreement: float | None
    chance_agreement: float | None
    note: str | None = None


# --------------------------------------------------------------------------------------------
# Labels -> column indices
# --------------------------------------------------------------------------------------------


def _is_missing(label: object) -> bool:
    """None and NaN mean "this coder gave no value"."""
    return label is None or (isinstance(label, float | np.floating) and math.isnan(label))


def _is_number(label: object) -> bool:
    return isinstance(label, numbers.Real) and not isinstance(label, bool)


def _integer_table(numbers: np.ndarray, max_span: int = 65_536) -> np.ndarray | None:
    """Column index by ``value - min`` (-1 = not a value) for integer values close together."""
    if not np.all(np.isfinite(numbers)) or np.any(numbers != np.round(numbers)):
        return None
    low, high = numbers.min(), numbers.max()
    if high - low >= max_span:
        return None
    table = np.full(int(high - low) + 1, -1, dtype=np.intp)
    table[(numbers - low).astype(np.intp)] = np.arange(len(numbers))
    return table


class _Domain:
    """The value labels in column order, and a fast label -> column lookup.

    Numeric labels are looked up vectorised: integers close together (ratings) through a table
    indexed by ``value - min``, other numbers with ``searchsorted``. Other hashables use a dict.
    """

    def __init__(self, values: Iterable[Hashable], level: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        labels = tuple(values)
        if any(_is_missing(v) for v in labels):
            raise ValueError("values must not contain None or NaN (those mean 'missing')")
        if len(set(labels)) != len(labels):
            raise ValueError("values must be distinct")
        self.labels = labels
        self.level = level
        self.numbers: np.ndarray | None = None
        self._table: np.ndarray | None = None
        if labels and all(_is_number(v) for v in labels):
            self.numbers = np.asarray(labels, dtype=np.float64)
            self._sorter = np.argsort(self.numbers, kind="stable")
            self._sorted = self.numbers[self._sorter]
            self._table = _integer_table(self.numbers)
        self._lookup = {label: i for i, label in enumerate(labels)}
        self._validate_for_level()

    def _validate_for_level(self) -> None:
        if self.level == "nominal" or not self.labels:
            return
        if self.numbers is None:
            if self.level == "ordinal":
                return  # any labels, given in rank order
            raise ValueError(f"the {self.level} level needs numeric values")
        if not np.all(np.isfinite(self.numbers)):
            raise ValueError("values must be finite")
        if np.any(np.diff(self.numbers) <= 0):
            raise ValueError(f"values for the {self.level} level must be strictly increasing")
        if self.level == "ratio" and self.numbers[0] < 0:
            raise ValueError("the ratio level needs non-negative values (it has a true zero)")

    def __len__(self) -> int:
        return len(self.labels)

    def indices(self, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Column index of each label and a mask of present (non-missing) labels.

        Raises ``ValueError`` for a label that is not in the domain.
        """
        arr = np.asarray(labels)
        if self.numbers is not None and arr.dtype.kind in "biuf":
            return self._numeric_indices(arr.astype(np.float64, copy=False))
        return self._generic_indices(arr)

    def _numeric_indices(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        present = ~np.isnan(arr)
        if self._table is not None:
            idx, known = self._table_lookup(arr, present)
        else:
            pos = np.searchsorted(self._sorted, arr)
            np.clip(pos, 0, len(self._sorted) - 1, out=pos)
            idx, known = self._sorter[pos], self._sorted[pos] == arr
        if not np.array_equal(known, present):
            unknown = arr[present & ~known]
            raise ValueError(f"value {unknown.flat[0]!r} is not one of the values")
        return idx, present

    def _table_lookup(self, arr: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer values (ratings) index a small table directly: ~3x faster than searchsorted."""
        assert self.numbers is not None and self._table is not None
        size = len(self._table)
        offset = np.subtract(arr, self.numbers.min(), out=np.zeros_like(arr), where=present)
        np.clip(offset, -1, size, out=offset)  # keeps the cast below in range
        code = offset.astype(np.intp)
        known = (code == offset) & (code >= 0) & (code < size)  # an integer within the table
        np.clip(code, 0, size - 1, out=code)
        idx = self._table[code]
        known &= idx >= 0
        known &= present
        return idx, known

    def _generic_indices(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = arr.ravel().tolist() if arr.dtype.kind != "O" else list(arr.ravel())
        present = np.fromiter((not _is_missing(x) for x in flat), dtype=bool, count=len(flat))
        try:
            idx = [0 if _is_missing(x) else self._lookup[x] for x in flat]
        except KeyError as exc:
            raise ValueError(f"value {exc.args[0]!r} is not one of the values") from None
        return np.asarray(idx, dtype=np.intp).reshape(arr.shape), present.reshape(arr.shape)


# --------------------------------------------------------------------------------------------
# Coincidences
# --------------------------------------------------------------------------------------------


def coincidence_matrix(counts: ArrayLike) -> np.ndarray:
    """Krippendorff's coincidence matrix ``o`` (values x values) from per-unit value counts.

    ``o = sum_u (n_u n_u^T - diag(n_u)) / (m_u - 1)`` over units with ``m_u >= 2`` values,
    done as one matrix product of counts weighted by ``1 / (m_u - 1)``: memory stays
    O(units x values + values^2), never units x values^2.
    """
    counts = _as_counts(counts)
    m = counts.sum(axis=1)
    return _coincidences(counts[m >= 2], m[m >= 2])


def _coincidences(pairable: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Coincidence matrix of units that all have ``m >= 2`` values (``m`` = row sums)."""
    values = pairable.astype(np.float64)
    weighted = values / (m - 1)[:, None]
    return weighted.T @ values - np.diag(weighted.sum(axis=0))


def _as_counts(counts: ArrayLike, n_values: int | None = None) -> np.ndarray:
    arr = np.asarray(counts)
    if arr.size == 0:
        arr = arr.reshape(0, n_values if n_values is not None else arr.shape[-1])
    if arr.ndim != 2:
        raise ValueError("counts must be a 2-D array (units x values)")
    if arr.dtype.kind not in "biu":
        if arr.dtype.kind != "f" or not np.all(arr == np.round(arr)):
            raise ValueError("counts must be integers")
        arr = arr.astype(np.int64)
    if n_values is not None and arr.shape[1] != n_values:
        raise ValueError(f"counts has {arr.shape[1]} columns but there are {n_values} values")
    if np.any(arr < 0):
        raise ValueError("counts must be non-negative")
    return arr.astype(np.int64, copy=False)


class _Tally:
    """Running sums over complete units: all that alpha and percent agreement need."""

    def __init__(self, n_values: int) -> None:
        self.coincidences = np.zeros((n_values, n_values), dtype=np.float64)
        self.marginals = np.zeros(n_values, dtype=np.int64)  # n_c over pairable values
        self.units = 0
        self.pairs = 0
        self.equal_pairs = 0

    def add(self, counts: np.ndarray) -> None:
        """Add complete units (value-count rows, already validated)."""
        m = counts.sum(axis=1)
        pairable = counts[m >= 2]
        if len(pairable) == 0:
            return
        m = m[m >= 2]
        self.coincidences += _coincidences(pairable, m)
        self.marginals += pairable.sum(axis=0)
        self.units += len(pairable)
        self.pairs += int((m * (m - 1)).sum()) // 2
        self.equal_pairs += int((pairable * (pairable - 1)).sum()) // 2

    def copy(self) -> _Tally:
        twin = _Tally(len(self.marginals))
        twin.coincidences = self.coincidences.copy()
        twin.marginals = self.marginals.copy()
        twin.units, twin.pairs, twin.equal_pairs = self.units, self.pairs, self.equal_pairs
        return twin


class CoincidenceAccumulator:
    """Builds the coincidence matrix chunk by chunk, for data too big to hold at once.

    Memory is O(values^2) plus one chunk. Feed it either

    * :meth:`add_rows`: ``(unit_id, value)`` annotation rows sorted by unit id (a unit may
      continue into the next chunk: its counts are held back until its last row is seen), or
    * :meth:`add_counts`: rows of per-unit value counts, each row a complete unit.

    >>> acc = CoincidenceAccumulator(["comply", "refuse"])
    >>> acc.add_rows([1, 1, 2], ["comply", "comply", "refuse"])
    >>> acc.add_rows([2, 3], ["refuse", "comply"])
    >>> acc.result().alpha
    1.0
    """

    def __init__(self, values: Iterable[Hashable], level: Level = "nominal") -> None:
        self._domain = _Domain(values, level)
        self._tally = _Tally(len(self._domain))
        self._pending_id: object = None
        self._pending: np.ndarray | None = None

    @property
    def values(self) -> tuple[Hashable, ...]:
        return self._domain.labels

    @property
    def level(self) -> str:
        return self._domain.level

    def add_counts(self, counts: ArrayLike, chunk_units: int = DEFAULT_CHUNK_UNITS) -> None:
        """Add complete units given as value-count rows (units x values)."""
        counts = _as_counts(counts, len(self._domain))
        for start in range(0, len(counts), chunk_units):
            self._add_valid_counts(counts[start : start + chunk_units])

    def _add_valid_counts(self, counts: np.ndarray) -> None:
        """Add complete units whose counts this module built itself (no re-validation)."""
        self._tally.add(counts)

    def add_rows(self, unit_ids: ArrayLike, labels: ArrayLike) -> None:
        """Add annotation rows ``(unit_ids[i], labels[i])``, sorted by unit id.

        Missing labels (None/NaN) are skipped. Raises ``ValueError`` if the ids go backwards,
        because a unit split across non-adjacent rows would be counted as two units.
        """
        ids = np.asarray(unit_ids)
        idx, present = self._domain.indices(labels)
        if ids.shape != idx.shape or ids.ndim != 1:
            raise ValueError("unit_ids and labels must be 1-D and of equal length")
        ids, idx = ids[present], idx[present]
        if len(ids) == 0:
            return
        self._check_sorted(ids)
        rows = self._group_counts(ids, idx)
        if self._pending is not None:
            if ids[0] == self._pending_id:
                rows[0] += self._pending
            else:
                self._tally.add(self._pending[None, :])
        self._pending, self._pending_id = rows[-1], ids[-1]
        self._tally.add(rows[:-1])

    def _check_sorted(self, ids: np.ndarray) -> None:
        backwards = bool(np.any(ids[1:] < ids[:-1]))
        if self._pending is not None and ids[0] < self._pending_id:
            backwards = True
        if backwards:
            raise ValueError("rows must be sorted by unit id (within and across chunks)")

    def _group_counts(self, ids: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Per-unit value counts for rows already grouped by unit."""
        n_values = len(self._domain)
        new_unit = np.empty(len(ids), dtype=np.intp)
        new_unit[0] = 0
        np.not_equal(ids[1:], ids[:-1], out=new_unit[1:])
        group = np.cumsum(new_unit)
        n_groups = int(group[-1]) + 1
        flat = np.bincount(group * n_values + idx, minlength=n_groups * n_values)
        return flat.reshape(n_groups, n_values)

    def _final_tally(self) -> _Tally:
        """The tally including the held-back last unit, without changing the accumulator."""
        if self._pending is None:
            return self._tally
        tally = self._tally.copy()
        tally.add(self._pending[None, :])
        return tally

    def coincidences(self) -> np.ndarray:
        """The coincidence matrix so far (a copy)."""
        return self._final_tally().coincidences.copy()

    def result(self) -> AlphaResult:
        """Krippendorff's alpha over everything added so far."""
        tally = self._final_tally()
        return _alpha_from_tally(tally, self._domain)

    def percent_agreement(self) -> PercentAgreement:
        """Pooled pairwise percent agreement over everything added so far."""
        tally = self._final_tally()
        return _percent_from_pairs(tally.equal_pairs, tally.pairs, tally.units)


# --------------------------------------------------------------------------------------------
# Alpha
# --------------------------------------------------------------------------------------------


def distance_matrix(
    domain_values: Sequence[Hashable], level: Level, marginals: ArrayLike
) -> np.ndarray:
    """Squared distances delta(c, v) between values for ``level`` (values x values).

    ``marginals`` (the pairable frequency n_g of each value) is only used by the ordinal
    metric, which is the squared difference of "mid-ranks" ``cumsum(n) - n/2``:
    ``sum_{g=c..v} n_g - (n_c + n_v)/2`` equals ``mid[v] - mid[c]`` for c <= v.
    """
    domain = _Domain(domain_values, level)
    return _distances(domain, np.asarray(marginals, dtype=np.float64))


def _distances(domain: _Domain, marginals: np.ndarray) -> np.ndarray:
    if domain.level == "nominal":
        return 1.0 - np.eye(len(domain))
    if domain.level == "ordinal":
        mid = np.cumsum(marginals) - marginals / 2.0
        return (mid[None, :] - mid[:, None]) ** 2
    assert domain.numbers is not None
    x = domain.numbers
    diff = x[None, :] - x[:, None]
    if domain.level == "interval":
        return diff**2
    total = x[None, :] + x[:, None]  # ratio; values are >= 0, so total == 0 only at 0 vs 0
    ratio = np.divide(diff, total, out=np.zeros_like(diff), where=total != 0)
    return ratio**2


def _alpha_from_tally(tally: _Tally, domain: _Domain) -> AlphaResult:
    """alpha = 1 - D_o / D_e = 1 - (n - 1) sum(o delta) / sum(n_c n_v delta)."""
    n = int(tally.marginals.sum())
    base = {"level": domain.level, "units": tally.units, "pairable_values": n}
    if tally.units == 0:
        return AlphaResult(alpha=None, note=NOTE_NO_PAIRABLE_UNITS, **base)
    if np.count_nonzero(tally.marginals) < 2:
        return AlphaResult(alpha=None, note=NOTE_ALL_SAME, **base)
    marginals = tally.marginals.astype(np.float64)
    delta = _distances(domain, marginals)
    observed = float(np.sum(tally.coincidences * delta))
    expected = float(marginals @ delta @ marginals)
    return AlphaResult(alpha=1.0 - (n - 1) * observed / expected, **base)


def krippendorff_alpha(
    counts: ArrayLike, values: Sequence[Hashable], level: Level = "nominal"
) -> AlphaResult:
    """Krippendorff's alpha from a value-count matrix (units x values) and its value labels."""
    acc = CoincidenceAccumulator(values, level)
    acc.add_counts(counts)
    return acc.result()


def alpha_from_reliability_data(
    data: ArrayLike,
    level: Level = "nominal",
    values: Sequence[Hashable] | None = None,
    chunk_units: int = DEFAULT_CHUNK_UNITS,
) -> AlphaResult:
    """Krippendorff's alpha from a coders x units matrix (``np.nan``/``None`` = missing).

    ``values`` defaults to the observed values (sorted when sortable). The matrix is processed
    in chunks of ``chunk_units`` units, so the extra memory is a few chunk-sized arrays.
    """
    matrix = _as_matrix(data)
    domain = _Domain(_observed_values(matrix) if values is None else values, level)
    acc = CoincidenceAccumulator(domain.labels, level)
    for chunk in _count_chunks(matrix, domain, chunk_units):
        acc._add_valid_counts(chunk)
    return acc.result()


# --------------------------------------------------------------------------------------------
# Reliability data (coders x units) -> counts
# --------------------------------------------------------------------------------------------


def _as_matrix(data: ArrayLike) -> np.ndarray:
    """A 2-D coders x units array: float64 (NaN = missing) when numeric, else object."""
    arr = np.asarray(data)
    if arr.size == 0:
        return np.empty((0, 0), dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError("reliability data must be a 2-D coders x units matrix")
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind in "US":
        return arr.astype(object)
    if arr.dtype.kind == "O":
        if all(_is_number(x) or _is_missing(x) for x in arr.flat):
            return arr.astype(np.float64)  # None becomes NaN
        return arr
    raise ValueError(f"unsupported data type {arr.dtype}")


def _observed_values(matrix: np.ndarray, chunk_units: int = DEFAULT_CHUNK_UNITS) -> tuple:
    """Distinct present values; sorted when the labels allow it, else in first-seen order."""
    if matrix.dtype.kind == "f":
        found = np.empty(0, dtype=np.float64)
        for start in range(0, matrix.shape[1], chunk_units):
            chunk = matrix[:, start : start + chunk_units]
            found = np.union1d(found, chunk[~np.isnan(chunk)])
        return tuple(found.tolist())
    seen = dict.fromkeys(x for x in matrix.flat if not _is_missing(x))
    try:
        return tuple(sorted(seen))
    except TypeError:
        return tuple(seen)


def _count_chunks(matrix: np.ndarray, domain: _Domain, chunk_units: int) -> Iterable[np.ndarray]:
    """Yield value-count rows (units x values) for consecutive chunks of units."""
    n_values = len(domain)
    for start in range(0, matrix.shape[1], chunk_units):
        chunk = matrix[:, start : start + chunk_units]
        idx, present = domain.indices(chunk)
        unit = np.broadcast_to(np.arange(chunk.shape[1]), chunk.shape)
        flat = (unit * n_values + idx)[present]
        counts = np.bincount(flat, minlength=chunk.shape[1] * n_values)
        yield counts.reshape(chunk.shape[1], n_values)


def value_counts(
    data: ArrayLike, values: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    """Value-count matrix (units x values) and value labels from coders x units data."""
    matrix = _as_matrix(data)
    domain = _Domain(_observed_values(matrix) if values is None else values, "nominal")
    chunks = list(_count_chunks(matrix, domain, DEFAULT_CHUNK_UNITS))
    if not chunks:
        return np.zeros((0, len(domain)), dtype=np.int64), domain.labels
    return np.concatenate(chunks), domain.labels


# --------------------------------------------------------------------------------------------
# Percent agreement and preferences
# --------------------------------------------------------------------------------------------


def _percent_from_pairs(equal_pairs: int, pairs: int, units: int) -> PercentAgreement:
    if pairs == 0:
        return PercentAgreement(None, units=0, pairs=0, note=NOTE_NO_PAIRABLE_UNITS)
    return PercentAgreement(equal_pairs / pairs, units=units, pairs=pairs)


def percent_agreement(counts: ArrayLike) -> PercentAgreement:
    """Pooled pairwise agreement: equal within-unit pairs / all within-unit pairs.

    A unit with m values has m(m-1)/2 pairs, of which sum_v n_v(n_v-1)/2 are equal; units with
    fewer than two values have no pairs. Pooling weights each pair equally, so units with more
    annotators weigh more, which is what "share of agreeing pairs" means.
    """
    counts = _as_counts(counts)
    m = counts.sum(axis=1)
    pairs = int((m * (m - 1) // 2).sum())
    equal = int((counts * (counts - 1) // 2).sum())
    return _percent_from_pairs(equal, pairs, int(np.count_nonzero(m >= 2)))


def side_counts(counts: ArrayLike, values: Sequence[float]) -> np.ndarray:
    """Collapse rating counts to preferred-side counts: columns (A = -1, tie = 0, B = +1)."""
    counts = _as_counts(counts, len(values))
    sides = np.sign(np.asarray(values, dtype=np.float64))
    return np.stack([counts[:, sides == s].sum(axis=1) for s in (-1.0, 0.0, 1.0)], axis=1)


def preferred_side_agreement(ratings: ArrayLike) -> PreferenceAgreement:
    """Agreement on the preferred side of preference ratings (e.g. -3..3), coders x units.

    The side of a rating is its sign: negative prefers A, 0 is a tie, positive prefers B.
    ``with_ties`` treats a tie as a third side; ``without_ties`` uses only pairs in which
    neither rating is a tie.
    """
    counts, values = value_counts(ratings)
    if any(not _is_number(v) for v in values):
        raise ValueError("preference ratings must be numbers")
    return preferred_side_agreement_from_counts(counts, values)


def preferred_side_agreement_from_counts(
    counts: ArrayLike, values: Sequence[float]
) -> PreferenceAgreement:
    """:func:`preferred_side_agreement` for value-count rows of the ratings ``values``."""
    sides = side_counts(counts, values)
    without = percent_agreement(sides[:, [0, 2]])
    if without.agreement is None:
        without = PercentAgreement(
            None, units=0, pairs=0, note="no unit has two or more non-tie ratings"
        )
    return PreferenceAgreement(with_ties=percent_agreement(sides), without_ties=without)


# --------------------------------------------------------------------------------------------
# Gwet's AC1
# --------------------------------------------------------------------------------------------


def gwet_ac1(counts: ArrayLike, n_categories: int | None = None) -> AC1Result:
    """Gwet's AC1 for nominal ratings by several raters with missing ratings (Gwet 2008/2014).

    * ``p_a`` = mean over units with r_u >= 2 ratings of sum_k r_uk (r_uk - 1) / (r_u (r_u - 1))
    * ``pi_k`` = mean over units with r_u >= 1 rating of r_uk / r_u
    * ``p_e`` = sum_k pi_k (1 - pi_k) / (Q - 1)

    ``Q`` is ``n_categories`` (the categories the raters could choose from) when given, else
    the number of categories observed, as in Gwet's irrCAC. With Q = 1 AC1 is 0/0 and
    ``None`` is returned; with Q >= 2, p_e <= 1/Q so the denominator is never zero.
    """
    counts = _as_counts(counts)
    observed = int(np.count_nonzero(counts.sum(axis=0)))
    q = observed if n_categories is None else n_categories
    if q < observed:
        raise ValueError(f"n_categories={q} but {observed} categories were observed")
    r = counts.sum(axis=1)
    pairable = r >= 2
    units = int(np.count_nonzero(pairable))
    if units == 0:
        return AC1Result(None, 0, q, None, None, note=NOTE_NO_PAIRABLE_UNITS)
    paired = counts[pairable]
    rp = r[pairable]
    p_a = float(np.mean((paired * (paired - 1)).sum(axis=1) / (rp * (rp - 1))))
    if q < 2:
        note = "only one category; AC1 is undefined (percent agreement is 1.0)"
        return AC1Result(None, units, q, p_a, None, note=note)
    rated = r >= 1
    pi = (counts[rated] / r[rated, None]).mean(axis=0)
    p_e = float(np.sum(pi * (1.0 - pi)) / (q - 1))
    return AC1Result((p_a - p_e) / (1.0 - p_e), units, q, p_a, p_e)


# --------------------------------------------------------------------------------------------
# Cohen's kappa
# --------------------------------------------------------------------------------------------


def cohen_kappa(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> KappaResult:
    """Cohen's kappa for two annotators; position i of both sequences is the same item.

    Items where either label is missing (None/NaN) are not shared and are skipped.
    kappa = (p_o - p_e) / (1 - p_e) with p_e = sum_k p_a(k) p_b(k). p_e == 1 happens only when
    both annotators used one and the same label throughout: kappa is then 0/0 and ``None``.
    """
    if len(labels_a) != len(labels_b):
        raise ValueError("the two label sequences must have equal length (one entry per item)")
    confusion: dict[tuple[Hashable, Hashable], int] = {}
    for a, b in zip(labels_a, labels_b, strict=True):
        if not _is_missing(a) and not _is_missing(b):
            confusion[(a, b)] = confusion.get((a, b), 0) + 1
    return kappa_from_confusion(confusion)


# --------------------------------------------------------------------------------------------
# Reports: batches of annotation rows in, every figure of a report out
# --------------------------------------------------------------------------------------------

_AB, _BA = 1, 2
_ORDER_CODE = {"AB": _AB, "BA": _BA}

MISSING, UNKNOWN = -1, -2  # value codes: no value; a value outside the field's values

# Columns of an annotation row, in the order agreement.reader streams them: these, then one
# column per payload path the report reads (ReportBuilder.paths).
ITEM, ANNOTATOR, KIND, GOLD, ORDER, SECONDS, CORRECT = range(7)
FIRST_VALUE = 7


@dataclass(frozen=True)
class Coded:
    """A column of few distinct values (kinds, display orders, payload values): the values
    (``labels``, in any order, repeats allowed) and per row the index of its value among
    them, -1 for no value (NULL)."""

    labels: tuple
    index: np.ndarray  # integers; -1: no value

    @classmethod
    def of(cls, values: Sequence[Any]) -> Coded:
        """From one Python value per row (None: no value)."""
        found: dict[Any, int] = {}
        index = np.fromiter(
            (-1 if v is None else found.setdefault(v, len(found)) for v in values),
            dtype=np.int64,
            count=len(values),
        )
        return cls(tuple(found), index)

    def codes(self, table: dict[Any, int], *, other: int, missing: int) -> np.ndarray:
        """Each row's ``table[value]``; ``other`` for a value not in the table, ``missing``
        for no value. One dict look-up per distinct value, not per row."""
        lookup = np.array(
            [table.get(label, other) for label in self.labels] + [missing], dtype=np.int64
        )
        return lookup[self.index]  # an index of -1 picks the last entry: missing

    def __getitem__(self, rows: slice) -> Coded:
        return Coded(self.labels, self.index[rows])

    @staticmethod
    def concat(first: Coded, second: Coded) -> Coded:
        """Both columns' rows, each value listed once (so that labels do not pile up over a
        run of concatenations). The second's values come first: its indices, usually the
        many (a new block after the few rows carried over), then stay as they are."""
        labels = tuple(dict.fromkeys(second.labels + first.labels))
        position = {label: i for i, label in enumerate(labels)}

        def moved(coded: Coded) -> np.ndarray:
            return np.array([position[v] for v in coded.labels] + [-1], np.int64)[coded.index]

        same = labels[: len(second.labels)] == second.labels  # second lists each value once
        rest = second.index if same else moved(second)
        return Coded(labels, np.concatenate([moved(first), rest]))


@dataclass(frozen=True)
class Columns:
    """Annotation rows as columns (the row columns ``ITEM`` ... above), grouped by item: what
    :meth:`ReportBuilder.add_columns` takes. agreement.reader fills them straight from the
    database's COPY output, or from tuples (:meth:`of_rows`)."""

    item: np.ndarray  # int64 item ids
    annotator: np.ndarray  # int64 user ids
    kind: Coded
    gold: np.ndarray  # bool
    order: Coded  # the display order ("AB", "BA", or none)
    seconds: np.ndarray  # float64, NaN: not recorded
    correct: np.ndarray  # int8: 1 right, 0 wrong, -1 not scored against gold
    values: tuple[Coded, ...]  # one per payload path (ReportBuilder.paths)

    @classmethod
    def of_rows(cls, rows: Sequence[tuple]) -> Columns:
        n = len(rows)
        cols = list(zip(*rows, strict=True)) or [()] * FIRST_VALUE
        return cls(
            item=np.fromiter(cols[ITEM], dtype=np.int64, count=n),
            annotator=np.fromiter(cols[ANNOTATOR], dtype=np.int64, count=n),
            kind=Coded.of(cols[KIND]),
            gold=np.fromiter(cols[GOLD], dtype=bool, count=n),
            order=Coded.of(cols[ORDER]),
            seconds=np.array(cols[SECONDS], dtype=np.float64).reshape(n),  # None becomes NaN
            correct=np.fromiter((-1 if c is None else int(c) for c in cols[CORRECT]), np.int8, n),
            values=tuple(Coded.of(col) for col in cols[FIRST_VALUE:]),
        )

    def __len__(self) -> int:
        return len(self.item)

    def __getitem__(self, rows: slice) -> Columns:
        return Columns(
            item=self.item[rows],
            annotator=self.annotator[rows],
            kind=self.kind[rows],
            gold=self.gold[rows],
            order=self.order[rows],
            seconds=self.seconds[rows],
            correct=self.correct[rows],
            values=tuple(v[rows] for v in self.values),
        )

    @staticmethod
    def concat(first: Columns, second: Columns) -> Columns:
        return Columns(
            item=np.concatenate([first.item, second.item]),
            annotator=np.concatenate([first.annotator, second.annotator]),
            kind=Coded.concat(first.kind, second.kind),
            gold=np.concatenate([first.gold, second.gold]),
            order=Coded.concat(first.order, second.order),
            seconds=np.concatenate([first.seconds, second.seconds]),
            correct=np.concatenate([first.correct, second.correct]),
            values=tuple(
                Coded.concat(a, b) for a, b in zip(first.values, second.values, strict=True)
            ),
        )

    def item_start_from(self, position: int) -> int | None:
        """The first row at ``position`` or after (``position`` >= 1) that begins an item;
        None when there is none yet."""
        if position < 1:
            raise ValueError("position must be 1 or more")
        new = self.item[position:] != self.item[position - 1 : -1]
        first = int(np.argmax(new)) if len(new) else 0
        return position + first if len(new) and new[first] else None


def whole_items(chunks: Iterable[Columns], size: int) -> Iterator[Columns]:
    """The chunks' rows again, in batches of whole items cut where reader.batches cuts tuples
    (at the first item that begins once a batch holds ``size`` rows), so both ways of reading
    feed a builder the same batches and give bit for bit the same report."""
    pending: Columns | None = None
    for chunk in chunks:
        pending = chunk if pending is None else Columns.concat(pending, chunk)
        while (cut := pending.item_start_from(size)) is not None:
            yield pending[:cut]
            pending = pending[cut:]
    if pending is not None and len(pending):
        yield pending


# Columns of the per-annotator tallies.
_ANNOTATIONS, _SHARED, _PAIRS, _AGREE, _GOLD, _GOLD_OK, _CHOICES, _LEFT = range(8)
_N_TALLIES = 8

NOTE_NO_ANNOTATIONS = "nothing annotated for this field yet"


@dataclass
class ReportResult:
    """The figures of a report, as stored on it."""

    fields: dict[str, Any]
    annotators: list[dict[str, Any]]
    kappa: dict[str, list[dict[str, Any]]]
    annotation_count: int  # non-gold annotations read


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
    """Running sums behind Gwet's AC1, as :func:`gwet_ac1` on all units at once."""

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

    def result(self) -> AC1Result:
        q = self.q
        if self.paired_units == 0:
            return AC1Result(None, 0, q, None, None, note=NOTE_NO_PAIRABLE_UNITS)
        p_a = self.p_a_sum / self.paired_units
        if q < 2:
            note = "only one category; AC1 is undefined (percent agreement is 1.0)"
            return AC1Result(None, self.paired_units, q, p_a, None, note=note)
        pi = self.pi_sum / self.rated_units
        p_e = float(np.sum(pi * (1.0 - pi)) / (q - 1))
        return AC1Result((p_a - p_e) / (1.0 - p_e), self.paired_units, q, p_a, p_e)


def kappa_from_confusion(confusion: dict[tuple[Hashable, Hashable], int]) -> KappaResult:
    """Cohen's kappa from the counts of (value of a, value of b) over the shared items."""
    n = sum(confusion.values())
    if n == 0:
        return KappaResult(None, 0, None, None, note="no shared items")
    agree = sum(count for (a, b), count in confusion.items() if a == b)
    freq_a: dict[Hashable, int] = {}
    freq_b: dict[Hashable, int] = {}
    for (a, b), count in confusion.items():
        freq_a[a] = freq_a.get(a, 0) + count
        freq_b[b] = freq_b.get(b, 0) + count
    chance_count = sum(count * freq_b.get(label, 0) for label, count in freq_a.items())
    p_o, p_e = agree / n, chance_count / (n * n)
    if chance_count == n * n:
        note = "both annotators gave one and the same label throughout; kappa is undefined"
        return KappaResult(None, n, p_o, p_e, note=note + " (observed agreement is 1.0)")
    return KappaResult((p_o - p_e) / (1.0 - p_e), n, p_o, p_e)


# Pair keys pack (annotator a, annotator b, value of a, value of b) into one int64.
_ANNOTATOR_BITS = 20
_VALUE_BITS = 11


class _Field:
    """One field coded as value indices: coincidences per level, and optionally AC1 and the
    per-annotator-pair confusion counts behind Cohen's kappa."""

    def __init__(
        self,
        labels: Sequence[Any],
        levels: Sequence[Level],
        *,
        ac1: bool = False,
        kappa: bool = False,
    ) -> None:
        if len(labels) >= 1 << _VALUE_BITS:
            raise ValueError("too many values for one field")
        self.labels = tuple(labels)
        self.accumulators = {level: CoincidenceAccumulator(labels, level) for level in levels}
        self.ac1 = _AC1(len(labels)) if ac1 else None
        # Pair keys (below) seen so far, sorted, and how often each was seen.
        self.kappa = kappa
        self.pair_keys = np.empty(0, dtype=np.int64)
        self.pair_counts = np.empty(0, dtype=np.int64)
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
        if not self.kappa:
            return None
        first, second = _pairs(item)
        a, b = annotator[first], annotator[second]
        va, vb = codes[first], codes[second]
        swap = a > b
        lo, hi = np.where(swap, b, a), np.where(swap, a, b)
        v_lo, v_hi = np.where(swap, vb, va), np.where(swap, va, vb)
        keys = (((lo << _ANNOTATOR_BITS | hi) << _VALUE_BITS | v_lo) << _VALUE_BITS) | v_hi
        self._count_pairs(keys)
        return a, b, va == vb

    def _count_pairs(self, keys: np.ndarray) -> None:
        """Merge a batch's pair keys into the sorted keys and their counts."""
        unique, repeats = np.unique(keys, return_counts=True)
        known, counts = self.pair_keys, self.pair_counts
        at = np.searchsorted(known, unique)
        seen = at < len(known)
        seen[seen] = known[at[seen]] == unique[seen]
        counts[at[seen]] += repeats[seen]
        new = ~seen
        self.pair_keys = np.insert(known, at[new], unique[new])
        self.pair_counts = np.insert(counts, at[new], repeats[new])

    def confusions(self) -> dict[tuple[int, int], dict[tuple[int, int], int]]:
        """Per annotator pair (lower index first): {(value of a, value of b): count}."""
        out: dict[tuple[int, int], dict[tuple[int, int], int]] = {}
        value_mask = (1 << _VALUE_BITS) - 1
        annotator_mask = (1 << _ANNOTATOR_BITS) - 1
        for key, count in zip(self.pair_keys.tolist(), self.pair_counts.tolist(), strict=True):
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


def _code_table(values: Sequence[Any]) -> dict[Any, int]:
    """Value -> its index. Numbers and booleans are also looked up as text: PostgreSQL's ->>
    gives text, SQLite's JSON numbers (a boolean as 1 or 0, equal to True and False)."""
    table: dict[Any, int] = {}
    for index, value in enumerate(values):
        table[value] = index
        if not isinstance(value, str):
            table[str(value)] = index
        if isinstance(value, bool):  # a JSON boolean as PostgreSQL's ->> gives it
            table["true" if value else "false"] = index
    return table


class _FieldState:
    """The accumulators of one agreement field (annotation.kinds.AgreementField) and of its
    views."""

    def __init__(self, spec: Any, column: int) -> None:
        self.spec = spec
        self.column = column  # where its value sits in a row
        self.field = _Field(spec.values, spec.metrics, ac1=spec.kappa, kappa=spec.kappa)
        self.code = _code_table(spec.values)
        self.views = []
        for view in spec.views:
            of = np.array(
                [
                    MISSING if view.of.get(v) is None else view.values.index(view.of[v])
                    for v in spec.values
                ],
                dtype=np.int64,
            )
            accumulator = _Field(view.values, ("nominal",), ac1=view.kappa, kappa=view.kappa)
            self.views.append((view, accumulator, of))
        self.numbers = np.array(spec.values, dtype=np.float64) if spec.sided else None

    def view_codes(self, codes: np.ndarray, of: np.ndarray) -> np.ndarray:
        return np.where(codes >= 0, of[np.maximum(codes, 0)], codes)

    @property
    def kappa_field(self) -> _Field | None:
        if self.spec.kappa:
            return self.field
        return next((acc for view, acc, _ in self.views if view.kappa), None)

    def figures(self) -> dict[str, Any]:
        """Alphas by metric, percent agreement, the views' figures, AC1, units and notes."""
        field, metrics = self.field, self.spec.metrics
        results = {metric: field.accumulators[metric].result() for metric in metrics}
        main = results[metrics[0]]
        out: dict[str, Any] = {}
        notes = _Notes(field, main)
        for metric in metrics:
            out[f"alpha_{metric}"] = results[metric].alpha
            notes.add(f"alpha_{metric}", results[metric].note)
        for view, accumulator, _ in self.views:
            if view.alpha:
                nominal = accumulator.accumulators["nominal"].result()
                out["alpha_nominal"] = nominal.alpha
                notes.add("alpha_nominal", nominal.note)
        out["percent_agreement"] = field.accumulators[metrics[0]].percent_agreement().agreement
        for view, accumulator, _ in self.views:
            if not view.percent_key:
                continue
            percent = accumulator.accumulators["nominal"].percent_agreement()
            out[view.percent_key] = percent.agreement
            if view.empty_note and percent.agreement is None:
                notes.add(view.percent_key, view.empty_note)
        ac1_field = self.kappa_field
        if ac1_field is not None and ac1_field.ac1 is not None:
            ac1 = ac1_field.ac1.result()
            out["ac1"] = ac1.ac1
            notes.add("ac1", ac1.note)
        out["units"] = main.units
        out["annotations"] = field.values
        out["notes"] = notes.lines()
        return out


class ReportBuilder:
    """Everything a report needs, fed with batches of whole items.

    Reads the fields each kind declares (annotation.kinds: `ItemKind.agreement_fields`), as
    plain values: `fields` maps a kind's name to its fields, `project_kinds` are the kinds
    the project accepts (reported even while nothing is annotated). A row carries one value
    column per payload path (`paths`), in the order agreement.reader reads them."""

    def __init__(self, *, fields: dict[str, list[Any]], project_kinds: Iterable[str]) -> None:
        self.project_kinds = set(project_kinds)
        self.paths: list[tuple[str, ...]] = list(
            dict.fromkeys(spec.path for specs in fields.values() for spec in specs)
        )
        column = {path: FIRST_VALUE + i for i, path in enumerate(self.paths)}
        self.kind_names = list(fields)
        self.kind_code = {name: code for code, name in enumerate(self.kind_names)}
        self.states = {
            name: [_FieldState(spec, column[spec.path]) for spec in specs]
            for name, specs in fields.items()
        }
        self.annotation_count = 0
        self.kind_counts = dict.fromkeys(self.kind_names, 0)
        self.annotator_ids: list[int] = []
        self._index: dict[int, int] = {}
        self._tallies = np.zeros((0, _N_TALLIES), dtype=np.int64)
        self._seconds: list[_MedianSketch] = []

    # -- per batch

    def _annotators(self, raw: np.ndarray) -> np.ndarray:
        ids, inverse = np.unique(raw, return_inverse=True)
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

    def add(self, rows: Sequence[tuple]) -> None:
        """Add annotation rows (tuples of the row columns) of whole items."""
        self.add_columns(Columns.of_rows(rows))

    def add_columns(self, columns: Columns) -> None:
        """Add annotation rows of whole items, as columns."""
        item = columns.item
        annotator = self._annotators(columns.annotator)
        kind = columns.kind.codes(self.kind_code, other=-1, missing=-1).astype(np.int16)
        gold = columns.gold
        order = columns.order.codes(_ORDER_CODE, other=0, missing=0).astype(np.int8)
        seconds, correct = columns.seconds, columns.correct

        # Per annotator, over every annotation (gold included).
        self._tally(_ANNOTATIONS, annotator)
        answered_gold = gold & (correct >= 0)
        self._tally(_GOLD, annotator[answered_gold])
        self._tally(_GOLD_OK, annotator[answered_gold & (correct == 1)])
        self._seconds_spent(annotator, seconds)

        # Agreement, over non-gold annotations; position bias over every annotation.
        fields = ~gold
        self.annotation_count += int(np.count_nonzero(fields))
        self._items_shared(item[fields], annotator[fields])
        for name, states in self.states.items():
            of_kind = kind == self.kind_code[name]
            self.kind_counts[name] += int(np.count_nonzero(fields & of_kind))
            rows_all = np.flatnonzero(of_kind)
            if len(rows_all) == 0:
                continue
            rows_fields = np.flatnonzero(fields & of_kind)
            for state in states:
                column = columns.values[state.column - FIRST_VALUE]
                codes = column.codes(state.code, other=UNKNOWN, missing=MISSING)
                if state.numbers is not None:
                    self._position_bias(
                        annotator[rows_all], order[rows_all], codes[rows_all], state
                    )
                if len(rows_fields):
                    self._field(state, item, annotator, codes, rows_fields)

    def _field(self, state: _FieldState, item, annotator, codes, rows: np.ndarray) -> None:
        it, an, codes = item[rows], annotator[rows], codes[rows]
        pairs = state.field.add(it, an, codes)
        if state.spec.pairs:
            self._agreement_pairs(pairs)
        for view, accumulator, of in state.views:
            pairs = accumulator.add(it, an, state.view_codes(codes, of))
            if view.pairs:
                self._agreement_pairs(pairs)

    def _position_bias(self, annotator, order, codes, state: _FieldState) -> None:
        """A choice (a signed, non-zero value with a known display) went to the left response
        when the first response (A) was preferred and shown left ("AB"), or B was preferred
        and shown left ("BA")."""
        known = codes >= 0
        value = np.where(known, state.numbers[np.maximum(codes, 0)], 0.0)
        choice = (order > 0) & known & (value != 0)
        left = choice & (((value < 0) & (order == _AB)) | ((value > 0) & (order == _BA)))
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

    # -- the report

    def result(self, usernames: dict[int, str]) -> ReportResult:
        """The figures of each field of each kind the project accepts or that has
        annotations, the per-annotator rows and the kappa pairs."""
        names = [usernames.get(u, f"user {u}") for u in self.annotator_ids]
        fields: dict[str, Any] = {}
        kappa: dict[str, list[dict[str, Any]]] = {}
        for name, states in self.states.items():
            if name not in self.project_kinds and not self.kind_counts[name]:
                continue
            for state in states:
                fields[state.spec.key] = state.figures()
                if state.kappa_field is not None:
                    kappa[state.spec.key] = self._kappas(state.kappa_field, names)
        return ReportResult(
            fields=fields,
            annotators=self._annotator_rows(names),
            kappa=kappa,
            annotation_count=self.annotation_count,
        )

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

    def __init__(self, field: _Field, main: AlphaResult) -> None:
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
            lines = [f"{NOTE_NO_PAIRABLE_UNITS}: no item has two or more annotations"]
        else:
            lines = [f"{', '.join(figures)}: {note}" for note, figures in self._by_note.items()]
        if self._unknown:
            lines.append(
                f"{self._unknown} value(s) outside the project's lists were left out "
                "(the lists changed while this report was read)"
            )
        return lines
