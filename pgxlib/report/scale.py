"""The scale chapter: each stage's cost against the number of tasks n (a log-log figure with fitted slopes), a
table, and the sentences that state the end-to-end time, the memory and what the grouping recovers at each n.

Every function takes what `pgxlib.experiments.scale` stores (its metrics dict); nothing here computes.
"""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.scaling import log_log_slope

from pgxlib.report.plots import readable

STAGE_LABELS = {"meta_train": "θ* meta-training", "rollout": "θ* rollouts", "features": "gradient features",
                "subsets": "subset sampling", "surrogate": "surrogate fits", "scores": "scoring θ̂_S",
                "affinity": "affinity", "cluster": "SDP clustering"}
COSTS = {"wall": "wall seconds", "cpu": "CPU seconds"}
SLOPES = {"wall": "wall_slopes", "cpu": "cpu_time_slopes"}
NMI_DROP = 0.2
"""A fall of the NMI from one n to the next larger than this is pointed out."""


def _column(metrics: Mapping[str, Any], stage: str, cost: str = "wall") -> np.ndarray:
    return np.array([r["stages"][stage][cost] for r in metrics["rows"]], dtype=float)


def _total(metrics: Mapping[str, Any], cost: str = "wall") -> np.ndarray:
    return np.array([r[f"total_{cost}_seconds"] for r in metrics["rows"]], dtype=float)


def peak_mib(row: Mapping[str, Any]) -> float:
    """The peak resident memory of the process over one n's stages, MiB."""
    return max(v["peak_rss_mib"] for v in row["stages"].values())


def _slope(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


@readable
def cost_figure(metrics: Mapping[str, Any], cost: str = "wall") -> plt.Figure:
    """Each stage's cost (`cost`: wall or CPU seconds) and the total against n, both axes logarithmic; the
    legend gives each line's fitted log-log slope; grey guides of slope 1 and 2 through the total's first
    point."""
    ns = np.array([r["n"] for r in metrics["rows"]], dtype=float)
    slopes = metrics[SLOPES[cost]]
    fig, ax = plt.subplots(figsize=(8, 5))
    markers = "os^vD<>ph"
    for j, stage in enumerate(metrics["stages"]):
        y = _column(metrics, stage, cost)
        ok = y > 0
        ax.loglog(ns[ok], y[ok], marker=markers[j % len(markers)], lw=1.2,
                  label=f"{STAGE_LABELS.get(stage, stage)} (slope {_slope(slopes.get(stage))})")
    total = _total(metrics, cost)
    ax.loglog(ns, total, "k-", lw=2.2, label=f"total (slope {_slope(slopes.get('total'))})")
    for power, style in ((1, ":"), (2, "--")):
        ax.loglog(ns, total[0] * (ns / ns[0]) ** power, style, color="grey", lw=0.9,
                  label=f"guide ∝ n{'²' if power == 2 else ''}")
    ax.set(xlabel="number of tasks n", ylabel=COSTS[cost],
           title=f"{metrics['family']}: cost of each stage against n (m rule: {metrics['m_rule']})")
    ax.set_xticks(ns, [str(int(n)) for n in ns])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def cost_table(metrics: Mapping[str, Any]):
    """One row per n: subsets m, actor parameters p, feature rows N, each stage's wall seconds, the totals,
    peak memory and the NMI with the designed groups."""
    import pandas as pd

    rows = []
    for r in metrics["rows"]:
        row = {"n": r["n"], "m": r["m"], "p": r["p"], "N": r["features_rows"]}
        row.update({STAGE_LABELS.get(s, s): round(v["wall"], 2) for s, v in r["stages"].items()})
        row.update({"total wall (s)": round(r["total_wall_seconds"], 1),
                    "total CPU (s)": round(r["total_cpu_seconds"], 1), "peak memory (MiB)": round(peak_mib(r)),
                    "NMI with designed groups": "–" if r["nmi"] is None else round(r["nmi"], 2)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("n")


def slope_table(metrics: Mapping[str, Any]):
    """One row per stage and the total: fitted log-log slope of wall and CPU seconds against n, and the
    stage's share of the largest n's wall time."""
    import pandas as pd

    last = metrics["rows"][-1]
    rows = []
    for stage in [*metrics["stages"], "total"]:
        wall = last["total_wall_seconds"] if stage == "total" else last["stages"][stage]["wall"]
        rows.append({"stage": STAGE_LABELS.get(stage, stage),
                     "slope (wall)": _slope(metrics["wall_slopes"].get(stage)),
                     "slope (CPU)": _slope(metrics["cpu_time_slopes"].get(stage)),
                     f"wall s at n = {last['n']}": round(wall, 2),
                     "share": f"{100 * wall / last['total_wall_seconds']:.0f}%"})
    return pd.DataFrame(rows).set_index("stage")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def end_to_end_sentence(metrics: Mapping[str, Any]) -> str:
    """The largest n in words: its end-to-end time (wall and CPU), peak memory, m and its costliest stages."""
    r = metrics["rows"][-1]
    shares = sorted(((v["wall"], s) for s, v in r["stages"].items()), reverse=True)
    top = ", ".join(f"{STAGE_LABELS.get(s, s)} {100 * w / r['total_wall_seconds']:.0f}%" for w, s in shares[:3])
    top_memory = max(r["stages"], key=lambda s: r["stages"][s]["peak_rss_mib"])
    memory = ("peak resident memory of the process" if r["peak_reset_per_stage"]
              else "peak resident memory of the process so far (not reset per stage here)")
    memory_stage = (f" (during the {STAGE_LABELS.get(top_memory, top_memory)})" if r["peak_reset_per_stage"]
                    else "")
    return (f"**At n = {r['n']} tasks**, PolicyGradEx from the task family to the groups (θ* meta-training to SDP "
            f"clustering) took **{_duration(r['total_wall_seconds'])} wall** and {_duration(r['total_cpu_seconds'])} "
            f"of CPU on one torch thread, with a {memory} of **{peak_mib(r):,.0f} MiB**{memory_stage}; m = {r['m']:,} subsets of "
            f"{r['subset_size']} tasks, k = {r['k']}. The costliest stages: {top}. The total grows with slope "
            f"{_slope(metrics['wall_slopes'].get('total'))} in n over the grid (wall).")


def pairs_sentence(metrics: Mapping[str, Any]) -> str:
    """Under the profile rule: what the paper's m = n(n−1)/2 would cost at the largest n, extrapolated linearly in
    m from the measured surrogate and scoring seconds per subset (both stages handle subsets one block or one
    subset at a time); empty under the pairs rule."""
    if metrics["m_rule"] != "profile":
        return ""
    r = metrics["rows"][-1]
    pairs = r["n"] * (r["n"] - 1) // 2
    per_subset = (r["stages"]["surrogate"]["wall"] + r["stages"]["scores"]["wall"]) / r["m"]
    rest = r["total_wall_seconds"] - per_subset * r["m"]
    return (f"With the paper's m = n(n−1)/2 = {pairs:,} subsets at n = {r['n']} instead of {r['m']:,}, the surrogate "
            f"and the scores ({per_subset * 1000:.0f} ms per subset here) would take about "
            f"{_duration(per_subset * pairs)}, the whole run about {_duration(rest + per_subset * pairs)}: an "
            f"extrapolation linear in m, not a measurement (`-p m_rule pairs` measures it).")


def m_sentence(metrics: Mapping[str, Any]) -> str:
    """How many subsets each n got, and how many of them completed the pair coverage."""
    rule = ("the profile's random draw" if metrics["m_rule"] == "profile" else "n(n−1)/2 random subsets")
    parts = ", ".join(f"{r['m']:,} at n = {r['n']}" + (f" ({r['m'] - r['m_random']:,} added for coverage)"
                                                        if r["m"] > r["m_random"] else "")
                      for r in metrics["rows"])
    rows = metrics["rows"]
    text = (f"Subsets m ({rule} of {rows[0]['m_random']:,} at n = {rows[0]['n']}, completed until every pair of "
            f"tasks shares one): {parts}.")
    if len(rows) >= 2:
        ns, ms = [r["n"] for r in rows], [r["m"] for r in rows]
        text += (f" Over the grid m grows with slope {_slope(log_log_slope(ns, ms))} in n; between the last two "
                 f"n, with slope {_slope(log_log_slope(ns[-2:], ms[-2:]))} (2 once the pair coverage sets m).")
    return text


def nmi_sentence(metrics: Mapping[str, Any]) -> str:
    """The NMI of the grouping with the family's designed groups at each n (or that there are none)."""
    if not metrics["has_design_groups"]:
        return f"{metrics['family']} has no designed groups: the groupings are not scored."
    rows = metrics["rows"]
    parts = ", ".join(f"{r['nmi']:.2f} at n = {r['n']}" for r in rows)
    drops = [r["n"] for before, r in zip(rows, rows[1:]) if r["nmi"] < before["nmi"] - NMI_DROP]
    text = (f"NMI of PolicyGradEx's {rows[-1]['k']} groups with {metrics['family']}'s designed groups: {parts} "
            "(1 = the designed groups exactly).")
    if drops:
        text += (" It falls by more than " f"{NMI_DROP} at n = " + ", ".join(str(n) for n in drops) +
                 ": one seed's grouping at each n, so this is one observation, not a trend; the budgets per task "
                 "(θ*, features, subsets of the profile's size) are those tuned at n = 10.")
    return text


def group_sentence(result, n: int, family: str, profile: str) -> str:
    """What a stored `pgx group --family <family> -p n_tasks <n>` run took (`result`: a stored `group` result or
    None), stage by stage; group training is part of it and not of this chapter's total."""
    command = f"`pgx group --family {family} -p n_tasks {n} --profile {profile}`"
    if result is None:
        return f"{command} is not stored here; run it to time the whole command (it also trains one policy per group)."
    meta = result.meta
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in meta["stage_times"].items())
    resumed = list(meta.get("resumed_stages") or {})
    nmi = result.metrics.get("planted_nmi")
    return (f"{command} took **{_duration(meta['total_time'])}** (stages: {stages}" +
            (f"; resumed: {', '.join(resumed)}" if resumed else "") + "), including the training of one policy per "
            "group, which this chapter does not time" +
            ("" if nmi is None else f"; its groups have NMI {nmi:.2f} with the designed ones") + ".")


def family_table(by_family: Mapping[str, Mapping[str, Any] | None]):
    """One row per family: the largest n, its end-to-end wall time, peak memory, the total's slope, NMI there."""
    import pandas as pd

    rows = []
    for family, m in by_family.items():
        if m is None:
            rows.append({"family": family, "n": "not computed"})
            continue
        r = m["rows"][-1]
        rows.append({"family": family, "n": r["n"], "m": r["m"], "wall (s)": round(r["total_wall_seconds"], 1),
                     "CPU (s)": round(r["total_cpu_seconds"], 1), "peak memory (MiB)": round(peak_mib(r)),
                     "slope of the total (wall)": _slope(m["wall_slopes"].get("total")),
                     "NMI with designed groups": "–" if r["nmi"] is None else round(r["nmi"], 2)})
    return pd.DataFrame(rows).set_index("family").astype(object)
