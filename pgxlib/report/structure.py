"""The structure chapter: a family's noise ceiling against θ*'s and fine-tuning's budgets, as tables, a
figure and the sentence that labels the family."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.report.plots import readable
from pgxlib.report.tables import tidy

STABLE_CEILING = 0.8
"""A family has a stable affinity structure at its budget when its noise ceiling NMI reaches this."""

GRID_CAP = 16_384
"""The largest fine-tuning budget (PPO steps per task) a structure grid is doubled to: at 16k, one family's
3 repeats × 31 subsets already cost about as much fine-tuning as the rest of its chapter."""

FAMILY_GRID_CAPS = {"highway": 2_048}
"""Families whose simulator makes the general cap unaffordable. highway-env steps in 5–10 ms (lunarlander in
0.07 ms): 3 repeats × 30 subsets × 4 tasks at 2k steps per task are already about 1.5 core-hours, so its grid
is 512, 1k and 2k steps per task and its θ* sweep is the profile's budget only."""


def grid_cap(family: str) -> int:
    """The largest fine-tuning budget `family`'s structure grid is doubled to (`GRID_CAP` unless the family's
    cost sets a smaller one, `FAMILY_GRID_CAPS`)."""
    return FAMILY_GRID_CAPS.get(family, GRID_CAP)

COLUMNS = {"theta_return": "θ* return", "theta_return_normalised": "θ* return (0 untrained, 1 best)",
           "finetune_gain": "gain of fine-tuning", "noise_ceiling_nmi": "ceiling NMI",
           "noise_ceiling_affinity_corr": "ceiling affinity corr.", "design_nmi": "truth vs designed groups (NMI)"}


MISSING_WHY = ("not defined for this row: θ*'s normalised return needs θ* budgets whose best return differs from "
               "the untrained policy's, and is measured on the θ*-budget sweep only")


def _table(rows: list[Mapping[str, Any]], index: str, label: str, leave_out: tuple[str, ...] = ()):
    import pandas as pd

    out = [{label: f"{r[index]:,}", **{name: r.get(key) for key, name in COLUMNS.items() if key not in leave_out}}
           for r in rows]
    frame = pd.DataFrame(out).set_index(label)
    return tidy(frame.dropna(axis=1, how="all"), missing_why=MISSING_WHY)


def meta_table(metrics: Mapping[str, Any]):
    """One row per meta-training budget (θ* steps per task), at the headline fine-tuning budget."""
    return _table(metrics["meta_sweep"], "meta_steps", "θ* steps per task")


def finetune_table(metrics: Mapping[str, Any]):
    """One row per fine-tuning budget (steps per task), from the chosen θ*."""
    return _table(metrics["finetune_sweep"], "finetune_steps", "fine-tuning steps per task",
                  leave_out=("theta_return_normalised",))


@readable
def sweep_figure(metrics: Mapping[str, Any]) -> plt.Figure:
    """Two panels: the ceiling (NMI and affinity correlation) against θ*'s budget, with θ*'s normalised
    return, and against the fine-tuning budget; the NMI of random partitions as a band."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
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
    axes[0].axvline(metrics["chosen_meta_steps"], color="C3", lw=0.8)
    axes[0].set_title(f"{metrics['family']}: against θ*'s budget")
    axes[1].set_title("against the fine-tuning budget (chosen θ*)")
    axes[0].legend(fontsize=9, loc="lower left")
    return fig


def headline(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    """The sweep row a family is labelled by: the chosen θ* fine-tuned for the budget where the ceiling stops
    rising (`plateau_finetune_steps`), which is also the fine-tuning budget of the speedup chapter's truth (the
    method chapter's rule)."""
    return next(r for r in metrics["finetune_sweep"] if r["finetune_steps"] == metrics["plateau_finetune_steps"])


def verdict(metrics: Mapping[str, Any]) -> str:
    """"stable" when the headline ceiling reaches `STABLE_CEILING`, else "none at this budget"."""
    return "stable" if headline(metrics)["noise_ceiling_nmi"] >= STABLE_CEILING else "none at this budget"


def label_sentence(metrics: Mapping[str, Any]) -> str:
    """The family's label, with the figures it rests on."""
    c = headline(metrics)
    where = ("the largest swept, where the ceiling is still rising" if still_rising(metrics)
             else "where the ceiling stops rising")
    swept = len(metrics["meta_sweep"])
    theta = "the only budget swept" if swept == 1 else f"the highest ceiling of the {swept} swept"
    head = (f"At the chosen budget (θ* {c['meta_steps']:,} steps per task, {theta}; fine-tuning "
            f"{c['finetune_steps']:,} steps per task, {where}), "
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


def still_rising(metrics: Mapping[str, Any]) -> bool:
    """Whether the budget a family is labelled by is the grid's largest, with an NMI below 1: where the ceiling
    stops rising is not measured."""
    budgets = [r["finetune_steps"] for r in metrics["finetune_sweep"]]
    return (len(budgets) > 1 and metrics["plateau_finetune_steps"] == max(budgets)
            and headline(metrics)["noise_ceiling_nmi"] < 1 - 1e-9)


def rising_at_largest(metrics: Mapping[str, Any]) -> list[str]:
    """The ceiling measures (of "NMI", "affinity correlation") that still rise at the grid's largest fine-tuning
    budget: more than `plateau_tol` above the budget before it. Empty when the NMI there is 1 (nothing left to
    rise to) or the grid has one budget. The method chapter's rule doubles the grid while this is not empty, up
    to the family's cap (`grid_cap`)."""
    rows = sorted(metrics["finetune_sweep"], key=lambda r: r["finetune_steps"])
    if len(rows) < 2 or rows[-1]["noise_ceiling_nmi"] >= 1 - 1e-9:
        return []
    tol, last, before = metrics["plateau_tol"], rows[-1], rows[-2]
    rising = []
    for key, name in (("noise_ceiling_nmi", "NMI"), ("noise_ceiling_affinity_corr", "affinity correlation")):
        if last[key] is not None and before[key] is not None and last[key] > before[key] + tol:
            rising.append(name)
    return rising


def plateau_sentence(metrics: Mapping[str, Any]) -> str:
    """Where the ceiling stops rising with the fine-tuning budget, and whether the grid's cap stopped it."""
    budgets = [r["finetune_steps"] for r in metrics["finetune_sweep"]]
    cap = grid_cap(metrics["family"])
    if still_rising(metrics):
        return (f"The ceiling is still rising at the largest fine-tuning budget swept ({max(budgets):,} steps per "
                f"task, more than {metrics['plateau_tol']:.2f} NMI above every smaller one): where it stops is "
                "not measured" + (", as the grid stops at its cap." if max(budgets) >= cap else "."))
    if headline(metrics)["noise_ceiling_nmi"] >= 1 - 1e-9:
        sentence = (f"The ceiling reaches its maximum (NMI 1: the repeats group the tasks identically) at "
                    f"{metrics['plateau_finetune_steps']:,} fine-tuning steps per task.")
    else:
        sentence = (f"The ceiling stops rising (within {metrics['plateau_tol']:.2f} NMI of the sweep's best) at "
                    f"{metrics['plateau_finetune_steps']:,} fine-tuning steps per task.")
    rising = rising_at_largest(metrics)
    if rising and max(budgets) >= cap:
        sentence += (f" At {max(budgets):,} steps per task, the grid's cap{'' if cap == GRID_CAP else ' for this family'}, its {' and '.join(rising)} still "
                     "rises: more fine-tuning might make the structure more reproducible than shown here.")
    return sentence


RULE = ("θ* stops at the budget of the family's own sweep with the highest noise ceiling (ties: the higher affinity "
        "correlation, then the smaller budget); the sweep involves no estimate, only repeated fine-tunings")


def rule_sentence(metrics: Mapping[str, Any], profile_meta_steps: int) -> str:
    """The θ* budget rule, what it picks on this family and whether the profile (`profile_meta_steps`) uses it."""
    chosen = metrics["chosen_meta_steps"]
    row = next(r for r in metrics["meta_sweep"] if r["meta_steps"] == chosen)
    if len(metrics["meta_sweep"]) == 1:
        return (f"**Where θ\\* stops** ({RULE}). On {metrics['family']} only one budget was swept, "
                f"{chosen:,} steps per task (ceiling {row['noise_ceiling_nmi']:.2f}, θ* return "
                f"{row['theta_return']:.3g}), so the rule was not applied: "
                + ("the profile's own budget, as the family's cost allows no sweep."
                   if chosen == profile_meta_steps else f"the profile uses {profile_meta_steps:,}."))
    text = (f"**Where θ\\* stops** ({RULE}). On {metrics['family']} the rule picks {chosen:,} steps per task "
            f"(ceiling {row['noise_ceiling_nmi']:.2f}, θ* return {row['theta_return']:.3g}); ")
    if chosen == profile_meta_steps:
        return text + "the profile uses it."
    return text + f"the profile uses {profile_meta_steps:,}: it must follow the rule (recompute after changing it)."


def overview_table(by_family: Mapping[str, Mapping[str, Any] | None], profile_meta_steps: Mapping[str, int]):
    """One row per family: the headline ceiling, the label, the designed-groups recovery and the θ* budget
    (the rule's and the profile's, `profile_meta_steps` per family). `by_family` maps a family to its stored
    metrics, None when not computed."""
    import pandas as pd

    rows = []
    for family, m in by_family.items():
        if m is None:
            rows.append({"family": family, "label": "not computed"})
            continue
        c = headline(m)
        rows.append({"family": family, "ceiling NMI": c["noise_ceiling_nmi"],
                     "ceiling affinity corr.": c["noise_ceiling_affinity_corr"],
                     "random NMI": m["random_nmi"], "truth vs designed groups": c.get("design_nmi"),
                     "label": "stable" if verdict(m) == "stable" else "no stable structure",
                     "θ* steps per task (rule)": f"{m['chosen_meta_steps']:,}",
                     "θ* steps per task (profile)": f"{profile_meta_steps[family]:,}",
                     "fine-tuning plateau": f"{m['plateau_finetune_steps']:,}"})
    return pd.DataFrame(rows).set_index("family").round(2).astype(object).where(lambda t: t.notna(), "—")
