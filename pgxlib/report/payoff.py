"""Does grouping pay off? What the best reference grouping gains over multitask and random grouping (its intervals
Bonferroni-adjusted for its selection among the references), the share of it PolicyGradEx recovers
(`grouping_payoff`), and the picture before the table: each method minus multitask, paired
per seed (`paired_gap_figure`: a dot per seed for d_s = method_s − multitask_s, same θ* and targets, the mean with
its 95% bootstrap interval, and, where the paper's returns are comparable, the paper's relative gain over multitask
placed on our multitask mean as a mark).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.verdicts import PairedInterval, paired_interval
from pgxlib.report.main_results import (BASELINES, LABELS, REFERENCE_COLOR, REFERENCE_LABELS, interval_text, label,
                                       paper_relative_gain, paper_value, references, seed_values, selected_confidence,
                                       selection_text)
from pgxlib.report.plots import readable

@dataclass(frozen=True)
class Payoff:
    """What the best reference grouping gains on one family, and how much of it PolicyGradEx recovers.

    best: the reference with the highest mean over seeds, of the m the result stores; over_multitask, over_random:
    best − multitask and best − random grouping, paired over seeds, at 1 − 0.05/m (Bonferroni, for the selection;
    their `confidence`); policygradex_over_multitask: PolicyGradEx − multitask, paired, at 95%;
    recovered: (PolicyGradEx − multitask) / (best − multitask) on the means, None unless the denominator is > 0;
    note: a caveat ("" when none), e.g. when the denominator's interval covers 0.
    """
    family: str
    best: str
    over_multitask: PairedInterval
    over_random: PairedInterval
    policygradex_over_multitask: PairedInterval
    recovered: float | None
    note: str


def _per_seed(metrics: Mapping[str, Any], method: str) -> np.ndarray:
    return seed_values(metrics["methods"][method]["seeds"])


def grouping_payoff(metrics: Mapping[str, Any]) -> Payoff | None:
    """(a) the best reference grouping's gain over multitask and over random grouping, each with its paired
    interval over seeds (`analysis.verdicts.paired_interval` on the per-seed mean returns over the shared
    targets), and (b) the share of that gain PolicyGradEx recovers. None for a result without references.

    The best is selected by its mean from the m references, so its two intervals are at 1 − 0.05/m
    (`main_results.selected_confidence`, Bonferroni: 97.5% for two references, 95% for one), which keeps the m
    comparisons it was picked from at 95% together; PolicyGradEx's, not selected, is at 95%."""
    refs = references(metrics)
    if not refs:
        return None
    best = max(refs, key=lambda m: np.nanmean(_per_seed(metrics, m)))
    level = selected_confidence(len(refs))
    oracle, multitask = _per_seed(metrics, best), _per_seed(metrics, "multitask")
    over_multitask = paired_interval(oracle, multitask, confidence=level)
    ours = paired_interval(_per_seed(metrics, "policygradex"), multitask)
    gain = over_multitask.gap
    recovered = ours.gap / gain if np.isfinite(gain) and gain > 0 else None
    lo, hi = over_multitask.interval
    notes = []
    if not gain > 0:
        notes.append("no reference grouping beats multitask on average, so there is no gain to recover")
    if not np.isfinite(lo):
        notes.append(f"{over_multitask.seeds} seeds give no interval, so the gain over multitask is not told apart "
                     f"from 0")
    elif lo <= 0 <= hi:
        notes.append(f"the best grouping's gain over multitask is not told apart from 0 (interval [{lo:.3g}, "
                     f"{hi:.3g}] over {over_multitask.seeds} seeds, {selection_text(len(refs), 'references')}), so "
                     f"the share recovered has no stable denominator")
    note = "; ".join(notes)
    over_random = paired_interval(oracle, _per_seed(metrics, "random_grouping"), confidence=level)
    return Payoff(metrics["family"], best, over_multitask, over_random, ours, recovered, note)


def payoff_table(metrics: Mapping[str, Any]):
    """One row per reference gap of `grouping_payoff`: the paired gap with its interval and the interval's level
    (1 − 0.05/m for the best of m references, Bonferroni; 95% for PolicyGradEx), the probability of improvement
    and the seeds; None without references. Shape [3, 4]."""
    import pandas as pd

    pay = grouping_payoff(metrics)
    if pay is None:
        return None
    name, chosen = REFERENCE_LABELS[pay.best], selection_text(len(references(metrics)), "references")
    rows = [(f"{name} − multitask", pay.over_multitask, chosen),
            (f"{name} − random grouping", pay.over_random, chosen),
            ("PolicyGradEx − multitask", pay.policygradex_over_multitask, selection_text(1))]
    return pd.DataFrame([{"paired gap": gap, "mean [interval]": interval_text(p), "interval": level,
                          "probability of improvement": f"{p.probability_of_improvement:.2f}", "seeds": p.seeds}
                         for gap, p, level in rows]).set_index("paired gap")


def payoff_sentence(metrics: Mapping[str, Any]) -> str:
    """The payoff in one paragraph: what the best grouping gains (its intervals' level said: Bonferroni for its
    selection among the references), and the share PolicyGradEx recovers."""
    pay = grouping_payoff(metrics)
    if pay is None:
        return ""
    name = REFERENCE_LABELS[pay.best].lower()
    text = (f"**Does grouping pay off?** The best reference grouping, {name}, gains "
            f"{interval_text(pay.over_multitask)} return over multitask and {interval_text(pay.over_random)} over "
            f"random grouping (paired over seeds: mean [interval]; "
            f"{selection_text(len(references(metrics)), 'references')}). ")
    if pay.recovered is not None:
        text += (f"PolicyGradEx gains {interval_text(pay.policygradex_over_multitask)} over multitask "
                 f"({selection_text(1)}): {100 * pay.recovered:.0f}% of the best grouping's gain.")
    if pay.note:
        text += f" Note: {pay.note}."
    return text



# ---------------------------------------------------------------------------------------------
# The picture: each method minus multitask, paired per seed
# ---------------------------------------------------------------------------------------------

BASE = "multitask"
PAPER_MARK = {"marker": "D", "color": "tab:red", "s": 40, "zorder": 4}


def _entry_seeds(entry: Mapping[str, Any], success: bool) -> np.ndarray:
    values = seed_values(entry["success"]["seeds"] if success else entry["seeds"])
    return 100.0 * values if success else values


def scored_by_success(metrics: Mapping[str, Any]) -> bool:
    """Whether the result scores methods by success rate (multi-objective, Meta-World) rather than return."""
    return bool((metrics["methods"].get(BASE) or {}).get("success"))


def paired_gaps(metrics: Mapping[str, Any]) -> dict[str, PairedInterval]:
    """Method (then reference) → its paired interval against multitask over the seeds the result stores
    (success in points on a multi-objective result, else return after adaptation). Methods without per-seed
    values, or with another seed count, are left out."""
    methods = metrics["methods"]
    if BASE not in methods:
        return {}
    success = scored_by_success(metrics)
    base = _entry_seeds(methods[BASE], success)
    out = {}
    for name in (*BASELINES[1:], "policygradex", *references(metrics)):
        entry = methods.get(name)
        if not entry or entry.get("mean") is None or (success and not entry.get("success")):
            continue
        mine = _entry_seeds(entry, success)
        if mine.shape == base.shape:
            out[name] = paired_interval(mine, base)
    return out


def paper_gap(metrics: Mapping[str, Any], method: str) -> float | None:
    """The paper's relative gain of `method` over multitask on this family, in our units (times our multitask
    mean); None where the paper has no comparable pair or our multitask mean is not positive."""
    if method not in LABELS:
        return None
    gain = paper_relative_gain(paper_value(method, metrics["family"]), paper_value(BASE, metrics["family"]))
    ours = metrics["methods"][BASE].get("mean")
    if gain is None or ours is None or ours <= 0 or scored_by_success(metrics):
        return None
    return gain * ours


@readable
def paired_gap_figure(metrics: Mapping[str, Any]) -> plt.Figure:
    """Each method minus multitask on one family: dots per seed, mean and 95% interval, the paper's mark."""
    gaps = paired_gaps(metrics)
    names = list(gaps)
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(names) + 1.8))
    rng = np.random.default_rng(0)
    marked = False
    for y, name in enumerate(names):
        p = gaps[name]
        d = np.asarray(p.differences)
        ax.scatter(d, y + rng.uniform(-0.12, 0.12, len(d)), s=14, color="0.45", alpha=0.7, zorder=2,
                   label="one seed" if y == 0 else None)
        lo, hi = p.interval
        if np.isfinite(lo):
            ax.plot([lo, hi], [y, y], color="tab:blue", lw=3, solid_capstyle="butt", zorder=3,
                    label="mean, 95% interval" if y == 0 else None)
        ax.scatter([p.gap], [y], color="tab:blue", s=36, zorder=3)
        mark = paper_gap(metrics, name)
        if mark is not None:
            ax.scatter([mark], [y], **PAPER_MARK, label=None if marked else "paper's gain (relative, on our multitask)")
            marked = True
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(names)), [label(n) for n in names])
    for tick, name in zip(ax.get_yticklabels(), names):
        if name in references(metrics):  # what the right groups give: a reference, not a competitor
            tick.set_color(REFERENCE_COLOR)
    ax.invert_yaxis()
    unit = "points of success" if scored_by_success(metrics) else "return after adaptation"
    ax.set_xlabel(f"method − multitask, per seed ({unit})")
    seeds = max((p.seeds for p in gaps.values()), default=0)
    ax.set_title(f"{metrics['family']}: each method minus multitask, paired over {seeds} seeds")
    if names:
        fig.legend(loc="outside lower center", ncols=3)
    return fig
