"""The order comparisons of the scorecard: a method above others, below another, a knob value above another, and
"adds little", each judged on paired differences over seeds (`paired_order`, `combined_order`: the per-seed values
stored beside two metrics, same seed, same θ*, same targets) against the smallest effect of interest
(`smallest_effect`), and read as reproduced, refuted or undecided (`analysis.verdicts.verdict`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pgxlib.analysis.verdicts import paired_interval, seeds_to_decide, smallest_effect_of_interest
from pgxlib.analysis.verdicts import verdict as order_verdict
from pgxlib.report.scorecard import NO_SEEDS, Lookup, Metric, OrderEvidence, Verdict, _combine, _seed_values


def _seed_std(metric: Metric | None, lookup: Lookup) -> float | None:
    """The seed std stored beside a mean metric (``….mean`` → ``….std``), None when there is none."""
    if metric is None or not metric.key_text.endswith(".mean"):
        return None
    return Metric(metric.experiment, metric.params, metric.key_text[:-len("mean")] + "std",
                  metric.scale).measure(lookup).value


def smallest_effect(multitask: Metric | None, lookup: Lookup, paper_gain: float | None = None,
                    base: Metric | None = None) -> float:
    """The smallest effect of interest of an order on one family, in the score's units: the paper's relative gain
    `paper_gain` (a fraction) times our `base` mean where that is defined
    (`analysis.verdicts.smallest_effect_of_interest`), else `SEED_STD_FRACTION` of the family's multitask seed
    std (the ``.std`` beside `multitask`); 0 when neither is stored."""
    std = _seed_std(multitask, lookup)
    if std is None:
        return 0.0
    base_mean = None if base is None else base.measure(lookup).value
    return smallest_effect_of_interest(std, paper_gain, base_mean).value


def paired_order(better: Metric, base: Metric, lookup: Lookup, effect: float) -> tuple[str, str, OrderEvidence] | None:
    """(status, reason, evidence) of "better above base" from the per-seed values stored beside both metrics
    (same seeds, same θ*, so paired); None when either has no per-seed values or they differ in number."""
    a, b = _seed_values(better, lookup), _seed_values(base, lookup)
    if not a or len(a) != len(b):
        return None
    interval = paired_interval(np.asarray(a), np.asarray(b))
    decided = order_verdict(interval, paper_side=1, smallest_effect=effect)
    evidence = OrderEvidence(interval.gap, interval.interval, interval.probability_of_improvement, interval.seeds,
                             decided.seeds_to_decide, effect)
    return decided.status, decided.reason, evidence


def combined_order(pairs: Sequence[tuple[str, tuple[str, str, OrderEvidence]]]) -> Verdict:
    """One verdict for "above every one of them": refuted when any pair is, reproduced when every pair is,
    undecided otherwise; the row shows the deciding pair (the refuted one, the undecided one needing the most
    seeds, or the reproduced one with the lowest interval) and names the others' statuses."""
    statuses = [s for _, (s, _, _) in pairs]
    status = "refuted" if "refuted" in statuses else "reproduced" if set(statuses) == {"reproduced"} else "undecided"
    chosen = [p for p in pairs if p[1][0] == status]
    if status == "undecided":
        key = max(chosen, key=lambda p: p[1][2].seeds_to_decide or 10**9)
    else:
        key = min(chosen, key=lambda p: p[1][2].interval[0])
    label, (_, reason, evidence) = key
    others = [f"{lab}: {s}" for lab, (s, _, _) in pairs if lab != label]
    why = f"vs {label}: {reason}" + (f"; {', '.join(others)}" if others else "")
    return Verdict(status == "reproduced", why, status=status, order=evidence)


@dataclass(frozen=True)
class Above:
    """Ours (`ours_metric`) above every one of `others` (named by `labels`): judged on paired differences over
    seeds stored beside the metrics (`paired_order`, `combined_order`), with the smallest effect from
    `paper_gains` (the paper's relative gain over each of `others`, a fraction, or None) and the family's
    `multitask` seed std; undecided (`NO_SEEDS`) where no per-seed values are stored, never read from means."""

    others: tuple[Metric, ...]
    labels: tuple[str, ...]
    ours_metric: Metric
    multitask: Metric | None = None
    paper_gains: tuple[float | None, ...] = ()

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        got = [m.measure(lookup) for m in self.others]
        combined = _combine(got, 0.0)
        if combined.problems:
            return Verdict(None, "", combined)
        gains = self.paper_gains or (None,) * len(self.others)
        pairs = [(label, paired_order(self.ours_metric, other, lookup,
                                      smallest_effect(self.multitask, lookup, gain, other)))
                 for label, other, gain in zip(self.labels, self.others, gains)]
        if all(p is not None for _, p in pairs):
            v = combined_order(pairs)
            return Verdict(v.ok, v.why, combined, status=v.status, order=v.order)
        return Verdict(False, NO_SEEDS, combined, status="undecided")


@dataclass(frozen=True)
class Below:
    """Ours (`ours_metric`) below `other` (named `label`): the paired order "other above ours" as in `Above`
    (`paper_gain`: the paper's relative gain of `other` over ours); undecided (`NO_SEEDS`) without per-seed
    values."""

    other: Metric
    label: str
    ours_metric: Metric
    multitask: Metric | None = None
    paper_gain: float | None = None

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        got = self.other.measure(lookup)
        if got.value is None:
            return Verdict(None, "", got)
        effect = smallest_effect(self.multitask, lookup, self.paper_gain, self.ours_metric)
        pair = paired_order(self.other, self.ours_metric, lookup, effect)
        if pair is not None:
            status, reason, evidence = pair
            return Verdict(status == "reproduced", f"{self.label} − ours: {reason}", got, status=status,
                           order=evidence)
        return Verdict(False, NO_SEEDS, got, status="undecided")


@dataclass(frozen=True)
class Positive:
    """`better` above `base` (an ablation's order): judged on paired differences over the seeds stored beside
    both (``….seeds``), with the smallest effect `SEED_STD_FRACTION` of the family's `multitask` seed std; a
    result with one seed and no per-seed values is undecided (no interval from one seed)."""

    better: Metric
    base: Metric
    multitask: Metric | None = None

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        pair = paired_order(self.better, self.base, lookup, smallest_effect(self.multitask, lookup))
        if pair is not None:
            status, reason, evidence = pair
            return Verdict(status == "reproduced", reason, status=status, order=evidence)
        a, b = self.better.measure(lookup), self.base.measure(lookup)
        if None in (a.value, b.value):
            return Verdict(None, "", _combine([a, b], None))
        return Verdict(False, NO_SEEDS, _combine([a, b], 0.0), status="undecided")


@dataclass(frozen=True)
class AddsLittle:
    """`more` adds little over `base` (about the same score): judged on the paired interval of more − base over the
    seeds stored beside both, against the smallest effect e of `Positive` (from the family's `multitask` seed std),
    as an equivalence: reproduced when the interval lies inside (−e, e), refuted when it lies wholly beyond e on
    either side, undecided otherwise, with the seeds that would decide at the observed paired std. Without
    per-seed values, undecided."""

    more: Metric
    base: Metric
    multitask: Metric | None = None

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        a, b = _seed_values(self.more, lookup), _seed_values(self.base, lookup)
        if not a or len(a) != len(b):
            m, n = self.more.measure(lookup), self.base.measure(lookup)
            if None in (m.value, n.value):
                return Verdict(None, "", _combine([m, n], None))
            return Verdict(False, NO_SEEDS, _combine([m, n], 0.0), status="undecided")
        effect = smallest_effect(self.multitask, lookup)
        gain = paired_interval(np.asarray(a), np.asarray(b))
        lo, hi = gain.interval
        shown = f"gain {gain.gap:.3g}, 95% interval [{lo:.3g}, {hi:.3g}] over {gain.seeds} seeds"
        if np.isfinite(lo) and -effect < lo and hi < effect:
            status, why = "reproduced", f"{shown}: inside ± the smallest effect of interest {effect:.3g}"
        elif lo > effect or hi < -effect:
            status, why = "refuted", f"{shown}: beyond ± the smallest effect of interest {effect:.3g}"
        else:
            status, why = "undecided", f"{shown}: crosses ± the smallest effect of interest {effect:.3g}"
        need = None
        if status == "undecided":  # the bound that the observed gap points to decides
            distance = abs(effect - abs(gain.gap))
            need = seeds_to_decide(distance, gain.paired_std, 0.0)
            need = None if need is None else max(need, gain.seeds + 1)
        evidence = OrderEvidence(gain.gap, gain.interval, gain.probability_of_improvement, gain.seeds, need, effect)
        return Verdict(status == "reproduced", why, status=status, order=evidence)
