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

from pgxlib.analysis.speedup import centre_per_task, reaches_ceiling
from pgxlib.analysis.stats import as_nan
from pgxlib.report import paper
from pgxlib.report.plots import readable, task_label
from pgxlib.report.scorecard import Between, Claim, Lookup, Measurement, Metric, Verdict, _combine, _fmt, band
from pgxlib.report.tables import tidy

NMI_TOLERANCE = 0.1  # the scorecard's rule: within 0.1 of the paper's NMI, or above
SPEEDUP_FRACTION = 0.5  # the scorecard's rule: at least half the paper's speedup
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
            "above ceiling": reaches_ceiling(x, ceiling) if measured else NOT_MEASURED,
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


OLD_FOOTING = "single repeats (from the stored per-repeat NMIs of an older result)"
UNKNOWN_FOOTING = "not recorded (an older result without per-repeat NMIs)"


def agreement_pair(row: Mapping[str, Any]) -> tuple[float, float | None, str]:
    """(the estimate's NMI with the truth, the truth's noise ceiling, their footing) of one evaluator at one depth
    (a ``by_score`` entry, or a depth's headline row), both on the same footing.

    A result stored before the footing was named kept the NMI against the mean of the repeats as ``nmi`` and the
    NMI against each repeat as ``nmi_per_repeat``: the like-with-like NMI is the mean of the latter (without it,
    ``nmi`` as stored, its footing `UNKNOWN_FOOTING`). A result without repeats has no ceiling (None) and only its
    one-run NMI."""
    ceiling = row.get("noise_ceiling_nmi")
    if "footing" in row or ceiling is None:
        return float(row["nmi"]), ceiling, row.get("footing", "one run")
    if "nmi_per_repeat" not in row:
        return float(row["nmi"]), float(ceiling), UNKNOWN_FOOTING
    return float(np.mean(row["nmi_per_repeat"])), float(ceiling), OLD_FOOTING


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


def _paper_nmi(family: str, depth: str) -> float | None:
    column = PAPER_NMI_COLUMNS.get(family)
    return None if column is None else paper_row(depth)[column]


def verdicts(metrics: Mapping[str, Any], profile: str = "default") -> str:
    """Markdown sentences, one per depth and claim, saying whether NMI and speedup reproduce (from the numbers,
    by the scorecard's rules: the speedup counts only where its NMI clears the truth's noise ceiling)."""
    family = metrics["family"]
    lines = []
    if profile == "smoke":
        lines.append("Smoke budget: these sentences check the code path, not the paper's claims.\n")
    for depth, r in metrics["by_layers"].items():
        p = paper_row(depth)
        nmi, ceiling, _ = agreement_pair(r)
        floor, sd = r["random_nmi"], r["random_nmi_std"]
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
        if ceiling is not None:
            nmi_text += f", beside the truth's noise ceiling {ceiling:.2f}"
        else:
            nmi_text += f" (noise ceiling {NOT_MEASURED})"
        paper_speedup = p["speedup over full training"]
        if paper_speedup is None:
            sp_text = f"speedup {r['speedup']:.1f}× (no paper figure at this depth)"
        elif ceiling is None:
            sp_text = (f"speedup {r['speedup']:.1f}× against the paper's {paper_speedup:g}× "
                       f"(noise ceiling {NOT_MEASURED})")
        elif not reaches_ceiling(nmi, ceiling):
            sp_text = (f"speedup {r['speedup']:.1f}× against the paper's {paper_speedup:g}×: within noise of the "
                       f"truth (the agreement it was bought with, NMI {nmi:.2f}, does not clear the noise ceiling "
                       f"{ceiling:.2f}), so it does not count")
        else:
            ok = r["speedup"] >= SPEEDUP_FRACTION * paper_speedup
            sp_text = (f"speedup {r['speedup']:.1f}× against the paper's {paper_speedup:g}×: "
                       f"{'reproduces' if ok else 'does not reproduce'} (rule: at least half)")
        lines.append(f"- **{depth} layers**: {nmi_text}; {sp_text}.")
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
    per_score = "; ".join(f"`{name}` {s['speedup']:.3g}× (NMI {agreement_pair(s)[0]:.2f}, ceiling "
                          f"{s['noise_ceiling_nmi']:.2f})"
                          for name, s in by_score.items() if s.get("speedup") is not None
                          and s.get("noise_ceiling_nmi") is not None)
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


@dataclass(frozen=True)
class _NmiBesideCeiling:
    """Reproduced when `low` ≤ ours ≤ `high` (the paper's NMI ± 0.1); the truth's noise ceiling (`ceiling`: the
    mean NMI between repeats of full training) is shown beside it, "not measured" for a result stored before the
    truth was repeated."""

    low: float
    high: float
    rule: str
    ceiling: Metric

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        verdict = Between(self.low, self.high, self.rule).judge(ours, unit, lookup)
        got = self.ceiling.measure(lookup)
        if got.value is None:
            return Verdict(verdict.ok, f"{verdict.why}; the truth's noise ceiling: not measured ({_RECOMPUTE})")
        side = "above it" if ours > got.value else "not above it (the agreement does not clear the truth's own noise)"
        return Verdict(verdict.ok, f"{verdict.why}; the truth's noise ceiling (NMI between repeats of full training) "
                                   f"{_fmt(got.value, unit)}, ours {side}", got)


def agreement_clears(nmi: float, ceiling: float, rank: float | None) -> bool:
    """Whether the agreement a speedup was bought with counts: the estimate's NMI with the truth (``nmi``: against
    single repeats, averaged) reaches the truth's noise ceiling (between single repeats), one footing, and the
    rank correlation of their scores is at least `RANK_FLOOR`."""
    return reaches_ceiling(nmi, ceiling) and rank is not None and rank >= RANK_FLOOR


@dataclass(frozen=True)
class _SpeedupAboveCeiling:
    """Reproduced when ours is within the tolerance band [`low`, `high`] AND the agreement the speedup was bought
    with clears the guard (`agreement_clears`: NMI `nmi` at the truth's noise ceiling `ceiling`, rank correlation
    `rank` ≥ `RANK_FLOOR`); otherwise the speedup does not count and the row is "undecided", its text
    saying "within noise of the truth"."""

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
        verdict = Between(self.low, self.high, self.rule).judge(ours, unit, lookup)
        agreement, ceiling, rank = (g.value for g in got)
        bought = f"bought with NMI {agreement:.2f} (truth's noise ceiling {ceiling:.2f}) and rank correlation {rank:.2f}"
        if agreement_clears(agreement, ceiling, rank):
            return Verdict(verdict.ok, f"{verdict.why}; {bought}: the agreement clears the ceiling", combined)
        return Verdict(verdict.ok, f"{verdict.why}; {bought}", combined,
                       f"within noise of the truth: the agreement this speedup was bought with does not clear the "
                       f"truth's noise ceiling (NMI between repeats of full training) with a rank correlation of at "
                       f"least {RANK_FLOOR:g}, so the speedup does not count")


def claims() -> list[Claim]:
    """NMI of estimated vs. measured affinity clusters, and the speedup, per policy depth.

    Our numbers are the headline evaluator's (``metrics.by_layers.<depth>``, the same evaluator on both sides,
    the truth the mean of repeated fine-tunings). Each NMI row is judged within ± 0.1 of the paper's and shows the
    truth's noise ceiling beside it; a speedup is judged within a factor of 2 of the paper's and counts only where
    the agreement it was bought with clears the guard (`agreement_clears`; "undecided" otherwise)."""
    claims = []
    nmi_columns = {"Meta-World NMI": "metaworld", "LunarLander NMI": "lunarlander"}
    for depth, values in paper.SURROGATE.rows:
        for column, value in zip(paper.SURROGATE.columns, values):
            if column in nmi_columns:
                family = nmi_columns[column]
                compare = _NmiBesideCeiling(value - 0.1, value + 0.1, "the paper's NMI ± 0.1",
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
    is shown but not counted. Also the claim's source, so that the number shown is the one judged (the largest
    of all cells only when none counts)."""

    cells: tuple[tuple[str, str], ...]
    low: float
    high: float
    rule: str

    def _cells(self, lookup: Lookup):
        counted, shown, used = [], [], []
        for family, depth in self.cells:
            got = [speedup_metric(family, depth, k).measure(lookup)
                   for k in ("speedup", "nmi", "noise_ceiling_nmi", "rank_correlation")]
            if any(g.value is None for g in got[:2]):
                continue
            used += got
            speed, nmi, ceiling, rank = (g.value for g in got)
            clears = ceiling is not None and agreement_clears(nmi, ceiling, rank)
            (counted if clears else shown).append((speed, f"{family} {depth} layers {speed:.1f}×"))
        return counted, shown, _combine(used, 0.0).results

    def measure(self, lookup: Lookup) -> Measurement:
        counted, shown, results = self._cells(lookup)
        if not counted and not shown:
            return _combine([speedup_metric(f, d, "speedup").measure(lookup) for f, d in self.cells], None)
        return Measurement(max(counted or shown)[0], results)

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        counted, shown, results = self._cells(lookup)
        if not counted:
            return Verdict(False, "no measured speedup counts: none was bought with an agreement at the truth's "
                                  f"noise ceiling and a rank correlation ≥ {RANK_FLOOR:g} (not counted: "
                                  + (", ".join(t for _, t in shown) or "none") + ")", Measurement(None, results))
        best, text = max(counted)
        ok = self.low <= best <= self.high
        return Verdict(ok, f"the largest speedup that counts, {text}, is {'within' if ok else 'outside'} "
                           f"[{_fmt(self.low, unit)}, {_fmt(self.high, unit)}] ({self.rule})"
                           + (f"; not counted (agreement below the guard): {', '.join(t for _, t in shown)}"
                              if shown else ""), Measurement(None, results))
