from collections import Counter

import numpy as np
import pytest

from pgxlib.analysis.agreement import nmi
from pgxlib.cluster import (groups_from_labels, local_search, partition_score, random_grouping, round_sdp,
                            sdp_cluster, sdp_partition, sdp_solve, spectral_cluster)
from pgxlib.config import ConfigError


def planted(n=12, blocks=3, seed=0, noise=0.2):
    """Affinity with `blocks` equal blocks: within 1, across -0.5, plus symmetric noise; diagonal 0."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(blocks), n // blocks)
    perm = rng.permutation(n)
    truth = truth[perm]
    U = np.where(truth[:, None] == truth[None, :], 1.0, -0.5) + noise * rng.standard_normal((n, n))
    U = (U + U.T) / 2
    np.fill_diagonal(U, 0.0)
    return U, truth


def partition_X(labels):
    n = len(labels)
    X = np.zeros((n, n))
    for g in groups_from_labels(labels):
        X[np.ix_(g, g)] = 1.0 / len(g)
    return X


@pytest.mark.parametrize("seed", range(4))
def test_sdp_recovers_planted_fixed_k(seed):
    U, truth = planted(seed=seed)
    labels = sdp_cluster(U, k=3)
    assert nmi(labels, truth) == pytest.approx(1.0)
    assert labels.max() == 2


@pytest.mark.parametrize("seed", range(4))
def test_sdp_recovers_planted_lam(seed):
    # for the planted partition <U, X> = 9 - 3 lam against -1 - lam for one group and 6 - 6 lam for six
    U, truth = planted(seed=seed)
    X = sdp_solve(U, lam=1.0)
    assert np.trace(X) == pytest.approx(3.0, abs=1e-3)
    labels = sdp_cluster(U, lam=1.0)
    assert len(np.unique(labels)) == 3
    assert nmi(labels, truth) == pytest.approx(1.0)


def test_sdp_solution_is_feasible_and_scale_free():
    U, _ = planted(n=9, blocks=3, seed=5)
    X = sdp_solve(U, k=3)
    np.testing.assert_allclose(X, X.T)
    assert np.linalg.eigvalsh(X).min() > -1e-5
    assert X.min() > -1e-5
    np.testing.assert_allclose(X.sum(axis=1), 1.0, atol=1e-5)
    assert np.trace(X) == pytest.approx(3.0, abs=1e-5)
    X100 = sdp_solve(100 * U + 7, k=3)
    np.testing.assert_allclose(X100, X, atol=1e-3)


def test_round_hard_partition_is_exact():
    labels = np.array([0, 1, 0, 2, 1, 1, 0])
    for k in (None, 3):
        np.testing.assert_array_equal(round_sdp(partition_X(labels), k=k), labels)
    n = 6
    np.testing.assert_array_equal(round_sdp(np.full((n, n), 1 / n)), np.zeros(n, dtype=int))
    np.testing.assert_array_equal(round_sdp(np.eye(n)), np.arange(n))


def _assert_k_groups(labels, n, k):
    assert labels.shape == (n,)
    assert sorted(set(labels.tolist())) == list(range(k))
    first = [labels.tolist().index(g) for g in range(k)]
    assert first == sorted(first)  # labels numbered in order of first appearance


def test_round_always_gives_k_groups():
    rng = np.random.default_rng(0)
    mats = []
    for seed in range(40):
        n = int(rng.integers(1, 10))
        A = rng.standard_normal((n, n))
        mats.append(A + A.T)                     # arbitrary symmetric
        mats.append(np.abs(A @ A.T) / n)        # non-negative
    for n in (1, 2, 5, 8):
        mats += [np.full((n, n), 1 / n), np.eye(n), np.zeros((n, n)), np.ones((n, n))]
    for seed in range(3):
        U, _ = planted(n=8, blocks=2, seed=seed)
        mats.append(sdp_solve(U, k=2))
        mats.append(sdp_solve(U, lam=0.0))
    for X in mats:
        n = X.shape[0]
        for k in range(1, n + 1):
            _assert_k_groups(round_sdp(X, k=k), n, k)
        free = round_sdp(X)
        _assert_k_groups(free, n, free.max() + 1)


def test_round_merges_and_splits_sensibly():
    labels = np.array([0, 0, 1, 1, 2, 2])
    X = partition_X(labels)
    X[np.ix_([0, 1], [2, 3])] = X[np.ix_([2, 3], [0, 1])] = 0.1  # groups 0 and 1 closest
    assert nmi(round_sdp(X, k=2), [0, 0, 0, 0, 1, 1]) == pytest.approx(1.0)
    X = np.full((4, 4), 0.3)
    X[3, :3] = X[:3, 3] = 0.27  # one group above the 1/n threshold, task 3 the least attached
    np.testing.assert_array_equal(round_sdp(X, k=2), [0, 0, 0, 1])


def test_random_grouping_exact_k_and_deterministic():
    for n in range(1, 12):
        for k in range(1, n + 1):
            for seed in range(3):
                _assert_k_groups(random_grouping(n, k, seed), n, k)
    np.testing.assert_array_equal(random_grouping(10, 3, 4), random_grouping(10, 3, 4))


def test_random_grouping_uniform_over_partitions():
    # S(4, 2) = 7 set partitions of 4 tasks into 2 groups, each with probability 1/7
    counts = Counter(tuple(random_grouping(4, 2, seed)) for seed in range(1400))
    assert len(counts) == 7
    assert all(120 <= c <= 280 for c in counts.values())


@pytest.mark.parametrize("seed", range(3))
def test_spectral_recovers_planted(seed):
    U, truth = planted(seed=seed)
    labels = spectral_cluster(U, 3, seed)
    _assert_k_groups(labels, 12, 3)
    assert nmi(labels, truth) == pytest.approx(1.0)
    for k in (1, 2, 5, 12):
        _assert_k_groups(spectral_cluster(U, k, seed), 12, k)


def test_groups_and_nmi():
    assert groups_from_labels([1, 0, 1, 2]) == [[1], [0, 2], [3]]
    assert nmi([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="same length"):
        nmi([0, 1], [0, 1, 1])


@pytest.mark.parametrize("fn", [lambda U, k: sdp_cluster(U, k=k), lambda U, k: spectral_cluster(U, k, 0),
                                lambda U, k: round_sdp(U, k=k), lambda U, k: random_grouping(len(U), k, 0),
                                lambda U, k: local_search(U, np.zeros(len(U), dtype=int), k)])
def test_invalid_k(fn):
    U, _ = planted(n=6, blocks=2)
    for k in (0, 7, -1, 2.5, True):
        with pytest.raises(ValueError, match=rf"invalid k={k!r}: allowed a positive integer in 1\.\.6"):
            fn(U, k)


def test_invalid_U_and_arguments():
    with pytest.raises(ValueError, match="square"):
        sdp_cluster(np.ones((3, 4)), k=2)
    with pytest.raises(ValueError, match="square"):
        spectral_cluster(np.ones(3), 2, 0)
    bad = np.eye(3)
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        sdp_cluster(bad, k=2)
    with pytest.raises(ValueError, match="exactly one of k and lam"):
        sdp_solve(np.eye(3))
    with pytest.raises(ValueError, match="exactly one of k and lam"):
        sdp_solve(np.eye(3), k=2, lam=1.0)
    with pytest.raises(ValueError, match="invalid lam"):
        sdp_solve(np.eye(3), lam=float("inf"))


def test_solver_failure_is_a_clear_error():
    with pytest.raises(RuntimeError, match="SDP solver OSQP failed"):
        sdp_solve(np.eye(4), k=2, solver="OSQP")  # OSQP cannot solve SDPs
    with pytest.warns(RuntimeWarning, match="inaccurate"):
        sdp_solve(np.eye(4) + 0.1, k=2, max_iters=2)


# ---------------------------------------------------------------------------------------------
# Partition score and local search after the rounding
# ---------------------------------------------------------------------------------------------

def all_partitions(n, k):
    """Every partition of n tasks into exactly k non-empty groups, as labels numbered by first appearance."""
    out = []

    def rec(lab, g):
        if len(lab) == n:
            if g == k:
                out.append(np.array(lab))
            return
        if n - len(lab) < k - g:   # not enough tasks left to open the missing groups
            return
        for b in range(g):
            rec(lab + [b], g)
        if g < k:
            rec(lab + [g], g + 1)

    rec([], 0)
    return out


def scores_of(U, parts):
    """partition_score of each partition, vectorised: Σ_g 1_gᵀ U 1_g / |g|."""
    onehot = np.stack([np.eye(max(p) + 1)[p] for p in parts])           # [P, n, k]
    sums = np.einsum("pig,ij,pjg->pg", onehot, U, onehot)
    return (sums / onehot.sum(axis=1)).sum(axis=1)


def neighbours(labels, k):
    """Every partition one move (not emptying a group) or one swap away, still with k groups."""
    n = len(labels)
    for i in range(n):
        if (labels == labels[i]).sum() > 1:
            for b in range(k):
                if b != labels[i]:
                    lab = labels.copy()
                    lab[i] = b
                    yield lab
    for i in range(n):
        for j in range(i + 1, n):
            if labels[i] != labels[j]:
                lab = labels.copy()
                lab[i], lab[j] = lab[j], lab[i]
                yield lab


def random_symmetric(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return (A + A.T) / 2


def test_all_partitions_counts_stirling():
    assert len(all_partitions(8, 3)) == 966       # S(8, 3)
    assert len(all_partitions(4, 2)) == 7
    assert len({tuple(p) for p in all_partitions(8, 3)}) == 966


def test_partition_score_is_the_sdp_objective():
    rng = np.random.default_rng(3)
    U = rng.normal(size=(7, 7))                    # not symmetric: only the symmetric part counts
    for labels in ([0, 1, 0, 2, 1, 1, 0], [0] * 7, list(range(7)), [5, 5, -1, 5, -1, 9, 9]):
        assert partition_score(U, labels) == pytest.approx(np.sum(U * partition_X(labels)))
    U = np.arange(9.0).reshape(3, 3)
    # {0, 2}: (U00 + U02 + U20 + U22) / 2 = (0 + 2 + 6 + 8) / 2 = 8; {1}: U11 = 4
    assert partition_score(U, [0, 1, 0]) == pytest.approx(12.0)


def test_sdp_partition_reaches_the_optimum_of_brute_force():
    """n = 10, k = 3, 20 random symmetric U: every trial reaches ≥ 0.95 of the way from the worst to the
    best partition (brute force over all 9,330); plain rounding does not, nor does one local search from
    it (0.948 at seed 0); the best of the local searches from every start does."""
    n, k = 10, 3
    parts = all_partitions(n, k)
    best, single, rounding = [], [], []
    for seed in range(20):
        U = random_symmetric(n, seed)
        sc = scores_of(U, parts)
        lo, hi = sc.min(), sc.max()
        X = sdp_solve(U, k=k)
        rounded = round_sdp(X, k=k)
        improved = sdp_partition(U, X, k=k)
        _assert_k_groups(improved, n, k)
        np.testing.assert_array_equal(sdp_partition(U, X, k=k), improved)
        rounding.append((partition_score(U, rounded) - lo) / (hi - lo))
        single.append((partition_score(U, local_search(U, rounded, k)) - lo) / (hi - lo))
        best.append((partition_score(U, improved) - lo) / (hi - lo))
        assert best[-1] >= single[-1] - 1e-12
    assert min(best) >= 0.95
    assert min(single) < 0.95
    assert min(rounding) < 0.95


def test_round_sdp_first_pivot():
    labels = np.array([0, 1, 0, 2, 1, 1, 0])
    X = partition_X(labels)
    for first in range(7):                          # a hard partition reads the same from any pivot
        np.testing.assert_array_equal(round_sdp(X, k=3, first=first), labels)
    X = np.full((4, 4), 0.1) + np.diag([0.6, 0.5, 0.4, 0.3])
    X[0, 1] = X[1, 0] = X[2, 3] = X[3, 2] = 0.3     # rows sum to 1, pairs {0, 1} and {2, 3} attached
    np.testing.assert_array_equal(round_sdp(X, k=2), [0, 0, 1, 1])
    with pytest.raises(ConfigError, match="invalid first=4"):
        round_sdp(X, first=4)
    with pytest.raises(ConfigError, match="invalid random_restarts=-1"):
        sdp_partition(np.eye(4), X, k=2, random_restarts=-1)


def test_sdp_cluster_applies_the_local_search():
    U = random_symmetric(8, 15)                    # a seed where plain rounding is not locally optimal
    X = sdp_solve(U, k=3)
    labels = sdp_cluster(U, k=3)
    np.testing.assert_array_equal(labels, sdp_partition(U, X, k=3))
    assert partition_score(U, labels) > partition_score(U, round_sdp(X, k=3)) + 1e-6
    free = sdp_partition(U, X)                     # lam mode: the rounding's number of groups is kept
    assert free.max() == round_sdp(X).max()


def test_local_search_improves_keeps_k_and_is_deterministic():
    rng = np.random.default_rng(1)
    for t in range(120):
        n = int(rng.integers(1, 11))
        k = int(rng.integers(1, n + 1))
        U = rng.normal(size=(n, n))                # arbitrary, not symmetric
        start = random_grouping(n, k, t)
        out = local_search(U, start, k)
        _assert_k_groups(out, n, k)
        s = partition_score(U, out)
        assert s >= partition_score(U, start) - 1e-12
        np.testing.assert_array_equal(local_search(U, start, k), out)
        # a local optimum: no single move or swap raises the score
        assert all(partition_score(U, lab) <= s + 1e-9 for lab in neighbours(out, k))
        # a local optimum is a fixed point, whatever the numbering of its groups
        np.testing.assert_array_equal(local_search(U, rng.permutation(k)[out] + 10, k), out)


def test_local_search_takes_the_best_step_first():
    rng = np.random.default_rng(2)
    for t in range(40):
        n, k = 7, 3
        U = rng.normal(size=(n, n))
        start = random_grouping(n, k, t)
        best = max(partition_score(U, lab) for lab in neighbours(start, k))
        one = local_search(U, start, k, max_rounds=1)
        if best > partition_score(U, start) + 1e-9:
            assert partition_score(U, one) == pytest.approx(best)
        else:
            np.testing.assert_array_equal(one, start)
    start = np.array([2, 2, 0, 1, 0])
    np.testing.assert_array_equal(local_search(rng.normal(size=(5, 5)), start, 3, max_rounds=0), [0, 0, 1, 2, 1])


def test_local_search_recovers_planted_blocks_from_a_bad_start():
    truth = np.repeat(np.arange(3), [4, 3, 2])
    U = np.where(truth[:, None] == truth[None, :], 1.0, -1.0)
    bad = np.arange(9) % 3                          # every group mixes all three blocks
    assert nmi(bad, truth) < 0.2
    np.testing.assert_array_equal(local_search(U, bad, 3), truth)
    np.testing.assert_array_equal(local_search(U, truth, 3), truth)     # the optimum is a fixed point
    parts = all_partitions(9, 3)
    assert scores_of(U, parts).max() == pytest.approx(partition_score(U, truth))
    # on random U the brute-force optimum is a fixed point too
    for seed in range(5):
        U = random_symmetric(8, seed)
        opt = all_partitions(8, 3)[int(np.argmax(scores_of(U, all_partitions(8, 3))))]
        np.testing.assert_array_equal(local_search(U, opt, 3), opt)


def test_local_search_and_score_validation():
    U = random_symmetric(5, 0)
    good = np.array([0, 0, 1, 1, 2])
    cases = [
        (lambda: local_search(U, good[:4], 3), "labels must be a 1-d array"),
        (lambda: local_search(U, good.reshape(5, 1), 3), "labels must be a 1-d array"),
        (lambda: local_search(U, good.astype(float), 3), "labels must be integers"),
        (lambda: local_search(U, good, 2), "labels have 3 groups, expected k=2"),
        (lambda: local_search(U, good, 3, max_rounds=-1), r"invalid max_rounds=-1"),
        (lambda: local_search(U, good, 3, max_rounds=1.5), r"invalid max_rounds=1\.5"),
        (lambda: local_search(np.ones((5, 4)), good, 3), "square"),
        (lambda: partition_score(U, good[:3]), "labels must be a 1-d array"),
        (lambda: partition_score(np.ones(5), good), "square"),
        (lambda: sdp_partition(U, np.eye(4), 3), "same shape"),
    ]
    for fn, msg in cases:
        with pytest.raises(ValueError, match=msg) as info:
            fn()
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"invalid k=0"):
        local_search(U, good, 0)
