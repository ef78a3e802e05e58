"""The adaptation chapter: the grid of inner learning rate x policy-gradient steps, as table, heatmap and sentence."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.report.main_results import format_number
from pgxlib.report.plots import readable

# ---------------------------------------------------------------------------------------------
# Adaptation settings
# ---------------------------------------------------------------------------------------------

def adaptation_grid(metrics: Mapping[str, Any]):
    """Rows α, columns number of policy-gradient steps: mean target return after adaptation, its gain
    over before adaptation, and the share of targets it improved."""
    import pandas as pd

    after, gain = np.asarray(metrics["grid"]["after"]), np.asarray(metrics["grid"]["gain"])
    improved = np.asarray(metrics["grid"]["improved_targets"])
    ref = metrics["reference"]
    cells = {}
    for j, u in enumerate(metrics["inner_updates"]):
        column = f"{u} step{'s' if u > 1 else ''}"
        cells[column] = [f"{format_number(after[i, j])} ({gain[i, j]:+.3g}; {100 * improved[i, j]:.0f}% improved)"
                         + (" ← main results" if (a, u) == (ref["inner_lr"], ref["inner_updates"]) else "")
                         for i, a in enumerate(metrics["inner_lrs"])]
    return pd.DataFrame(cells, index=pd.Index([f"α = {a:g}" for a in metrics["inner_lrs"]], name="inner lr"))


@readable
def adaptation_heatmap(metrics: Mapping[str, Any]) -> plt.Figure:
    """Gain of adaptation (after − before, mean over targets) for every α and number of steps."""
    gain = np.asarray(metrics["grid"]["gain"], dtype=float)
    lim = float(np.nanmax(np.abs(gain))) or 1.0
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * gain.shape[1], 0.9 + 0.55 * gain.shape[0]))
    image = ax.imshow(gain, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for (i, j), value in np.ndenumerate(gain):
        ax.text(j, i, f"{value:+.3g}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(gain.shape[1]), [str(u) for u in metrics["inner_updates"]])
    ax.set_yticks(range(gain.shape[0]), [f"{a:g}" for a in metrics["inner_lrs"]])
    ax.set_xlabel(f"policy-gradient steps (≈{metrics['adaptation_steps']} env steps in all)")
    ax.set_ylabel("inner lr α")
    ax.set_title(f"{metrics['family']}: gain from adaptation (blue: helps)", fontsize=10)
    fig.colorbar(image, ax=ax, label="after − before")
    return fig


def adaptation_sentence(metrics: Mapping[str, Any]) -> str:
    """Does any setting help, how the profile's own setting compares with the best one."""
    best, ref = metrics["best"], metrics["reference"]
    gain = np.asarray(metrics["grid"]["gain"], dtype=float)
    helps = int(np.sum(gain > 0))
    text = (f"Before adaptation the target return is {format_number(metrics['before'])}. {helps} of {gain.size} settings "
            f"raise it; the best is α = {best['inner_lr']:g} with {best['inner_updates']} step(s): "
            f"{format_number(best['after'])} ({best['gain']:+.3g}).")
    if ref["after"] is not None:
        text += (f" The main results' setting (α = {ref['inner_lr']:g}, {ref['inner_updates']} step(s)) gives "
                 f"{format_number(ref['after'])} ({ref['after'] - metrics['before']:+.3g}).")
    if helps == 0:
        text += " No setting helps at this budget."
    order = np.argsort(metrics["inner_lrs"])
    monotone = all(np.all(np.diff(gain[order, j]) <= 0) for j in range(gain.shape[1]))
    if monotone and len(order) > 1:
        text += " In every column the gain falls as α grows: the larger the step, the more it costs."
    return text
