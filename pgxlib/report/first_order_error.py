"""Tables, figures and computed sentences of the first-order error chapter (`notebooks/first_order_error.py`).

Every function takes a stored result's metrics/arrays (plain dicts and arrays) and returns a DataFrame, a
matplotlib Figure or a string; the paper's numbers come from `pgxlib.paper`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.stats import as_nan, distance_key
from pgxlib import paper
from pgxlib.report.plots import readable
from pgxlib.report.scorecard import Claim, Lookup, Metric, Verdict, band

PAPER_COLUMNS = paper.FIRST_ORDER_COLUMNS
"""The column of the paper's first-order table for each family (nav2d has none)."""

BOUND_PCT = 2.0
"""The paper's headline bound: error within 2% up to 1% relative distance."""


def paper_points(family: str) -> dict[str, float]:
    """The paper's relative errors (percent) for `family`, keyed like ours ("0.1", "0.5", "1"); {} if none."""
    return {distance_key(rho): value for rho, value in paper.first_order_points(family).items()}


def comparison_table(metrics: Mapping, family: str):
    """One row per distance: our medians (and quartiles) for log π and J, surrogate and random directions,
    beside the paper's column for the family."""
    import pandas as pd

    ref = paper_points(family)
    rows = []
    for key in metrics["relative_error_pct"]:
        row = {"distance ‖Δ‖/‖θ*‖ (%)": key}
        for what, label in (("logp", "log π"), ("objective", "J")):
            for name in ("surrogate", "random"):
                s = metrics[what][name][key]
                row[f"{label}, {name} dirs: median (IQR) %"] = _cell(s)
        if family in PAPER_COLUMNS:
            row[f"paper ({PAPER_COLUMNS[family]}) %"] = f"{ref[key]:.2f}" if key in ref else "–"
        rows.append(row)
    return pd.DataFrame(rows).set_index("distance ‖Δ‖/‖θ*‖ (%)")


def _cell(s: Mapping) -> str:
    if s.get("median") is None:
        return "–"
    return f"{s['median']:.3g} ({s['q25']:.3g}–{s['q75']:.3g})"


@readable
def error_vs_distance(arrays: Mapping, family: str) -> plt.Figure:
    """Log-log error against distance: median over directions with the interquartile band, surrogate vs random
    directions, for log π (left) and the objective J (right); the paper's points and the 2% bound overlaid."""
    rho = 100 * np.asarray(arrays["distances"], dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True)
    styles = {"surrogate": ("tab:blue", "o", r"surrogate directions $\Delta\theta_S$"),
              "random": ("tab:orange", "s", "random Gaussian directions")}
    ref = paper_points(family)
    for ax, what, title in zip(axes, ("logp", "objective"), ("log π(a|s), over held-out transitions",
                                                              "surrogate objective J = mean r·Â")):
        for name, (color, marker, label) in styles.items():
            err = 100 * as_nan(arrays[f"{what}_{name}"])
            if not np.isfinite(err).any():
                continue
            med = np.nanmedian(err, axis=0)
            lo, hi = np.nanquantile(err, 0.25, axis=0), np.nanquantile(err, 0.75, axis=0)
            ax.plot(rho, med, marker=marker, color=color, label=f"ours: {label} (median)")
            ax.fill_between(rho, lo, hi, color=color, alpha=0.2, lw=0)
        if ref:
            xs = [float(k) for k in ref]
            ax.plot(xs, list(ref.values()), "k*", ms=10, ls="none", label=f"paper ({PAPER_COLUMNS[family]})")
        ax.plot(rho, rho, color="grey", lw=0.8, ls=":", label="error = distance (slope 1)")
        ax.axhline(BOUND_PCT, color="red", lw=0.8, ls="--", label="2% bound")
        ax.axvline(1.0, color="grey", lw=0.6, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("relative distance ‖Δθ‖/‖θ*‖ (%)")
        ax.set_ylabel("relative error of the first-order estimate (%)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle(f"First-order error on {family}")
    return fig


@readable
def scatter_true_vs_estimate(true: np.ndarray, est: np.ndarray, distance_pct: float, family: str) -> plt.Figure:
    """Per-transition true change of log π against g_tᵀΔ along one surrogate direction."""
    true, est = as_nan(true), as_nan(est)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.scatter(est, true, s=5, alpha=0.5)
    ends = np.nanmin([est.min(), true.min()]), np.nanmax([est.max(), true.max()])
    ax.plot(ends, ends, color="grey", lw=0.8, ls=":", label="true = estimate")
    ax.locator_params(nbins=5)
    ax.set_xlabel("first-order estimate g_tᵀΔ (nats)")
    ax.set_ylabel("true change of log π(a_t|s_t) (nats)")
    ax.set_title(f"{family}: one surrogate direction at {distance_pct:g}% distance", fontsize=10)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def _worst_within_1pct(errs: Mapping[str, float | None]) -> tuple[str | None, bool]:
    """(the distance key, up to 1%, of the largest error, whether that error is within `BOUND_PCT`);
    (None, False) when the error at 1% was not measured."""
    near = {k: v for k, v in errs.items() if float(k) <= 1.0 and v is not None}
    if "1" not in near:
        return None, False
    worst = max(near, key=near.get)
    return worst, near[worst] <= BOUND_PCT


JUDGED_BELOW = "the paper's 2% bound is judged below, under the definition that scales like the paper's table"


def verdict(metrics: Mapping, family: str) -> str:
    """A sentence, computed from the numbers, describing our change-relative error against distance; it judges
    nothing (`verdict_matching` judges the paper's claim, under one definition)."""
    errs = metrics["relative_error_pct"]
    worst_key, _ = _worst_within_1pct(errs)
    if worst_key is None:
        return "The error at 1% distance was not measured."
    text = (f"On {family}, the median relative error of log π along the surrogate's directions is "
            f"{errs['1']:.2f}% at 1% distance and at most {errs[worst_key]:.2f}% up to 1% (at {worst_key}%); "
            f"{JUDGED_BELOW}.")
    ref = paper_points(family)
    if "1" in ref:
        text += f" The paper reports {ref['1']:.2f}% at 1% on {PAPER_COLUMNS[family]}."
    else:
        text += " The paper has no column for this family."
    slope = (metrics.get("slope") or {}).get("logp_surrogate")
    if slope is not None:
        text += (f" The error grows with slope {slope:.2f} in log-log (1 means error ∝ distance, as a second-order "
                 "remainder predicts).")
    far = errs.get("5")
    if far is not None:
        text += (f" At 5% distance it is {far:.2f}% (the paper: about 10% beyond 5%), "
                 f"at 10% {errs['10']:.2f}%." if errs.get("10") is not None else f" At 5% distance it is {far:.2f}%.")
    return text


def movement(arrays: Mapping, metrics: Mapping, key: str = "1") -> str:
    """A sentence comparing how far log π moves (RMS over transitions, nats) along surrogate and random directions
    at distance `key` (percent), with the errors there: a small first-order change makes the same curvature weigh
    more in the relative error."""
    keys = list(metrics["relative_error_pct"])
    if key not in keys:
        return ""
    j = keys.index(key)
    rms = {name: float(np.nanmedian(as_nan(arrays[f"logp_rms_change_{name}"])[:, j])) for name in ("surrogate", "random")}
    err = {name: metrics["logp"][name][key]["median"] for name in ("surrogate", "random")}
    if any(v is None for v in err.values()):
        return ""
    ratio = rms["random"] / rms["surrogate"] if rms["surrogate"] > 0 else float("inf")
    return (f"At {key}% distance log π moves by {rms['surrogate']:.2g} nats (RMS over transitions, median over "
            f"directions) along the surrogate's directions and by {rms['random']:.2g} nats along random ones "
            f"({ratio:.2g}× as much); the median errors there are {err['surrogate']:.2f}% and {err['random']:.2f}%. "
            + ("The surrogate's directions move the policy less per unit of parameter distance, so the same "
               "second-order curvature is a larger share of the change."
               if ratio > 1 and err["surrogate"] > err["random"] else ""))


# ---------------------------------------------------------------------------------------------
# Our definition beside the authors' (PAPER.md, "How the authors measure")
# ---------------------------------------------------------------------------------------------

OURS_LABEL = "ours: ‖residual‖/‖Δlog π‖"
AUTHORS_LABEL = "authors': mean (|residual|/|log π|)²"
STALE_NOTE = "this stored result predates the authors' definition: recompute it with --force"


def has_paper_definition(metrics: Mapping) -> bool:
    """Whether the result stores the authors' definition (results computed before it was added do not)."""
    return isinstance(metrics.get("paper_definition_error_pct"), Mapping) and "paper_definition" in metrics


def definitions_table(metrics: Mapping, family: str):
    """One row per distance: the log π error under our definition and under the authors', median (IQR) over
    surrogate and over random directions, beside the paper's column for the family."""
    import pandas as pd

    ref = paper_points(family)
    theirs = metrics.get("paper_definition") or {}
    rows = []
    for key in metrics["relative_error_pct"]:
        row = {"distance ‖Δ‖/‖θ*‖ (%)": key}
        for name in ("surrogate", "random"):
            row[f"{OURS_LABEL}, {name} dirs: median (IQR) %"] = _cell(metrics["logp"][name][key])
        for name in ("surrogate", "random"):
            s = (theirs.get(name) or {}).get(key) or {}
            row[f"{AUTHORS_LABEL}, {name} dirs: median (IQR) %"] = _cell(s)
        if family in PAPER_COLUMNS:
            row[f"paper ({PAPER_COLUMNS[family]}) %"] = f"{ref[key]:.2f}" if key in ref else "–"
        rows.append(row)
    return pd.DataFrame(rows).set_index("distance ‖Δ‖/‖θ*‖ (%)")


@readable
def definitions_vs_distance(arrays: Mapping, family: str) -> plt.Figure:
    """Log-log error of log π against distance under both definitions on one axis: ours (solid) and the authors'
    (dashed), median over directions with the interquartile band, surrogate vs random directions; the paper's
    points and the 2% bound overlaid."""
    rho = 100 * np.asarray(arrays["distances"], dtype=float)
    fig, ax = plt.subplots(figsize=(8.4, 6.0))
    colors = {"surrogate": "tab:blue", "random": "tab:orange"}
    for prefix, ls, marker, what in (("logp", "-", "o", OURS_LABEL), ("paper_definition", "--", "s", AUTHORS_LABEL)):
        for name, color in colors.items():
            if f"{prefix}_{name}" not in arrays:
                continue
            err = 100 * as_nan(arrays[f"{prefix}_{name}"])
            if not np.isfinite(err).any():
                continue
            med = np.nanmedian(err, axis=0)
            lo, hi = np.nanquantile(err, 0.25, axis=0), np.nanquantile(err, 0.75, axis=0)
            ax.plot(rho, med, ls=ls, marker=marker, color=color, label=f"{what}, {name} dirs (median)")
            ax.fill_between(rho, lo, hi, color=color, alpha=0.15, lw=0)
    ref = paper_points(family)
    if ref:
        ax.plot([float(k) for k in ref], list(ref.values()), "k*", ms=10, ls="none",
                label=f"paper ({PAPER_COLUMNS[family]})")
    ax.axhline(BOUND_PCT, color="red", lw=0.8, ls="--", label="2% bound")
    ax.axvline(1.0, color="grey", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("relative distance ‖Δθ‖/‖θ*‖ (%)")
    ax.set_ylabel("first-order error of log π (%)")
    ax.set_title(f"First-order error on {family}: our definition and the authors'", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    return fig


def definitions_sentence(metrics: Mapping, arrays: Mapping, family: str, key: str = "1") -> str:
    """A computed sentence on what each definition measures, with both numbers at distance `key` (percent)."""
    if not has_paper_definition(metrics):
        return f"The authors' definition is not in this result ({STALE_NOTE})."
    ours, theirs = metrics["relative_error_pct"].get(key), metrics["paper_definition_error_pct"].get(key)
    if ours is None or theirs is None:
        return f"The error at {key}% distance was not measured under both definitions."
    text = ("Our definition, ‖residual‖₂/‖change of log π‖₂ over the held-out transitions, measures how "
            "much of the change of log π the linear term gᵀΔ misses; the authors', the mean over transitions of "
            "(|residual| / max(|log π_θ*+Δ|, |log π_θ*|))², measures the residual against the size of log π "
            "itself")
    keys = list(metrics["relative_error_pct"])
    rms_key = "logp_rms_change_surrogate"
    if metrics.get("logp_abs_median") is not None and rms_key in arrays and key in keys:
        rms = float(np.nanmedian(as_nan(arrays[rms_key])[:, keys.index(key)]))
        text += (f", which is large (median |log π| {metrics['logp_abs_median']:.3g} nats, while log π moves by "
                 f"{rms:.2g} nats RMS at {key}% distance along the surrogate's directions), and squares the ratio")
    else:
        text += ", and squares the ratio"
    ratio = f" (a factor of {ours / theirs:.3g})" if theirs > 0 else ""
    text += (f", so it is far smaller: at {key}% distance the median along the surrogate's directions is "
             f"{ours:.3g}% by ours and {theirs:.3g}% by theirs{ratio}.")
    ref = paper_points(family)
    if key in ref:
        text += f" The paper reports {ref[key]:.2f}% at {key}% on {PAPER_COLUMNS[family]}."
    return text


def verdict_paper_definition(metrics: Mapping, family: str) -> str:
    """A computed sentence describing the authors' squared value-relative error against distance; it judges
    nothing (`verdict_matching` does)."""
    if not has_paper_definition(metrics):
        return f"The authors' definition was not measured: {STALE_NOTE}."
    errs = metrics["paper_definition_error_pct"]
    worst_key, _ = _worst_within_1pct(errs)
    if worst_key is None:
        return "The authors' error at 1% distance was not measured."
    text = (f"Under the authors' definition, the median error of log π along the surrogate's directions on {family} "
            f"is {errs['1']:.3g}% at 1% distance and at most {errs[worst_key]:.3g}% up to 1% (at {worst_key}%).")
    slope = (metrics.get("paper_definition_slope") or {}).get("surrogate")
    if slope is not None:
        text += (f" It grows with slope {slope:.2f} in log-log (a squared ratio of a second-order remainder to "
                 "log π grows like the fourth power of the distance).")
    return text


# ---------------------------------------------------------------------------------------------
# Which definition scales like the paper's table
# ---------------------------------------------------------------------------------------------

SLOPE_LABELS = {"relative_error_pct": OURS_LABEL, "paper_definition_error_pct": AUTHORS_LABEL}


def has_slopes(metrics: Mapping) -> bool:
    """Whether the result stores the fitted slopes (results computed before they were added do not)."""
    return isinstance(metrics.get("scaling_slope"), Mapping)


def slopes_table(metrics: Mapping, family: str):
    """One row per definition and one for the paper's table: the log-log slope of the error against the distance
    over 0.1–1%, the error at 1%, and which definition the paper's claims are judged with. None for a result
    stored before the slopes."""
    import pandas as pd

    from pgxlib.report.tables import tidy

    if not has_slopes(metrics):
        return None
    slopes, chosen = metrics["scaling_slope"], metrics.get("matching_definition")
    rows = [{"error": label, "log-log slope, 0.1–1%": slopes.get(key), "at 1% (%)": (metrics.get(key) or {}).get("1"),
             "judges the paper's claims": "yes" if key == chosen else "no"} for key, label in SLOPE_LABELS.items()]
    rows.append({"error": f"paper ({PAPER_COLUMNS[family]})" if family in PAPER_COLUMNS else "paper",
                 "log-log slope, 0.1–1%": slopes.get("paper"), "at 1% (%)": paper_points(family).get("1"),
                 "judges the paper's claims": "–"})
    return tidy(pd.DataFrame(rows).set_index("error"),
                caption="Slope of log(median error along the surrogate's directions) against log(distance)",
                missing_why="the paper has no column for this family, or no slope could be fitted")


def verdict_matching(metrics: Mapping, family: str) -> str:
    """A computed sentence on the paper's claim (within 2% up to 1% distance) under the definition whose slope is
    closest to the paper's; for results stored before the slopes, the authors' definition's sentence with a note."""
    if not has_slopes(metrics):
        if not has_paper_definition(metrics):
            return f"The paper's claim cannot be judged here: {STALE_NOTE}."
        slopes, chosen = {}, AUTHORS_KEY
        text = f"The paper's claims are judged under {DEFINITION_NAMES[chosen]}: {SLOPE_FALLBACK}."
    else:
        slopes, chosen = metrics["scaling_slope"], metrics.get("matching_definition")
        if chosen not in DEFINITION_NAMES:
            return (f"The paper has no slope to match on {family} ({_slopes_text(slopes)}), so no definition is "
                    "chosen; both are shown above.")
        text = (f"The paper's claims are judged under {DEFINITION_NAMES[chosen]}, whose error grows with the "
                f"distance most like the paper's table ({_slopes_text(slopes)}; rule: the smallest |slope − paper's "
                "slope|).")
    errs = metrics.get(chosen) or {}
    worst_key, ok = _worst_within_1pct(errs)
    other = next(k for k in DEFINITION_NAMES if k != chosen)
    if worst_key is None:
        return text + " Its error at 1% distance was not measured, so the claim cannot be checked here."
    text += (f" Under it the median error at 1% distance is {_pct(errs['1'])}, at most {_pct(errs[worst_key])} up "
             f"to 1%: " + ("**within** the paper's 2% bound." if ok else "**above** the paper's 2% bound."))
    beside = (metrics.get(other) or {}).get("1")
    if beside is not None:
        text += f" Beside it, {DEFINITION_NAMES[other]} gives {_pct(beside)} at 1%."
    return text


# ---------------------------------------------------------------------------------------------
# The scorecard's claims of this chapter (collected by `pgxlib.report.claims`)
# ---------------------------------------------------------------------------------------------

DISTANCES = {"0.1%": "0.1", "0.5%": "0.5", "1.0%": "1"}
"""The paper's distances → our stored keys."""
_FO_FAMILIES = {"MT10": "metaworld", "CartPole": "cartpole", "Highway": "highway", "LunarLander": "lunarlander"}


DEFINITION_NAMES = {"relative_error_pct": "our change-relative definition (‖residual‖/‖change of log π‖)",
                    "paper_definition_error_pct": "the authors' squared value-relative definition"}
"""The two definitions of the log π error by their stored names (`experiments.first_order_error.DEFINITIONS`)."""
AUTHORS_KEY = "paper_definition_error_pct"
SLOPE_FALLBACK = ("this result predates the slope fit (no `scaling_slope`), so it is judged under the authors' "
                  "definition as before; recompute it with --force")


def _slopes_text(slopes: Mapping) -> str:
    parts = [f"{label} {slopes[key]:.2f}" for key, label in (("relative_error_pct", "ours"),
                                                              (AUTHORS_KEY, "the authors'"), ("paper", "the paper's"))
             if isinstance(slopes.get(key), (int, float))]
    return "log-log slopes over 0.1–1%: " + ", ".join(parts)


def judged_definition(family: str, lookup: Lookup) -> tuple[str, str]:
    """(the stored name of the definition the paper's claims on `family` are judged with, why).

    The definition whose log-log slope is closest to the paper's (`metrics.matching_definition` of the stored
    result); the authors' definition, with `SLOPE_FALLBACK` as the reason, for a result stored before the slopes
    were, or one where no slope could be fitted."""
    result, _ = lookup.result("first_order_error", {"family": family})
    if result is None:
        return AUTHORS_KEY, ""
    slopes = result.get("metrics.scaling_slope", None)
    chosen = result.get("metrics.matching_definition", None)
    if not isinstance(slopes, Mapping):
        return AUTHORS_KEY, SLOPE_FALLBACK
    if chosen not in DEFINITION_NAMES:
        return AUTHORS_KEY, f"no slope to match ({_slopes_text(slopes)}): judged under the authors' definition"
    return chosen, f"{DEFINITION_NAMES[chosen]} scales like the paper's table ({_slopes_text(slopes)})"


def error_metric(key: str, family: str, at: str) -> Metric:
    """Our first-order error at distance `at` under the definition stored as `key`."""
    return Metric("first_order_error", {"family": family}, ("metrics", key, at))


@dataclass(frozen=True)
class MatchingError:
    """Our first-order error at distance `at` under the definition whose scaling matches the paper's
    (`judged_definition`)."""

    family: str
    at: str

    @property
    def parts(self) -> tuple[Metric, ...]:
        """The metrics it may read (for the scorecard's chapter link)."""
        return tuple(error_metric(key, self.family, self.at) for key in DEFINITION_NAMES)

    def measure(self, lookup: Lookup):
        key, _ = judged_definition(self.family, lookup)
        return error_metric(key, self.family, self.at).measure(lookup)


def _pct(value: float) -> str:
    """A first-order error in percent to 3 significant digits (the authors' errors are far below 0.01%)."""
    return f"{value:.3g}%"


def _judged_text(family: str, at: str, lookup: Lookup) -> tuple[str, str]:
    """(the judged definition's name, the note on the other definition's number and on why this one)."""
    key, why = judged_definition(family, lookup)
    other = next(k for k in DEFINITION_NAMES if k != key)
    value = error_metric(other, family, at).measure(lookup).value
    shown = _pct(value) if value is not None else "not stored"
    return DEFINITION_NAMES[key], f"{why}; beside it, {DEFINITION_NAMES[other]}, not judged: {shown}"


@dataclass(frozen=True)
class _AtMost:
    """Reproduced when ours (the matching definition) ≤ `threshold`; the other definition's number is added."""

    threshold: float
    rule: str
    family: str
    at: str

    def judge(self, value: float, unit: str, lookup: Lookup) -> Verdict:
        ok = value <= self.threshold
        name, note = _judged_text(self.family, self.at, lookup)
        return Verdict(ok, f"ours by {name} {_pct(value)} {'≤' if ok else '>'} {self.threshold:g}% ({self.rule}); "
                           + note)


@dataclass(frozen=True)
class _Between:
    """Reproduced when `low` ≤ ours (the matching definition) ≤ `high`; the other definition's number is added."""

    low: float
    high: float
    rule: str
    family: str
    at: str

    def judge(self, value: float, unit: str, lookup: Lookup) -> Verdict:
        ok = self.low <= value <= self.high
        name, note = _judged_text(self.family, self.at, lookup)
        return Verdict(ok, f"ours by {name} {_pct(value)} {'within' if ok else 'outside'} [{self.low:g}%, "
                           f"{self.high:g}%] ({self.rule}); " + note)


def claims() -> list[Claim]:
    """The first-order error table (within the 2% bound) and its growth beyond 5% distance, judged under the
    definition whose log-log slope is closest to the slope of the paper's table (`MatchingError`; the authors'
    definition for results stored before the slopes, with a note); each row's text adds the other definition's
    number at the same distance. A stored result without the judged key reads "not yet measured" with that key."""
    claims = []
    for distance, values in paper.FIRST_ORDER.rows:
        for column, value in zip(paper.FIRST_ORDER.columns, values):
            bound = max(2.0, value)
            family, at = _FO_FAMILIES[column], DISTANCES[distance]
            claims.append(Claim(f"First-order error (definition matching the paper's scaling), {column}, distance "
                                f"{distance}", value, "%", MatchingError(family, at),
                                _AtMost(bound, f"the paper's bound: error in [0, {bound:g}%]", family, at),
                                paper.FIRST_ORDER.name, f"First-order error ≤ 2% at {distance} distance", family))
    far = paper.FIRST_ORDER_FAR.value("5%", "all settings")
    low, high = band(far)
    for column, family in _FO_FAMILIES.items():
        claims.append(Claim(f"First-order error (definition matching the paper's scaling) grows to about {far:g}% at "
                            f"5% distance, {column}", far, "%", MatchingError(family, "5"),
                            _Between(low, high, f"about {far:g}%: within a factor of 2 either side", family, "5"),
                            paper.FIRST_ORDER_FAR.name, f"First-order error ≈ {far:g}% at 5% distance", family))
    return claims
