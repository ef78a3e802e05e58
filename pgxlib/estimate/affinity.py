"""Task affinity from scores on random task subsets (PolicyGradEx, Algorithm 2).

Pure numpy: arrays in, arrays out; no environment, file or print.

Convention used throughout: n tasks, m subsets; ``members[l, i]`` is True when task i belongs to
subset S_l, and ``scores[l, i]`` is f̂_i(S_l), the performance of the surrogate model fitted on S_l,
evaluated on task i (NaN where i ∉ S_l). Scores must be "higher is better": pass −loss for a loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from pgxlib import config
from pgxlib.config import check_int


def sample_subsets(n_tasks: int, n_subsets: int, subset_size: int, seed: int) -> np.ndarray:
    """Random task subsets of a fixed size that together cover every pair of tasks.

    First `n_subsets` subsets of exactly `subset_size` tasks are drawn uniformly at random (without
    replacement within a subset) from ``np.random.default_rng(seed)``. U_ij is only defined when some
    subset contains both i and j, so if pairs remain uncovered, *extra* subsets are appended until
    none is: each extra subset starts from an uncovered pair (picked at random) and is filled greedily
    with the tasks that cover the most still-uncovered pairs with its current members (ties broken at
    random). Hence the number of rows m is ``n_subsets`` when the random draw already covers all pairs
    and **more than** ``n_subsets`` otherwise; at least ⌈n(n−1) / (s(s−1))⌉ subsets are needed in any
    case (45 for n=10, s=2). The result depends only on the arguments.

    Args:
        n_tasks: n ≥ 2.
        n_subsets: number of random subsets m ≥ 1 before the coverage completion.
        subset_size: s, with 2 ≤ s ≤ n.
        seed: seed of the generator.

    Returns:
        members: bool [m, n], every row with exactly `subset_size` True entries,
        ``(members.T @ members)[i, j] ≥ 1`` for all i, j.
    """
    n = check_int("n_tasks", n_tasks, 2)
    m = check_int("n_subsets", n_subsets, 1)
    s = check_int("subset_size", subset_size, 2, n)
    rng = np.random.default_rng(seed)

    rows = [rng.permutation(n)[:s] for _ in range(m)]
    members = np.zeros((m, n), dtype=bool)
    for r, idx in enumerate(rows):
        members[r, idx] = True

    covered = (members.T.astype(np.int64) @ members) > 0
    extra = []
    while True:
        uncovered = [(i, j) for i, j in combinations(range(n), 2) if not covered[i, j]]
        if not uncovered:
            break
        i, j = uncovered[rng.integers(len(uncovered))]
        chosen = [i, j]
        while len(chosen) < s:
            rest = np.setdiff1d(np.arange(n), chosen)
            gain = (~covered[np.ix_(rest, chosen)]).sum(axis=1)
            best = rest[gain == gain.max()]
            chosen.append(int(best[rng.integers(len(best))]))
        row = np.zeros(n, dtype=bool)
        row[chosen] = True
        covered |= np.outer(row, row)
        extra.append(row)
    if extra:
        members = np.vstack([members, np.array(extra)])
    return members


@dataclass
class Affinity:
    """Task affinity estimated from subset scores.

    Rows are target tasks and columns co-trained tasks: entry (i, j) says how well task i does when
    trained together with task j.

    Attributes:
        raw: float [n, n]; U_ij = mean of f̂_i(S_l) over the subsets containing both i and j
            (not symmetric); U_ii = mean of f̂_i(S_l) over the subsets containing i.
        normalized: float [n, n]; by default each row i z-scored over j ≠ i (population std; a constant
            row becomes zeros), diagonal set to 0, then symmetrized (A + Aᵀ)/2 (see `NORMALIZATIONS` for the
            authors' variant). Removes each task's own difficulty and scale so that tasks are comparable;
            this is the matrix to cluster.
        counts: int [n, n]; number of subsets containing both i and j (diagonal: containing i).
        members: bool [m, n]; the subsets.
        scores: float [m, n]; f̂_i(S_l), NaN where i ∉ S_l.
    """

    raw: np.ndarray
    normalized: np.ndarray
    counts: np.ndarray
    members: np.ndarray
    scores: np.ndarray


def _zscore_rows(raw: np.ndarray) -> np.ndarray:
    n = raw.shape[0]
    off = ~np.eye(n, dtype=bool)
    z = np.zeros_like(raw, dtype=float)
    for i in range(n):
        vals = raw[i, off[i]]
        sd = vals.std()
        if sd > 1e-12 * max(1.0, np.abs(vals).max()):
            z[i, off[i]] = (vals - vals.mean()) / sd
    return (z + z.T) / 2


NORMALIZATIONS = config.NORMALIZATIONS
"""How the affinity is normalised before clustering: ``row_zscore`` (ours) z-scores each row of the averaged
matrix U_ij over j ≠ i; ``subset_zscore`` (the authors' code) z-scores each task's scores over the subsets
that contain it first, then averages them into U_ij. Both end with a zero diagonal and (A + Aᵀ)/2."""


def _zscore_per_task(members: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """scores [m, n] with column i z-scored over the subsets containing task i (0 where constant or absent)."""
    z = np.zeros_like(scores, dtype=float)
    for i in range(scores.shape[1]):
        vals = scores[members[:, i], i]
        sd = vals.std() if len(vals) else 0.0
        if sd > 1e-12 * max(1.0, np.abs(vals).max(initial=0.0)):
            z[members[:, i], i] = (vals - vals.mean()) / sd
    return z


def compute_affinity(members: np.ndarray, scores: np.ndarray, normalization: str = "row_zscore") -> Affinity:
    """Affinity matrix from per-subset, per-task scores (PAPER.md step 4).

    Args:
        members: bool [m, n], subset membership.
        scores: float [m, n], f̂_i(S_l) at member positions (higher is better); other entries are
            ignored (NaN by convention).
        normalization: one of `NORMALIZATIONS`; how `Affinity.normalized` is made from the scores.

    Returns:
        `Affinity` with raw, normalized and counts [n, n].

    Raises:
        ValueError: on shape mismatch, NaN/inf at a member position, or a pair (i, j) that no subset
            contains (U_ij undefined; see `sample_subsets`).
    """
    members = np.asarray(members)
    scores = np.asarray(scores, dtype=float)
    if members.ndim != 2 or members.shape != scores.shape:
        raise ValueError(f"members {members.shape} and scores {scores.shape} must both be [m, n]")
    if members.dtype != bool:
        if not np.isin(members, (0, 1)).all():
            raise ValueError("members must be boolean (or 0/1)")
        members = members.astype(bool)
    m, n = members.shape
    if n < 2 or m < 1:
        raise ValueError(f"need m >= 1 subsets and n >= 2 tasks, got members of shape {members.shape}")
    bad = members & ~np.isfinite(scores)
    if bad.any():
        l, i = np.argwhere(bad)[0]
        raise ValueError(f"scores has {int(bad.sum())} NaN/inf entries at member positions, "
                         f"first at subset {l}, task {i}")
    mi = members.astype(np.int64)
    counts = mi.T @ mi
    if (counts == 0).any():
        i, j = np.argwhere(counts == 0)[0]
        raise ValueError(f"no subset contains both task {i} and task {j}: "
                         f"{int((counts == 0).sum() // 2)} pairs uncovered; sample subsets that cover every pair")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"invalid normalization={normalization!r}: allowed one of {', '.join(NORMALIZATIONS)}")
    s0 = np.where(members, scores, 0.0)
    raw = (s0.T @ mi) / counts
    if normalization == "row_zscore":
        normalized = _zscore_rows(raw)
    else:
        per_subset = (_zscore_per_task(members, s0).T @ mi) / counts
        np.fill_diagonal(per_subset, 0.0)
        normalized = (per_subset + per_subset.T) / 2
    return Affinity(raw=raw, normalized=normalized, counts=counts,
                    members=members.copy(), scores=np.where(members, scores, np.nan))
