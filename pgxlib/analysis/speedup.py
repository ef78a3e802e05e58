"""Surrogate accuracy and cost: the maths of comparing estimated with measured subset scores.

Pure numpy: arrays in, numbers or arrays out. m subsets, n tasks; `members [m, n]` bool and score
matrices `[m, n]` holding f_i(S_l) at member positions (NaN elsewhere), as in `pgxlib.estimate.affinity`.

- `random_nmi_floor`: the NMI a uniformly random partition into k groups reaches against a given
  clustering, averaged over draws (the chance level that an NMI must beat; PAPER.md gives ≈ 0.2).
- `rank_correlation`: Spearman's ρ between estimated and measured scores over every (subset, task)
  pair; with ``centred=True`` each task's mean over its subsets is removed first on both sides, so
  that only the *ranking of subsets within a task* counts, not which task is easier.
- `speedup`: the ratio of two wall times.
- `noise_ceiling`: how well independent repeats of the measured truth agree with each other (mean
  pairwise NMI of their clusterings, mean pairwise off-diagonal correlation of their affinities).
- `agreement_with_single_repeats`, `split_half_agreement`: the estimate's agreement with the truth and the
  truth's ceiling on one footing (both against single repeats, or both against means of equally many
  repeats), so that "at or above the ceiling" compares like with like.
"""
from __future__ import annotations

from itertools import combinations
from typing import Callable, Sequence

import numpy as np

from pgxlib.analysis.agreement import nmi
from pgxlib.analysis.stats import spearman
from pgxlib.cluster import random_grouping


def random_nmi_floor(labels, k: int, n_draws: int = 100, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of NMI(random partition, `labels`) over `n_draws` random partitions.

    Each draw is `random_grouping(n, k, seed + r)`, r = 0..n_draws−1: uniform over the partitions of the
    n tasks into exactly k non-empty groups.

    Args:
        labels: int [n], the reference clustering (the one from the measured affinity).
        k: groups of the random partitions, 1 ≤ k ≤ n.
        n_draws: number of random partitions, ≥ 1.
        seed: first seed.

    Returns:
        (mean, std) of the n_draws NMI values.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) < 1:
        raise ValueError(f"labels must be a non-empty 1-d array [n], got shape {labels.shape}")
    if not isinstance(n_draws, (int, np.integer)) or isinstance(n_draws, bool) or n_draws < 1:
        raise ValueError(f"invalid n_draws={n_draws!r}: allowed a positive integer")
    values = np.array([nmi(random_grouping(len(labels), k, seed + r), labels) for r in range(n_draws)])
    return float(values.mean()), float(values.std())


def _member_values(members: np.ndarray, scores: np.ndarray, name: str) -> np.ndarray:
    members = np.asarray(members, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    if members.ndim != 2 or members.shape != scores.shape:
        raise ValueError(f"members {members.shape} and {name} {scores.shape} must both be [m, n]")
    if not np.isfinite(scores[members]).all():
        raise ValueError(f"{name} has NaN or inf at member positions")
    return scores


def centre_per_task(members, scores) -> np.ndarray:
    """Scores [m, n] minus each task's mean over the subsets containing it (NaN off the subsets)."""
    members = np.asarray(members, dtype=bool)
    s = np.where(members, _member_values(members, scores, "scores"), np.nan)
    count = members.sum(0)
    mean = np.divide(np.nansum(s, axis=0), count, out=np.zeros(s.shape[1]), where=count > 0)
    return s - mean[None, :]


def rank_correlation(members, estimated, measured, centred: bool = False) -> float:
    """Spearman's ρ between estimated and measured f_i(S_l) over all member pairs (l, i).

    Args:
        members: bool [m, n].
        estimated, measured: float [m, n], finite at member positions, higher = better on both sides.
        centred: remove each task's mean over its subsets first (`centre_per_task`), on both sides.

    Returns:
        ρ in [−1, 1]; NaN when either side is constant over the pairs (ρ undefined).
    """
    members = np.asarray(members, dtype=bool)
    est = _member_values(members, estimated, "estimated")
    true = _member_values(members, measured, "measured")
    if centred:
        est, true = centre_per_task(members, est), centre_per_task(members, true)
    return spearman(est[members], true[members])


def speedup(full_seconds: float, estimated_seconds: float) -> float:
    """full / estimated wall time; both must be positive."""
    if not (full_seconds > 0 and estimated_seconds > 0):
        raise ValueError(f"wall times must be positive, got full={full_seconds!r}, estimated={estimated_seconds!r}")
    return float(full_seconds / estimated_seconds)


def offdiag_corr(a, b) -> float:
    """Pearson correlation of two [n, n] matrices over their off-diagonal entries; NaN when either is constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or a.shape != b.shape or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"need two square [n, n] matrices with n >= 2, got shapes {a.shape} and {b.shape}")
    off = ~np.eye(len(a), dtype=bool)
    x, y = a[off], b[off]
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def pairwise_nmi(labelings) -> list[float]:
    """NMI of every pair (a, b), a < b, of the labelings (in `itertools.combinations` order)."""
    labelings = [np.asarray(x) for x in labelings]
    if len(labelings) < 2:
        raise ValueError(f"need at least two labelings, got {len(labelings)}")
    return [nmi(a, b) for a, b in combinations(labelings, 2)]


def pairwise_corr(affinities) -> list[float]:
    """`offdiag_corr` of every pair of the matrices (NaN where undefined)."""
    affinities = list(affinities)
    if len(affinities) < 2:
        raise ValueError(f"need at least two matrices, got {len(affinities)}")
    return [offdiag_corr(a, b) for a, b in combinations(affinities, 2)]


def noise_ceiling(labelings, affinities) -> dict:
    """How reproducible a clustering and its affinity are over independent repeats of the measurement.

    Args:
        labelings: r ≥ 2 labelings [n] (one clustering per repeat).
        affinities: the r normalised affinities [n, n] they were clustered from.

    Returns:
        {"noise_ceiling_nmi": mean pairwise NMI, "noise_ceiling_affinity_corr": mean pairwise off-diagonal
        Pearson correlation (over the pairs where it is defined; NaN if none), "pairs_nmi": [...],
        "pairs_affinity_corr": [...]}.
    """
    pairs_nmi = pairwise_nmi(labelings)
    pairs_corr = pairwise_corr(affinities)
    finite = [c for c in pairs_corr if np.isfinite(c)]
    return {"noise_ceiling_nmi": float(np.mean(pairs_nmi)),
            "noise_ceiling_affinity_corr": float(np.mean(finite)) if finite else float("nan"),
            "pairs_nmi": pairs_nmi, "pairs_affinity_corr": pairs_corr}


def reaches_ceiling(agreement: float, ceiling: float, tol: float = 1e-9) -> bool:
    """Whether an estimate's agreement with the truth (NMI) reaches the truth's noise ceiling: at or above it.

    At the ceiling the estimate agrees with the truth as well as the truth agrees with itself, which is all an
    estimate can do (with a perfectly reproducible truth, ceiling 1, only equality is possible)."""
    return bool(agreement >= ceiling - tol)


def _mean_finite(values) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def agreement_with_single_repeats(estimate_labels, repeat_labelings, estimate_affinity=None,
                                  repeat_affinities=None) -> dict:
    """The estimate against each single repeat of the truth, beside the ceiling between single repeats.

    Both numbers pair one clustering with one repeat's clustering, so neither gains from averaging repeats
    (the estimate against the mean of r repeats would: a mean is steadier than any one repeat).

    Args:
        estimate_labels: int [n], the estimate's clustering.
        repeat_labelings: r ≥ 2 labelings [n], one per repeat of the truth.
        estimate_affinity: float [n, n] or None; repeat_affinities: r matrices [n, n] or None (both or neither).

    Returns:
        {"footing": "single repeats", "nmi": mean over repeats of NMI(estimate, repeat), "nmi_per_repeat",
        "ceiling_nmi": mean pairwise NMI between repeats, "pairs_nmi", "reaches_ceiling": nmi ≥ ceiling_nmi,
        and with affinities "affinity_corr" (mean off-diagonal correlation with each repeat, over those
        defined), "affinity_corr_per_repeat", "ceiling_affinity_corr" (mean over defined pairs)}.
    """
    repeat_labelings = [np.asarray(x) for x in repeat_labelings]
    if len(repeat_labelings) < 2:
        raise ValueError(f"need at least two repeats, got {len(repeat_labelings)}")
    if (estimate_affinity is None) != (repeat_affinities is None):
        raise ValueError("give both estimate_affinity and repeat_affinities, or neither")
    per_repeat = [nmi(estimate_labels, lab) for lab in repeat_labelings]
    pairs = pairwise_nmi(repeat_labelings)
    out = {"footing": "single repeats", "nmi": float(np.mean(per_repeat)), "nmi_per_repeat": per_repeat,
           "ceiling_nmi": float(np.mean(pairs)), "pairs_nmi": pairs}
    out["reaches_ceiling"] = reaches_ceiling(out["nmi"], out["ceiling_nmi"])
    if repeat_affinities is not None:
        repeat_affinities = list(repeat_affinities)
        if len(repeat_affinities) != len(repeat_labelings):
            raise ValueError(f"{len(repeat_affinities)} affinities for {len(repeat_labelings)} labelings")
        corr = [offdiag_corr(estimate_affinity, a) for a in repeat_affinities]
        out.update({"affinity_corr": _mean_finite(corr), "affinity_corr_per_repeat": corr,
                    "ceiling_affinity_corr": _mean_finite(pairwise_corr(repeat_affinities))})
    return out


def split_half_agreement(estimate_labels, repeats: int, truth_of: Callable[[Sequence[int]], tuple],
                         estimate_affinity=None) -> dict:
    """The estimate against truths built from half of the repeats, beside the ceiling between two halves.

    The r repeats are split every way into two disjoint halves of h = r // 2 repeats each (with r odd one
    repeat sits out of each split); a half's truth is `truth_of(indices)`, e.g. the clustering of the
    affinity of its repeats' mean scores. The estimate is scored against every half's truth (averaged), the
    ceiling is the agreement between the two halves of each split (averaged): both sides against means of h
    repeats. With r = 2 or 3 (h = 1) this is `agreement_with_single_repeats`.

    Args:
        estimate_labels: int [n].
        repeats: r ≥ 2.
        truth_of: indices of a half (a sorted tuple of h repeats) → (labels [n], affinity [n, n] or None);
            called once per distinct half.
        estimate_affinity: float [n, n] or None, correlated with each half's affinity when both are given.

    Returns:
        {"footing": "means of h repeats", "half": h, "splits": number of splits, "nmi", "ceiling_nmi",
        "reaches_ceiling", and with affinities "affinity_corr", "ceiling_affinity_corr"}.
    """
    if not isinstance(repeats, (int, np.integer)) or isinstance(repeats, bool) or repeats < 2:
        raise ValueError(f"invalid repeats={repeats!r}: allowed an integer >= 2")
    h = repeats // 2
    halves = {idx: truth_of(idx) for idx in combinations(range(repeats), h)}
    splits = [(a, b) for a, b in combinations(halves, 2) if not set(a) & set(b)]
    out = {"footing": f"means of {h} repeat{'s' if h > 1 else ''}", "half": h, "splits": len(splits),
           "nmi": float(np.mean([nmi(estimate_labels, lab) for lab, _ in halves.values()])),
           "ceiling_nmi": float(np.mean([nmi(halves[a][0], halves[b][0]) for a, b in splits]))}
    out["reaches_ceiling"] = reaches_ceiling(out["nmi"], out["ceiling_nmi"])
    if estimate_affinity is not None and all(aff is not None for _, aff in halves.values()):
        out["affinity_corr"] = _mean_finite([offdiag_corr(estimate_affinity, aff) for _, aff in halves.values()])
        out["ceiling_affinity_corr"] = _mean_finite([offdiag_corr(halves[a][1], halves[b][1]) for a, b in splits])
    return out
