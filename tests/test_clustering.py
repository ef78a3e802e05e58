from collections import Counter

import numpy as np
import pytest

from pgxlib.cluster import groups_from_labels, nmi, random_grouping, round_sdp, sdp_cluster, sdp_solve, spectral_cluster


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
                                lambda U, k: round_sdp(U, k=k), lambda U, k: random_grouping(len(U), k, 0)])
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
