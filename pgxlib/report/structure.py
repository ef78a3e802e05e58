"""The structure chapter: a family's noise ceiling against θ*'s and fine-tuning's budgets, as tables, a
figure and the sentence that labels the family."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.report.plots import readable

STABLE_CEILING = 0.8
"""A family has a stable affinity structure at its budget when its noise ceiling NMI reaches this."""

COLUMNS = {"theta_return": "θ* return", "theta_return_normalised": "θ* return (0 untrained, 1 best)",
           "finetune_gain": "gain of fine-tuning", "noise_ceiling_nmi": "ceiling NMI",
           "noise_ceiling_affinity_corr": "ceiling affinity corr.", "design_nmi": "truth vs designed groups (NMI)"}


def _table(rows: list[Mapping[str, Any]], index: str, label: str):
    import pandas as pd

    out = [{label: f"{r[index]:,}", **{name: r.get(key) for key, name in COLUMNS.items() if key in r}} for r in rows]
    return pd.DataFrame(out).set_index(label).round(3)


def meta_table(metrics: Mapping[str, Any]):
    """One row per meta-training budget (θ* steps per task), at the headline fine-tuning budget."""
    return _table(metrics["meta_sweep"], "meta_steps", "θ* steps per task")


def finetune_table(metrics: Mapping[str, Any]):
    """One row per fine-tuning budget (steps per task), from the profile's θ*."""
    return _table(metrics["finetune_sweep"], "finetune_steps", "fine-tuning steps per task")


@readable
def sweep_figure(metrics: Mapping[str, Any]) -> plt.Figure:
    """Two panels: the ceiling (NMI and affinity correlation) against θ*'s budget, with θ*'s normalised
    return, and against the fine-tuning budget; the NMI of random partitions as a band."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    floor, band = metrics["random_nmi"], metrics["random_nmi_std"]
    for ax, rows, key, xlabel in ((axes[0], metrics["meta_sweep"], "meta_steps", "θ* steps per task"),
                                  (axes[1], metrics["finetune_sweep"], "finetune_steps",
                                   "fine-tuning steps per task")):
        x = np.array([r[key] for r in rows], dtype=float)
        ax.semilogx(x, [r["noise_ceiling_nmi"] for r in rows], "o-", label="ceiling NMI")
        corr = [np.nan if r["noise_ceiling_affinity_corr"] is None else r["noise_ceiling_affinity_corr"] for r in rows]
        ax.semilogx(x, corr, "s--", label="ceiling affinity corr.")
        if "design_nmi" in rows[0]:
            ax.semilogx(x, [r["design_nmi"] for r in rows], "^:", label="truth vs designed groups")
        if key == "meta_steps":
            ax.semilogx(x, [np.nan if r.get("theta_return_normalised") is None else r["theta_return_normalised"]
                            for r in rows], "d-.", color="grey", label="θ* return (normalised)")
        ax.axhspan(floor - band, floor + band, color="C7", alpha=0.25, label="random partitions (NMI)")
        ax.axhline(STABLE_CEILING, color="k", lw=0.8, ls=":")
        ax.set(xlabel=xlabel, ylim=(-0.2, 1.05))
        ax.tick_params(labelsize=10)
    axes[0].axvline(metrics["profile_meta_steps"], color="C3", lw=0.8)
    axes[0].set_title(f"{metrics['family']}: against θ*'s budget")
    axes[1].set_title("against the fine-tuning budget (profile's θ*)")
    axes[0].legend(fontsize=9, loc="lower left")
    return fig


def verdict(metrics: Mapping[str, Any]) -> str:
    """"stable" when the headline ceiling reaches `STABLE_CEILING`, else "none at this budget"."""
    return "stable" if metrics["ceiling"]["noise_ceiling_nmi"] >= STABLE_CEILING else "none at this budget"


def label_sentence(metrics: Mapping[str, Any]) -> str:
    """The family's label, with the figures it rests on."""
    c = metrics["ceiling"]
    head = (f"At the profile's budget (θ* {c['meta_steps']:,} steps per task, fine-tuning {c['finetune_steps']:,}), "
            f"{metrics['repeats']} independent measurements of the truth agree with NMI {c['noise_ceiling_nmi']:.2f} "
            f"(random partitions {metrics['random_nmi']:.2f} ± {metrics['random_nmi_std']:.2f}); their affinities "
            "correlate " + ("—" if c["noise_ceiling_affinity_corr"] is None
                            else f"{c['noise_ceiling_affinity_corr']:.2f}") + ". ")
    if c.get("design_nmi") is not None:
        head += f"The mean truth groups the tasks as designed with NMI {c['design_nmi']:.2f}. "
    if verdict(metrics) == "stable":
        return head + (f"**{metrics['family']} has a stable affinity structure at this budget** (ceiling ≥ "
                       f"{STABLE_CEILING}): an estimator can be checked against it.")
    return head + (f"**{metrics['family']} has no stable affinity structure at this budget** (ceiling < "
                   f"{STABLE_CEILING}): agreement with its truth below the ceiling is not evidence either way.")


def plateau_sentence(metrics: Mapping[str, Any]) -> str:
    """Where the ceiling stops rising with the fine-tuning budget."""
    return (f"The ceiling stops rising (within {metrics['plateau_tol']:.2f} NMI of the sweep's best) at "
            f"{metrics['plateau_finetune_steps']:,} fine-tuning steps per task.")


RULE_FAMILY = "planted"
"""The family the θ* budget rule is read off: the one whose structure is planted and reproducible."""
RULE = ("θ* is meta-trained until its return has covered the same share of the way from the untrained policy "
        f"to the sweep's longest-trained θ* as on `{RULE_FAMILY}` at the budget with the highest noise ceiling; "
        "on every family, the budget of the sweep whose share is closest to it")


def _best_row(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    """The meta-sweep row with the highest ceiling NMI (ties: affinity correlation, then the smaller budget)."""
    def key(r):
        corr = r["noise_ceiling_affinity_corr"]
        return (r["noise_ceiling_nmi"], -1.0 if corr is None else corr, -r["meta_steps"])
    return max(metrics["meta_sweep"], key=key)


def rule_target(rule_metrics: Mapping[str, Any]) -> float | None:
    """θ*'s normalised return at the highest-ceiling budget of the rule family's sweep."""
    return _best_row(rule_metrics).get("theta_return_normalised")


def rule_choice(metrics: Mapping[str, Any], target: float) -> int:
    """The meta budget of `metrics`' sweep whose normalised θ* return is closest to `target`."""
    rows = [r for r in metrics["meta_sweep"] if r.get("theta_return_normalised") is not None]
    return int(min(rows, key=lambda r: (abs(r["theta_return_normalised"] - target), r["meta_steps"]))["meta_steps"])


def rule_sentence(metrics: Mapping[str, Any], rule_metrics: Mapping[str, Any] | None) -> str:
    """The θ* budget rule, what it picks on this family and whether the profile uses that."""
    head = f"**Where θ* stops** ({RULE}). "
    if rule_metrics is None:
        return head + f"The `{RULE_FAMILY}` result it is read from is not stored yet."
    target = rule_target(rule_metrics)
    if target is None:
        return head + f"The `{RULE_FAMILY}` sweep has no normalised return to read it from."
    best = _best_row(rule_metrics)
    chosen = rule_choice(metrics, target)
    own = metrics["profile_meta_steps"]
    text = (head + f"On `{RULE_FAMILY}` the highest ceiling ({best['noise_ceiling_nmi']:.2f}) is at "
            f"{best['meta_steps']:,} steps per task, where θ* has covered {target:.0%} of the way; on "
            f"{metrics['family']} the rule picks {chosen:,} steps per task")
    if chosen == own:
        return text + ", the profile's budget."
    return text + f"; the profile uses {own:,} (it must follow the rule: recompute after changing it)."


def overview_table(by_family: Mapping[str, Mapping[str, Any] | None], rule_metrics: Mapping[str, Any] | None):
    """One row per family: the headline ceiling, the label, the designed-groups recovery and the θ* budget
    (the profile's and the rule's). `by_family` maps a family to its stored metrics, None when not computed."""
    import pandas as pd

    target = None if rule_metrics is None else rule_target(rule_metrics)
    rows = []
    for family, m in by_family.items():
        if m is None:
            rows.append({"family": family, "label": "not computed"})
            continue
        c = m["ceiling"]
        rows.append({"family": family, "ceiling NMI": c["noise_ceiling_nmi"],
                     "ceiling affinity corr.": c["noise_ceiling_affinity_corr"],
                     "random NMI": m["random_nmi"], "truth vs designed groups": c.get("design_nmi"),
                     "label": "stable" if verdict(m) == "stable" else "no stable structure",
                     "θ* steps per task (profile)": f"{m['profile_meta_steps']:,}",
                     "θ* steps per task (rule)": "—" if target is None else f"{rule_choice(m, target):,}",
                     "fine-tuning plateau": f"{m['plateau_finetune_steps']:,}"})
    return pd.DataFrame(rows).set_index("family").round(2)
