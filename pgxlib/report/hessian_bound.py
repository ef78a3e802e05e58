"""Tables, figures and computed sentences of the Hessian-bound chapter (`notebooks/hessian_bound.py`).

Every function takes a stored result's metrics/arrays (plain dicts and arrays) and returns a DataFrame, a
matplotlib Figure or a string; nothing here computes an experiment.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.stats import as_nan, spearman
from pgxlib.analysis.verdicts import UNDECIDED, paired_interval
from pgxlib.analysis.verdicts import verdict as order_verdict
from pgxlib.config import CONTROL_FAMILIES
from pgxlib.report.plots import readable
from pgxlib.report.orders import Above, Below
from pgxlib.report.scorecard import NO_SEEDS, Between, Claim, Lookup, Measurement, Metric, OrderEvidence, Verdict

SAME_SCALE = 10.0
"""'Same scale' is read as: bound / |observed gap| within a factor of 10 either way (the scorecard's rule)."""


def subset_spread(group_gap) -> float | None:
    """The pooled sample std of the gap between random subsets of one size: `group_gap` [sizes, subsets] (masked
    or NaN where a size has fewer subsets); None when no size has two. The noise of a gap by group size."""
    gaps = np.ma.masked_invalid(np.ma.asarray(group_gap, dtype=float))
    variances = [np.var(row.compressed(), ddof=1) for row in gaps if row.count() >= 2]
    return float(np.sqrt(np.mean(variances))) if variances else None


BOUND_FORM = (r"$\text{gap} = \text{test loss} - \text{train loss} \le \sum_i \sqrt{C\, T_i D_i / N}$, with $T_i$ "
              r"the maximum over mini-batches of the Hutchinson estimate of $\operatorname{Tr}[\nabla^2_{W_i} \ell]$, "
              r"$D_i = \lVert W_i - W_i^{(0)} \rVert_F^2$, $N$ the training transitions, $C$ the loss bound; the "
              r"theorem's $\varepsilon = O(N^{-3/4} \log(1/\delta))$ is omitted")


def curve_table(metrics: Mapping):
    """One row per measuring point: steps, N, losses, gap, total trace, bound, bound/|gap|."""
    import pandas as pd

    gap, bound = np.asarray(metrics["generalization_error"]), np.asarray(metrics["bound"])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gap != 0, bound / np.abs(gap), np.nan)
    return pd.DataFrame({"steps per task": metrics["steps"], "N (train transitions)": metrics["N"],
                         "train loss": metrics["train_loss"], "test loss": metrics["test_loss"],
                         "gap (test − train)": gap, "Σ_i max-batch Tr H_i": metrics["hessian_trace"],
                         "bound": bound, "bound / |gap|": ratio}).set_index("steps per task")


def layer_table(metrics: Mapping, arrays: Mapping):
    """Per layer at the last measuring point: trace T_i, distance D_i and its bound term."""
    import pandas as pd

    from pgxlib.analysis.hessian import bound_terms

    T, D = as_nan(arrays["layer_traces"])[-1], as_nan(arrays["layer_dists"])[-1]
    cap = metrics["settings"]["loss_cap"]
    terms = bound_terms(T.tolist(), D.tolist(), int(metrics["N"][-1]), cap)
    return pd.DataFrame({"T_i: max-batch Hessian trace": T, "D_i: squared distance from init": D,
                         "bound term": terms},
                        index=pd.Index(metrics["layers"], name="layer"))


def group_table(metrics: Mapping):
    """One row per group size: mean over its subsets of train/test loss, gap and bound, and bound/|gap|."""
    import pandas as pd

    rows = {int(k): v for k, v in metrics["by_group_size"].items()}
    df = pd.DataFrame({"subsets": [len(v["subsets"]) for v in rows.values()],
                       "test tasks": [", ".join(map(str, v["n_test_tasks"])) for v in rows.values()],
                       "train loss": [v["train_loss"] for v in rows.values()],
                       "test loss": [v["test_loss"] for v in rows.values()],
                       "gap (test − train)": [v["gap"] for v in rows.values()],
                       "bound": [v["bound"] for v in rows.values()]},
                      index=pd.Index(list(rows), name="group size"))
    df["bound / |gap|"] = df["bound"] / df["gap (test − train)"].abs()
    return df.sort_index()


@readable
def curve_figure(metrics: Mapping, family: str) -> plt.Figure:
    """Bound and observed generalization error over training, log y axis (|gap|, sign marked)."""
    steps = np.asarray(metrics["steps"], dtype=float)
    gap, bound = np.asarray(metrics["generalization_error"]), np.asarray(metrics["bound"])
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(steps, bound, "o-", color="C0", label="Hessian bound Σ_i sqrt(C·T_i·D_i/N)")
    ax.plot(steps, np.abs(gap), "s--", color="C3", label="|observed gap| (test − train loss)")
    neg = gap < 0
    if neg.any():
        ax.plot(steps[neg], np.abs(gap[neg]), "s", mfc="white", color="C3", label="gap < 0 (test below train)")
    ax.set_yscale("log")
    ax.set_xlabel("PPO environment steps per task")
    ax.set_ylabel("loss difference (loss units, ℓ ∈ [0, C])")
    ax.set_title(f"Generalization gap and Hessian bound over training ({family})")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


@readable
def group_figure(metrics: Mapping, arrays: Mapping, family: str) -> plt.Figure:
    """Final gap (each subset and mean) and bound against the number of training tasks."""
    sizes = np.asarray(arrays["group_sizes"], dtype=float)
    gaps, bounds = as_nan(arrays["group_gap"]), as_nan(arrays["group_bound"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    for j in range(gaps.shape[1]):
        ax.plot(sizes, gaps[:, j], "o", color="C3", alpha=0.4, label="one subset" if j == 0 else None)
    ax.plot(sizes, np.nanmean(gaps, 1), "-", color="C3", label="mean over subsets")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("group size (source tasks trained on)")
    ax.set_ylabel("gap = test − train loss")
    ax.set_title("Observed generalization error")
    ax.legend()
    ax = axes[1]
    ax.plot(sizes, np.nanmean(bounds, 1), "o-", color="C0", label="Hessian bound")
    ax.plot(sizes, np.abs(np.nanmean(gaps, 1)), "s--", color="C3", label="|mean gap|")
    ax.set_yscale("log")
    ax.set_xlabel("group size (source tasks trained on)")
    ax.set_ylabel("loss difference (log scale)")
    ax.set_title("Bound against observed gap")
    ax.legend()
    for a in axes:
        a.set_xticks(sizes)
        a.grid(alpha=0.3)
    fig.suptitle(f"Across group sizes ({family})")
    return fig


def verdict(metrics: Mapping, arrays: Mapping | None = None) -> str:
    """The paper's two claims set beside our numbers, as sentences computed from them; with `arrays`, the gaps by
    group size are set beside the spread between random subsets of one size (`subset_spread`). The order of the
    gaps by size is one seed's means, read and not judged (`GapOrder` keeps it undecided)."""
    gap, bound = np.asarray(metrics["generalization_error"]), np.asarray(metrics["bound"])
    ratio = metrics["bound_to_gap_ratio"]
    holds = int(np.sum(bound >= gap))
    parts = []
    if ratio is None:
        parts.append("The observed gap is exactly zero at every measuring point, so bound/|gap| is undefined.")
    else:
        same = 1 / SAME_SCALE <= ratio <= SAME_SCALE
        parts.append(
            f"**Scale.** Over the {len(gap)} measuring points, mean bound / mean |gap| = {ratio:.3g}: the Hessian "
            f"measure is {'of the same scale as' if same else 'not of the same scale as'} the observed "
            f"generalization error (our reading of 'same scale': within a factor of {SAME_SCALE:g}), "
            f"{'as in' if same else 'unlike in'} the paper's Figure 2. The bound is above the observed gap at {holds} of "
            f"{len(gap)} points; per point, bound / |gap| ranges from "
            f"{np.min(bound / np.maximum(np.abs(gap), 1e-300)):.3g} to {np.max(bound / np.maximum(np.abs(gap), 1e-300)):.3g}."
            + (f" The observed gap is negative (test loss below train loss) at {int(np.sum(gap < 0))} of {len(gap)} "
               "points, where an upper bound holds trivially; the ratio then compares the bound with |gap|."
               if np.any(gap < 0) else ""))
    rows = sorted((int(k), v) for k, v in metrics["by_group_size"].items())
    if len(rows) >= 2:
        (s0, first), (s1, last) = rows[0], rows[-1]
        sizes = np.array([s for s, _ in rows], dtype=float)
        gaps = np.array([v["gap"] for _, v in rows])
        rho = spearman(sizes, gaps)
        falls = last["gap"] < first["gap"]
        parts.append(
            f"**Group size.** The mean gap is {first['gap']:.3g} with {s0} training task(s) and {last['gap']:.3g} "
            f"with {s1}; Spearman correlation of gap with group size {rho:.2f}. The gap "
            f"{'falls' if falls else 'does not fall'} as groups grow, "
            f"{'as on' if falls else 'unlike on'} the paper's meta-RL control task; it is largest with "
            f"{rows[int(np.argmax(gaps))][0]} training task(s) (on Meta-World the paper's gap peaks at size 3). "
            f"The bound goes from {first['bound']:.3g} to "
            f"{last['bound']:.3g}. These are the means of one seed, so the order of the sizes is read here, not "
            f"judged: the scorecard holds it undecided (one seed).")
        spread = None if arrays is None or "group_gap" not in arrays else subset_spread(arrays["group_gap"])
        if spread is not None:
            widest = float(np.max(gaps) - np.min(gaps))
            parts[-1] += (f" Between random subsets of one size the gap varies with a pooled std of {spread:.3g}; the "
                          f"mean gaps of all sizes span {widest:.3g}, so "
                          + ("differences between sizes smaller than that std are not evidence." if widest > spread
                             else "no difference between sizes is evidence at these subsets."))
        elif arrays is not None:
            parts[-1] += (" With one random subset per size, the spread between subsets is not measured, so nothing "
                          "says which of these differences are noise.")
    return "\n\n".join(parts)


def budget_sentence(profile: str, seed: int = 0) -> str:
    """The stored wall times of this chapter's runs of `profile` on the control families, and their sum."""
    from pgxlib.config import CONTROL_FAMILIES
    from pgxlib.store.results import RESULT_FILE, read_result, result_dir

    times = {}
    for fam in CONTROL_FAMILIES:
        path = result_dir(profile, "hessian_bound", f"{fam}-seed{seed}")
        if (path / RESULT_FILE).exists():
            times[fam] = float(read_result(path).meta.get("total_time", float("nan")))
    if not times:
        return "No stored run of this chapter for the control families yet."
    each = ", ".join(f"{fam} {t / 60:.1f}" for fam, t in times.items())
    return (f"Stored `{profile}` runs of this chapter (wall minutes on the machine that computed them): {each}; "
            f"{sum(times.values()) / 60:.1f} minutes in all for {len(times)} famil{'y' if len(times) == 1 else 'ies'}.")


# ---------------------------------------------------------------------------------------------
# The scorecard's claims of this chapter (collected by `pgxlib.report.claims`)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubsetSpread:
    """The spread of a `hessian_bound` result's gaps between random subsets of one size: the pooled sample std
    over the sizes with two or more subsets (``arrays.group_gap``, [sizes, subsets], masked where a size has
    fewer), times `scale`. It is the noise of a gap by group size, as the seed std is of a mean over seeds."""

    family: str
    scale: float = 1.0

    def measure(self, lookup: Lookup) -> Measurement:
        result, problem = lookup.result("hessian_bound", {"family": self.family})
        if result is None:
            return Measurement(None, (), (problem or "no result",))
        spread = subset_spread(result.get("arrays.group_gap", np.zeros((0, 0))))
        if spread is None:
            return Measurement(None, (result,), ("no group size has two subsets: no spread to judge a gap by",))
        return Measurement(spread * self.scale, (result,))


ONE_SEED = "one seed"
"""The reason an order of gaps by group size is undecided in a `hessian_bound` result: it holds one seed."""


def _subsets(metric: Metric, lookup: Lookup) -> int:
    """How many random subsets the gap of `metric` (``metrics.by_group_size.<size>.gap``) is the mean over, 1 when
    the result does not say."""
    result, _ = lookup.result(metric.experiment, metric.params)
    parts = metric.key if isinstance(metric.key, tuple) else tuple(metric.key.split("."))
    found = None if result is None else result.get((*parts[:-1], "subsets"), None)
    return max(1, len(found)) if isinstance(found, list) else 1


@dataclass(frozen=True)
class GapOrder:
    """The generalization gap of one group size (`ours_metric`, a `hessian_bound` gap) above (`side` +1) or below
    (`side` −1) the gap of another size (`other`, named `label`).

    Judged as every order is: on paired differences over seeds (`orders.Above` / `orders.Below` with
    `ours_metric`, so `orders.paired_order`) where per-seed values are stored beside both gaps. A `hessian_bound`
    result holds one seed, and then the order is undecided, reason `ONE_SEED`, never read from the two means: the
    row keeps the gap (on the paper's side) and the seeds that would decide it (`analysis.verdicts.verdict`, the
    smallest effect 0 as for an order without a multitask std), taking the spread between random subsets of one
    size (`spread`, `SubsetSpread`) as a size's per-seed noise, so that the difference of two sizes' means over
    n_a and n_b subsets has std spread · √(1/n_a + 1/n_b); None without a spread."""

    ours_metric: Metric
    other: Metric
    label: str
    side: int
    spread: SubsetSpread

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        order = (Above((self.other,), (self.label,), self.ours_metric) if self.side > 0
                 else Below(self.other, self.label, self.ours_metric))
        decided = order.judge(ours, unit, lookup)
        if decided.ok is None or decided.status != UNDECIDED or decided.why != NO_SEEDS:
            return decided
        theirs = self.other.measure(lookup)
        high, low = (ours, theirs.value) if self.side > 0 else (theirs.value, ours)
        one = paired_interval([high], [low])
        noise = self.spread.measure(lookup).value
        if noise is not None:
            n_a, n_b = _subsets(self.ours_metric, lookup), _subsets(self.other, lookup)
            one = replace(one, paired_std=noise * float(np.sqrt(1 / n_a + 1 / n_b)))
        judged = order_verdict(one)
        shown = "ours − " + self.label if self.side > 0 else self.label + " − ours"
        need = (f"at the spread between random subsets of one size ({noise:.3g} {unit}) as each size's per-seed "
                f"noise, {judged.seeds_to_decide} seeds would decide" if noise is not None and judged.seeds_to_decide
                else "no spread between random subsets of one size says how many seeds would decide")
        why = f"{ONE_SEED}: {shown} {one.gap:+.3g} {unit}, {judged.reason}; {need}"
        evidence = OrderEvidence(one.gap, one.interval, one.probability_of_improvement, one.seeds,
                                 judged.seeds_to_decide, 0.0)
        return Verdict(False, why, theirs, status=UNDECIDED, order=evidence)


def control_claims() -> list[Claim]:
    """Figure 2: the Hessian-trace measure is of the same scale as the generalization gap (ratio of the means over
    training of bound and |gap|), and on the meta-RL control task the gap falls as groups grow (gap of the
    policies trained on all 10 source tasks below that of single-task policies, a `GapOrder`)."""
    def gap(family: str, size: str) -> Metric:
        return Metric("hessian_bound", {"family": family}, ("metrics", "by_group_size", size, "gap"), 1e3)

    scale = [Claim(f"Hessian-trace bound of the same scale as the generalization error ({family})",
                   "same scale (Fig. 2)", "ratio", Metric("hessian_bound", {"family": family},
                                                           "metrics.bound_to_gap_ratio"),
                   Between(0.1, 10.0, "mean bound / mean |observed gap| over training within a factor of 10"),
                   "hessian_bound", "Bound of the gap's scale", family)
             for family in CONTROL_FAMILIES]
    size = [Claim(f"Generalization error (×10⁻³ loss) falls as groups grow ({family})", "falls (Fig. 2)",
                  "10⁻³ loss", gap(family, "10"),
                  GapOrder(gap(family, "10"), gap(family, "1"), "the gap with 1 task", -1, SubsetSpread(family, 1e3)),
                  "hessian_bound", "Gap falls as groups grow", family)
            for family in CONTROL_FAMILIES]
    return scale + size


def mt10_claims() -> list[Claim]:
    """Figure 2 on MT10: the Hessian measure of the same scale as the gap, and the gap peaking at 3 tasks (above the
    gaps with 1 and with 10, each a `GapOrder`)."""
    gap = lambda size: Metric("hessian_bound", {"family": "metaworld"}, ("metrics", "by_group_size", size, "gap"), 1e3)  # noqa: E731
    return [
        Claim("Hessian-trace bound of the same scale as the generalization error (metaworld)", "same scale (Fig. 2)",
              "ratio", Metric("hessian_bound", {"family": "metaworld"}, "metrics.bound_to_gap_ratio"),
              Between(0.1, 10.0, "mean bound / mean |observed gap| over training within a factor of 10"),
              "hessian_bound", "Bound of the gap's scale", "metaworld"),
        *(Claim(f"Generalization error (×10⁻³ loss) on MT10 peaks at 3 tasks: above the gap with {other} task(s)",
                "peak at size 3 (Fig. 2)", "10⁻³ loss", gap("3"),
                GapOrder(gap("3"), gap(other), f"the gap with {other}", 1, SubsetSpread("metaworld", 1e3)),
                "hessian_bound", f"Gap peaks at 3 tasks (vs {other})", "metaworld") for other in ("1", "10")),
    ]


def claims() -> list[Claim]:
    """Figure 2 on the control families, then on MT10."""
    return control_claims() + mt10_claims()
