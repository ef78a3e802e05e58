"""Tables, figures and sentences for the Meta-World MT10 chapter (multi-objective protocol).

Everything takes stored results: the ``metrics`` dict and ``arrays`` of a `main_results` run on
``metaworld``, and of its `ablations` run (the number of groups). Success rates are stored as fractions and
shown in percent; the paper's numbers come from `pgxlib.paper`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from pgxlib import paper
from pgxlib.report.ablations import k_score, multitask_score, paired_seeds, seed_scores
from pgxlib.report.main_results import gap_text, reading, versus
from pgxlib.report.plots import readable
from pgxlib.report.orders import AddsLittle, Positive
from pgxlib.report.scorecard import Claim, Difference, Metric
from pgxlib.analysis.selection import agreement_pair
from pgxlib.report.speedup import ceiling_excess, default_score, has_ceiling

LABELS = {
    "multitask": "Multi-task training",
    "soft_modularization": "Soft Modularization",
    "paco": "PaCo",
    "care": "CARE",
    "random_grouping": "Random grouping",
    "gradient_similarity_grouping": "Gradient-similarity grouping",
    "policygradex": "PolicyGradEx",
}
"""Our method keys -> the paper's row labels (`paper.MAIN_RESULTS`), in the paper's order."""
BASELINES = tuple(k for k in LABELS if k != "policygradex")


def paper_success(method: str) -> float | None:
    """The paper's MT10 success (%) of a method."""
    value = paper.MAIN_RESULTS.value(LABELS[method], "Meta-World")
    return value if isinstance(value, (int, float)) else None


def _pct(entry: Mapping[str, Any] | None) -> str:
    if not entry or entry.get("mean") is None:
        return "–"
    return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"


def main_table(metrics: Mapping[str, Any]):
    """One row per method: success % (mean ± std over seeds, each seed), mean return, the paper's success."""
    import pandas as pd

    rows = []
    for key, label in LABELS.items():
        entry = metrics["methods"][key]
        rows.append({"method": label, "policy": entry["arch"],
                     "ours: success % ± std": _pct(entry["success"]),
                     "ours: per seed %": ", ".join(f"{100 * v:.1f}" for v in entry["success"]["seeds"]),
                     "ours: return ± std": f"{entry['returns']['mean']:.0f} ± {entry['returns']['std']:.0f}",
                     "paper: success %": paper.format_value(paper_success(key), "%")})
    return pd.DataFrame(rows).set_index("method")


def main_sentence(metrics: Mapping[str, Any]) -> str:
    """Where PolicyGradEx stands against each baseline at our budget (above, level with or below it), and the
    order of the methods beside the paper's."""
    methods = metrics["methods"]
    ours = methods["policygradex"]["success"]
    n_seeds = len(ours["seeds"])
    sides: dict[str, list[str]] = {"above": [], "below": [], "not told apart from": []}
    for key in BASELINES:
        p = versus([100 * v for v in ours["seeds"]], [100 * v for v in methods[key]["success"]["seeds"]])
        sides[reading(p)].append(f"{LABELS[key]} ({gap_text(p, ' points')})")
    parts = [f"At our budget ({n_seeds} seed{'s' if n_seeds != 1 else ''}; paired 95% intervals of PolicyGradEx − "
             f"baseline), PolicyGradEx's mean success is {100 * ours['mean']:.1f}%, "
             + "; ".join(f"{side} {'; '.join(texts)}" for side, texts in sides.items() if texts) + "."]
    means = {k: methods[k]["success"]["mean"] for k in LABELS}
    if len(set(means.values())) == 1:
        parts.append(" Every method has the same mean success, so there is no order to set beside the paper's.")
    else:
        order = sorted(LABELS, key=lambda k: -means[k])
        paper_order = sorted(LABELS, key=lambda k: -(paper_success(k) or -np.inf))
        same = "the same" if order == paper_order else "not the same"
        parts.append(f" Our order (best first): {', '.join(LABELS[k] for k in order)}; the paper's: "
                     f"{', '.join(LABELS[k] for k in paper_order)} ({same}).")
    if sides["below"]:
        parts.append(" PolicyGradEx is below a baseline at this budget: see the per-task success and the "
                     "learning curves below for where the difference comes from.")
    return "".join(parts)


def per_task_table(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray]):
    """Success % per task and method (mean over seeds), with PolicyGradEx's group of each task per seed."""
    import pandas as pd

    names = metrics["task_names"]
    table = pd.DataFrame({LABELS[m]: 100 * np.ma.mean(np.ma.asarray(arrays[f"success_{m}"]), axis=0).filled(np.nan)
                          for m in LABELS}, index=names).round(1)
    table.insert(0, "PolicyGradEx group per seed",
                 [" ".join(str(int(arrays["labels_policygradex"][s, i]))
                           for s in range(len(arrays["labels_policygradex"]))) for i in range(len(names))])
    return table


@readable
def learning_curves(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> plt.Figure:
    """Success rate (mean over tasks) against environment steps per task, one line per method: the mean over
    seeds with a band from the lowest to the highest seed."""
    steps = np.asarray(arrays["curve_steps"])
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for m, label in LABELS.items():
        curve = np.ma.mean(np.ma.asarray(arrays[f"curve_success_{m}"]), axis=2).filled(np.nan)  # [S, I]
        mean = np.nanmean(curve, axis=0)
        ax.plot(steps, 100 * mean, label=label, lw=2.2 if m == "policygradex" else 1.2)
        ax.fill_between(steps, 100 * np.nanmin(curve, axis=0), 100 * np.nanmax(curve, axis=0), alpha=0.15)
    ax.set_xlabel("environment steps per task")
    ax.set_ylabel("success rate during training (%)")
    ax.set_title("MT10: training success (seed mean, band: min–max over seeds)")
    ax.legend(loc="upper left")
    return fig


@readable
def group_task_curves(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], seed_index: int = 0) -> plt.Figure:
    """Per-task training success of PolicyGradEx's group policies on one seed, one panel per group."""
    steps = np.asarray(arrays["curve_steps"])
    curve = np.ma.asarray(arrays["curve_success_policygradex"])[seed_index].filled(np.nan)  # [I, n]
    groups = metrics["groups"]["policygradex"][seed_index]
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3.0), sharey=True, squeeze=False)
    for ax, group in zip(axes[0], groups):
        for i in group:
            ax.plot(steps, 100 * curve[:, i], label=metrics["task_names"][i])
        ax.set_title(f"group {', '.join(str(i) for i in group)}", fontsize=9)
        ax.set_xlabel("env steps per task")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1, frameon=False)
    axes[0][0].set_ylabel("success during training (%)")
    return fig


def throughput_table(metrics: Mapping[str, Any]):
    """Env steps per second of MT10 stepping (our vector env, random actions) and of PPO training per method."""
    import pandas as pd

    tp = metrics["throughput"]
    rows = [{"what": "MT10 stepping, one env per task, random actions", "env steps/s":
             round(tp["stepping"]["env_steps_per_second"]), "seconds per run": round(tp["stepping"]["seconds"], 1)}]
    for m, label in LABELS.items():
        t = tp["ppo"][m]
        rows.append({"what": f"PPO training: {label} ({metrics['methods'][m]['arch']})",
                     "env steps/s": round(t["ppo_env_steps_per_second"]),
                     "seconds per run": round(t["train_seconds_per_run"], 1)})
    return pd.DataFrame(rows).set_index("what")


def k_table(metrics: Mapping[str, Any]):
    """The number of groups: our success % and groups per k beside the paper's."""
    import pandas as pd

    knob = metrics["k"]
    seeds = paired_seeds(metrics)
    rows = []
    for k, row in zip(knob["values"], knob["rows"]):
        value = paper.N_GROUPS.value(str(k), "Meta-World") if str(k) in dict(paper.N_GROUPS.rows) else None
        out = {"k": k, f"ours: success % (seed {seeds[0]})": f"{100 * row['success']:.1f}",
               "groups": " | ".join(",".join(str(i) for i in g) for g in row["groups"]),
               "paper: success %": paper.format_value(value, "%")}
        if len(seeds) > 1:
            per_seed = seed_scores(metrics, "k", k)
            out[f"ours: mean over {len(seeds)} seeds"] = f"{100 * knob['by_value'][str(k)]['score']:.1f}"
            out["ours: per seed"] = ", ".join("–" if x is None else f"{100 * x:.1f}" for x in per_seed)
        rows.append(out)
    return pd.DataFrame(rows).set_index("k")


def k_sentence(metrics: Mapping[str, Any]) -> str:
    """Which k is best in our ablation (mean success over the paired seeds) and whether success rises from k=1 to
    k=3 as in the paper."""
    knob = metrics["k"]
    n_seeds = len(paired_seeds(metrics))
    by_value = knob.get("by_value", {})
    by_k = {int(k): by_value.get(str(k), {}).get("score", r["success"]) for k, r in zip(knob["values"], knob["rows"])}
    seeds = "one seed" if n_seeds == 1 else f"mean over {n_seeds} seeds"
    top = max(by_k.values())
    best = [k for k, v in by_k.items() if v == top]
    if len(best) == 1:
        text = f"Our best k is {best[0]} ({100 * top:.1f}% success, {seeds})."
    else:
        text = f"k = {', '.join(map(str, best[:-1]))} and {best[-1]} tie for best ({100 * top:.1f}% success, {seeds})."
    if 1 in by_k and 3 in by_k:
        text += (f" From k=1 to k=3 success {'rises' if by_k[3] > by_k[1] else 'does not rise'} "
                 f"({100 * by_k[1]:.1f}% → {100 * by_k[3]:.1f}%); the paper rises from about 71% to 94.0%.")
    return text


def shortfall_sentence(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    """For each baseline ahead of PolicyGradEx: on which tasks (mean success over seeds) it is ahead, and how
    PolicyGradEx's groups differ from a one-policy baseline in data per update."""
    methods = metrics["methods"]
    ours = methods["policygradex"]["success"]["mean"]
    behind = [k for k in BASELINES if methods[k]["success"]["mean"] > ours]
    if not behind:
        return "PolicyGradEx's mean success over seeds is at or above every baseline at our budget."
    names = metrics["task_names"]
    pgx = np.ma.mean(np.ma.asarray(arrays["success_policygradex"]), axis=0)
    parts = []
    for key in behind:
        base = np.ma.mean(np.ma.asarray(arrays[f"success_{key}"]), axis=0)
        ahead = [f"{names[i]} ({100 * float(base[i]):.0f}% vs {100 * float(pgx[i]):.0f}%)"
                 for i in range(len(names)) if base[i] > pgx[i]]
        parts.append(f"{LABELS[key]} is ahead by {100 * (methods[key]['success']['mean'] - ours):.1f} points, "
                     f"on {', '.join(ahead) if ahead else 'no single task (the gap is spread thinly)'}")
    sizes = [len(g) for seed_groups in metrics["groups"]["policygradex"] for g in seed_groups]
    return ("Where PolicyGradEx falls short: " + "; ".join(parts) + ". Every method spends the same environment "
            f"steps per task, so a PolicyGradEx group (mean size {np.mean(sizes):.1f} of {len(names)} tasks) takes "
            "the same number of PPO updates as a one-policy baseline, each on its own tasks' transitions only "
            f"(about {np.mean(sizes) / len(names):.0%} of the batch).")


CARE_PAPER_STEPS = paper.MULTI_OBJECTIVE_PAPER_STEPS


def budget_sentence(metrics: Mapping[str, Any]) -> str:
    """Whether our budget lets success show at all, and the mean returns (non-negative under reward v2) of
    PolicyGradEx against each baseline as ratios and in seed standard deviations."""
    methods = metrics["methods"]
    steps = metrics["budget"]["group_steps_per_task"]
    best = max(LABELS, key=lambda k: methods[k]["success"]["mean"])
    top = methods[best]["success"]["mean"]
    papers = [v for v in map(paper_success, LABELS) if v is not None]
    reached = (f"The best mean success here is {100 * top:.1f}% ({LABELS[best]})" if top > 0
               else "No method succeeds in any evaluation episode here")
    text = (f"Every policy here had {steps:,} environment steps per task; the published MT10 success rates we quote "
            f"for context were reached with {CARE_PAPER_STEPS:,} ({CARE_PAPER_STEPS / steps:.0f}× ours). {reached}; "
            f"the paper's methods range from {min(papers):.1f}% to {max(papers):.1f}%.")
    if top < 0.5:
        text += (" At this budget no method solves most of the tasks, so these success rates can neither confirm nor "
                 "refute the paper's order; a gap whose paired interval covers 0 is not evidence.")
    ours = methods["policygradex"]["returns"]
    ratios = []
    for key in BASELINES:
        base = methods[key]["returns"]
        gap = gap_text(versus(ours["seeds"], base["seeds"]), " return")
        ratios.append(f"{LABELS[key]} {ours['mean'] / base['mean']:.2f}× ({gap})" if base["mean"] > 0
                      else f"{LABELS[key]} (mean return 0)")
    return text + (" Mean return moves before success does: PolicyGradEx's mean return against each baseline's is "
                   + "; ".join(ratios) + ".")


def repeated_groups_sentence(metrics: Mapping[str, Any], names: Sequence[str] | None = None) -> str:
    """Task groups that the k ablation trained more than once (the same tasks at two values of k): group g of a
    partition is trained with seed ``seed + 1000 + g``, so a group at another index differs in its training seed
    only, and its success difference is the training noise of one group policy at this budget."""
    knob = metrics["k"]
    seen: dict[tuple[int, ...], list[tuple[int, int, list[float]]]] = {}
    for k, row in zip(knob["values"], knob["rows"]):
        for g, group in enumerate(row["groups"]):
            seen.setdefault(tuple(sorted(group)), []).append((int(k), g, [row["per_task_success"][i] for i in group]))
    label = (lambda i: names[i]) if names is not None else str
    parts = []
    for group, runs in seen.items():
        for (k1, g1, s1), (k2, g2, s2) in zip(runs, runs[1:]):
            if g1 == g2:
                continue
            diff = [f"{label(i)} {100 * a:.0f}% vs {100 * b:.0f}%" for i, a, b in zip(group, s1, s2) if a != b]
            parts.append(f"tasks {', '.join(label(i) for i in group)} at k={k1} and k={k2}: "
                         + (", ".join(diff) if diff else "the same success on every task"))
    if not parts:
        return "No group of tasks was trained more than once with different seeds in this ablation."
    return ("The same group of tasks, trained more than once with different seeds only (it sits at another index of "
            "the partition): " + "; ".join(parts) + ". A difference here is the training noise of one group policy at "
            "this budget, against which the rows above are to be read.")


def structure_sentence(speedup_metrics: Mapping[str, Any]) -> str:
    """Whether MT10 has an affinity structure for a grouping to find at our budget, from the speedup chapter's
    repeated fine-tuning truth: its noise ceiling (repeats against each other) per depth beside the random floor,
    and the estimate's agreement with it (headline evaluator)."""
    if not has_ceiling(speedup_metrics):
        return ("The speedup chapter's MT10 result has no repeated truth; recompute it with --force to see "
                "whether MT10 has an affinity structure at this budget.")
    score = default_score(speedup_metrics)
    heads = {depth: r["by_score"][score] for depth, r in speedup_metrics["by_layers"].items()}
    excess = [ceiling_excess(s) for s in heads.values()]
    parts = [f"{depth} layers: repeats agree at NMI {s['noise_ceiling_nmi']:.2f}, random partitions "
             f"{s['random_nmi']:.2f} ± {s['random_nmi_std']:.2f}, the estimate {agreement_pair(s)[0]:.2f}"
             for depth, s in heads.items()]
    repeats = speedup_metrics.get("repeats", "several")
    steps = speedup_metrics.get("budget", {}).get("finetune_steps_per_task")
    budget = f" for {steps:,} environment steps per task" if steps else ""
    text = (f"Is there a structure to find? The speedup chapter fine-tunes θ* on the same subsets of MT10{budget}, "
            f"{repeats} times with independent seeds, and groups the tasks from each repeat "
            f"({'; '.join(parts)}).")
    if all(z <= 1 for z in excess):
        return text + (" At no depth do independent fine-tunings agree on a grouping better than random partitions "
                       "do: at this budget MT10 has no affinity structure that a grouping could exploit, so a "
                       "difference between groupings here says nothing about the estimator.")
    if max(excess) <= 2:
        return text + (f" Independent fine-tunings agree on a grouping at most {max(excess):.1f} random-partition "
                       "stds above random partitions: at this budget MT10's affinity structure is weak at best, and "
                       "a difference between groupings is mostly noise.")
    return text + (f" At the best depth independent fine-tunings agree {max(excess):.1f} random-partition stds above "
                   "random partitions: MT10 has an affinity structure at this budget.")


# ---------------------------------------------------------------------------------------------
# The scorecard's claims of this chapter (collected by `pgxlib.report.claims`)
# ---------------------------------------------------------------------------------------------

def _points(metric: Metric) -> Metric:
    """A success fraction of `metric` read in points of success (×100)."""
    return Metric(metric.experiment, metric.params, metric.key, 100.0 * metric.scale)


def claims() -> list[Claim]:
    """The number of groups on MT10 itself (multi-objective, success; `ablations` on metaworld stores only k):
    k=3 above k=1 and k=2, k=4 adds little, as paired gaps in points of MT10 success, like the control families'
    k rows."""
    note = "paper and ours: MT10 success, multi-objective"
    mw = {k: paper.N_GROUPS.value(k, "Meta-World") for k, _ in paper.N_GROUPS.rows}
    score = {k: _points(k_score("metaworld", k)) for k in mw}
    multitask = _points(multitask_score("metaworld"))

    def gain(a: float, b: float) -> str:
        return f"{100 * (a - b) / b:+.1f}% (MT10 success)"

    claims = [Claim(f"Number of groups on MT10: k=3 above k={k}, paired gap ({note})", gain(mw["3"], mw[k]),
                    "points", Difference(score["3"], score[k]), Positive(score["3"], score[k], multitask),
                    paper.N_GROUPS.name, f"k=3 above k={k}", "metaworld")
              for k in ("1", "2")]
    claims.append(Claim(f"Number of groups on MT10: k=4 adds little over k=3, paired gap ({note})",
                        gain(mw["4"], mw["3"]), "points", Difference(score["4"], score["3"]),
                        AddsLittle(score["4"], score["3"], multitask), paper.N_GROUPS.name,
                        "k=4 adds little over k=3", "metaworld"))
    return claims
