"""evaluation.stats: Wilson against its closed form, reproducible bootstrap intervals, and
Bradley-Terry on a hand-worked example and on simulated comparisons of known strengths."""

import math

import numpy as np
import pytest

from evaluation import stats


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (57, 200), (1, 1)])
def test_wilson_matches_its_closed_form(k, n):
    z = 1.959963984540054
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    interval = stats.wilson(k, n)
    assert interval.value == pytest.approx(p)
    assert interval.low == pytest.approx(max(0.0, centre - half), abs=1e-12)
    assert interval.high == pytest.approx(min(1.0, centre + half), abs=1e-12)
    assert interval.n == n


def test_wilson_of_nothing_is_empty():
    assert stats.wilson(0, 0) == stats.Interval(None, None, None, 0)


def test_bootstrap_interval_is_reproducible_with_the_seed():
    values = [1, 2, 2, 3, 4, 4, 4, 5, 5, 3] * 7
    first = stats.bootstrap_mean(values, rng=np.random.default_rng(7))
    again = stats.bootstrap_mean(values, rng=np.random.default_rng(7))
    other = stats.bootstrap_mean(values, rng=np.random.default_rng(8))
    assert first == again
    assert first.value == pytest.approx(np.mean(values))
    assert first.low < first.value < first.high
    assert (other.low, other.high) != (first.low, first.high)


def test_bootstrap_interval_resampling_counts_matches_resampling_items():
    """Drawing value counts from a multinomial is resampling items: the two intervals agree
    to within the bootstrap's own noise."""
    rng = np.random.default_rng(3)
    values = rng.integers(1, 6, size=400)
    ours = stats.bootstrap_mean(values, rng=np.random.default_rng(1), resamples=4000)
    indices = np.random.default_rng(2).integers(0, len(values), size=(4000, len(values)))
    naive = np.percentile(values[indices].mean(axis=1), [2.5, 97.5])
    assert ours.low == pytest.approx(naive[0], abs=0.03)
    assert ours.high == pytest.approx(naive[1], abs=0.03)


def test_bradley_terry_matches_a_hand_worked_example():
    """Strengths 4:2:1 and counts exactly proportional to them: a beats b 2 of 3 (4/6), b
    beats c 2 of 3 (2/3), a beats c 4 of 5 (4/5). The likelihood equations
    W_i = sum_j N_ij p_i / (p_i + p_j) then hold at p = (4, 2, 1) / 7 (a: 6 = 3*4/6 + 5*4/5,
    b: 3 = 3*2/6 + 3*2/3, c: 2 = 3*1/3 + 5*1/5), and the MLE is unique."""
    comparisons = stats.Comparisons.from_outcomes(
        ["a", "b", "c"], {("a", "b"): [2, 0, 1], ("b", "c"): [2, 0, 1], ("c", "a"): [1, 0, 4]}
    )
    fitted = {s.model: s.strength for s in stats.bradley_terry(comparisons)}
    assert fitted["a"] == pytest.approx(4 / 7, abs=1e-6)
    assert fitted["b"] == pytest.approx(2 / 7, abs=1e-6)
    assert fitted["c"] == pytest.approx(1 / 7, abs=1e-6)


def test_bradley_terry_counts_a_tie_as_half_a_win_to_each():
    """a and b tie twice and a wins once: a has 1 + 2/2 = 2 wins of 3, so p_a / (p_a + p_b)
    = 2 / 3."""
    comparisons = stats.Comparisons.from_outcomes(["a", "b"], {("a", "b"): [1, 2, 0]})
    fitted = {s.model: s for s in stats.bradley_terry(comparisons)}
    assert fitted["a"].strength == pytest.approx(2 / 3, abs=1e-9)
    assert fitted["a"].wins == 2 and fitted["b"].wins == 1


def _simulate(rng, truth, n):
    models = list(truth)
    outcomes = {}
    for _ in range(n):
        i, j = rng.choice(len(models), size=2, replace=False)
        a, b = models[i], models[j]
        first_wins = rng.random() < truth[a] / (truth[a] + truth[b])
        row = outcomes.setdefault((a, b), [0, 0, 0])
        row[0 if first_wins else 2] += 1
    return stats.Comparisons.from_outcomes(models, outcomes)


def test_bradley_terry_recovers_known_strengths_with_covering_intervals():
    """3 models, 3,000 comparisons, 100 seeds: the order is right every time and each true
    strength lies inside its 95 % interval in most runs."""
    truth = {"strong": 0.5, "middle": 0.3, "weak": 0.2}
    covered = dict.fromkeys(truth, 0)
    for seed in range(100):
        rng = np.random.default_rng(seed)
        fitted = stats.bradley_terry(_simulate(rng, truth, 3000), rng=rng, resamples=200)
        assert [s.model for s in fitted] == ["strong", "middle", "weak"]
        for s in fitted:
            covered[s.model] += s.low <= truth[s.model] <= s.high
    assert all(count >= 85 for count in covered.values()), covered


def test_bradley_terry_strengths_sum_to_one_and_intervals_are_reproducible():
    comparisons = _simulate(np.random.default_rng(1), {"a": 2.0, "b": 1.0, "c": 1.0}, 500)
    first = stats.bradley_terry(comparisons, rng=np.random.default_rng(5))
    again = stats.bradley_terry(comparisons, rng=np.random.default_rng(5))
    assert first == again
    assert sum(s.strength for s in first) == pytest.approx(1.0)


def test_unconnected_models_are_detected():
    comparisons = stats.Comparisons.from_outcomes(
        ["a", "b", "c", "d"], {("a", "b"): [3, 0, 1], ("c", "d"): [2, 1, 1]}
    )
    assert not stats.connected(comparisons)
