"""Tables, verdicts and figures of the `speedup` chapter, from a stored result (metrics dict and arrays).

Every function takes what `pgxlib.experiments.speedup` stores and returns a DataFrame, a string or a
matplotlib Figure; nothing here computes an experiment.
"""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.speedup import centre_per_task
from pgxlib.analysis.stats import as_nan
from pgxlib.report import paper

NMI_TOLERANCE = 0.1  # the scorecard's rule: within 0.1 of the paper's NMI, or above
SPEEDUP_FRACTION = 0.5  # the scorecard's rule: at least half the paper's speedup
PAPER_NMI_COLUMNS = {"lunarlander": "LunarLander NMI", "metaworld": "Meta-World NMI"}


def paper_row(depth: int | str) -> dict[str, float | None]:
    """The paper's Meta-World NMI, LunarLander NMI and speedup for a depth (None where not reported)."""
    rows = dict(paper.SURROGATE.rows)
    if str(depth) not in rows:
        return {c: None for c in paper.SURROGATE.columns}
    return dict(zip(paper.SURROGATE.columns, rows[str(depth)]))


def depth_table(metrics: Mapping[str, Any]):
    """One row per depth: our NMI, random floor, rank correlations, speedups and wall times beside the paper's."""
    import pandas as pd

    rows = []
    for depth, r in metrics["by_layers"].items():
        p = paper_row(depth)
        rows.append({
            "layers": int(depth),
            "NMI (ours)": r["nmi"],
            "random NMI (ours)": r["random_nmi"],
            "Meta-World NMI (paper)": p["Meta-World NMI"],
            "LunarLander NMI (paper)": p["LunarLander NMI"],
            "Spearman ρ": r["rank_correlation"],
            "Spearman ρ, per-task centred": r["rank_correlation_centred"],
            "speedup, wall (ours)": r["speedup"],
            "speedup, CPU (ours)": r["speedup_cpu"],
            "speedup incl. θ* (ours)": r["speedup_with_meta"],
            "speedup (paper)": p["speedup over full training"],
            "estimated (s)": r["seconds"]["estimated"],
            "fine-tuned (s)": r["seconds"]["measured"],
        })
    return pd.DataFrame(rows).set_index("layers").round(3)


def _paper_nmi(family: str, depth: str) -> float | None:
    column = PAPER_NMI_COLUMNS.get(family)
    return None if column is None else paper_row(depth)[column]


def verdicts(metrics: Mapping[str, Any], profile: str = "default") -> str:
    """Markdown sentences, one per depth and claim, saying whether NMI and speedup reproduce (from the numbers)."""
    family = metrics["family"]
    lines = []
    if profile == "smoke":
        lines.append("Smoke budget: these sentences check the code path, not the paper's claims.\n")
    for depth, r in metrics["by_layers"].items():
        p = paper_row(depth)
        nmi, floor, sd = r["nmi"], r["random_nmi"], r["random_nmi_std"]
        above = "above" if nmi > floor + sd else "not clearly above"
        ref = _paper_nmi(family, depth)
        if ref is None:
            ref = p["LunarLander NMI"]
            source = f"the paper reports no NMI for {family}; its LunarLander figure is {ref:.2f}"
        else:
            source = f"the paper's {family} figure is {ref:.2f}"
        if ref is None:
            nmi_text = f"NMI {nmi:.2f} (no paper figure at this depth)"
        else:
            ok = nmi >= ref - NMI_TOLERANCE
            nmi_text = (f"NMI {nmi:.2f}: {'reproduces' if ok else 'does not reproduce'} the paper "
                        f"({source}; rule: within {NMI_TOLERANCE} or above)")
        nmi_text += f", {above} the random-partition floor {floor:.2f} ± {sd:.2f}"
        paper_speedup = p["speedup over full training"]
        if paper_speedup is None:
            sp_text = f"speedup {r['speedup']:.1f}× (no paper figure at this depth)"
        else:
            ok = r["speedup"] >= SPEEDUP_FRACTION * paper_speedup
            sp_text = (f"speedup {r['speedup']:.1f}× against the paper's {paper_speedup:g}×: "
                       f"{'reproduces' if ok else 'does not reproduce'} (rule: at least half)")
        lines.append(f"- **{depth} layers**: {nmi_text}; {sp_text}.")
    return "\n".join(lines)


def budget_text(metrics: Mapping[str, Any]) -> str:
    """One paragraph: subsets, fine-tuning budget, parallelism, and what the timing includes."""
    b = metrics["budget"]
    ratio = b["group_ppo_steps_per_task"] / b["finetune_steps_per_task"]
    versus = ("the profile's group budget" if ratio == 1 else
              f"{ratio:.3g}× less than the profile's group budget of {b['group_ppo_steps_per_task']:,}")
    iters = b["finetune_iterations"]
    return (f"Budget: m = {b['n_subsets']} subsets of {b['subset_size']} of the {b['n_tasks']} tasks "
            f"(the same subsets on both sides), k = {b['k']} groups, estimated score `{b['score']}`. "
            f"Full training fine-tunes θ* for {b['finetune_steps_per_task']:,} environment steps per task "
            f"({iters} PPO iteration{'s' if iters != 1 else ''}; {versus}) and evaluates each task over "
            f"{b['eval_episodes']} episode{'s' if b['eval_episodes'] != 1 else ''}, "
            f"subsets in {b['n_jobs']} parallel processes of one thread each; the estimate runs in one process "
            f"with {b['torch_threads_estimated']} torch thread(s). Meta-training θ* is shared by both sides and "
            f"excluded from the speedup (the scorecard's number); the column 'incl. θ*' adds it to both.")


def affinity_pair(est: np.ndarray, true: np.ndarray, labels_est, labels_true, depth: int) -> plt.Figure:
    """The estimated and the measured normalised affinity side by side, both ordered by the measured groups."""
    n = len(true)
    order = np.argsort(np.asarray(labels_true), kind="stable")
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.5))
    for ax, M, title, labels in ((axes[0], est, "estimated (gradient surrogate)", labels_est),
                                 (axes[1], true, "measured (fine-tuned on every subset)", labels_true)):
        A = as_nan(M)[np.ix_(order, order)]
        vmax = np.nanmax(np.abs(A)) or 1.0
        im = ax.imshow(A, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        names = [f"S{i}" for i in order]
        ax.set_xticks(range(n), names, fontsize=8, rotation=90)
        ax.set_yticks(range(n), names, fontsize=8)
        sorted_true = np.asarray(labels_true)[order]
        for b in np.flatnonzero(np.diff(sorted_true)) + 0.5:
            ax.axhline(b, color="k", lw=1.5)
            ax.axvline(b, color="k", lw=1.5)
        groups = "; ".join("{" + ", ".join(f"S{i}" for i in np.flatnonzero(np.asarray(labels) == g)) + "}"
                           for g in np.unique(labels))
        ax.set_title(f"{title}\ngroups: {groups}", fontsize=9)
        ax.set_xlabel("co-trained task j")
        ax.set_ylabel("target task i")
        fig.colorbar(im, ax=ax, label="normalised affinity (z-score)")
    fig.suptitle(f"Task affinity, {depth}-layer policy (ordered and bordered by the measured groups)")
    fig.tight_layout()
    return fig


def score_scatter(members, est, true, depth: int, score_name: str) -> plt.Figure:
    """Estimated vs measured f_i(S) for every (subset, task): raw, and centred per task; colour = task."""
    members = np.asarray(members, dtype=bool)
    est, true = as_nan(est), as_nan(true)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2))
    cmap = plt.get_cmap("tab10")
    panels = ((est, true, "raw scores"),
              (centre_per_task(members, est), centre_per_task(members, true), "centred per task"))
    for ax, (a, b, title) in zip(axes, panels):
        for i in range(members.shape[1]):
            sel = members[:, i]
            ax.scatter(a[sel, i], b[sel, i], s=18, color=cmap(i % 10), label=f"S{i}", alpha=0.8)
        ax.set_xlabel(f"estimated score f̂_i(S) ({score_name})")
        ax.set_ylabel("measured return f_i(S) after fine-tuning")
        ax.set_title(f"{title}, {depth}-layer policy")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2, title="task", title_fontsize=7)
    fig.tight_layout()
    return fig


def stage_bars(metrics: Mapping[str, Any]) -> plt.Figure:
    """Wall time of each stage, per depth: the estimate (stacked) beside full training (stacked)."""
    depths = list(metrics["by_layers"])
    fig, ax = plt.subplots(figsize=(9, 3.8))
    colours = {"estimated": plt.get_cmap("Blues"), "measured": plt.get_cmap("Oranges")}
    width = 0.36
    seen = set()
    for d, depth in enumerate(depths):
        stages = metrics["by_layers"][depth]["stages"]
        for s, side in enumerate(("estimated", "measured")):
            bottom = 0.0
            parts = stages[side]
            for j, (stage, sec) in enumerate(parts.items()):
                label = f"{side}: {stage}"
                colour = colours[side](0.45 + 0.5 * j / max(len(parts) - 1, 1))
                ax.bar(d + (s - 0.5) * 0.42, sec, width, bottom=bottom, color=colour,
                       label=None if label in seen else label, edgecolor="k", lw=0.4)
                seen.add(label)
                bottom += sec
            ax.text(d + (s - 0.5) * 0.42, bottom, f"{bottom:.1f} s" if bottom < 10 else f"{bottom:.0f} s",
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(depths)), [f"{d} layers" for d in depths])
    ax.set_ylabel("wall time (s)")
    ax.set_title("Wall time per stage: estimate (left) vs full training (right)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig
