"""Tests for agreement.engine (pure numpy; no database, no Django)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import binary_distance, interval_distance

from agreement.engine import (
    NOTE_ALL_SAME,
    NOTE_NO_PAIRABLE_UNITS,
    Coded,
    CoincidenceAccumulator,
    Columns,
    alpha_from_reliability_data,
    cohen_kappa,
    coincidence_matrix,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    preferred_side_agreement,
    value_counts,
    whole_items,
)

NAN = math.nan

# Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", section C: observers A-D
# (rows) x 12 units (columns), NaN = missing.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def random_reliability_data(seed: int, coders: int, units: int, missing: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, size=units)
    noise = rng.integers(-1, 2, size=(coders, units)) * (rng.random((coders, units)) < 0.4)
    data = np.clip(truth + noise, 1, 5).astype(float)
    data[rng.random((coders, units)) < missing] = np.nan
    return data


def nltk_alpha(data: np.ndarray, distance) -> float:
    triples = [
        (f"c{c}", f"u{u}", float(data[c, u]))
        for c in range(data.shape[0])
        for u in range(data.shape[1])
        if not np.isnan(data[c, u])
    ]
    return AnnotationTask(data=triples, distance=distance).alpha()


def rows_sorted_by_unit(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit_id, value) annotation rows, as a database query ordered by unit would give."""
    units = np.broadcast_to(np.arange(data.shape[1]), data.shape).T.ravel()
    values = data.T.ravel()
    present = ~np.isnan(values)
    return units[present], values[present]


# --- Krippendorff's alpha: published example ------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_reproduces_krippendorff_2011_example(level, expected):
    result = alpha_from_reliability_data(KRIPPENDORFF_2011, level)
    assert round(result.alpha, 3) == expected
    assert result.units == 11  # unit 12 has a single value
    assert result.pairable_values == 40
    assert result.note is None


def test_coincidence_matrix_matches_krippendorff_2011_table():
    counts, values = value_counts(KRIPPENDORFF_2011)
    assert values == (1.0, 2.0, 3.0, 4.0, 5.0)
    third = 1 / 3
    expected = [
        [7, 4 * third, third, third, 0],
        [4 * third, 10, 4 * third, third, 0],
        [third, 4 * third, 8, third, 0],
        [third, third, third, 4, 0],
        [0, 0, 0, 0, 3],
    ]
    assert np.allclose(coincidence_matrix(counts), expected)


def test_alpha_from_counts_equals_alpha_from_reliability_data():
    counts, values = value_counts(KRIPPENDORFF_2011)
    from_counts = krippendorff_alpha(counts, values, "interval")
    assert from_counts == alpha_from_reliability_data(KRIPPENDORFF_2011, "interval")


# --- Krippendorff's alpha: against NLTK -----------------------------------------------------


def test_nltk_interval_distance_is_already_squared():
    # So NLTK's interval alpha is Krippendorff's interval alpha, with no extra squaring.
    assert interval_distance(1, 4) == 9


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_nominal_alpha_matches_nltk_on_random_data_with_missing_values(seed):
    data = random_reliability_data(seed, coders=5, units=60, missing=0.3)
    ours = alpha_from_reliability_data(data, "nominal").alpha
    assert ours == pytest.approx(nltk_alpha(data, binary_distance), abs=1e-12)


@pytest.mark.parametrize("seed", [10, 11, 12, 13, 14])
def test_interval_alpha_matches_nltk_on_random_data_with_missing_values(seed):
    data = random_reliability_data(seed, coders=4, units=50, missing=0.35)
    ours = alpha_from_reliability_data(data, "interval").alpha
    assert ours == pytest.approx(nltk_alpha(data, interval_distance), abs=1e-12)


# --- Labels ---------------------------------------------------------------------------------


def test_nominal_alpha_accepts_string_labels_with_none_for_missing():
    as_numbers = [[1, 1, 2, None], [1, 2, 2, 2], [1, None, 2, 1]]
    names = {1: "comply", 2: "refuse", None: None}
    as_strings = [[names[x] for x in row] for row in as_numbers]
    strings = alpha_from_reliability_data(as_strings, "nominal").alpha
    numbers = alpha_from_reliability_data(as_numbers, "nominal").alpha
    assert strings == pytest.approx(numbers)


def test_ordinal_alpha_accepts_labels_in_rank_order():
    ranks = {1: "low", 2: "mid", 3: "high", 4: "top", 5: "max"}
    as_labels = [[ranks.get(x) for x in row] for row in KRIPPENDORFF_2011]
    result = alpha_from_reliability_data(
        as_labels, "ordinal", values=["low", "mid", "high", "top", "max"]
    )
    assert round(result.alpha, 3) == 0.815


def test_ratio_level_rejects_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        alpha_from_reliability_data([[-1, 2], [1, 2]], "ratio")


def test_interval_level_rejects_non_numeric_labels():
    with pytest.raises(ValueError, match="numeric"):
        alpha_from_reliability_data([["a", "b"], ["a", "a"]], "interval")


@pytest.mark.parametrize(
    ("values", "unknown"),
    [([1, 2], 3), ([1, 2], 0), ([1, 2], 1.5), ([1, 2], 1e300), ([0.5, 1.5], 1.0)],
)
def test_unknown_value_is_an_error_not_a_silent_drop(values, unknown):
    data = [[values[0], values[1]], [values[0], unknown]]
    with pytest.raises(ValueError, match="not one of the values"):
        alpha_from_reliability_data(data, "nominal", values=values)


def test_interval_alpha_is_unchanged_by_rescaling_to_non_integer_values():
    data = random_reliability_data(5, coders=4, units=80, missing=0.25)
    integers = alpha_from_reliability_data(data, "interval").alpha
    assert alpha_from_reliability_data(data * 0.37 - 2.1, "interval").alpha == pytest.approx(
        integers, abs=1e-12
    )


# --- Streaming accumulator ------------------------------------------------------------------


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_accumulator_fed_rows_in_chunks_equals_one_shot(level):
    data = random_reliability_data(7, coders=5, units=2_000, missing=0.2)
    one_shot = alpha_from_reliability_data(data, level)
    unit_ids, labels = rows_sorted_by_unit(data)
    acc = CoincidenceAccumulator(sorted(set(labels.tolist())), level)
    for start in range(0, len(unit_ids), 777):  # 777 splits many units across chunks
        acc.add_rows(unit_ids[start : start + 777], labels[start : start + 777])
    streamed = acc.result()
    assert streamed.alpha == pytest.approx(one_shot.alpha, abs=1e-12)
    assert (streamed.units, streamed.pairable_values) == (
        one_shot.units,
        one_shot.pairable_values,
    )


def test_accumulator_fed_count_rows_in_chunks_equals_one_shot():
    data = random_reliability_data(8, coders=5, units=1_000, missing=0.2)
    counts, values = value_counts(data)
    acc = CoincidenceAccumulator(values, "interval")
    for start in range(0, len(counts), 128):
        acc.add_counts(counts[start : start + 128])
    assert np.allclose(acc.coincidences(), coincidence_matrix(counts))
    assert acc.result().alpha == pytest.approx(krippendorff_alpha(counts, values, "interval").alpha)


def test_accumulator_result_does_not_consume_the_held_back_unit():
    acc = CoincidenceAccumulator(["a", "b"])
    acc.add_rows([1, 1, 2], ["a", "a", "b"])
    first = acc.result()
    assert acc.result() == first
    acc.add_rows([2, 3, 3], ["a", "b", "b"])  # unit 2 continues: {b, a}
    assert acc.result().units == 3
    assert acc.percent_agreement().agreement == pytest.approx(2 / 3)


def test_accumulator_skips_missing_labels_in_rows():
    acc = CoincidenceAccumulator([1, 2])
    acc.add_rows([1, 1, 1, 2, 2], [1, None, 1, 2, NAN])
    assert acc.result().units == 1


def test_accumulator_rejects_rows_not_sorted_by_unit():
    acc = CoincidenceAccumulator([1, 2])
    acc.add_rows([1, 2], [1, 2])
    with pytest.raises(ValueError, match="sorted"):
        acc.add_rows([1], [1])


def test_chunk_size_does_not_change_alpha():
    data = random_reliability_data(9, coders=3, units=500, missing=0.1)
    small = alpha_from_reliability_data(data, "ordinal", chunk_units=7).alpha
    assert small == pytest.approx(alpha_from_reliability_data(data, "ordinal").alpha)


# --- Degenerate data ------------------------------------------------------------------------


def test_all_values_the_same_gives_none_with_note():
    result = alpha_from_reliability_data([[3, 3, 3], [3, 3, NAN]], "interval")
    assert result.alpha is None
    assert result.note == NOTE_ALL_SAME
    assert result.units == 2


def test_single_coder_has_no_pairable_units():
    result = alpha_from_reliability_data([[1, 2, 3, 4]], "nominal")
    assert result.alpha is None
    assert result.note == NOTE_NO_PAIRABLE_UNITS
    assert result.units == 0


def test_no_unit_with_two_values_has_no_pairable_units():
    result = alpha_from_reliability_data([[1, NAN, NAN], [NAN, 2, NAN], [NAN, NAN, 3]], "ratio")
    assert (result.alpha, result.note) == (None, NOTE_NO_PAIRABLE_UNITS)


@pytest.mark.parametrize("empty", [[], [[]], np.empty((3, 0)), np.full((2, 4), np.nan)])
def test_empty_input_gives_none_with_note(empty):
    result = alpha_from_reliability_data(empty, "interval")
    assert (result.alpha, result.units, result.pairable_values) == (None, 0, 0)
    assert result.note == NOTE_NO_PAIRABLE_UNITS


def test_empty_accumulator_gives_none_with_note():
    assert CoincidenceAccumulator([1, 2, 3], "ordinal").result().note == NOTE_NO_PAIRABLE_UNITS


def test_perfect_agreement_gives_alpha_one():
    assert alpha_from_reliability_data([[1, 2, 3], [1, 2, 3]], "nominal").alpha == 1.0


# --- Percent agreement and preferences -------------------------------------------------------


def test_percent_agreement_pools_pairs_over_pairable_units():
    # unit 1: 1,1,1 -> 3 of 3 pairs equal; unit 2: 1,2 -> 0 of 1; unit 3: 2,2,2 -> 3 of 3;
    # unit 4: a single value -> no pairs. Pooled: 6 / 7.
    data = [[1, 1, 2, NAN], [1, 2, 2, 3], [1, NAN, 2, NAN]]
    result = percent_agreement(value_counts(data)[0])
    assert result.agreement == pytest.approx(6 / 7)
    assert (result.units, result.pairs) == (3, 7)


def test_percent_agreement_without_pairs_gives_none_with_note():
    result = percent_agreement(value_counts([[1, 2, 3]])[0])
    assert (result.agreement, result.pairs, result.note) == (None, 0, NOTE_NO_PAIRABLE_UNITS)


# Preference ratings -3..3 (coders x units). Sides: unit 1 A, A, tie; unit 2 B, B, A;
# unit 3 tie, tie; unit 4 a single rating.
PREFERENCES = [[-3, 2, 0, 1], [-1, 3, 0, NAN], [0, -1, NAN, NAN]]


def test_preferred_side_agreement_with_ties():
    # Pairs: unit 1 {A,A} equal, {A,tie} x2 not -> 1/3; unit 2 {B,B} equal, {B,A} x2 -> 1/3;
    # unit 3 {tie,tie} -> 1/1. Pooled: 3 / 7.
    result = preferred_side_agreement(PREFERENCES).with_ties
    assert result.agreement == pytest.approx(3 / 7)
    assert result.pairs == 7


def test_preferred_side_agreement_without_ties():
    # Only pairs where neither rating is a tie: unit 1 {A,A} -> 1/1; unit 2 -> 1/3. Pooled 2 / 4.
    result = preferred_side_agreement(PREFERENCES).without_ties
    assert result.agreement == pytest.approx(1 / 2)
    assert (result.units, result.pairs) == (2, 4)


def test_preferred_side_without_ties_when_every_pair_has_a_tie():
    result = preferred_side_agreement([[0, 1], [0, 0]]).without_ties
    assert result.agreement is None
    assert result.note is not None


# --- Gwet's AC1 ------------------------------------------------------------------------------


def test_ac1_reproduces_gwet_irrcac_example():
    # irrCAC's cac.raw4raters (Gwet 2014) is the Krippendorff 2011 data; irrCAC reports
    # pa = 0.8181818, pe = 0.1903212, AC1 = 0.77544 with the 5 observed categories.
    result = gwet_ac1(value_counts(KRIPPENDORFF_2011)[0])
    assert result.observed_agreement == pytest.approx(0.8181818, abs=1e-7)
    assert result.chance_agreement == pytest.approx(0.1903212, abs=1e-7)
    assert round(result.ac1, 5) == 0.77544
    assert (result.units, result.categories) == (11, 5)


# Units (rows) x categories (a, b): u1 a,a,a; u2 a,a,b; u3 b,b; u4 a (single rating).
AC1_COUNTS = [[3, 0], [2, 1], [0, 2], [1, 0]]


def test_ac1_hand_computed_with_observed_categories():
    # p_a = mean(1, 2*1/(3*2), 1) = 7/9 over the 3 units with >= 2 ratings.
    # pi = mean over all 4 rated units of r_uk / r_u = ((1 + 2/3 + 0 + 1) / 4, ...) = (2/3, 1/3).
    # p_e = 2 * (2/3)(1/3) / (Q - 1 = 1) = 4/9.  AC1 = (7/9 - 4/9) / (1 - 4/9) = 3/5.
    assert gwet_ac1(AC1_COUNTS).ac1 == pytest.approx(3 / 5)


def test_ac1_uses_the_number_of_possible_categories_when_given():
    # Same data, Q = 3: p_e = (4/9) / 2 = 2/9, AC1 = (7/9 - 2/9) / (7/9) = 5/7.
    assert gwet_ac1(AC1_COUNTS, n_categories=3).ac1 == pytest.approx(5 / 7)


def test_ac1_without_pairable_units_gives_none_with_note():
    result = gwet_ac1([[1, 0], [0, 1]])
    assert (result.ac1, result.note) == (None, NOTE_NO_PAIRABLE_UNITS)


def test_ac1_with_a_single_category_gives_none_with_note():
    result = gwet_ac1([[2], [3]])
    assert result.ac1 is None
    assert result.observed_agreement == 1.0
    assert "one category" in result.note


# --- Cohen's kappa ---------------------------------------------------------------------------


def test_cohen_kappa_wikipedia_example():
    # A yes/B yes 20, A yes/B no 5, A no/B yes 10, A no/B no 15: p_o 0.7, p_e 0.5, kappa 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    result = cohen_kappa(a, b)
    assert result.kappa == pytest.approx(0.4)
    assert (result.observed_agreement, result.chance_agreement) == (
        pytest.approx(0.7),
        pytest.approx(0.5),
    )


def test_cohen_kappa_skips_items_missing_for_either_annotator():
    result = cohen_kappa(["x", None, "y", "x"], ["x", "y", NAN, "y"])
    assert result.items == 2


def test_cohen_kappa_when_chance_agreement_is_one_gives_none_with_note():
    result = cohen_kappa(["refuse"] * 4, ["refuse"] * 4)
    assert result.kappa is None
    assert result.observed_agreement == 1.0
    assert "undefined" in result.note


def test_cohen_kappa_without_shared_items_gives_none_with_note():
    result = cohen_kappa([None, "a"], ["b", None])
    assert (result.kappa, result.items, result.note) == (None, 0, "no shared items")


# --- Properties -----------------------------------------------------------------------------


@st.composite
def reliability_data_and_permutations(draw):
    coders = draw(st.integers(1, 5))
    units = draw(st.integers(0, 12))
    cell = st.one_of(st.just(NAN), st.integers(0, 4).map(float))
    rows = draw(st.lists(st.lists(cell, min_size=units, max_size=units), min_size=coders))
    data = np.array(rows, dtype=float).reshape(len(rows), units)
    coder_order = draw(st.permutations(range(data.shape[0])))
    unit_order = draw(st.permutations(range(units)))
    return data, list(coder_order), list(unit_order)


@settings(max_examples=150, deadline=None)
@given(reliability_data_and_permutations(), st.sampled_from(["nominal", "ordinal", "interval"]))
def test_alpha_is_unchanged_by_permuting_coders_and_units(case, level):
    data, coder_order, unit_order = case
    original = alpha_from_reliability_data(data, level)
    permuted = alpha_from_reliability_data(data[coder_order][:, unit_order], level)
    assert permuted.note == original.note
    if original.alpha is None:
        assert permuted.alpha is None
    else:
        assert permuted.alpha == pytest.approx(original.alpha, abs=1e-9)
        assert not math.isnan(original.alpha)


def test_the_engine_imports_no_django():
    """A worker, a benchmark or a notebook can load the numbers without Django set up."""
    probe = "import sys, agreement.engine; print(sorted(m for m in sys.modules if 'django' in m))"
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "[]"


# --- report rows as columns (agreement.engine.Columns) ------------------------------------------


def _row(item: int, value) -> tuple:
    """An annotation row (engine.ITEM ... CORRECT, then one value) of `item`."""
    return (item, 7, "preference", False, "AB", 1.5, None, value)


def _batch_items(rows: list[tuple], size: int) -> list[list[int]]:
    """Where the tuple reader (agreement.reader.batches) cuts: at the first item that begins
    once a batch holds `size` rows."""
    out: list[list[tuple]] = [[]]
    for row in rows:
        if out[-1] and row[0] != out[-1][-1][0] and len(out[-1]) >= size:
            out.append([])
        out[-1].append(row)
    return [[row[0] for row in batch] for batch in out if batch]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=40),  # rows per item
    st.integers(1, 12),  # batch size
    st.lists(st.integers(1, 9), min_size=1, max_size=40),  # rows per chunk
)
def test_whole_items_cuts_chunks_where_the_tuple_reader_cuts_rows(per_item, size, per_chunk):
    rows = [_row(item, f"v{item % 3}") for item, n in enumerate(per_item) for _ in range(n)]
    chunks, start = [], 0
    for n in per_chunk * len(rows):
        if start >= len(rows):
            break
        chunks.append(Columns.of_rows(rows[start : start + n]))
        start += n
    batches = list(whole_items(chunks, size))
    assert [batch.item.tolist() for batch in batches] == _batch_items(rows, size)
    values = [b.values[0].labels[i] for b in batches for i in b.values[0].index.tolist()]
    assert values == [row[7] for row in rows]


def test_coded_concat_lists_each_value_once_and_keeps_missing():
    first, second = Coded.of(["b", None, "a"]), Coded.of(["a", "c", None, "b"])
    both = Coded.concat(first, second)
    assert sorted(both.labels) == ["a", "b", "c"]
    decoded = [None if i < 0 else both.labels[i] for i in both.index.tolist()]
    assert decoded == ["b", None, "a", "a", "c", None, "b"]
    codes = both.codes({"a": 0, "b": 1}, other=-2, missing=-1)
    assert codes.tolist() == [1, -1, 0, 0, -2, -1, 1]
