"""Tables, verdicts and figures of the `speedup` chapter, from a stored result (metrics dict and arrays).

Every function takes what `pgxlib.experiments.speedup` stores and returns a DataFrame, a string or a
matplotlib Figure; nothing here computes an experiment. Results stored before the truth was repeated
(no ``by_score`` / ``noise_ceiling_nmi``) are shown as they are, with `NOT_MEASURED` where the noise
ceiling and the one-evaluator comparisons would be.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.selection import agreement_pair
from pgxlib.analysis.speedup import centre_per_task, reaches_ceiling
from pgxlib.analysis.stats import as_nan
from pgxlib import paper
from pgxlib.report.plots import readable, task_label
from pgxlib.report.scorecard import Between, Claim, Lookup, Measurement, Metric, Verdict, _combine, _fmt, band
from pgxlib.report.tables import tidy

NMI_TOLERANCE = 0.1
"""The NMI claims' rule: within ± this of the paper's NMI (`nmi_band`)."""
PAPER_NMI_COLUMNS = {"lunarlander": "LunarLander NMI", "metaworld": "Meta-World NMI"}
NOT_MEASURED = "not measured; recompute with --force"
"""What stands where an old stored result lacks the noise ceiling or the one-evaluator comparisons."""


def paper_row(depth: int | str) -> dict[str, float | None]:
    """The paper's Meta-World NMI, LunarLander NMI and speedup for a depth (None where not reported)."""
    rows = dict(paper.SURROGATE.rows)
    if str(depth) not in rows:
        return {c: None for c in paper.SURROGATE.columns}
    return dict(zip(paper.SURROGATE.columns, rows[str(depth)]))


def has_ceiling(metrics: Mapping[str, Any]) -> bool:
    """Whether the result has the repeated truth (noise ceiling and ``by_score``) at every depth."""
    return all("by_score" in r and "noise_ceiling_nmi" in r for r in metrics["by_layers"].values())


def _num(value, digits: int = 3):
    """A number rounded for a table, or "–" where there is none (a rank correlation of a constant side)."""
    return "–" if value is None else round(float(value), digits)


def default_score(metrics: Mapping[str, Any]) -> str:
    """The evaluator of the headline numbers (older results: the estimate's score, compared with returns)."""
    return metrics.get("default_score") or metrics["budget"].get("score", "logistic")


def depth_table(metrics: Mapping[str, Any]):
    """One row per depth: our NMI (headline evaluator) beside the truth's noise ceiling and the random floor,
    rank correlations, speedups and wall times beside the paper's."""
    import pandas as pd

    rows = []
    for depth, r in metrics["by_layers"].items():
        p = paper_row(depth)
        x, ceiling, _ = agreement_pair(r)
        measured = ceiling is not None
        rows.append({
            "layers": int(depth),
            "NMI (ours)": _num(x),
            "noise ceiling NMI (truth vs itself)": _num(ceiling) if measured else NOT_MEASURED,
            "at ceiling": reaches_ceiling(x, ceiling) if measured else NOT_MEASURED,
            "random NMI (ours)": _num(r["random_nmi"]),
            "Meta-World NMI (paper)": p["Meta-World NMI"],
            "LunarLander NMI (paper)": p["LunarLander NMI"],
            "Spearman ρ": _num(r["rank_correlation"]),
            "Spearman ρ, per-task centred": _num(r["rank_correlation_centred"]),
            "speedup, wall (ours)": _num(r["speedup"]),
            "speedup, CPU (ours)": _num(r["speedup_cpu"]),
            "speedup incl. θ* (ours)": _num(r["speedup_with_meta"]),
            "speedup (paper)": p["speedup over full training"],
            "estimated (s)": _num(r["seconds"]["estimated"]),
            "fine-tuned, one repeat (s)": _num(r["seconds"]["measured"]),
        })
    return pd.DataFrame(rows).set_index("layers")


def footing_of(metrics: Mapping[str, Any]) -> str:
    """The footing of the result's agreements (`agreement_pair`), from its headline depth."""
    return agreement_pair(metrics["by_layers"][str(metrics["headline_depth"])])[2]


def evaluator_frame(metrics: Mapping[str, Any]):
    """One row per evaluator × depth: the estimate's NMI with the truth and the truth's noise ceiling on one
    footing (`agreement_pair`), the random-partition NMI, the affinity correlation, Spearman ρ and the speedup."""
    import pandas as pd

    rows = []
    for depth, r in metrics["by_layers"].items():
        for name, s in (r.get("by_score") or {default_score(metrics): r}).items():
            x, ceiling, _ = agreement_pair(s)
            rows.append({"evaluator": name, "layers": int(depth), "NMI estimate vs truth": x,
                         "noise ceiling NMI": ceiling,
                         "at ceiling": None if ceiling is None else reaches_ceiling(x, ceiling),
                         "random NMI": s["random_nmi"], "affinity r": s.get("affinity_corr"),
                         "Spearman ρ": s["rank_correlation"], "speedup": s["speedup"]})
    return pd.DataFrame(rows).set_index(["evaluator", "layers"])


def evaluator_table(metrics: Mapping[str, Any]):
    """`evaluator_frame` as a page table (`tables.tidy`), its caption naming the footing."""
    return tidy(evaluator_frame(metrics), f"Estimate vs truth beside the truth's noise ceiling, footing: "
                                          f"{footing_of(metrics)}", missing_why=NOT_MEASURED)


def ceiling_excess(comparison: Mapping[str, Any]) -> float:
    """How far the truth's noise ceiling lies above the NMI of random partitions, in their stds; at most 1 means the
    truth reproduces itself no better than chance."""
    c, floor, sd = comparison["noise_ceiling_nmi"], comparison["random_nmi"], comparison["random_nmi_std"]
    if sd > 0:
        return (c - floor) / sd
    return float("inf") if c > floor else 0.0


@readable
def ceiling_figure(metrics: Mapping[str, Any]) -> plt.Figure:
    """Per depth and evaluator: NMI of estimate vs truth (bars) beside the truth's noise ceiling (black ticks)
    and the random-partition floor (grey ticks)."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    if not has_ceiling(metrics):
        ax.text(0.5, 0.5, f"noise ceiling {NOT_MEASURED}", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    depths = list(metrics["by_layers"])
    names = list(dict.fromkeys(n for r in metrics["by_layers"].values() for n in r["by_score"]))
    width = 0.8 / len(names)
    cmap = plt.get_cmap("tab10")
    for d, depth in enumerate(depths):
        by_score = metrics["by_layers"][depth]["by_score"]
        for j, name in enumerate(names):
            if name not in by_score:
                continue
            s = by_score[name]
            x = d - 0.4 + width * (j + 0.5)
            ax.bar(x, agreement_pair(s)[0], width * 0.9, color=cmap(j), label=s.get("label", name) if d == 0 else None)
            ax.hlines(s["noise_ceiling_nmi"], x - width / 2, x + width / 2, color="k", lw=2.5,
                      label="noise ceiling (truth vs itself)" if d == 0 and j == 0 else None)
            ax.hlines(s["random_nmi"], x - width / 2, x + width / 2, color="0.5", lw=1.5, ls="--",
                      label="random partition" if d == 0 and j == 0 else None)
    ax.set_xticks(range(len(depths)), [f"{d} layers" for d in depths])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("NMI")
    ax.set_title("Estimate vs truth (bars) against the truth's own reproducibility (black)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def nmi_pair_text(nmi: float, ceiling: float) -> tuple[str, str]:
    """An NMI and the noise ceiling it is compared with, as text: two decimals, or where those read the same,
    three significant digits and more while they hide a difference that `reaches_ceiling` counts."""
    if f"{nmi:.2f}" != f"{ceiling:.2f}":
        return f"{nmi:.2f}", f"{ceiling:.2f}"
    same = reaches_ceiling(nmi, ceiling) and reaches_ceiling(ceiling, nmi)
    digits = 3
    while not same and f"{nmi:#.{digits}g}" == f"{ceiling:#.{digits}g}" and digits < 12:
        digits += 1
    return f"{nmi:#.{digits}g}", f"{ceiling:#.{digits}g}"


def nmi_band(paper_nmi: float) -> tuple[float, float]:
    """The NMI claims' tolerance: the paper's NMI ± `NMI_TOLERANCE`."""
    return paper_nmi - NMI_TOLERANCE, paper_nmi + NMI_TOLERANCE


def _paper_nmi(family: str, depth: str) -> tuple[float | None, str]:
    """The paper's NMI for `family` at `depth` and how to name it (LunarLander's for a family it does not report)."""
    column = PAPER_NMI_COLUMNS.get(family)
    if column is None:
        return paper_row(depth)["LunarLander NMI"], f"the paper's LunarLander NMI (none for {family})"
    return paper_row(depth)[column], "the paper's NMI"


def _judged(ok: bool) -> str:
    return "reproduced, within" if ok else "refuted, outside"


def _depth_verdict(family: str, depth: str, r: Mapping[str, Any]) -> str:
    """The sentences of one depth, each with one status (`verdicts`)."""
    nmi, ceiling, _ = agreement_pair(r)
    speed, rank = r["speedup"], r.get("rank_correlation")
    paper_speed = paper_row(depth)["speedup over full training"]
    if ceiling is not None and not reaches_ceiling(nmi, ceiling):
        x, c = nmi_pair_text(nmi, ceiling)
        return (f"undecided, within noise of the truth: NMI {x} is below the truth's noise ceiling {c}, so neither it "
                f"nor the speedup {speed:.1f}× tests the paper.")
    ref, whose = _paper_nmi(family, depth)
    if ceiling is None:
        head = f"NMI {nmi:.2f} (noise ceiling not measured)"
    else:
        x, c = nmi_pair_text(nmi, ceiling)
        head = f"NMI {x} reaches the truth's noise ceiling {c}"
    if ref is None:
        nmi_text = f"{head}; no paper figure at this depth."
    else:
        low, high = nmi_band(ref)
        nmi_text = f"{head}: {_judged(low <= nmi <= high)} {whose} {ref:.2f} ± {NMI_TOLERANCE:g}."
    if ceiling is None:
        sp_text = f"Speedup {speed:.1f}×: not judged, its noise ceiling is {NOT_MEASURED}."
    elif not agreement_clears(nmi, ceiling, rank):
        rho = "undefined" if rank is None else f"{rank:.2f}"
        sp_text = f"Speedup {speed:.1f}×: undecided, its rank correlation {rho} is below {RANK_FLOOR:g}."
    elif paper_speed is None:
        sp_text = f"Speedup {speed:.1f}×: no paper figure at this depth."
    else:
        low, high = band(paper_speed)
        sp_text = (f"Speedup {speed:.1f}×: {_judged(low <= speed <= high)} a factor of 2 of the paper's "
                   f"{paper_speed:g}×.")
    return f"{nmi_text} {sp_text}"


def verdicts(metrics: Mapping[str, Any], profile: str = "default") -> str:
    """Markdown, one bullet per depth, each sentence with one status by the scorecard's rules: below the truth's
    noise ceiling (`reaches_ceiling`) the NMI and the speedup bought with it are undecided; at or above it the NMI
    is judged within ± `NMI_TOLERANCE` of the paper's and the speedup within a factor of 2, where its rank
    correlation reaches `RANK_FLOOR`."""
    smoke = "Smoke budget: these sentences check the code path, not the paper's claims.\n"
    lines = [smoke] if profile == "smoke" else []
    lines += [f"- **{depth} layers**: {_depth_verdict(metrics['family'], depth, r)}"
              for depth, r in metrics["by_layers"].items()]
    return "\n".join(lines)


def budget_text(metrics: Mapping[str, Any]) -> str:
    """One paragraph: subsets, fine-tuning budget, repeats, evaluators, parallelism, and what the timing includes."""
    b = metrics["budget"]
    ratio = b["group_ppo_steps_per_task"] / b["finetune_steps_per_task"]
    versus = ("the profile's group budget" if ratio == 1 else
              f"{ratio:.3g}× less than the profile's group budget of {b['group_ppo_steps_per_task']:,}")
    iters = b["finetune_iterations"]
    repeats = b.get("repeats")
    if repeats:
        truth = (f"Full training is repeated {repeats} times with independent fine-tuning and evaluation seeds; "
                 f"NMI and affinity r are on the footing of the noise ceiling ({footing_of(metrics)}), the rank "
                 f"correlations and figures use the mean of the repeats' scores, and the speedup charges ONE "
                 f"repeat (the others measure the truth's noise ceiling). Both sides are scored by the same evaluator: "
                 f"{', '.join(f'`{s}`' for s in b.get('scores', []))} (headline: `{b['score']}`; `logistic` is the "
                 f"estimate's score of earlier versions, compared with the rollout truth).")
    else:
        truth = (f"Full training ran once per subset (noise ceiling {NOT_MEASURED}); estimated score "
                 f"`{b['score']}` against the rollout return.")
    return (f"Budget: m = {b['n_subsets']} subsets of {b['subset_size']} of the {b['n_tasks']} tasks "
            f"(the same subsets on both sides), k = {b['k']} groups. "
            f"Full training fine-tunes θ* for {b['finetune_steps_per_task']:,} environment steps per task "
            f"({iters} PPO iteration{'s' if iters != 1 else ''}; {versus}) and evaluates each task over "
            f"{b['eval_episodes']} episode{'s' if b['eval_episodes'] != 1 else ''}, "
            f"subsets in {b['n_jobs']} parallel processes of one thread each; the estimate runs in one process "
            f"with {b['torch_threads_estimated']} torch thread(s). {truth} Meta-training θ* is shared by both sides "
            f"and excluded from the speedup (the scorecard's number); the column 'incl. θ*' adds it to both.")


@readable
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
        names = [task_label(i) for i in order]
        ax.set_xticks(range(n), names, rotation=90)
        ax.set_yticks(range(n), names)
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
    return fig


@readable
def score_scatter(members, est, true, depth: int, score_name: str, truth_name: str = "return") -> plt.Figure:
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
            ax.scatter(a[sel, i], b[sel, i], s=18, color=cmap(i % 10), label=task_label(i), alpha=0.8)
        ax.set_xlabel(rf"estimated score $\hat f_i(S)$ ({score_name})")
        ax.set_ylabel(rf"measured $f_i(S)$ after fine-tuning ({truth_name})")
        ax.set_title(f"{title}, {depth}-layer policy")
        ax.grid(alpha=0.3)
    axes[1].legend(ncol=2, title="task")
    return fig


def correlation_text(metrics: Mapping[str, Any]) -> str:
    """One sentence: Spearman's ρ of the headline depth and evaluator, raw and centred per task."""
    head = str(metrics["headline_depth"])
    r = metrics["by_layers"][head]

    def fmt(v):
        return "undefined (one side constant)" if v is None else f"{v:.2f}"
    return (f"Spearman ρ = {fmt(r['rank_correlation'])} over all pairs, {fmt(r['rank_correlation_centred'])} after "
            f"centring per task ({head} layers, `{default_score(metrics)}`).")


def cost_text(metrics: Mapping[str, Any]) -> str:
    """One paragraph on where the headline depth's time goes: the share of the estimate spent scoring the θ̂_S,
    the share of full training spent evaluating, and the speedup of each evaluator (rollout scores cost the
    same episodes on both sides, so they bound the ratio)."""
    head = str(metrics["headline_depth"])
    r = metrics["by_layers"][head]
    est = r["stages"]["estimated"]
    est_total = sum(est.values())
    score_share = est.get("scores", 0.0) / est_total if est_total > 0 else 0.0
    eval_share = r["seconds"].get("measured_eval_share")
    by_score = r.get("by_score") or {}
    pairs = {name: nmi_pair_text(*agreement_pair(s)[:2]) for name, s in by_score.items()
             if s.get("speedup") is not None and s.get("noise_ceiling_nmi") is not None}
    per_score = "; ".join(f"`{name}` {by_score[name]['speedup']:.3g}× (NMI {x}, ceiling {c})"
                          for name, (x, c) in pairs.items())
    evaluation = ("" if eval_share is None else
                  f" One repeat of full training spends {eval_share:.0%} of its subsets' time evaluating them.")
    return (f"Where the time goes at {head} layers: the estimate spends {score_share:.0%} of its "
            f"{est_total:.0f} s scoring the θ̂_S with the headline evaluator `{default_score(metrics)}`.{evaluation} "
            f"An evaluator that rolls out episodes costs both sides the same number of episodes, so the speedup can "
            f"only come from the fine-tuning it replaces; it grows with the fine-tuning budget. Speedup per evaluator: "
            f"{per_score or NOT_MEASURED}.")


@readable
def stage_bars(metrics: Mapping[str, Any]) -> plt.Figure:
    """Wall time of each stage, per depth: the estimate (stacked) beside one repeat of full training (stacked)."""
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
                    ha="center", va="bottom")
    ax.set_xticks(range(len(depths)), [f"{d} layers" for d in depths])
    ax.set_ylabel("wall time (s)")
    ax.set_title("Wall time per stage: estimate (left) vs one repeat of full training (right)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.margins(y=0.15)
    return fig


# ---------------------------------------------------------------------------------------------
# The scorecard's claims of this chapter (collected by `pgxlib.report.claims`)
# ---------------------------------------------------------------------------------------------

_RECOMPUTE = "the stored speedup result predates the repeated truth: recompute it with --force"


def speedup_metric(family: str, depth: str, key: str) -> Metric:
    return Metric("speedup", {"family": family}, f"metrics.by_layers.{depth}.{key}")


RANK_FLOOR = 0.3
"""The Spearman ρ (estimated vs fine-tuned scores over all subset members) a speedup's run must reach: a
grouping that agrees with the truth by chance (ρ ≈ 0) was not bought by the speedup."""


def _not_judged(low: float, high: float, rule: str, unit: str) -> str:
    return f"so it is not judged against [{_fmt(low, unit)}, {_fmt(high, unit)}] ({rule})"


@dataclass(frozen=True)
class _NmiBesideCeiling:
    """Undecided when ours is below the truth's noise ceiling (`ceiling`: the mean NMI between repeats of full
    training; `reaches_ceiling`), evidence neither way; otherwise reproduced when `low` ≤ ours ≤ `high` (the
    paper's NMI ± 0.1). A result stored before the truth was repeated is judged on the band alone, its ceiling
    "not measured"."""

    low: float
    high: float
    rule: str
    ceiling: Metric

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        verdict = Between(self.low, self.high, self.rule).judge(ours, unit, lookup)
        got = self.ceiling.measure(lookup)
        if got.value is None:
            return Verdict(verdict.ok, f"{verdict.why}; the truth's noise ceiling: not measured ({_RECOMPUTE})")
        x, c = nmi_pair_text(ours, got.value)
        if not reaches_ceiling(ours, got.value):
            not_judged = _not_judged(self.low, self.high, self.rule, unit)
            return Verdict(False, f"within noise of the truth: ours {x} is below the truth's noise ceiling {c} (NMI "
                                  f"between repeats of full training), {not_judged}", got, status="undecided")
        return Verdict(verdict.ok, f"{verdict.why}; ours {x} reaches the truth's noise ceiling {c} (NMI between "
                                   f"repeats of full training)", got)


def agreement_clears(nmi: float, ceiling: float, rank: float | None) -> bool:
    """Whether the agreement a speedup was bought with counts: the estimate's NMI with the truth (``nmi``: against
    single repeats, averaged) reaches the truth's noise ceiling (between single repeats), one footing, and the
    rank correlation of their scores is at least `RANK_FLOOR`."""
    return reaches_ceiling(nmi, ceiling) and rank is not None and rank >= RANK_FLOOR


@dataclass(frozen=True)
class _SpeedupAboveCeiling:
    """Undecided unless the agreement the speedup was bought with clears the guard (`agreement_clears`: NMI `nmi`
    at the truth's noise ceiling `ceiling`, rank correlation `rank` ≥ `RANK_FLOOR`); where it does, reproduced
    when ours is within [`low`, `high`]."""

    low: float
    high: float
    rule: str
    nmi: Metric
    ceiling: Metric
    rank: Metric

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        got = [self.nmi.measure(lookup), self.ceiling.measure(lookup), self.rank.measure(lookup)]
        combined = _combine(got, 0.0)
        if combined.problems:
            return Verdict(None, "", Measurement(None, combined.results, (*combined.problems, _RECOMPUTE)))
        agreement, ceiling, rank = (g.value for g in got)
        not_judged = _not_judged(self.low, self.high, self.rule, unit)
        x, c = nmi_pair_text(agreement, ceiling)
        if not reaches_ceiling(agreement, ceiling):
            return Verdict(False, f"within noise of the truth: the speedup {_fmt(ours, unit)} was bought with NMI {x}, "
                                  f"below the truth's noise ceiling {c}, {not_judged}", combined, status="undecided")
        if not agreement_clears(agreement, ceiling, rank):
            return Verdict(False, f"the speedup {_fmt(ours, unit)} was bought with a rank correlation {rank:.2f} "
                                  f"below {RANK_FLOOR:g} (estimated and fine-tuned scores agree by chance), "
                                  f"{not_judged}", combined, status="undecided")
        verdict = Between(self.low, self.high, self.rule).judge(ours, unit, lookup)
        return Verdict(verdict.ok, f"{verdict.why}; bought with NMI {x} (truth's noise ceiling {c}) and rank "
                                   f"correlation {rank:.2f}: the agreement clears the ceiling", combined)


def claims() -> list[Claim]:
    """NMI of estimated vs. measured affinity clusters, and the speedup, per policy depth.

    Our numbers are the headline evaluator's (``metrics.by_layers.<depth>``, the same evaluator on both sides,
    the truth the mean of repeated fine-tunings). One status rule: an NMI below the truth's noise ceiling
    (`reaches_ceiling`) is undecided, and so is a speedup whose agreement does not clear the guard
    (`agreement_clears`); otherwise an NMI is judged within ± 0.1 of the paper's, a speedup within a factor of 2."""
    claims = []
    nmi_columns = {"Meta-World NMI": "metaworld", "LunarLander NMI": "lunarlander"}
    for depth, values in paper.SURROGATE.rows:
        for column, value in zip(paper.SURROGATE.columns, values):
            if column in nmi_columns:
                family = nmi_columns[column]
                compare = _NmiBesideCeiling(*nmi_band(value), f"the paper's NMI ± {NMI_TOLERANCE:g}",
                                            speedup_metric(family, depth, "noise_ceiling_nmi"))
                claims.append(Claim(f"Surrogate {column}, {depth}-layer policy", value, "NMI",
                                    speedup_metric(family, depth, "nmi"), compare, paper.SURROGATE.name,
                                    f"Surrogate NMI ≈ paper, {depth} layers", family))
            else:
                low, high = band(value)
                compare = _SpeedupAboveCeiling(low, high, "within a factor of 2 of the paper's speedup",
                                               speedup_metric("lunarlander", depth, "nmi"),
                                               speedup_metric("lunarlander", depth, "noise_ceiling_nmi"),
                                               speedup_metric("lunarlander", depth, "rank_correlation"))
                claims.append(Claim(f"Speedup over full training, {depth}-layer policy (LunarLander)", value, "×",
                                    speedup_metric("lunarlander", depth, "speedup"), compare, paper.SURROGATE.name,
                                    f"Speedup ≈ paper, {depth} layers", "lunarlander"))
    for column, family in nmi_columns.items():
        claims.append(Claim(f"Random clustering NMI near chance, about {paper.RANDOM_NMI:g} ({column.split()[0]})",
                            paper.RANDOM_NMI, "NMI", Metric("speedup", {"family": family}, "metrics.random_nmi"),
                            Between(paper.RANDOM_NMI - 0.1, paper.RANDOM_NMI + 0.1, "the paper's ≈ 0.2 ± 0.1"),
                            paper.SURROGATE.name, f"Random clustering NMI ≈ {paper.RANDOM_NMI:g}", family))
    return claims


@dataclass(frozen=True)
class GuardedSpeedup:
    """The largest speedup that counts: over the (family, depth) cells of the speedup results whose agreement
    clears the guard (`agreement_clears`), judged within [`low`, `high`]; a run whose agreement does not clear it
    is shown but not counted, and where none counts the claim is undecided (not yet measured where no cell has
    its noise ceiling). Also the claim's source, so that the number shown is the one judged (the largest of all
    cells only when none counts)."""

    cells: tuple[tuple[str, str], ...]
    low: float
    high: float
    rule: str

    def _cells(self, lookup: Lookup):
        counted, shown, used, ceilings = [], [], [], 0
        for family, depth in self.cells:
            got = [speedup_metric(family, depth, k).measure(lookup)
                   for k in ("speedup", "nmi", "noise_ceiling_nmi", "rank_correlation")]
            if any(g.value is None for g in got[:2]):
                continue
            used += got
            speed, nmi, ceiling, rank = (g.value for g in got)
            ceilings += ceiling is not None
            clears = ceiling is not None and agreement_clears(nmi, ceiling, rank)
            text = f"{family} {depth} layers {speed:.1f}×" + ("" if ceiling is not None else " (no noise ceiling)")
            (counted if clears else shown).append((speed, text))
        return counted, shown, _combine(used, 0.0).results, ceilings

    def measure(self, lookup: Lookup) -> Measurement:
        counted, shown, results, _ = self._cells(lookup)
        if not counted and not shown:
            return _combine([speedup_metric(f, d, "speedup").measure(lookup) for f, d in self.cells], None)
        return Measurement(max(counted or shown)[0], results)

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        counted, shown, results, ceilings = self._cells(lookup)
        if not counted and not ceilings:
            return Verdict(None, "", Measurement(None, results, (_RECOMPUTE,)))
        if not counted:
            return Verdict(False, "no measured speedup counts: none was bought with an agreement at the truth's "
                                  f"noise ceiling and a rank correlation ≥ {RANK_FLOOR:g}, so none is judged "
                                  f"against [{_fmt(self.low, unit)}, {_fmt(self.high, unit)}] (not counted: "
                                  + ", ".join(t for _, t in shown) + ")", Measurement(None, results),
                           status="undecided")
        best, text = max(counted)
        ok = self.low <= best <= self.high
        return Verdict(ok, f"the largest speedup that counts, {text}, is {'within' if ok else 'outside'} "
                           f"[{_fmt(self.low, unit)}, {_fmt(self.high, unit)}] ({self.rule})"
                           + (f"; not counted (agreement below the guard): {', '.join(t for _, t in shown)}"
                              if shown else ""), Measurement(None, results))
