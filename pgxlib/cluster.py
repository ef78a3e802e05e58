"""Partition n tasks into groups from an affinity matrix U [n, n] (PolicyGradEx, step 5).

`sdp_cluster` is the method of the paper: the SDP relaxation of maximizing the within-group affinity,
solved with cvxpy, rounded to a hard partition and improved by `local_search` (moves and swaps of
tasks) to a local optimum of `partition_score`, the SDP objective on partitions; `sdp_partition` keeps
the best of the local searches from several roundings and random starts. `random_grouping`
and `spectral_cluster` are the baselines (the gradient-similarity baseline is
`pgxlib.estimate.gradient_similarity`). Labels are integer arrays [n] with values 0..g−1, numbered in order
of first appearance over the tasks.
"""
from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np

from pgxlib.config import check_int
from pgxlib.partition import groups_from_labels, labels_key  # noqa: F401  (re-exported)


def _check_square(U, name: str = "U") -> np.ndarray:
    U = np.asarray(U, dtype=float)
    if U.ndim != 2 or U.shape[0] != U.shape[1] or U.shape[0] < 1:
        raise ValueError(f"{name} must be a square [n, n] matrix with n >= 1, got shape {U.shape}")
    if not np.isfinite(U).all():
        raise ValueError(f"{name} contains NaN or inf")
    return U


def _relabel(labels) -> np.ndarray:
    """Labels renumbered 0..g−1 in order of first appearance."""
    out = np.empty(len(labels), dtype=np.int64)
    seen: dict = {}
    for i, lab in enumerate(labels):
        out[i] = seen.setdefault(lab, len(seen))
    return out


def sdp_solve(U, k: int | None = None, lam: float | None = None, solver: str = "SCS",
              **solver_opts) -> np.ndarray:
    """Solve the SDP relaxation of affinity-maximizing clustering.

    maximize ⟨U, X⟩ − lam·Tr X  subject to  X ⪰ 0, X ≥ 0 elementwise, X·1 = 1,
    or, with fixed k, maximize ⟨U, X⟩ subject to the same and Tr X = k.

    A hard partition into groups G is feasible as X = Σ_G 1_G 1_Gᵀ / |G|, whose trace is the number of
    groups and whose objective is Σ_G (sum of U over G×G) / |G|, so the relaxation scores partitions
    by their average within-group affinity; lam > 0 charges for each extra group. U is symmetrized
    first, and U (and lam) are divided by max|U| before solving, which leaves the maximizer unchanged
    but keeps the solver's tolerances meaningful whatever the scale of the scores.

    Args:
        U: float [n, n] affinity (larger = better to train together).
        k: number of groups, 1 ≤ k ≤ n; exclusive with lam.
        lam: trace penalty; exclusive with k.
        solver: a cvxpy solver name supporting SDPs (SCS by default: ~0.2 s at n=10).
        **solver_opts: passed to `cvxpy.Problem.solve`; defaults for SCS are eps_abs = eps_rel = 1e-6.

    Returns:
        X: float [n, n], symmetric, the (approximate) optimizer.

    Raises:
        ValueError: bad U, k or lam. RuntimeError: the solver fails or returns no solution.
    """
    import cvxpy as cp

    U = _check_square(U)
    n = U.shape[0]
    if (k is None) == (lam is None):
        raise ValueError(f"give exactly one of k and lam, got k={k!r}, lam={lam!r}")
    if k is not None:
        k = check_int("k", k, 1, n)
    else:
        try:
            lam = float(lam)
        except (TypeError, ValueError):
            raise ValueError(f"invalid lam={lam!r}: allowed a finite real number") from None
        if not np.isfinite(lam):
            raise ValueError(f"invalid lam={lam!r}: allowed a finite real number")
    U = (U + U.T) / 2
    scale = np.abs(U).max()
    scale = scale if scale > 0 else 1.0
    Us = U / scale

    X = cp.Variable((n, n), PSD=True)
    cons = [X >= 0, cp.sum(X, axis=1) == 1]
    obj = cp.sum(cp.multiply(Us, X))
    if k is not None:
        cons.append(cp.trace(X) == k)
    else:
        obj = obj - (lam / scale) * cp.trace(X)
    prob = cp.Problem(cp.Maximize(obj), cons)
    opts = {"eps_abs": 1e-6, "eps_rel": 1e-6, "max_iters": 100_000} if solver.upper() == "SCS" else {}
    opts.update(solver_opts)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            prob.solve(solver=solver, **opts)
    except cp.error.SolverError as e:
        raise RuntimeError(f"SDP solver {solver} failed on n={n}: {e}") from e
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or X.value is None:
        raise RuntimeError(f"SDP solver {solver} failed on n={n}: status {prob.status}")
    if prob.status == cp.OPTIMAL_INACCURATE:
        warnings.warn(f"SDP solver {solver} returned an inaccurate solution (n={n})", RuntimeWarning)
    Xv = np.asarray(X.value, dtype=float)
    return (Xv + Xv.T) / 2


def _enforce_k(groups: list[list[int]], X: np.ndarray, k: int) -> list[list[int]]:
    """Merge or split groups until there are exactly k, using X as the attachment between tasks.

    Too many: merge the two groups with the largest mean X between them. Too few: take the largest
    group and move its member with the lowest mean X to the other members into a new group.
    Ties go to the earliest group / member, so the result is deterministic.
    """
    groups = [list(g) for g in groups]
    while len(groups) > k:
        best, pair = -np.inf, (0, 1)
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                v = X[np.ix_(groups[a], groups[b])].mean()
                if v > best:
                    best, pair = v, (a, b)
        a, b = pair
        groups[a] = sorted(groups[a] + groups[b])
        del groups[b]
    while len(groups) < k:
        a = max(range(len(groups)), key=lambda g: (len(groups[g]), -g))
        g = groups[a]
        sub = X[np.ix_(g, g)]
        attach = (sub.sum(axis=1) - np.diag(sub)) / (len(g) - 1)
        out = g[int(np.argmin(attach))]
        groups[a] = [t for t in g if t != out]
        groups.append([out])
    return groups


def _labels_from_groups(groups: list[list[int]], n: int) -> np.ndarray:
    labels = np.empty(n, dtype=np.int64)
    for lab, g in enumerate(groups):
        labels[g] = lab
    return _relabel(labels)


def _greedy_groups(X: np.ndarray, first: int | None = None) -> list[list[int]]:
    """The greedy step of `round_sdp` on a symmetric X [n, n]; `first` forces the first pivot task."""
    n = X.shape[0]
    thr = (1.0 - 1e-3) / n
    unassigned = np.ones(n, dtype=bool)
    diag = np.diag(X).copy()
    groups = []
    while unassigned.any():
        if first is not None and not groups:
            i = first
        else:
            i = int(np.argmax(np.where(unassigned, diag, -np.inf)))
        members = unassigned & (X[i] > thr)
        members[i] = True
        groups.append([int(j) for j in np.flatnonzero(members)])
        unassigned &= ~members
    return groups


def round_sdp(X, k: int | None = None, first: int | None = None) -> np.ndarray:
    """Round an SDP solution X [n, n] to a hard partition.

    Threshold: task j is attached to task i when X_ij > 1/n (minus a relative tolerance of 1e-3, so
    that the one-group solution X = J/n, every entry exactly 1/n, reads as one group and not as n
    singletons). Greedy: repeatedly take the unassigned task i with the largest X_ii (rows all sum to 1,
    so a large diagonal marks a task whose mass sits in a small, tight group); its group is i plus every
    unassigned j attached to i. For a hard-partition X this returns that partition exactly.

    With k given, the result has exactly k non-empty groups: if greedy gives more, the two groups with
    the largest mean X between them are merged (repeatedly); if fewer, the largest group loses its
    member with the lowest mean X to the rest of the group, which becomes a new group (repeatedly).

    Args:
        X: float [n, n], e.g. from `sdp_solve`.
        k: number of groups 1 ≤ k ≤ n, or None to keep what the greedy step gives.
        first: a task 0 ≤ first < n to take as the first pivot instead of the largest X_ii (one of the
            other roundings `sdp_partition` starts its local search from); None for the rule above.

    Returns:
        labels: int [n], 0..g−1 in order of first appearance.
    """
    X = _check_square(X, "X")
    X = (X + X.T) / 2
    n = X.shape[0]
    if k is not None:
        k = check_int("k", k, 1, n)
    if first is not None:
        first = check_int("first", first, 0, n - 1)
    groups = _greedy_groups(X, first)
    if k is not None:
        groups = _enforce_k(groups, X, k)
    return _labels_from_groups(groups, n)


def _check_labels(labels, n: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"labels must be a 1-d array [n] with n={n}, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {arr.dtype}")
    return _relabel(arr.tolist())


def partition_score(U, labels) -> float:
    """Score of a partition: Σ over groups g of (1/n_g) Σ_{i,j ∈ g} U_ij, n_g the size of group g (diagonal
    included).

    This is exactly the SDP objective ⟨U, X⟩ at the normalised cluster matrix X = Σ_g 1_g 1_gᵀ / n_g
    (see `sdp_solve`), the quantity that `local_search` raises. Equivalently each group contributes
    n_g times its mean affinity over its n_g² ordered pairs (i, j), i = j included.

    Args:
        U: float [n, n] affinity (only its symmetric part matters).
        labels: int [n], any integer group ids.

    Returns:
        the score, a float.
    """
    U = _check_square(U)
    lab = _check_labels(labels, U.shape[0])
    onehot = np.eye(lab.max() + 1)[lab]                           # [n, g]
    sums = np.einsum("ig,ij,jg->g", onehot, U, onehot)            # Σ_{i,j ∈ g} U_ij
    return float((sums / onehot.sum(axis=0)).sum())


def local_search(U, labels, k: int, max_rounds: int = 10_000) -> np.ndarray:
    """Improve a partition into exactly k groups by best-improvement local search on `partition_score`.

    Each round evaluates every move of one task to another group (never emptying its group) and
    every swap of two tasks in different groups, and applies the one that raises the score most,
    as long as it raises it by more than 1e-9·max|U| (so rounding noise never counts as a gain).
    Ties go to the lowest index: moves (task i, target group b; groups numbered by first appearance
    in the start, kept during the search) in lexicographic order come first, then swaps (i, j),
    i < j, in lexicographic order. It stops at a local optimum (no move
    or swap improves) or after `max_rounds` applied changes. A round costs O(n²) time and memory.

    Args:
        U: float [n, n] affinity (symmetrized first; the score only sees the symmetric part).
        labels: int [n] with exactly k distinct values (any integers), the starting partition.
        k: number of groups, 1 ≤ k ≤ n; checked against `labels`.
        max_rounds: the most changes to apply, ≥ 0.

    Returns:
        labels: int [n], exactly k groups, 0..k−1 in order of first appearance; never a lower
        `partition_score` than the start.
    """
    U = _check_square(U)
    n = U.shape[0]
    k = check_int("k", k, 1, n)
    max_rounds = check_int("max_rounds", max_rounds, 0)
    lab = _check_labels(labels, n)
    if lab.max() + 1 != k:
        raise ValueError(f"labels have {lab.max() + 1} groups, expected k={k}")
    U = (U + U.T) / 2
    tol = 1e-9 * np.abs(U).max()
    d = np.diag(U)
    idx = np.arange(n)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    for _ in range(max_rounds):
        onehot = np.eye(k)[lab]                                     # [n, k]
        R = U @ onehot                                              # R[i, g] = Σ_{j ∈ g} U_ij
        m = onehot.sum(axis=0)                                      # group sizes [k]
        S = (R * onehot).sum(axis=0)                                # S[g] = Σ_{i,j ∈ g} U_ij
        r_own = R[idx, lab]                                         # [n]
        m_own = m[lab]
        # move i from a = lab[i] to b: a loses 2 r_own − U_ii, b gains 2 R[i, b] + U_ii
        S_a = S[lab] - 2 * r_own + d
        left = np.where(m_own > 1, S_a / np.maximum(m_own - 1, 1), 0.0) - S[lab] / m_own
        gain_move = left[:, None] + (S[None, :] + 2 * R + d[:, None]) / (m[None, :] + 1) - S[None, :] / m[None, :]
        gain_move[idx, lab] = -np.inf
        gain_move[m_own == 1, :] = -np.inf
        # swap i ∈ a and j ∈ b (a ≠ b): sizes unchanged
        Ra = R[:, lab]                                              # Ra[j, i] = R[j, lab[i]]
        da = (-2 * r_own[:, None] + d[:, None] + 2 * Ra.T - 2 * U + d[None, :]) / m_own[:, None]
        gain_swap = da + da.T                                       # da[i, j]: change of i's group
        gain_swap[~upper | (lab[:, None] == lab[None, :])] = -np.inf
        best_move = int(np.argmax(gain_move))
        best_swap = int(np.argmax(gain_swap))
        g_move, g_swap = gain_move.flat[best_move], gain_swap.flat[best_swap]
        if max(g_move, g_swap) <= tol:
            break
        if g_move >= g_swap:
            i, b = divmod(best_move, k)
            lab[i] = b
        else:
            i, j = divmod(best_swap, n)
            lab[i], lab[j] = lab[j], lab[i]
    return _relabel(lab.tolist())


RANDOM_RESTARTS = 10
PIVOT_STARTS = 20


def sdp_partition(U, X, k: int | None = None, random_restarts: int = RANDOM_RESTARTS) -> np.ndarray:
    """The hard partition of the SDP method from its solution X: the best of several local searches.

    `local_search` runs from several starts and the partition with the highest `partition_score` is
    kept (ties: the earliest start). The starts, in order: `round_sdp(X)`; the rounding with each of the
    `PIVOT_STARTS` tasks of largest X_ii as its first pivot (`round_sdp(X, first=i)`, in task order;
    every task when n ≤ `PIVOT_STARTS`); `random_restarts` uniformly random partitions (`random_grouping(n, g, r)`,
    r = 0..random_restarts−1); repeated starts run once. A single local search from the rounding ends in
    a local optimum: over 100 random symmetric U (n = 10, k = 3) its worst score was 0.89 of the way from
    the worst to the best partition (brute force); with these starts every one of them reached the best.
    Deterministic; at most 1 + `PIVOT_STARTS` + random_restarts local searches.

    With k: exactly k groups. With k None (lam mode): as many groups g as `round_sdp(X)` gives, every
    start has g groups (for fixed g the trace penalty is a constant, so the local search optimizes the
    same objective).

    Args:
        U: float [n, n] affinity the SDP was solved for; X: float [n, n], e.g. from `sdp_solve(U, ...)`.
        k: number of groups, or None.
        random_restarts: number of random starting partitions, ≥ 0.

    Returns:
        labels: int [n], 0..g−1 in order of first appearance.
    """
    U = _check_square(U)
    X = _check_square(X, "X")
    if X.shape != U.shape:
        raise ValueError(f"X and U must have the same shape, got {X.shape} and {U.shape}")
    random_restarts = check_int("random_restarts", random_restarts, 0)
    n = U.shape[0]
    rounded = round_sdp(X, k=k)
    g = int(rounded.max()) + 1
    pivots = np.sort(np.argsort(-np.diag((X + X.T) / 2), kind="stable")[:PIVOT_STARTS])
    starts = [rounded, *(round_sdp(X, k=g, first=int(i)) for i in pivots),
              *(random_grouping(n, g, r) for r in range(random_restarts))]
    distinct = {tuple(start.tolist()): start for start in starts}
    tol = 1e-9 * np.abs(U).max()
    best, best_score = None, -np.inf
    for start in distinct.values():
        labels = local_search(U, start, g)
        score = partition_score(U, labels)
        if score > best_score + tol:
            best, best_score = labels, score
    return best


def sdp_cluster(U, k: int | None = None, lam: float | None = None, solver: str = "SCS") -> np.ndarray:
    """Group tasks by the SDP relaxation (`sdp_solve`), roundings and local searches (`sdp_partition`).

    With k: exactly k groups. With lam only: as many groups as the rounding of the solution gives
    (for a hard-partition optimum, Tr X = the number of groups), improved at that number of groups.

    Args:
        U: float [n, n] affinity, larger = better together (e.g. `Affinity.normalized`).
        k, lam: exactly one of them (see `sdp_solve`).

    Returns:
        labels: int [n].
    """
    X = sdp_solve(U, k=k, lam=lam, solver=solver)
    return sdp_partition(U, X, k=k)


def _stirling2(n: int, k: int) -> list[list[int]]:
    """Table S[a][b] of Stirling numbers of the second kind for a ≤ n, b ≤ k (exact integers)."""
    S = [[0] * (k + 1) for _ in range(n + 1)]
    S[0][0] = 1
    for a in range(1, n + 1):
        for b in range(1, min(a, k) + 1):
            S[a][b] = b * S[a - 1][b] + S[a - 1][b - 1]
    return S


def random_grouping(n: int, k: int, seed: int) -> np.ndarray:
    """Uniformly random partition of n tasks into exactly k non-empty groups (the random baseline).

    Every one of the S(n, k) set partitions (Stirling number of the second kind) is equally likely:
    using S(a, b) = b·S(a−1, b) + S(a−1, b−1), task a−1 either opens a new group or joins one of the b
    groups of the first a−1 tasks, with the matching probabilities.

    Returns:
        labels: int [n], 0..k−1 in order of first appearance.
    """
    n = check_int("n", n, 1)
    k = check_int("k", k, 1, n)
    rng = np.random.default_rng(seed)
    S = _stirling2(n, k)
    opens = [False] * n
    b = k
    for a in range(n, 0, -1):
        p_join = float(Fraction(b * S[a - 1][b], S[a][b]))
        join = rng.random() < p_join
        opens[a - 1] = not join
        b -= 0 if join else 1
    labels = np.empty(n, dtype=np.int64)
    n_groups = 0
    for t in range(n):
        if opens[t]:
            labels[t] = n_groups
            n_groups += 1
        else:
            labels[t] = rng.integers(n_groups)
    return _relabel(labels)


def spectral_cluster(U, k: int, seed: int) -> np.ndarray:
    """Spectral clustering baseline: scikit-learn `SpectralClustering(affinity="precomputed")`.

    Spectral clustering needs a non-negative similarity, so U is symmetrized and its off-diagonal
    entries shifted and scaled linearly to [0, 1] (min → 0, max → 1; a constant U → all ones), with
    diagonal 1. The order of the affinities is kept, only their offset is lost. The graph embedding is
    clustered with k-means (seeded). If k-means leaves fewer than k groups, they are split as in
    `round_sdp`, so the result always has exactly k groups.

    Returns:
        labels: int [n], 0..k−1 in order of first appearance.
    """
    from sklearn.cluster import SpectralClustering

    U = _check_square(U)
    n = U.shape[0]
    k = check_int("k", k, 1, n)
    A = (U + U.T) / 2
    off = ~np.eye(n, dtype=bool)
    if n > 1:
        lo, hi = A[off].min(), A[off].max()
        A = (A - lo) / (hi - lo) if hi > lo else np.ones_like(A)
    np.fill_diagonal(A, 1.0)
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    if k == n:
        return np.arange(n, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        raw = SpectralClustering(n_clusters=k, affinity="precomputed", assign_labels="kmeans",
                                 random_state=seed, n_init=10).fit_predict(A)
    groups = [list(map(int, np.flatnonzero(raw == c))) for c in np.unique(raw)]
    return _labels_from_groups(_enforce_k(groups, A, k), n)
