"""The ablations chapters: knob tables, plots and sentences, and the overview across families."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.verdicts import PairedInterval
from pgxlib.config import CONTROL_FAMILIES
from pgxlib import paper
from pgxlib.report.main_results import (format_number, paper_relative_gain, selected_versus, selection_text,
                                       zoom_to_theta)
from pgxlib.report.plots import readable
from pgxlib.report.orders import AddsLittle, Positive
from pgxlib.report.scorecard import Between, Claim, Difference, Metric

# ---------------------------------------------------------------------------------------------
# Ablations
# ---------------------------------------------------------------------------------------------

KNOB_TITLES = {"k": "number of groups k", "proj_dim": "projection dimension d", "projection": "gradient projection",
               "n_subsets": "number of subsets m", "subset_size": "subset size", "depth": "policy depth (hidden layers)",
               "strategy": "grouping strategy"}
STRATEGY_LABELS = {"sdp": "loss-based SDP (PolicyGradEx)", "spectral": "spectral clustering of the same U",
                   "gradient_similarity": "gradient similarity", "random": "random"}
PROJECTION_LABELS = {"gaussian": "dense Gaussian (the paper's)", "sketch": "structured sketch (Linear layers)"}
CATEGORICAL_LABELS = {"strategy": STRATEGY_LABELS, "projection": PROJECTION_LABELS}
"""Knobs whose values are names, not numbers: their long labels."""


def value_label(knob: str, value) -> str:
    """How a knob value is written in tables and on axes."""
    return CATEGORICAL_LABELS.get(knob, {}).get(value, str(value))


def knobs_of(metrics: Mapping[str, Any]) -> list[str]:
    """The knobs of `KNOB_TITLES` a stored result has (results of older code may lack some)."""
    return [knob for knob in KNOB_TITLES if knob in metrics]
_PAPER_STRATEGY = {"sdp": "loss-based (PolicyGradEx)", "gradient_similarity": "gradient similarity", "random": "random"}


def seed_std(profile: str, family: str) -> tuple[float, list[float]] | None:
    """PolicyGradEx's seed-to-seed std and per-seed scores in the stored main results of `family`
    (the yardstick for single-seed ablation differences), None when that result is not stored."""
    from pgxlib.store.results import read_result, stored_results

    paths = [p for p in stored_results(profile, "main_results") if p.name.split("-seed")[0] == family]
    if not paths:
        return None
    entry = read_result(paths[0]).metrics["methods"]["policygradex"]
    return entry["std"], list(entry["seeds"])


def paired_seeds(metrics: Mapping[str, Any]) -> list[int]:
    """The seeds the k and strategy knobs ran on ([the result's seed] for results stored before paired seeds)."""
    return list(metrics.get("paired_seeds") or [metrics.get("seed", 0)])


def seed_scores(metrics: Mapping[str, Any], knob: str, value) -> list[float | None]:
    """The score of one knob value on each paired seed (`paired_seeds` order); [the score] for a knob or a result
    without per-seed scores."""
    entry = metrics[knob]["by_value"][str(value)]
    return list(entry["seeds"]) if isinstance(entry.get("seeds"), list) else [entry["score"]]


def uninformative_seeds(metrics: Mapping[str, Any]) -> list[int]:
    """The paired seeds on which every trained value of every knob run on paired seeds (k, strategy) scores exactly
    the same: the adapted policies act alike there, so every paired gap on that seed is 0."""
    seeds = paired_seeds(metrics)
    per_value = [seed_scores(metrics, knob, v) for knob in ("k", "strategy") if knob in metrics
                 for v in metrics[knob]["values"]]
    per_value = [scores for scores in per_value if len(scores) == len(seeds)]
    if len(seeds) < 2 or not per_value:
        return []
    return [seed for seed, scores in zip(seeds, zip(*per_value)) if len(set(scores) - {None}) == 1]


def noise_note(profile: str, family: str, metrics: Mapping[str, Any] | None = None) -> str:
    """The yardstick of `seed_std` as a sentence ("" when the main results of `family` are not stored)."""
    found = seed_std(profile, family)
    if found is None:
        return ""
    std, seeds = found
    used = paired_seeds(metrics) if metrics is not None else [0]
    runs = ("The ablations use one seed." if len(used) == 1 else
            f"The k and strategy knobs ran on {len(used)} seeds (seeds {', '.join(map(str, used))}, each from its own "
            f"θ*; a value's score is the mean over them, so two values compare on the same θ*s), the other knobs on "
            f"seed {used[0]}.")
    flat = [] if metrics is None else uninformative_seeds(metrics)
    if flat:
        runs += (f" On seed{'s' if len(flat) > 1 else ''} {', '.join(map(str, flat))} every k and every strategy "
                 f"scores exactly the same ({len(flat)} of {len(used)}): the adapted policies act alike there, so those "
                 f"seeds add gaps of exactly 0 and only the other {len(used) - len(flat)} can tell values apart.")
    return (f"**Noise yardstick.** {runs} In the main results on {family} "
            f"({len(seeds)} seeds), PolicyGradEx's score has a seed-to-seed standard deviation of "
            f"{std:.3g} (per-seed scores {', '.join(f'{v:.3g}' for v in seeds)}): the scale of a reseed, against which "
            f"a knob run on one seed is read; the knobs run on paired seeds are read on their paired interval.")


def paper_knob_value(knob: str, value) -> str:
    """The paper's number for a knob value (Meta-World, MT10 success), "–" where it reports none."""
    if knob == "k":
        rows = dict(paper.N_GROUPS.rows)
        return paper.format_value(rows[str(value)][0], "%") + " (MW)" if str(value) in rows else "–"
    if knob == "strategy" and value in _PAPER_STRATEGY:
        return paper.format_value(paper.GROUPING_STRATEGY.value(_PAPER_STRATEGY[value], "Meta-World"), "%") + " (MW)"
    if knob == "proj_dim":
        return str(paper.PROJECTION_DIM.value("200–1000", "effect")) if 400 <= int(value) <= 1000 else "–"
    return "–"


def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "not trained"
    return f"{100 * v:.1f}%" if pct else format_number(v)


def knob_table(metrics: Mapping[str, Any], knob: str):
    """One row per value of `knob`: groups, NMI against the reference clustering, mean return (of the result's seed;
    for the paired knobs also the mean over the paired seeds and each seed's), paper."""
    import pandas as pd

    k = metrics[knob]
    has_success = any(s is not None for s in k["success"])
    seeds = paired_seeds(metrics)
    per_seed = len(seeds) > 1 and all(isinstance(e.get("seeds"), list) for e in k["by_value"].values())
    rows = []
    for v, r in zip(k["values"], k["rows"]):
        row = {KNOB_TITLES[knob]: value_label(knob, v) + (" (reference)" if v == k["reference"] else ""),
               "groups": " | ".join(",".join(f"S{i}" for i in g) for g in r["groups"]),
               "NMI vs reference": f"{r['nmi']:.2f}", "target return after adaptation": _fmt(r["score"]),
               "before adaptation": _fmt(r.get("score_before"))}
        if per_seed:
            row[f"target return after adaptation, seed {seeds[0]}"] = row.pop("target return after adaptation")
            row[f"mean over {len(seeds)} seeds"] = _fmt(k["by_value"][str(v)]["score"])
            row["per seed"] = ", ".join(_fmt(x) for x in seed_scores(metrics, knob, v))
        if r.get("affinity_corr") is not None:
            row["affinity corr. vs reference"] = f"{r['affinity_corr']:.2f}"
        if has_success:
            row["success"] = _fmt(r["success"], pct=True)
        if knob == "n_subsets":
            row["subsets used (after pair coverage)"] = r.get("subsets_used", "–")
        if knob in ("k", "strategy", "proj_dim"):
            row["paper (Meta-World, meta-RL)"] = paper_knob_value(knob, v)
        rows.append(row)
    return pd.DataFrame(rows).set_index(KNOB_TITLES[knob])


@readable
def knob_plot(metrics: Mapping[str, Any], knob: str) -> plt.Figure:
    """Mean return (and NMI against the reference clustering) against the knob's values."""
    k = metrics[knob]
    values, scores, nmis = k["values"], k["scores"], k["nmi"]
    theta = metrics["reference"]["score"]
    paper_panel = knob in ("k", "strategy")
    fig, axes = plt.subplots(1, 2 if paper_panel else 1, figsize=(10 if paper_panel else 6.5, 3.6), squeeze=False)
    ax = axes[0, 0]
    if knob in CATEGORICAL_LABELS:
        x = np.arange(len(values))
        ax.bar(x, [s if s is not None else np.nan for s in scores],
               color=["tab:red" if v == k["reference"] else "tab:blue" for v in values], alpha=0.75)
        ax.set_xticks(x, [value_label(knob, v) for v in values], rotation=20, ha="right")
        zoom_to_theta(ax, [{"mean": s, "std": 0.0, "seeds": [s]} for s in scores if s is not None], theta)
    else:
        trained = [(v, s) for v, s in zip(values, scores) if s is not None]
        if trained:
            ax.plot([v for v, _ in trained], [s for _, s in trained], "o-", color="tab:red",
                    label="target return after adaptation")
        ax.set_xlabel(KNOB_TITLES[knob])
        ax.set_xticks(values)
        ax.axvline(k["reference"], color="gray", ls=":", lw=1, label="reference")
    ax.axhline(theta, color="gray", ls="--", lw=1, label="reference configuration")
    handles, names = ax.get_legend_handles_labels()
    if knob not in ("k", "strategy"):
        ax2 = ax.twinx()
        ax2.plot(np.arange(len(values)) if knob in CATEGORICAL_LABELS else values, nmis, "s--", color="tab:green",
                 label="NMI vs reference")
        ax2.set_ylabel("NMI vs reference clustering", color="tab:green")
        ax2.set_ylim(-0.05, 1.05)
        h2, n2 = ax2.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    ax.set_ylabel("mean target return after adaptation")
    ax.set_title(f"Ours: {metrics['family']}, seed {metrics['seed']}, meta-RL", fontsize=10)
    ax.legend(handles, names, loc="best")
    ax.grid(alpha=0.3)
    if paper_panel:
        axp = axes[0, 1]
        if knob == "k":
            ks = [int(r) for r, _ in paper.N_GROUPS.rows]
            axp.plot(ks, [v[0] for _, v in paper.N_GROUPS.rows], "o-", color="tab:purple")
            axp.set_xlabel("number of groups k")
            axp.set_xticks(ks)
        else:
            names = list(_PAPER_STRATEGY)
            axp.bar(np.arange(len(names)), [paper.GROUPING_STRATEGY.value(_PAPER_STRATEGY[s], "Meta-World")
                                            for s in names], color="tab:purple", alpha=0.6)
            axp.set_xticks(np.arange(len(names)), [STRATEGY_LABELS[s] for s in names], rotation=20, ha="right")
        axp.set_ylabel("MT10 success (%)")
        axp.set_title("Paper: Meta-World MT10 (other env and protocol)")
        axp.grid(alpha=0.3)
    return fig


def knob_sentence(metrics: Mapping[str, Any], knob: str) -> str:
    """A computed sentence on what the knob does in our numbers (the mean over the paired seeds for the paired
    knobs), beside what the paper reports."""
    k = metrics[knob]
    rows = dict(zip(map(str, k["values"]), k["rows"]))
    ref = str(k["reference"])
    scored = {v: e["score"] for v, e in k["by_value"].items() if e["score"] is not None}
    best = max(scored, key=scored.get) if scored else None
    if knob == "k":
        lower = [v for v in scored if int(v) < int(ref)]
        above = all(scored[ref] > scored[v] for v in lower) if ref in scored and lower else None
        text = (f"Best target return after adaptation at k={best} ({format_number(scored[best])}); the reference k={ref} gives "
                f"{format_number(scored.get(ref, float('nan')))}" if best else "No k was trained.")
        if above is not None:
            text += (f", {'above' if above else 'not above'} every smaller k "
                     f"({', '.join(f'k={v}: {format_number(scored[v])}' for v in lower)}).")
        vals = [v[0] for _, v in paper.N_GROUPS.rows]
        text += (f" The paper (Meta-World MT10 success, another env and protocol) rises with k: "
                 f"{', '.join(f'k={r}: {v:g}%' for r, v in zip([r for r, _ in paper.N_GROUPS.rows], vals))}.")
        return text
    if knob == "strategy":
        order = sorted(scored, key=lambda v: -scored[v])
        sdp_first = order[0] == "sdp" if order else False
        text = (f"Our order (target return after adaptation, best first): "
                f"{', '.join(f'{STRATEGY_LABELS[v]} {format_number(scored[v])}' for v in order)}; the loss-based SDP is "
                f"{'first' if sdp_first else 'not first'}.")
        text += (" The paper (Meta-World MT10 success) has loss-based "
                 f"{paper.GROUPING_STRATEGY.value('loss-based (PolicyGradEx)', 'Meta-World'):g}%, gradient similarity "
                 f"{paper.GROUPING_STRATEGY.value('gradient similarity', 'Meta-World'):g}%, random "
                 f"{paper.GROUPING_STRATEGY.value('random', 'Meta-World'):g}%; spectral clustering is not in its table.")
        return text
    same = [v for v, r in rows.items() if r["nmi"] >= 0.999]
    text = (f"{len(same)} of {len(rows)} values give the reference partition exactly (NMI 1): "
            f"{', '.join(same) if same else 'none'}; NMI ranges from {min(k['nmi']):.2f} to {max(k['nmi']):.2f}.")
    if scored:
        lo, hi = min(scored.values()), max(scored.values())
        text += f" The target return after adaptation ranges from {format_number(lo)} to {format_number(hi)} over the values."
    if knob == "depth":
        text += (" Each depth has its own θ* and features, so the NMI compares clusterings found from different "
                 "policies. The paper's depth ablation (speedup and NMI at 2/4/8 layers) is in the speedup chapter.")
    if knob == "projection":
        others = [(v, r) for v, r in rows.items() if v != ref]
        text += "".join(
            f" The {_knob_label(knob, v)} groups the tasks as the {_knob_label(knob, ref)} projection does with NMI "
            f"{r['nmi']:.2f}" + ("" if r.get("affinity_corr") is None else
                                 f", and their affinities correlate at {r['affinity_corr']:.2f}") + "."
            for v, r in others)
        text += (" Whether a lower NMI matters depends on how reproducible the grouping is at all: compare it with the "
                 "family's noise ceiling in the structure chapter.")
    if knob == "proj_dim":
        m = k.get("min_nmi_above_reference")
        if m is not None:
            text += (f" Above the reference d={ref}, the smallest NMI against it is {m:.2f}: the clustering is "
                     f"{'flat' if m >= 0.999 else 'not flat'} beyond d={ref} (the paper: "
                     f"{paper.PROJECTION_DIM.value('200–1000', 'effect')}, on Meta-World).")
    return text


def _best_and_reference(metrics: Mapping[str, Any], knob: str) -> tuple[str | None, float | None, float | None]:
    """(the best trained value of `knob`, its score, the reference value's score); scores are the means over the
    paired seeds for the paired knobs."""
    k = metrics[knob]
    scored = {v: e["score"] for v, e in k["by_value"].items() if e["score"] is not None}
    best = max(scored, key=scored.get) if scored else None
    return best, (scored[best] if best else None), scored.get(str(k["reference"]))


def candidates(metrics: Mapping[str, Any], knob: str) -> int:
    """How many values the best value of `knob` is selected from (`_best_and_reference`): its trained values other
    than the reference, at least 1."""
    k = metrics[knob]
    ref = str(k["reference"])
    return max(1, sum(e["score"] is not None for v, e in k["by_value"].items() if v != ref))


def knob_gap(metrics: Mapping[str, Any], knob: str, best: str) -> PairedInterval | None:
    """The best value's score minus the reference value's, paired over the knob's seeds (same θ* per seed), with
    its bootstrap interval (`main_results.selected_versus`). `best` is selected by its mean from the knob's m =
    `candidates` values, so the interval is at 1 − 0.05/m (Bonferroni: 95% family-wise over the m comparisons; 95%
    for m = 1); None for a knob scored on one seed."""
    k = metrics[knob]
    ours, ref = seed_scores(metrics, knob, best), seed_scores(metrics, knob, k["reference"])
    if len(ours) < 2 or len(ours) != len(ref):
        return None
    return selected_versus(ours, ref, candidates(metrics, knob))


def _gap_text(gap: float, paired: PairedInterval | None, std: float | None, m: int = 1) -> str:
    if paired is not None:
        lo, hi = paired.interval
        interval = f" [{lo:+.3g}, {hi:+.3g}]" if np.isfinite(lo) else " (no interval)"
        selected = f" ({selection_text(m)})" if m > 1 and np.isfinite(lo) else ""
        return f"{paired.gap:+.3g}{interval}, {paired.seeds} seeds{selected}"
    return format_number(gap) + (f" ({gap / std:+.1f}σ, 1 seed)" if std else " (1 seed)")


def knob_summary(metrics: Mapping[str, Any], std: float | None = None):
    """The page's one table: one row per knob of the result (`knobs_of`): its reference value and score, its best
    value and score, their difference (paired over seeds with its interval for the knobs run on several seeds, at
    1 − 0.05/m for a best value selected from m values, `knob_gap`; on one seed, in units of PolicyGradEx's seed std
    `std` where given), and the range of NMI of its values' clusterings against the reference clustering.
    Shape [knobs, 6]."""
    import pandas as pd

    rows = {}
    for knob in knobs_of(metrics):
        k = metrics[knob]
        best, top, ref = _best_and_reference(metrics, knob)
        gap = None if top is None or ref is None else top - ref
        rows[KNOB_TITLES[knob]] = {
            "reference": _knob_label(knob, k["reference"]), "reference return": _fmt(ref),
            "best value": "–" if best is None else _knob_label(knob, next(v for v in k["values"] if str(v) == best)),
            "best return": _fmt(top),
            "best − reference": "–" if gap is None else _gap_text(gap, knob_gap(metrics, knob, best), std,
                                                                  candidates(metrics, knob)),
            "NMI vs reference": f"{min(k['nmi']):.2f}–{max(k['nmi']):.2f}"}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("knob")


def knob_summary_table(metrics: Mapping[str, Any], std: float | None = None):
    """`knob_summary` as a page table (`tables.tidy`: a column the same on every row goes into the caption)."""
    from pgxlib.report.tables import tidy

    unit = "" if std is None else f"; σ: PolicyGradEx's seed std in the main results, {std:.3g}"
    return tidy(knob_summary(metrics, std), f"Target return after adaptation, the mean over the paired seeds for k "
                                            f"and the strategy (best − reference: paired gap and its interval, 95%, "
                                            f"or 1 − 0.05/m where the best is selected from m values: Bonferroni, "
                                            f"so that the m comparisons keep 95% together){unit}",
                missing_why="not trained")


def knob_summary_sentence(metrics: Mapping[str, Any], std: float | None = None) -> str:
    """One sentence under `knob_summary`: which knob moves the target return most from the reference, which of the
    knobs run on several seeds gain with a paired interval clear of 0 (at 1 − 0.05/m for a best of m values,
    `knob_gap`), and that a one-seed gain has no interval."""
    gaps = {}
    for knob in knobs_of(metrics):
        best, top, ref = _best_and_reference(metrics, knob)
        if top is not None and ref is not None:
            gaps[knob] = (top - ref, best)
    if not gaps:
        return "No knob value was trained: the table compares clusterings only."
    knob = max(gaps, key=lambda n: gaps[n][0])
    gap, best = gaps[knob]
    text = (f"The largest gain over the reference configuration comes from the {KNOB_TITLES[knob]} at "
            f"{_knob_label(knob, best)} ({format_number(gap)})")
    paired = {n: knob_gap(metrics, n, b) for n, (_, b) in gaps.items()}
    several = {n: p for n, p in paired.items() if p is not None}
    if several:
        clear = [KNOB_TITLES[n] for n, p in several.items() if np.isfinite(p.interval[0]) and p.interval[0] > 0]
        text += ("; on paired seeds, " + (f"{', '.join(clear)} gain{'s' if len(clear) == 1 else ''} with an interval "
                                          "clear of 0" if clear else
                                          f"no knob ({', '.join(KNOB_TITLES[n] for n in several)}) gains with an "
                                          "interval clear of 0"))
        chosen = {n: candidates(metrics, n) for n in several}
        if any(m > 1 for m in chosen.values()):
            text += (" (the best value's interval at 1 − 0.05/m, Bonferroni, for the best of m values: "
                     + ", ".join(f"{KNOB_TITLES[n]} {selection_text(m)}" for n, m in chosen.items()) + ")")
    single = [KNOB_TITLES[n] for n in gaps if paired[n] is None]
    if single:
        text += (f"; {', '.join(single)} ran on one seed, so {'its gain has' if len(single) == 1 else 'their gains have'}"
                 " no interval" + (f" (σ = {std:.3g} is the seed-to-seed scale)" if std else ""))
    return text + "."


# ---------------------------------------------------------------------------------------------
# Ablations across families
# ---------------------------------------------------------------------------------------------

def _knob_label(knob: str, value) -> str:
    return value_label(knob, value).split(" (")[0]


def knob_effects(results: Mapping[str, Mapping[str, Any]], stds: Mapping[str, float | None],
                 knob: str) -> dict[str, dict[str, float | None]]:
    """Per family and value of `knob`: (score − reference score) / the family's seed std, the knob's
    effect in units of seed noise (None where the value was not trained or no std is stored)."""
    out = {}
    for family, metrics in results.items():
        if knob not in metrics:
            continue
        k, ref, std = metrics[knob], metrics["reference"]["score"], stds.get(family)
        out[family] = {_knob_label(knob, v): (None if s is None or not std else (s - ref) / std)
                       for v, s in zip(k["values"], k["scores"])}
    return out


def ablation_overview(results: Mapping[str, Mapping[str, Any]], stds: Mapping[str, float | None], knob: str):
    """One row per family: each value's target return after adaptation and, in brackets, its distance
    from the reference configuration in seed stds."""
    import pandas as pd

    effects = knob_effects(results, stds, knob)
    rows = {}
    for family, metrics in results.items():
        if knob not in metrics:
            continue
        k = metrics[knob]
        row = {}
        for v, s in zip(k["values"], k["scores"]):
            label = _knob_label(knob, v)
            effect = effects[family][label]
            cell = "not trained" if s is None else format_number(s) + ("" if effect is None else f" ({effect:+.1f}σ)")
            row[label + (" (ref.)" if v == k["reference"] else "")] = cell
        rows[family] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(KNOB_TITLES[knob])


@readable
def ablation_overview_plot(results: Mapping[str, Mapping[str, Any]], stds: Mapping[str, float | None]) -> plt.Figure:
    """One panel per knob: every family's (score − reference) / seed std against the knob's values (σ sets the
    families on one scale; whether a gap is evidence is read on its paired interval, `ablation_summary`)."""
    ncols = 4
    nrows = -(-len(KNOB_TITLES) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(15, 3.3 * nrows), squeeze=False)
    for ax in axes.flat[len(KNOB_TITLES):]:
        ax.set_visible(False)
    for ax, knob in zip(axes.flat, KNOB_TITLES):
        effects = knob_effects(results, stds, knob)
        labels = list(dict.fromkeys(v for per in effects.values() for v in per))
        x = np.arange(len(labels))
        for family, per in effects.items():
            ax.plot(x, [np.nan if per.get(v) is None else per[v] for v in labels], "o-", label=family, alpha=0.8)
        ax.axhline(0, color="gray", lw=1, ls="--")
        ax.set_xticks(x, labels, rotation=20 if knob in CATEGORICAL_LABELS else 0)
        ax.set_title(KNOB_TITLES[knob], fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("(score − reference) / seed std")
    axes.flat[0].legend()
    fig.suptitle("Each knob's effect on the target return after adaptation, on one scale across families "
                 "(PolicyGradEx's seed std σ)", fontsize=10)
    return fig


def told_apart(metrics: Mapping[str, Any], knob: str) -> bool | None:
    """Whether the best value of `knob` is told apart from the reference value by the paired interval of their
    difference over the knob's seeds (`knob_gap`: at 1 − 0.05/m for a best selected from m values, Bonferroni); None
    for a knob scored on one seed or without a best value."""
    if "by_value" not in metrics[knob]:
        return None
    best, top, ref = _best_and_reference(metrics, knob)
    if best is None or ref is None or best == str(metrics[knob]["reference"]):
        return None
    gap = knob_gap(metrics, knob, best)
    return None if gap is None or not np.isfinite(gap.interval[0]) else bool(gap.interval[0] > 0)


def _selection_note(chosen: set[int]) -> str:
    """The level of the intervals counted by `ablation_summary`, from the numbers of values their best was chosen
    from: "" when every best is the only candidate."""
    if max(chosen, default=1) == 1:
        return ""
    if len(chosen) == 1:
        return f" ({selection_text(next(iter(chosen)))})"
    return f" (best of {min(chosen)}–{max(chosen)} values; interval at 1 − 0.05/m, Bonferroni)"


def ablation_summary(results: Mapping[str, Mapping[str, Any]], stds: Mapping[str, float | None]):
    """One row per knob, one column per family: the best value and its distance from the reference in
    seed stds ("reference" when no value beats it), and for the knobs run on paired seeds, on how many families
    the best value's paired interval over the reference lies above 0 (`told_apart`: at 1 − 0.05/m for a best of m
    values, Bonferroni, the level said in the cell; "one seed" where no knob has seeds)."""
    import pandas as pd

    rows = {}
    for knob in KNOB_TITLES:
        row, apart, chosen = {}, [], set()
        for family, per in knob_effects(results, stds, knob).items():
            scored = {v: e for v, e in per.items() if e is not None}
            if not scored:
                row[family] = "–"
                continue
            best = max(scored, key=scored.get)
            row[family] = "reference" if scored[best] <= 0 else f"{best} ({scored[best]:+.1f}σ)"
            apart.append(told_apart(results[family], knob))
            if apart[-1] is not None:
                chosen.add(candidates(results[family], knob))
        judged = [a for a in apart if a is not None]
        row["best value above the reference (paired interval)"] = (
            f"{sum(judged)} of {len(judged)} families{_selection_note(chosen)}" if judged else "one seed: no interval")
        rows[KNOB_TITLES[knob]] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("knob: best value")


# ---------------------------------------------------------------------------------------------
# The scorecard's claims of this chapter (collected by `pgxlib.report.claims`)
# ---------------------------------------------------------------------------------------------

ABLATION_FAMILIES = CONTROL_FAMILIES
"""Families whose ablation chapter page judges the paper's Meta-World ablations (direction only)."""


def _abl(family: str, key: str) -> Metric:
    return Metric("ablations", {"family": family}, key)


def k_score(family: str, k: str) -> Metric:
    return _abl(family, f"metrics.k.by_value.{k}.score")


def multitask_score(family: str) -> Metric:
    """The family's multitask mean over seeds in its main results, in the ablations' units (return, or success as
    a fraction on MT10): its seed std sets the smallest effect of interest of an ablation's order."""
    return Metric("main_results", {"family": family}, "metrics.methods.multitask.mean")


def _ablation_order(family: str, better: Metric, base: Metric) -> Positive:
    return Positive(better, base, multitask_score(family))


def family_claims(family: str) -> list[Claim]:
    """Number of groups, projection dimension and grouping strategy: the paper's Meta-World ablations,
    judged by the direction of the effect in our ablation on `family` (another env and protocol), on the paired
    seeds the ablation stores. An order shows its gap in return (the mean paired difference; returns can be
    negative, so no relative gain); the paper's column gives its relative gain on MT10 success."""
    note = f"paper: Meta-World MT10 success; ours: {family} target return after adaptation, meta-RL"
    mw = {k: paper.N_GROUPS.value(k, "Meta-World") for k, _ in paper.N_GROUPS.rows}

    def gain(a: float, b: float) -> str:
        relative = paper_relative_gain(a, b)
        return "–" if relative is None else f"{100 * relative:+.1f}% (MT10 success)"

    claims = [Claim(f"Number of groups: k=3 above k={k}, paired gap ({note})", gain(mw["3"], mw[k]), "return gap",
                    Difference(k_score(family, "3"), k_score(family, k)),
                    _ablation_order(family, k_score(family, "3"), k_score(family, k)), paper.N_GROUPS.name,
                    f"k=3 above k={k}", family)
              for k in ("1", "2")]
    claims.append(Claim(f"Number of groups: k=4 adds little over k=3, paired gap ({note})",
                        gain(mw["4"], mw["3"]), "return gap", Difference(k_score(family, "4"), k_score(family, "3")),
                        AddsLittle(k_score(family, "4"), k_score(family, "3"), multitask_score(family)), paper.N_GROUPS.name,
                        "k=4 adds little over k=3", family))
    claims.append(Claim(f"Projection dimension flat beyond d=400: smallest NMI of the clusters at d=800, 1000 against "
                        f"d=400 (paper: Meta-World MT10 success; ours: {family} clusters)",
                        paper.PROJECTION_DIM.value("200–1000", "effect"), "NMI",
                        _abl(family, "metrics.proj_dim.min_nmi_above_reference"),
                        Between(0.73, 1.0, "the clusters agree at least as well as the paper's surrogate agrees with "
                                           "real fine-tuning on LunarLander (NMI 0.73), up to identical (1)"),
                        paper.PROJECTION_DIM.name, "Flat beyond d=400", family))
    strat = paper.GROUPING_STRATEGY
    loss = strat.value("loss-based (PolicyGradEx)", "Meta-World")
    sdp = _abl(family, "metrics.strategy.by_value.sdp.score")
    for key, label in (("gradient_similarity", "gradient similarity"), ("random", "random")):
        base = _abl(family, f"metrics.strategy.by_value.{key}.score")
        claims.append(Claim(f"Grouping strategy: loss-based SDP above {label}, paired gap ({note})",
                            gain(loss, strat.value(label, "Meta-World")), "return gap",
                            Difference(sdp, base), _ablation_order(family, sdp, base), strat.name,
                            f"SDP above {label} grouping", family))
    return claims



def claims() -> list[Claim]:
    """The paper's Meta-World ablations judged on each family of `ABLATION_FAMILIES`, in that order."""
    return [c for family in ABLATION_FAMILIES for c in family_claims(family)]
