"""The λ-sweep chapter: what the surrogate's regularisation does to the step, its linearity, its direction
and the grouping, as a table, a figure and the sentence that states the rule's choice."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.report.plots import readable

COLUMNS = {"raw_step_median": "raw step ‖Pŵ‖/‖θ*‖ (median)", "applied_step_median": "applied step (median)",
           "first_order_error_pct": "first-order error, ours (%)",
           "paper_definition_error_pct": "first-order error, authors' (%)",
           "gradient_cosine_median": "cos(ŵ, summed gradient) (median)", "planted_nmi": "NMI with planted groups",
           "affinity_within": "affinity within planted groups", "affinity_across": "affinity across"}


def sweep_table(metrics: Mapping[str, Any]):
    """One row per λ, one column per measured quantity (those the family has)."""
    import pandas as pd

    rows = []
    for lam in metrics["l2s"]:
        row = metrics["by_l2"][f"{lam:g}"]
        cells = {label: row.get(key) for key, label in COLUMNS.items() if key in row}
        other = row.get("other_normalization")
        if other:
            cells[f"NMI with the {other['name']} grouping"] = other["nmi_with_profile_normalization"]
            if "planted_nmi" in other:
                cells[f"NMI with planted groups ({other['name']})"] = other["planted_nmi"]
        rows.append({"λ": f"{lam:g}", **cells})
    return pd.DataFrame(rows).set_index("λ")


@readable
def sweep_figure(metrics: Mapping[str, Any]) -> plt.Figure:
    """Four panels against λ (log axis): step lengths, first-order errors, gradient cosine, grouping."""
    lams = np.asarray(metrics["l2s"], dtype=float)
    rows = [metrics["by_l2"][f"{lam:g}"] for lam in lams]

    def col(key):
        return np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    ax = axes[0]
    ax.loglog(lams, col("raw_step_median"), "o-", label="raw (median)")
    ax.loglog(lams, col("raw_step_max"), "s--", label="raw (max)")
    ax.axhline(metrics["rule"]["step_target"], color="k", lw=0.8, ls=":", label="rule's bound")
    ax.axhline(metrics["rule"]["max_rel_dist"], color="grey", lw=0.8, label="rescaled to")
    ax.set(title="step length / ‖θ*‖", xlabel="λ")
    ax.legend()
    ax = axes[1]
    ax.loglog(lams, col("first_order_error_pct"), "o-", label="ours")
    ax.loglog(lams, col("paper_definition_error_pct"), "s--", label="authors'")
    ax.set(title=f"first-order error at {100 * metrics['rule']['max_rel_dist']:g}% (%)", xlabel="λ")
    ax.legend()
    ax = axes[2]
    ax.semilogx(lams, col("gradient_cosine_median"), "o-")
    ax.set(title="cos(ŵ, summed gradient)", xlabel="λ", ylim=(-1, 1))
    ax = axes[3]
    if "planted_nmi" in rows[0]:
        ax.semilogx(lams, col("planted_nmi"), "o-", label="NMI with planted groups")
        ax.semilogx(lams, col("affinity_within"), "s--", label="affinity within")
        ax.semilogx(lams, col("affinity_across"), "^:", label="affinity across")
        ax.set(title="grouping", xlabel="λ")
        ax.legend()
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "no planted groups\nin this family", ha="center", va="center")
    chosen = metrics["rule"]["chosen"]
    for ax in axes[:3]:
        if chosen is not None:
            ax.axvline(chosen, color="C3", lw=0.8)
    return fig


def rule_sentence(metrics: Mapping[str, Any]) -> str:
    """What the rule picks on this family, and how that compares with the profile's λ."""
    rule, chosen = metrics["rule"], metrics["rule"]["chosen"]
    head = f"**Rule** ({rule['text']}). On {metrics['family']}, "
    if chosen is None:
        largest = metrics["l2s"][-1]
        step = metrics["by_l2"][f"{largest:g}"]["raw_step_median"]
        return head + (f"no λ of the grid keeps the median raw step within {rule['step_target']:.0%} "
                       f"(at λ = {largest:g} it is {step:.1%}); the grid must extend further.")
    row = metrics["by_l2"][f"{chosen:g}"]
    text = (head + f"it picks λ = {chosen:g}: median raw step {row['raw_step_median']:.1%} of ‖θ*‖, "
            f"cosine with the summed gradient {row['gradient_cosine_median']:.2f}")
    if row.get("planted_nmi") is not None:
        text += f", NMI with the planted groups {row['planted_nmi']:.2f}"
    same = "the same as" if abs(chosen - rule["profile_l2"]) < 1e-12 else "against"
    return text + f" ({same} the profile's λ = {rule['profile_l2']:g})."
