"""How an order claim between two methods is judged: a paired interval over seeds and one of three verdicts.

Pure functions on arrays. Two methods a and b are run on the same seeds (the same θ* per seed) and scored
on the same targets, so their comparison is paired: the quantity judged is the per-seed difference
d_s = a_s − b_s, its mean (the gap) and a 95% interval for that mean by bootstrap over seeds
(`scipy.stats.bootstrap`).

- `paired_interval(a, b)` → `PairedInterval`: gap, interval, probability of improvement, seeds, paired std.
- `verdict(interval, paper_side, smallest_effect, ...)` → `Verdict`: "reproduced", "refuted" or
  "undecided", one reason, and for undecided the seeds that would decide (`seeds_to_decide`).
- `smallest_effect_of_interest(...)` → `SmallestEffect`: the effect below which a gap does not matter.
- `closest_definition(slopes, paper_slope)`: of two definitions of one quantity, the one whose measured
  log-log slope (how it grows with its argument) is closest to the paper's.

All signs are "a − b": a claim that a beats b on a higher-is-better score has paper_side = +1.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np

REPRODUCED, REFUTED, UNDECIDED = "reproduced", "refuted", "undecided"

MIN_SEEDS_FOR_INTERVAL = 3
"""Fewest seeds from which a bootstrap interval is given: a bootstrap of 2 seeds only spans the two values
(its nominal 95% covers the mean about half the time), of 1 seed nothing."""

SEED_STD_FRACTION = 0.5
"""The smallest effect of interest where the paper's relative gain cannot be used, as a fraction of the
family's multitask seed std. 0.5 is Cohen's "medium" standardised effect: a gap under half of what
re-running the same multitask baseline with another seed moves its score by is one that a reader choosing
a method could not tell from a reseed. The same fraction holds for every family."""


@dataclass(frozen=True)
class PairedInterval:
    """The paired comparison of a with b over seeds (a − b).

    Attributes:
        gap: mean over kept seeds of d_s = a_s − b_s (d_s the mean over targets when there are targets).
        interval: (lo, hi), the bootstrap interval of the gap at `confidence`; (−inf, inf) with fewer
            than `MIN_SEEDS_FOR_INTERVAL` seeds; (gap, gap) when every d_s is the same.
        probability_of_improvement: P(a_s > b_s) + ½ P(a_s = b_s) over the kept seeds, in [0, 1].
        seeds: number of seeds kept.
        paired_std: sample std (ddof = 1) of d_s, NaN for one seed.
        confidence: the interval's level.
        differences: d_s per kept seed [seeds].
        dropped_seeds: indices of the input's seeds dropped for NaN.
    """
    gap: float
    interval: tuple[float, float]
    probability_of_improvement: float
    seeds: int
    paired_std: float
    confidence: float
    differences: tuple[float, ...] = ()
    dropped_seeds: tuple[int, ...] = ()

    @property
    def half_width(self) -> float:
        """Half the interval's width (inf without an interval)."""
        return (self.interval[1] - self.interval[0]) / 2


def paired_interval(a, b, confidence: float = 0.95, n_resamples: int = 9_999, method: str = "percentile",
                    seed: int = 0) -> PairedInterval:
    """Paired difference of two methods over seeds, with a bootstrap interval of its mean.

    Targets: for [seeds, targets] input each seed's difference is first averaged over the targets
    (d_s = mean_t (a_st − b_st)), and the bootstrap resamples seeds only. The targets are one fixed set
    shared by every seed and method, and the claim is about the mean over that set; the seed (its own θ*,
    its own trainings) is the unit that replicates. Resampling targets within each seed as well would
    treat the fixed targets as a sample from a population the claim does not mention and, since targets of
    one seed share θ*, would not add independent information; averaging first keeps the seed the unit.

    The interval is `scipy.stats.bootstrap` with `paired=True` on (a_s, b_s), statistic mean(a_s − b_s),
    `method="percentile"` by default (as rliable's interval estimates). A seed with a NaN anywhere (a or b,
    any target) is dropped and listed in `dropped_seeds`. Deterministic for a given `seed`.

    The probability of improvement is paired too: the share of seeds on which a beats b (on the target
    means; a tie counts half), not rliable's unpaired P(X > Y) over every pair of runs, which would compare
    a seed's a with another seed's b and so mix the methods' gap with the spread between θ*s.

    Args:
        a, b: float [seeds] or [seeds, targets], the same shape; scores of the two methods per seed.
        confidence: the interval's level, in (0, 1).
        n_resamples: bootstrap resamples.
        method: "percentile", "basic" or "BCa" (scipy's).
        seed: seed of the bootstrap's generator.

    Returns:
        `PairedInterval`.
    """
    from scipy.stats import bootstrap

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[0] < 1:
        raise ValueError(f"a and b must have one shape [seeds] or [seeds, targets], got {a.shape} and {b.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"invalid confidence={confidence!r}: allowed a number in (0, 1)")
    if a.ndim == 2:
        bad = np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1)
        a_s, b_s = a.mean(axis=1), b.mean(axis=1)
    else:
        bad = np.isnan(a) | np.isnan(b)
        a_s, b_s = a, b
    dropped = tuple(int(i) for i in np.flatnonzero(bad))
    a_s, b_s = a_s[~bad], b_s[~bad]
    d = a_s - b_s
    n = len(d)
    if n == 0:
        nan = float("nan")
        return PairedInterval(nan, (nan, nan), nan, 0, nan, confidence, (), dropped)
    gap = float(d.mean())
    std = float(d.std(ddof=1)) if n > 1 else float("nan")
    poi = float(np.mean(a_s > b_s) + 0.5 * np.mean(a_s == b_s))
    if n < MIN_SEEDS_FOR_INTERVAL:
        interval = (-math.inf, math.inf)
    elif np.ptp(d) == 0:
        interval = (gap, gap)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = bootstrap((a_s, b_s), lambda x, y, axis: np.mean(x - y, axis=axis), paired=True,
                            vectorized=True, confidence_level=confidence, n_resamples=n_resamples,
                            method=method, rng=np.random.default_rng(seed))
        interval = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    return PairedInterval(gap, interval, poi, n, std, confidence, tuple(float(x) for x in d), dropped)


@dataclass(frozen=True)
class SmallestEffect:
    """The smallest gap (in the gap's units, > 0, on the paper's side) that would matter, and its source."""
    value: float
    source: str


def smallest_effect_of_interest(multitask_seed_std: float, paper_relative_gain: float | None = None,
                                baseline_mean: float | None = None) -> SmallestEffect:
    """The smallest effect of interest of an order claim (issue rule, one for every family).

    Where the paper states a relative gain and our baseline's returns are positive (so a relative gain is
    comparable): that gain times our baseline's mean, |paper_relative_gain| · baseline_mean. Else
    `SEED_STD_FRACTION` × the family's multitask seed std.

    Args:
        multitask_seed_std: the family's multitask score std over seeds, ≥ 0.
        paper_relative_gain: the paper's gain of the claim as a fraction (0.16 for 16%), or None where the
            paper gives none or its returns are not comparable with ours.
        baseline_mean: our mean score of the method the gain is relative to (b of the pair).

    Returns:
        `SmallestEffect` (value, source).
    """
    if paper_relative_gain is not None and baseline_mean is not None and baseline_mean > 0 \
            and paper_relative_gain != 0 and math.isfinite(paper_relative_gain):
        value = abs(paper_relative_gain) * baseline_mean
        return SmallestEffect(float(value), f"the paper's relative gain {abs(paper_relative_gain):.1%} "
                                            f"of the baseline mean {baseline_mean:.3g}")
    if not (multitask_seed_std >= 0 and math.isfinite(multitask_seed_std)):
        raise ValueError(f"invalid multitask_seed_std={multitask_seed_std!r}: allowed a finite number >= 0")
    return SmallestEffect(float(SEED_STD_FRACTION * multitask_seed_std),
                          f"{SEED_STD_FRACTION:g} × the multitask seed std {multitask_seed_std:.3g}")


@dataclass(frozen=True)
class Verdict:
    """One status ("reproduced", "refuted", "undecided"), one reason, and for undecided the seeds that
    would decide (None where no number of seeds would at the observed gap, or it cannot be estimated)."""
    status: str
    reason: str
    seeds_to_decide: int | None = None


def _decides(lo: float, hi: float, smallest_effect: float, paper_value: float | None, magnitude: bool) -> str:
    """The status of an interval already turned to the paper's side (positive = the paper's direction)."""
    if lo > 0 and (not magnitude or hi >= paper_value):
        return REPRODUCED
    if hi < smallest_effect:
        return REFUTED
    return UNDECIDED


def _on_paper_side(paper_side: int, smallest_effect: float, paper_value: float | None, magnitude: bool):
    if paper_side not in (1, -1):
        raise ValueError(f"invalid paper_side={paper_side!r}: allowed +1 (a > b) or -1 (a < b)")
    if not (smallest_effect >= 0 and math.isfinite(smallest_effect)):
        raise ValueError(f"invalid smallest_effect={smallest_effect!r}: allowed a finite number >= 0")
    if magnitude and (paper_value is None or not math.isfinite(paper_value)):
        raise ValueError("a magnitude claim needs the paper's value (paper_value)")
    return None if paper_value is None else paper_side * paper_value


def seeds_to_decide(gap: float, paired_std: float, smallest_effect: float, paper_side: int = 1,
                    confidence: float = 0.95, paper_value: float | None = None, magnitude: bool = False,
                    max_seeds: int = 1000) -> int | None:
    """The fewest seeds N at which the interval of the gap would decide the claim, at the observed gap and
    paired std.

    Formula (t approximation): the interval at N seeds is gap ± t_{(1+confidence)/2, N−1} · paired_std / √N;
    N is the smallest N ≥ 2 for which `verdict`'s rule gives reproduced or refuted on that interval.

    Returns:
        N (total seeds, not additional), or None when no N ≤ max_seeds decides (the gap sits between zero
        and the smallest effect, or below the paper's value for a magnitude claim) or the std is not finite.
    """
    from scipy.stats import t

    p = _on_paper_side(paper_side, smallest_effect, paper_value, magnitude)
    if not (math.isfinite(gap) and math.isfinite(paired_std) and paired_std >= 0):
        return None
    ns = np.arange(2, max_seeds + 1)
    half = t.ppf((1 + confidence) / 2, ns - 1) * paired_std / np.sqrt(ns)
    g = paper_side * gap
    for n, h in zip(ns, half):
        if _decides(g - h, g + h, smallest_effect, p, magnitude) != UNDECIDED:
            return int(n)
    return None


def verdict(interval: PairedInterval, paper_side: int = 1, smallest_effect: float = 0.0,
            paper_value: float | None = None, magnitude: bool = False) -> Verdict:
    """The verdict on a paper's order claim from the paired interval of a − b.

    The rule, checked in this order so that a row says one thing:

    - reproduced: the interval lies strictly on the paper's side of zero and, for a magnitude claim,
      includes the paper's value or lies beyond it (its far end reaches the paper's value);
    - refuted: the interval excludes the smallest effect of interest on the paper's side (its far end is
      below it: the gap, if any, is too small to matter or has the other sign);
    - undecided: neither; `seeds_to_decide` then says how many seeds would decide at the observed paired
      std (at least one more than the seeds used, since those did not decide).

    An interval that cannot be formed (too few seeds: ±inf; no seeds: NaN) is undecided.

    Args:
        interval: from `paired_interval(a, b)`.
        paper_side: +1 when the paper says a > b, −1 when it says a < b.
        smallest_effect: the smallest effect of interest, ≥ 0, in the gap's units and measured on the
            paper's side (e.g. `smallest_effect_of_interest(...).value`).
        paper_value: the paper's gap (a − b, signed, the gap's units); needed for a magnitude claim.
        magnitude: whether the claim is about the size of the gap, not only its sign.

    Returns:
        `Verdict` (status, reason, seeds_to_decide).
    """
    p = _on_paper_side(paper_side, smallest_effect, paper_value, magnitude)
    lo, hi = interval.interval
    shown = (f"gap {interval.gap:.3g}, {interval.confidence:.0%} interval [{lo:.3g}, {hi:.3g}] "
             f"over {interval.seeds} seeds")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        need = seeds_to_decide(interval.gap, interval.paired_std, smallest_effect, paper_side,
                               interval.confidence, paper_value, magnitude)
        if interval.seeds < MIN_SEEDS_FOR_INTERVAL:
            need = max(need, MIN_SEEDS_FOR_INTERVAL) if need is not None else None
        return Verdict(UNDECIDED, f"no interval from {interval.seeds} seed(s) "
                                  f"(at least {MIN_SEEDS_FOR_INTERVAL} needed)", need)
    side_lo, side_hi = sorted((paper_side * lo, paper_side * hi))
    status = _decides(side_lo, side_hi, smallest_effect, p, magnitude)
    if status == REPRODUCED:
        beyond = " and reaches the paper's value" if magnitude else ""
        small = (f" (though below the smallest effect of interest {smallest_effect:.3g})"
                 if side_hi < smallest_effect else "")
        return Verdict(status, f"{shown}: on the paper's side of zero{beyond}{small}")
    if status == REFUTED:
        return Verdict(status, f"{shown}: excludes the smallest effect of interest {smallest_effect:.3g}")
    need = seeds_to_decide(interval.gap, interval.paired_std, smallest_effect, paper_side, interval.confidence,
                           paper_value, magnitude)
    if side_lo > 0 and magnitude:
        why = "on the paper's side of zero but below the paper's value, and not excluding the smallest effect"
    else:
        why = f"covers zero and the smallest effect of interest {smallest_effect:.3g}"
    return Verdict(status, f"{shown}: {why}", max(need, interval.seeds + 1) if need is not None else None)


def closest_definition(slopes: Mapping[str, float], paper_slope: float) -> str:
    """The definition whose measured log-log slope is closest to the paper's.

    Rule: the smallest |slope − paper_slope| over the definitions with a finite slope; a tie (within 1e-9)
    goes to the first listed, so list the stricter definition first.

    Args:
        slopes: {definition name: fitted log-log slope of the quantity against its argument}, in order.
        paper_slope: the slope fitted to the paper's own values.

    Returns:
        the chosen definition's name.
    """
    if not math.isfinite(paper_slope):
        raise ValueError(f"invalid paper_slope={paper_slope!r}: allowed a finite number")
    finite = {name: s for name, s in slopes.items() if s is not None and math.isfinite(s)}
    if not finite:
        raise ValueError(f"no definition with a finite slope among {list(slopes)}")
    best = min(abs(s - paper_slope) for s in finite.values())
    return next(name for name, s in finite.items() if abs(s - paper_slope) <= best + 1e-9)
