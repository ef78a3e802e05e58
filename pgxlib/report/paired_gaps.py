"""The picture before the table: each method minus multitask, paired per seed, on one family's main results.

One row per method (and reference grouping): a dot per seed for d_s = method_s − multitask_s (same θ*, same
targets), the mean with its 95% bootstrap interval (`analysis.verdicts.paired_interval`) as a bar, and, where the
paper's numbers are comparable (both positive returns), the paper's relative gain over multitask placed on our
multitask mean as a mark.
"""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.verdicts import PairedInterval, paired_interval
from pgxlib.report.main_results import (BASELINES, LABELS, REFERENCE_COLOR, label, paper_relative_gain, paper_value,
                                       references)
from pgxlib.report.plots import readable

BASE = "multitask"
PAPER_MARK = {"marker": "D", "color": "tab:red", "s": 40, "zorder": 4}


def _per_seed(entry: Mapping[str, Any], success: bool) -> np.ndarray:
    values = entry["success"]["seeds"] if success else entry["seeds"]
    scale = 100.0 if success else 1.0
    return np.array([np.nan if v is None else scale * v for v in values], dtype=float)


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
    base = _per_seed(methods[BASE], success)
    out = {}
    for name in (*BASELINES[1:], "policygradex", *references(metrics)):
        entry = methods.get(name)
        if not entry or entry.get("mean") is None or (success and not entry.get("success")):
            continue
        mine = _per_seed(entry, success)
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
