"""Tables, figures and computed sentences for the main-results chapter.

Everything takes the stored ``metrics`` dict of a `main_results` or `ablations` result (plain JSON)
and returns a pandas DataFrame, a matplotlib Figure or a markdown string. The paper's numbers come
from `pgxlib.paper`; no number is typed into prose here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.verdicts import PairedInterval, paired_interval
from pgxlib import paper
from pgxlib.report.plots import readable, task_label
from pgxlib.report.orders import Above, Below
from pgxlib.report.scorecard import Claim, Lookup, Measurement, Metric
from pgxlib.store.results import Result

LABELS = {
    "multitask": "Multi-task training",
    "soft_modularization": "Soft Modularization",
    "paco": "PaCo",
    "random_grouping": "Random grouping",
    "gradient_similarity_grouping": "Gradient-similarity grouping",
    "policygradex": "PolicyGradEx",
}
"""Our method keys -> the paper's row labels (`paper.MAIN_RESULTS`)."""
BASELINES = ("multitask", "soft_modularization", "paco", "random_grouping", "gradient_similarity_grouping")
REFERENCE_LABELS = {
    "truth_grouping": "Truth grouping (measured affinity)",
    "design_grouping": "Designed groups",
}
"""The reference rows (`methods.REFERENCE_METHODS`): what grouping can gain, shown apart from the methods."""
REFERENCE_COLOR = "0.55"


def label(method: str) -> str:
    """A method's or a reference's row label."""
    return LABELS.get(method) or REFERENCE_LABELS[method]


def references(metrics: Mapping[str, Any]) -> list[str]:
    """The reference rows a result stores (none in results stored before them, and none on MT10)."""
    return [m for m in metrics.get("references", []) if m in metrics["methods"]]


def paper_column(family: str) -> str | None:
    """The paper's main-table column for `family`, None when the paper has none (nav2d)."""
    return paper.FAMILY_COLUMNS.get(family)


def paper_value(method: str, family: str) -> float | None:
    col = paper_column(family)
    if col is None:
        return None
    value = paper.MAIN_RESULTS.value(LABELS[method], col)
    return value if isinstance(value, (int, float)) else None


def format_number(v: float) -> str:
    """A return with enough digits to tell close values apart: 3 decimals below 10, else 1."""
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def _pm(entry: Mapping[str, Any] | None, scale: float = 1.0) -> str:
    if not entry or entry.get("mean") is None:
        return "not implemented yet"
    if scale != 1.0:
        return f"{scale * entry['mean']:.1f} ± {scale * entry['std']:.1f}"
    return f"{format_number(entry['mean'])} ± {format_number(entry['std'])}"


def main_table(metrics: Mapping[str, Any]):
    """One row per method: target returns after adaptation (mean ± std over seeds, per seed), before
    adaptation, and the paper's number."""
    import pandas as pd

    family, methods = metrics["family"], metrics["methods"]
    col = paper_column(family)
    rows = []
    for key, label in LABELS.items():
        entry = methods[key]
        row = {"method": label, "ours: after adaptation ± std": _pm(entry),
               "ours: per seed": ("–" if entry["mean"] is None else ", ".join(format_number(v) for v in entry["seeds"])),
               "ours: before adaptation ± std": _pm(entry.get("before"))}
        if "success" in entry:
            row["ours: success % after ± std"] = _pm(entry.get("success"), 100.0)
        if col is not None:
            row[f"paper ({col})"] = paper.format_value(paper_value(key, family), "return")
        rows.append(row)
    for key in references(metrics):
        entry = methods[key]
        row = {"method": f"reference: {REFERENCE_LABELS[key]}", "ours: after adaptation ± std": _pm(entry),
               "ours: per seed": ", ".join(format_number(v) for v in entry["seeds"]),
               "ours: before adaptation ± std": _pm(entry.get("before"))}
        if "success" in entry:
            row["ours: success % after ± std"] = _pm(entry.get("success"), 100.0)
        if col is not None:
            row[f"paper ({col})"] = "–"
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def styled_table(table, metrics: Mapping[str, Any]):
    """`main_table` (or any table indexed like it) with the reference rows below a rule, in grey."""
    n_methods = len(table) - len(references(metrics))

    def grey(row):
        return ["color: grey" if table.index.get_loc(row.name) >= n_methods else "" for _ in row]
    styler = table.style.apply(grey, axis=1)
    if n_methods < len(table):
        styler = styler.set_table_styles([{"selector": f"tbody tr:nth-child({n_methods + 1}) th, "
                                                       f"tbody tr:nth-child({n_methods + 1}) td",
                                           "props": "border-top: 2px solid grey"}])
    return styler


def seed_values(values) -> np.ndarray:
    """Per-seed values as stored (None where a seed has none) → float [seeds] with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def versus(ours, base) -> PairedInterval:
    """ours − base per seed (same θ*, same targets), its mean and 95% bootstrap interval over seeds."""
    return paired_interval(seed_values(ours), seed_values(base))


def reading(p: PairedInterval) -> str:
    """"above" when the paired 95% interval of ours − base lies above 0, "below" when below, else
    "not told apart from" (also with too few seeds for an interval)."""
    lo, hi = p.interval
    return "above" if lo > 0 else "below" if hi < 0 else "not told apart from"


def interval_text(p: PairedInterval, unit: str = "") -> str:
    """``+20 [+18, +22]``: a paired gap and its 95% interval (or how many seeds gave none)."""
    lo, hi = p.interval
    if not np.isfinite(lo):
        return f"{p.gap:+.3g}{unit} (no interval from {p.seeds} seed{'s' if p.seeds != 1 else ''})"
    return f"{p.gap:+.3g}{unit} [{lo:+.3g}, {hi:+.3g}]"


def gap_text(p: PairedInterval, unit: str = "") -> str:
    """``+3.1 return [+1.2, +5.0], 8/10 seeds ahead``: a paired gap, its interval and the seeds won."""
    won = sum(d > 0 for d in p.differences)
    return f"{interval_text(p, unit)}, {won}/{p.seeds} seeds ahead"


LEVEL = 0.95
"""The family-wise level of every interval: a single comparison's, and for a value selected as the best of several,
the level its adjusted interval keeps (`selected_confidence`)."""


def selected_confidence(candidates: int, level: float = LEVEL) -> float:
    """The level of the interval of a value selected by its mean as the best of `candidates` (m), so that the
    family-wise level over the m comparisons it was picked from stays `level` (Bonferroni): 1 − (1 − level) / m;
    `level` itself for m = 1. An interval of the maximum of m at `level` would cover less than `level`."""
    if candidates < 1:
        raise ValueError(f"invalid candidates={candidates!r}: allowed an integer >= 1")
    return 1 - (1 - level) / candidates


def selected_versus(ours, base, candidates: int) -> PairedInterval:
    """`versus` for an `ours` selected as the best of `candidates`: ours − base per seed, its mean and bootstrap
    interval at `selected_confidence(candidates)`."""
    return paired_interval(seed_values(ours), seed_values(base), confidence=selected_confidence(candidates))


def selection_text(candidates: int, noun: str = "values") -> str:
    """The level of a `selected_versus` interval in words: ``best of 4 values; 98.75% interval, Bonferroni``, or
    ``95% interval`` for one candidate."""
    level = f"{100 * selected_confidence(candidates):.4g}% interval"
    return level if candidates == 1 else f"best of {candidates} {noun}; {level}, Bonferroni"


def improvements(metrics: Mapping[str, Any]):
    """PolicyGradEx minus each measured baseline, paired per seed (same θ*, same targets): the mean gap and its
    95% bootstrap interval over seeds, the probability of improvement, the reading of the interval (above,
    below, not told apart) and the paper's relative gain where both of its returns are positive
    (`paper_relative_gain`, "–" otherwise; returns can be negative here, so no relative gain of ours)."""
    import pandas as pd

    methods, family = metrics["methods"], metrics["family"]
    ours = methods["policygradex"]
    rows = []
    for key in BASELINES:
        base = methods[key]
        gain = paper_relative_gain(paper_value("policygradex", family), paper_value(key, family))
        paper_gain = "–" if gain is None else f"{100 * gain:+.1f}"
        if base["mean"] is None:
            rows.append({"baseline": LABELS[key], "PolicyGradEx − baseline [95% interval]": "–",
                         "P(improvement)": "–", "reading": "not implemented yet", "paper's relative gain %": paper_gain})
            continue
        p = versus(ours["seeds"], base["seeds"])
        rows.append({"baseline": LABELS[key], "PolicyGradEx − baseline [95% interval]": gap_text(p),
                     "P(improvement)": f"{p.probability_of_improvement:.2f}",
                     "reading": f"{reading(p)} the baseline", "paper's relative gain %": paper_gain})
    return pd.DataFrame(rows).set_index("baseline")


def main_sentence(metrics: Mapping[str, Any]) -> str:
    """Where PolicyGradEx stands against each measured baseline at our budget, read on the paired interval over
    seeds (above, below or not told apart), and how our order of the means compares to the paper's."""
    methods, family = metrics["methods"], metrics["family"]
    ours = methods["policygradex"]
    sides: dict[str, list[str]] = {"above": [], "below": [], "not told apart from": []}
    for key in BASELINES:
        if methods[key]["mean"] is not None:
            p = versus(ours["seeds"], methods[key]["seeds"])
            sides[reading(p)].append(f"{LABELS[key]} ({gap_text(p, ' return')})")
    n_seeds = len(ours["seeds"])
    parts = [f"At our budget ({n_seeds} seeds, paired 95% intervals of PolicyGradEx − baseline), PolicyGradEx is "
             + "; ".join(f"{side} {'; '.join(texts)}" for side, texts in sides.items() if texts)]
    parts.append(".")
    measured = [k for k in LABELS if methods[k]["mean"] is not None]
    order = sorted(measured, key=lambda k: -methods[k]["mean"])
    parts.append(f" Our order (best first): {', '.join(LABELS[k] for k in order)}.")
    col = paper_column(family)
    if col is not None:
        paper_order = sorted(measured, key=lambda k: -(paper_value(k, family) or -np.inf))
        same = paper_order == order
        parts.append(f" The paper's order of the same methods on {col} (meta-RL, target tasks after adaptation): "
                     f"{', '.join(LABELS[k] for k in paper_order)}; the orders are "
                     f"{'the same' if same else 'not the same'}. The protocol has the same shape as the "
                     f"paper's, but task ranges, budgets and the definition of an adaptation step are ours, "
                     f"so only the order and the gaps between methods are comparable, not the values.")
    else:
        parts.append(" The paper reports no number for this family.")
    missing = [LABELS[k] for k in LABELS if methods[k]["mean"] is None]
    if missing:
        parts.append(f" {' and '.join(missing)} are not implemented yet.")
    return "".join(parts)


def shortfall_sentence(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    """For each baseline PolicyGradEx does not beat: is the gap there before adaptation already, on
    how many target tasks (pooled over seeds) the baseline is ahead, and how much data per MAML
    update each group's meta-policy sees next to a one-policy baseline."""
    methods = metrics["methods"]
    ours = methods["policygradex"]
    behind = [k for k in BASELINES if methods[k]["mean"] is not None and methods[k]["mean"] > ours["mean"]]
    if not behind:
        return ("PolicyGradEx's mean over seeds is above every baseline's at our budget; the paired intervals above "
                "say which of those gaps are told apart from 0.")
    pgx_after = _masked(arrays["after_policygradex"])
    n = len(metrics["tasks"])
    sizes = [len(g) for seed_groups in metrics["groups"]["policygradex"] for g in seed_groups]
    parts = []
    for key in behind:
        base = methods[key]
        gap_after = base["mean"] - ours["mean"]
        gap_before = base["before"]["mean"] - ours["before"]["mean"]
        ahead = np.ma.mean(_masked(arrays[f"after_{key}"]) > pgx_after)
        parts.append(f"{LABELS[key]} is ahead by {gap_after:.3g} after adaptation and by {gap_before:.3g} before "
                     f"it, and ahead on {100 * float(ahead):.0f}% of the target tasks (pooled over seeds)")
    text = "Where PolicyGradEx falls short: " + "; ".join(parts) + ". "
    text += ("A gap that is already there before adaptation comes from the meta-policies, not from the "
             "adaptation step. ")
    if any(k in behind for k in ("multitask", "soft_modularization", "paco")):
        text += (f"Every method spends the same MAML steps per source task, so a one-policy baseline updates on "
                 f"all {n} tasks' data at each iteration, while a PolicyGradEx group (mean size "
                 f"{np.mean(sizes):.1f} tasks) updates on its own tasks' data only: the same number of updates "
                 f"with about {np.mean(sizes) / n:.0%} of the batch, and fewer tasks to generalise from to the "
                 f"target tasks assigned to the group.")
    return text


def tie_fractions(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, float]:
    """How often the comparison carries no information: the fraction of (seed, target) pairs on which
    every method's return after adaptation is exactly the same, and the fraction of (method, seed,
    target) returns that adaptation left exactly unchanged."""
    keys = [k for k in metrics["groups"] if k in LABELS]
    after = np.ma.stack([_masked(arrays[f"after_{k}"]) for k in keys])  # [M, S, T]
    before = np.ma.stack([_masked(arrays[f"before_{k}"]) for k in keys])
    all_equal = np.ma.array((np.ma.max(after, axis=0) - np.ma.min(after, axis=0)).filled(np.nan) == 0,
                            mask=np.ma.getmaskarray(after).any(axis=0))
    return {"all_methods_equal": float(np.ma.mean(all_equal)),
            "unchanged_by_adaptation": float(np.ma.mean(after == before))}


TIE_THRESHOLD = 0.25
"""The share of (seed, target task) pairs on which every method returns the same above which the table cannot rank
the methods."""


def ties_dominate(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], threshold: float = TIE_THRESHOLD) -> bool:
    """Whether the methods return exactly the same on at least `threshold` of the (seed, target task) pairs."""
    return tie_fractions(metrics, arrays)["all_methods_equal"] >= threshold


def tie_sentence(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], threshold: float = TIE_THRESHOLD) -> str:
    """A warning when the methods' returns are mostly identical, so that the table cannot rank them."""
    ties = tie_fractions(metrics, arrays)
    text = (f"On {100 * ties['all_methods_equal']:.0f}% of the (seed, target task) pairs all "
            f"{len(metrics['groups'])} methods return exactly the same, and adaptation leaves "
            f"{100 * ties['unchanged_by_adaptation']:.0f}% of the target returns exactly unchanged.")
    if not ties_dominate(metrics, arrays, threshold):
        return text
    return (f"**This comparison carries little information at our budget.** {text} The meta-policies "
            f"most likely act alike on those targets (the evaluation episodes are the same for every method), "
            f"so the differences in the table come from a minority of targets and do not rank the methods. "
            f"A larger PPO and MAML budget (the `paper` profile) is needed before this family can separate them.")


@readable
def main_bar_chart(metrics: Mapping[str, Any]) -> plt.Figure:
    """Ours (mean ± std over seeds, seeds as dots) and, where it exists, the paper's column beside it."""
    family, methods = metrics["family"], metrics["methods"]
    col = paper_column(family)
    keys = list(LABELS)
    fig, axes = plt.subplots(1, 2 if col else 1, figsize=(11 if col else 7, 4.2), squeeze=False)
    ax = axes[0, 0]
    x = np.arange(len(keys))
    colors = ["tab:red" if k == "policygradex" else "tab:blue" for k in keys]
    for i, key in enumerate(keys):
        e = methods[key]
        if e["mean"] is None:
            ax.text(i, 0.02, "not\nimplemented", ha="center", va="bottom", transform=ax.get_xaxis_transform())
            continue
        ax.errorbar(i, e["mean"], yerr=e["std"], fmt="o", ms=10, color=colors[i], capsize=6, lw=2, zorder=3)
        ax.scatter(np.full(len(e["seeds"]), i) + 0.15, e["seeds"], color="k", s=10, zorder=3)
    before = [methods[k].get("before", {}).get("mean") for k in keys]
    refs = references(metrics)
    for j, key in enumerate(refs):
        e = methods[key]
        ax.errorbar(len(keys) + 0.5 + j, e["mean"], yerr=e["std"], fmt="o", ms=10, color=REFERENCE_COLOR, capsize=6,
                    lw=2, zorder=3)
        ax.scatter(np.full(len(e["seeds"]), len(keys) + 0.65 + j), e["seeds"], color="0.4", s=10, zorder=3)
    if refs:
        ax.axvline(len(keys) - 0.25, color="0.6", ls="--", lw=1)
    ax.scatter(x, [np.nan if b is None else b for b in before], marker="_", s=300, color="gray", zorder=4,
               label="before adaptation (mean over seeds)")
    ax.set_xticks([*x, *(len(keys) + 0.5 + np.arange(len(refs)))],
                  [*(LABELS[k] for k in keys), *(f"{REFERENCE_LABELS[k]}\n(reference)" for k in refs)],
                  rotation=30, ha="right")
    ax.set_ylabel("mean return on target tasks after adaptation")
    ax.set_title(f"Ours: {family}, {len(methods['policygradex']['seeds'])} seeds (mean ± std, seeds as dots)",
                 fontsize=10)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    finite_before = [b for b in before if b is not None]
    zoom_to_theta(ax, [methods[k] for k in (*keys, *refs) if methods[k]["mean"] is not None],
          float(np.mean(finite_before)) if finite_before else methods["policygradex"]["mean"])
    if col:
        ax2 = axes[0, 1]
        vals = [paper_value(k, family) for k in keys]
        ax2.bar(x, [v if v is not None else 0 for v in vals], color=colors, alpha=0.5)
        ax2.set_xticks(x, [LABELS[k] for k in keys], rotation=30, ha="right")
        ax2.set_ylabel("mean return after adaptation")
        ax2.set_title(f"Paper: {col} (50 target tasks)", fontsize=10)
        ax2.grid(axis="y", alpha=0.3)
        ax2.axhline(0, color="k", lw=0.8)
    return fig


def zoom_to_theta(ax, entries, theta) -> None:
    """y-limits around the bars' range (returns can be negative, or close together)."""
    lows = [e["mean"] - e["std"] for e in entries] + [min(e["seeds"]) for e in entries] + [theta]
    highs = [e["mean"] + e["std"] for e in entries] + [max(e["seeds"]) for e in entries] + [theta]
    lo, hi = min(lows), max(highs)
    pad = 0.15 * (hi - lo) if hi > lo else 1.0
    ax.set_ylim(lo - pad, hi + pad)


def _masked(x) -> np.ma.MaskedArray:
    """A stored array as floats with its masked and non-finite entries masked."""
    return np.ma.masked_invalid(np.ma.filled(np.ma.asarray(x, dtype=float), np.nan))


@readable
def meta_training_curves(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> plt.Figure:
    """MAML meta-training: mean return over source tasks of episodes that ended after the inner step
    (solid, with a band of ± one std over seeds) and before it (dotted), per method, mean over seeds,
    against steps per task."""
    steps = np.asarray(arrays["curve_steps"], dtype=float)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    palette = dict(zip(BASELINES, ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")))
    for key in LABELS:
        color = palette.get(key, "tab:red")
        for kind, style in (("curve_post", "-"), ("curve_pre", ":")):
            curve = _masked(arrays[f"{kind}_{key}"])  # [S, I, n]
            per_seed = np.ma.mean(curve, axis=2)  # [S, I]
            mean = np.ma.mean(per_seed, axis=0).filled(np.nan)
            x = steps[:len(mean)]
            ax.plot(x, mean, style, color=color, lw=1.5 if style == "-" else 1,
                    label=LABELS[key] if style == "-" else None)
            if style == "-" and per_seed.shape[0] > 1:
                std = np.ma.std(per_seed, axis=0, ddof=1).filled(np.nan)
                ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.12, lw=0)
    ax.set_xlabel("MAML environment steps per source task (support + query)")
    ax.set_ylabel("mean episode return on source tasks")
    ax.set_title(f"{metrics['family']}: meta-training, mean over {len(metrics['seeds'])} seeds ± std\n"
                 "(solid: after the inner step, dotted: before)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(ncol=2)
    return fig


GOAL_PARAMS = ("goal_x", "goal_y")
"""Task parameters that place a goal in the plane of an arena whose agent starts at the origin (nav2d's and planted's
tasks): a scatter of tasks over them is a map of that arena."""


@readable
def target_scatter(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], method: str = "policygradex",
                   seed_index: int = 0) -> plt.Figure:
    """Training (source) tasks and unseen test (target) tasks in the first two task parameters, for
    one seed: sources coloured by `method`'s group, targets by the group they were assigned to, and
    each target's return after adaptation written beside it. Where the first two parameters are a goal's position
    (`GOAL_PARAMS`, as stored in ``metrics.param_names``) the start at the origin is marked, at equal aspect."""
    src, tgt = np.asarray(arrays["source_params"]), np.asarray(arrays["target_params"])
    names = metrics["param_names"]
    if src.shape[1] == 1:
        src, tgt = np.c_[src, np.zeros(len(src))], np.c_[tgt, np.zeros(len(tgt))]
    src, tgt = src[:, :2], tgt[:, :2]
    src_group = np.asarray(arrays[f"labels_{method}"])[seed_index]
    tgt_group = np.asarray(arrays[f"target_group_{method}"])[seed_index]
    after = _masked(arrays[f"after_{method}"])[seed_index].filled(np.nan)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    cmap = plt.cm.tab10
    ax.scatter(tgt[:, 0], tgt[:, 1], c=[cmap(g % 10) for g in tgt_group], marker="o", s=28, alpha=0.45,
               label="unseen test tasks (colour: assigned group)")
    ax.scatter(src[:, 0], src[:, 1], c=[cmap(g % 10) for g in src_group], marker="*", s=260, edgecolors="k",
               label=f"training tasks (colour: {LABELS[method]} group)")
    for i, (x, y) in enumerate(src):
        ax.annotate(task_label(i), (x, y), textcoords="offset points", xytext=(6, 6))
    if tuple(names[:2]) == GOAL_PARAMS:
        ax.scatter([0], [0], marker="x", color="k", s=60, label="start")
        ax.set_aspect("equal")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1] if len(names) > 1 else "")
    ax.set_title(f"{metrics['family']}, seed {metrics['seeds'][seed_index]}: training vs test tasks\n"
                 f"mean test return after adaptation {np.nanmean(after):.3g}", fontsize=10)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


def adaptation_table(metrics: Mapping[str, Any]):
    """Per method: mean target return before and after adaptation and the gain, mean ± std over seeds."""
    import pandas as pd

    rows = []
    for key, label in LABELS.items():
        per = metrics["per_seed"]
        gains = [p["after"][key] - p["before"][key] for p in per
                 if p["after"][key] is not None and p["before"][key] is not None]
        rows.append({"method": label, "before": _pm(metrics["methods"][key]["before"]),
                     "after": _pm(metrics["methods"][key]),
                     "gain from adaptation": (f"{np.mean(gains):+.3g} ± {np.std(gains, ddof=1) if len(gains) > 1 else 0:.2g}"
                                              if gains else "–")})
    return pd.DataFrame(rows).set_index("method")


def design_sentence(metrics: Mapping[str, Any]) -> str:
    """How close each grouping method came to the family's designed groups (NMI per seed), or "" when the
    family has none or the result predates the measure."""
    nmis = metrics.get("design_nmi")
    if not nmis:
        return ""
    parts = [f"{label(m)} {', '.join(f'{v:.2f}' for v in values)}" for m, values in nmis.items()
             if m != "design_grouping"]
    return (f"**Designed groups.** {metrics['family']} was built with groups that conflict by construction; the NMI "
            f"of each method's groups with them, per seed (1 = found exactly; random grouping shows chance): "
            + "; ".join(parts) + ".")


# ---------------------------------------------------------------------------------------------
# The scorecard's claims of this chapter (collected by `pgxlib.report.claims`)
# ---------------------------------------------------------------------------------------------

MAIN_KEYS = {"random": "random_grouping", "gradient_similarity": "gradient_similarity_grouping"}
"""`paper.METHODS` keys whose `main_results` key differs (the others are the same)."""
MEASURED_BASELINES = ("multitask", "soft_modularization", "paco", "care", "random", "gradient_similarity")
"""The baselines `main_results` implements (CARE under the multi-objective protocol only, as in the paper)."""
PROTOCOL_NOTE = "ordering only: both meta-RL on target tasks after adaptation, our task ranges and budgets"
MT10_PROTOCOL_NOTE = "ordering only: both MT10 success, multi-objective; our learner (PPO) and budget"


def result_protocol(result: Result) -> str:
    """The protocol a stored main result was computed under: its ``meta["protocol"]`` ("meta_rl" or
    "multi_objective"), or for a result stored without it, what its metrics show: the multi-objective protocol
    stores success rates (``metrics.methods.<method>.success``), the meta-RL protocol returns after adaptation."""
    protocol = result.meta.get("protocol")
    if protocol is not None:
        return protocol
    methods = result.get("metrics.methods", None) or {}
    return "multi_objective" if any(isinstance(e, Mapping) and "success" in e for e in methods.values()) else "meta_rl"


@dataclass(frozen=True)
class Score(Metric):
    """A method's score in a `main_results` result, read under `protocol` (the one the paper reports the family
    under); a result stored under another protocol is not measured, and the row says so."""

    protocol: str = "meta_rl"

    def measure(self, lookup: Lookup) -> Measurement:
        result, _ = lookup.result(self.experiment, self.params)
        if result is not None and result_protocol(result) != self.protocol:
            return Measurement(None, (result,), (f"the stored {self.experiment} result was computed under the "
                                                 f"{result_protocol(result)} protocol, the paper's number under "
                                                 f"{self.protocol}",))
        return super().measure(lookup)


def method_score(family: str, method: str) -> Score:
    """`method`'s mean score over seeds on `family` under the protocol the paper reports it under
    (`paper.protocol`): success in percent (multi-objective) or return after adaptation (meta-RL)."""
    key = MAIN_KEYS.get(method, method)
    protocol = paper.protocol(family)
    if protocol == "multi_objective":
        return Score("main_results", {"family": family}, f"metrics.methods.{key}.success.mean", 100.0, protocol)
    return Score("main_results", {"family": family}, f"metrics.methods.{key}.mean", protocol=protocol)


def paper_relative_gain(ours: float | None, base: float | None) -> float | None:
    """The paper's relative gain of `ours` over `base` as a fraction, where both of the paper's numbers are
    positive (a relative gain on returns that can be negative means nothing); None otherwise."""
    if ours is None or base is None or ours <= 0 or base <= 0:
        return None
    return (ours - base) / base


def _reported(family: str) -> list[tuple[str, str, float]]:
    column = paper.FAMILY_COLUMNS[family]
    out = []
    for method, label in paper.METHODS.items():
        value = paper.MAIN_RESULTS.value(label, column)
        if value is not None:
            out.append((method, label, value))
    return out


def claims() -> list[Claim]:
    """Every cell of the main table: PolicyGradEx above each baseline, per family.

    The paper's control numbers and ours are both meta-RL (MAML per group, target tasks after
    adaptation), but task ranges, budgets and network sizes are ours, so only the order of the
    methods is judged, not the values. The PolicyGradEx row
    is judged against the baselines we implement (`MEASURED_BASELINES`); the others stay "not yet measured".
    """
    claims = []
    for family, column in paper.FAMILY_COLUMNS.items():
        unit = paper.MAIN_RESULTS.unit(column)
        note = MT10_PROTOCOL_NOTE if paper.protocol(family) == "multi_objective" else PROTOCOL_NOTE
        baselines = [(m, label) for m, label, _ in _reported(family) if m in MEASURED_BASELINES]
        reported = {m: v for m, _, v in _reported(family)}
        multitask = method_score(family, "multitask")
        for method, label, value in _reported(family):
            if method == "policygradex":
                compare = Above(tuple(method_score(family, m) for m, _ in baselines),
                                tuple(lbl for _, lbl in baselines), method_score(family, method), multitask,
                                tuple(paper_relative_gain(reported["policygradex"], reported[m]) for m, _ in baselines))
                name = (f"Main results, {column}: PolicyGradEx above "
                        f"{', '.join(lbl for _, lbl in baselines)} ({note})")
                short = "PolicyGradEx above every baseline"
            else:
                compare = Below(method_score(family, "policygradex"), "PolicyGradEx", method_score(family, method),
                                multitask, paper_relative_gain(reported.get("policygradex"), value))
                name = f"Main results, {column}: {label} below PolicyGradEx ({note})"
                short = f"{label} below PolicyGradEx"
            claims.append(Claim(name, value, unit, method_score(family, method), compare, paper.MAIN_RESULTS.name,
                                short, family))
    return claims
