"""The verdict rule on synthetic paired data: paired intervals, the three verdicts, the seeds that would
decide, the smallest effect of interest, and the choice between two definitions by their scaling."""
import math
import warnings

import numpy as np
import pytest

from pgxlib.analysis.verdicts import (
    MIN_SEEDS_FOR_INTERVAL,
    REFUTED,
    REPRODUCED,
    SEED_STD_FRACTION,
    UNDECIDED,
    closest_definition,
    paired_interval,
    seeds_to_decide,
    smallest_effect_of_interest,
    verdict,
)


def paired_scores(seeds, gap, pair_noise, seed_spread=30.0, seed=0):
    """Scores of two methods on the same seeds: a shared per-seed level (θ*) plus a small paired gap."""
    rng = np.random.default_rng(seed)
    level = 100 + seed_spread * rng.standard_normal(seeds)
    b = level + rng.standard_normal(seeds)
    return b + gap + pair_noise * rng.standard_normal(seeds), b


def test_pairing_removes_the_shared_seed_level():
    a, b = paired_scores(10, gap=5.0, pair_noise=1.0, seed_spread=30.0)
    res = paired_interval(a, b)
    assert res.seeds == 10 and res.dropped_seeds == ()
    assert res.gap == pytest.approx(np.mean(a - b))
    assert res.paired_std == pytest.approx(np.std(a - b, ddof=1))
    assert res.interval[0] < res.gap < res.interval[1]
    assert res.interval[0] > 0                      # unpaired, the seed spread of 30 would swamp the gap of 5
    assert res.probability_of_improvement == 1.0
    np.testing.assert_allclose(res.differences, a - b)


def test_clear_win_is_reproduced():
    a, b = paired_scores(10, gap=5.0, pair_noise=1.0)
    v = verdict(paired_interval(a, b), paper_side=+1, smallest_effect=2.0)
    assert v.status == REPRODUCED and v.seeds_to_decide is None
    assert "paper's side of zero" in v.reason
    # the same data judged against a claim that b beats a: the interval excludes that effect
    assert verdict(paired_interval(a, b), paper_side=-1, smallest_effect=2.0).status == REFUTED


def test_clear_null_refutes_a_large_claimed_gain():
    a, b = paired_scores(10, gap=0.0, pair_noise=1.0)
    effect = smallest_effect_of_interest(30.0, paper_relative_gain=0.16, baseline_mean=100.0)
    assert effect.value == pytest.approx(16.0)
    res = paired_interval(a, b)
    assert res.interval[0] < 0 < res.interval[1]    # includes zero, yet excludes the paper's effect
    v = verdict(res, paper_side=+1, smallest_effect=effect.value, paper_value=16.0, magnitude=True)
    assert v.status == REFUTED and "excludes the smallest effect" in v.reason


def test_undecided_with_seeds_to_decide():
    b = np.array([100.0, 80.0, 130.0, 95.0])
    res = paired_interval(b + np.array([-8.0, 2.0, 16.0, 6.0]), b)             # gap 4, paired std 10
    v = verdict(res, smallest_effect=10.0)
    assert res.interval[0] < 0 and res.interval[1] > 10.0
    assert v.status == UNDECIDED and "covers zero" in v.reason
    need = v.seeds_to_decide
    assert need is not None and need > res.seeds
    # at `need` seeds the t interval decides, at one fewer it does not
    from scipy.stats import t
    for n, decided in ((need, True), (need - 1, False)):
        half = t.ppf(0.975, n - 1) * res.paired_std / math.sqrt(n)
        assert (res.gap - half > 0 or res.gap + half < 10.0) == decided


def test_seeds_to_decide_formula_and_undecidable_gaps():
    # gap 1, std 2, no smallest effect: smallest N with 1 − t_{N−1}·2/√N > 0
    from scipy.stats import t
    n = seeds_to_decide(1.0, 2.0, 0.0)
    assert 1 - t.ppf(0.975, n - 1) * 2 / math.sqrt(n) > 0 >= 1 - t.ppf(0.975, n - 2) * 2 / math.sqrt(n - 1)
    assert n == 18
    # a smaller paired std decides sooner; a gap of exactly zero with no smallest effect never decides
    assert seeds_to_decide(1.0, 1.0, 0.0) < n
    assert seeds_to_decide(0.0, 1.0, 0.0) is None
    assert seeds_to_decide(0.0, 1.0, 0.5) is not None          # a null is refuted once the interval is narrow
    assert seeds_to_decide(1.0, float("nan"), 0.5) is None
    # a magnitude claim whose gap sits below the paper's value but above the smallest effect: undecidable
    assert seeds_to_decide(2.0, 1.0, 1.0, paper_value=5.0, magnitude=True) is None
    assert seeds_to_decide(-2.0, 1.0, 1.0, paper_side=-1) is not None


def test_one_and_two_seeds_give_no_interval():
    a, b = paired_scores(2, gap=5.0, pair_noise=1.0)
    one = paired_interval(a[:1], b[:1])
    assert one.seeds == 1 and one.interval == (-math.inf, math.inf) and math.isnan(one.paired_std)
    v = verdict(one, smallest_effect=1.0)
    assert v.status == UNDECIDED and v.seeds_to_decide is None and "1 seed" in v.reason
    two = paired_interval(a, b)
    assert two.interval == (-math.inf, math.inf) and np.isfinite(two.paired_std)
    v = verdict(two, smallest_effect=1.0)
    assert v.status == UNDECIDED and v.seeds_to_decide >= MIN_SEEDS_FOR_INTERVAL


def test_constant_differences_give_a_zero_width_interval_without_warnings():
    b = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = paired_interval(b + 2.0, b)
        assert res.interval == (pytest.approx(2.0), pytest.approx(2.0)) and res.paired_std == 0.0
        assert verdict(res, smallest_effect=1.0).status == REPRODUCED
        tie = paired_interval(b, b)
    assert tie.interval == (0.0, 0.0) and tie.probability_of_improvement == 0.5
    assert verdict(tie, smallest_effect=1.0).status == REFUTED


def test_nan_seeds_are_dropped_and_named():
    a, b = paired_scores(6, gap=5.0, pair_noise=1.0)
    a[1], b[4] = np.nan, np.nan
    res = paired_interval(a, b)
    assert res.dropped_seeds == (1, 4) and res.seeds == 4
    assert res.gap == pytest.approx(np.mean(np.delete(a - b, [1, 4])))
    empty = paired_interval([np.nan], [1.0])
    assert empty.seeds == 0 and verdict(empty).status == UNDECIDED


def test_seeds_by_targets_average_over_targets_first():
    rng = np.random.default_rng(7)
    level = rng.normal(0, 20, size=(8, 1)) + rng.normal(0, 5, size=(1, 50))     # seeds' θ* and targets' difficulty
    b = level + rng.standard_normal((8, 50))
    a = b + 1.5 + 0.5 * rng.standard_normal((8, 1)) + rng.standard_normal((8, 50))
    res = paired_interval(a, b)
    flat = paired_interval(a.mean(axis=1), b.mean(axis=1))
    assert res == flat
    assert res.seeds == 8 and res.interval[0] > 0
    a[2, 10] = np.nan
    assert paired_interval(a, b).dropped_seeds == (2,)
    # probability of improvement is over seeds of the target means
    a2 = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    assert paired_interval(a2, np.ones((3, 2))).probability_of_improvement == pytest.approx(0.5)


def test_deterministic_and_seeded():
    a, b = paired_scores(7, gap=1.0, pair_noise=2.0)
    assert paired_interval(a, b) == paired_interval(a, b)
    assert paired_interval(a, b, seed=1).interval != paired_interval(a, b, seed=0).interval
    wider = paired_interval(a, b, confidence=0.99)
    base = paired_interval(a, b)
    assert wider.interval[0] <= base.interval[0] and wider.interval[1] >= base.interval[1]


def test_bad_inputs():
    with pytest.raises(ValueError, match="one shape"):
        paired_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        paired_interval([1.0, 2.0], [1.0, 2.0], confidence=95)
    res = paired_interval([1.0, 2.0, 3.0], [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="paper_side"):
        verdict(res, paper_side=0)
    with pytest.raises(ValueError, match="paper_value"):
        verdict(res, magnitude=True)
    with pytest.raises(ValueError, match="smallest_effect"):
        verdict(res, smallest_effect=-1.0)


def test_magnitude_claims():
    a, b = paired_scores(10, gap=5.0, pair_noise=0.5)
    res = paired_interval(a, b)
    assert verdict(res, smallest_effect=1.0, paper_value=5.0, magnitude=True).status == REPRODUCED
    assert verdict(res, smallest_effect=1.0, paper_value=2.0, magnitude=True).status == REPRODUCED  # lies beyond
    v = verdict(res, smallest_effect=1.0, paper_value=9.0, magnitude=True)     # right side, too small, matters
    assert v.status == UNDECIDED and "below the paper's value" in v.reason
    assert verdict(res, smallest_effect=9.0, paper_value=9.0, magnitude=True).status == REFUTED


def test_smallest_effect_of_interest_rule():
    assert smallest_effect_of_interest(30.0, 0.16, 100.0).value == pytest.approx(16.0)
    fallback = smallest_effect_of_interest(30.0, 0.16, -50.0)   # negative returns: a relative gain is not comparable
    assert fallback.value == pytest.approx(SEED_STD_FRACTION * 30.0) and "seed std" in fallback.source
    assert smallest_effect_of_interest(30.0).value == pytest.approx(SEED_STD_FRACTION * 30.0)
    with pytest.raises(ValueError, match="multitask_seed_std"):
        smallest_effect_of_interest(float("nan"))


def test_closest_definition():
    slopes = {"change_relative": 1.0, "value_relative_squared": 4.0}
    assert closest_definition(slopes, 0.9) == "change_relative"
    assert closest_definition(slopes, 3.0) == "value_relative_squared"
    assert closest_definition(slopes, 2.5) == "change_relative"          # tie → first listed
    assert closest_definition({"b": 4.0, "a": 1.0}, 2.5) == "b"
    assert closest_definition({"a": float("nan"), "b": 4.0}, 1.0) == "b"
    with pytest.raises(ValueError, match="no definition"):
        closest_definition({"a": float("nan")}, 1.0)
    with pytest.raises(ValueError, match="paper_slope"):
        closest_definition(slopes, float("inf"))
