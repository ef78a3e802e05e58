from itertools import combinations

import numpy as np
import pytest

from pgxlib.estimate.affinity import Affinity, compute_affinity, sample_subsets
from pgxlib.estimate.gradient_similarity import gradient_similarity

NAN = np.nan

# Three tasks, four subsets: S0={0,1}, S1={1,2}, S2={0,2}, S3={0,1,2}.
MEMBERS = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
SCORES = np.array([[1.0, 2.0, NAN],
                   [NAN, 4.0, 6.0],
                   [3.0, NAN, 5.0],
                   [5.0, 0.0, 7.0]])


def test_golden_three_tasks():
    aff = compute_affinity(MEMBERS, SCORES)
    assert isinstance(aff, Affinity)
    # every task is in 3 subsets, every pair in 2
    np.testing.assert_array_equal(aff.counts, [[3, 2, 2], [2, 3, 2], [2, 2, 3]])
    # U_01 = f0 over {S0,S3} = (1+5)/2; U_02 = f0 over {S2,S3} = (3+5)/2; U_00 = (1+3+5)/3
    # U_10 = (2+0)/2; U_12 = (4+0)/2; U_11 = (2+4+0)/3
    # U_20 = (5+7)/2; U_21 = (6+7)/2; U_22 = (6+5+7)/3
    np.testing.assert_allclose(aff.raw, [[3.0, 3.0, 4.0],
                                         [1.0, 2.0, 2.0],
                                         [6.0, 6.5, 6.0]])
    # row z-scores over j != i: row 0 (3, 4) -> (-1, +1); row 1 (1, 2) -> (-1, +1); row 2 (6, 6.5) -> (-1, +1)
    # Z = [[0,-1,1],[-1,0,1],[-1,1,0]]; (Z + Z^T)/2:
    np.testing.assert_allclose(aff.normalized, [[0.0, -1.0, 0.0],
                                                [-1.0, 0.0, 1.0],
                                                [0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(aff.members, MEMBERS)
    assert np.isnan(aff.scores[0, 2]) and aff.scores[3, 1] == 0.0


def test_zero_variance_row_becomes_zero():
    scores = SCORES.copy()
    scores[2, 2] = 6.0  # now U_20 = U_21 = 6.5: row 2 is constant off the diagonal
    aff = compute_affinity(MEMBERS, scores)
    np.testing.assert_allclose(aff.raw[2], [6.5, 6.5, 19 / 3])
    # Z = [[0,-1,1],[-1,0,1],[0,0,0]] -> (Z + Z^T)/2
    np.testing.assert_allclose(aff.normalized, [[0.0, -1.0, 0.5],
                                                [-1.0, 0.0, 0.5],
                                                [0.5, 0.5, 0.0]])


def test_raw_matches_explicit_loop():
    rng = np.random.default_rng(3)
    members = sample_subsets(6, 15, 3, seed=1)
    scores = np.where(members, rng.normal(size=members.shape), NAN)
    aff = compute_affinity(members, scores)
    n = members.shape[1]
    for i in range(n):
        for j in range(n):
            rows = [l for l in range(len(members)) if members[l, i] and members[l, j]]
            assert aff.counts[i, j] == len(rows)
            assert aff.raw[i, j] == pytest.approx(np.mean(scores[rows, i]))
    A = aff.normalized
    np.testing.assert_allclose(A, A.T)
    np.testing.assert_array_equal(np.diag(A), 0.0)


def test_compute_affinity_errors():
    bad = SCORES.copy()
    bad[3, 1] = NAN
    with pytest.raises(ValueError, match="NaN/inf"):
        compute_affinity(MEMBERS, bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        compute_affinity(MEMBERS, bad)
    with pytest.raises(ValueError, match="no subset contains both task 0 and task 2"):
        compute_affinity(MEMBERS[:2], SCORES[:2])
    with pytest.raises(ValueError, match=r"\[m, n\]"):
        compute_affinity(MEMBERS, SCORES[:, :2])


def _check_subsets(members, n, size, at_least):
    assert members.dtype == bool and members.shape[1] == n and members.shape[0] >= at_least
    np.testing.assert_array_equal(members.sum(axis=1), size)
    counts = members.T.astype(int) @ members
    assert all(counts[i, j] >= 1 for i, j in combinations(range(n), 2))


def test_sample_subsets_sizes_deterministic_covered():
    a = sample_subsets(10, 20, 3, seed=7)
    _check_subsets(a, 10, 3, 20)
    np.testing.assert_array_equal(a, sample_subsets(10, 20, 3, seed=7))
    assert not np.array_equal(a, sample_subsets(10, 20, 3, seed=8))


def test_sample_subsets_tiny_m_is_completed():
    a = sample_subsets(10, 1, 2, seed=0)
    _check_subsets(a, 10, 2, 45)  # 45 pairs, one per subset of size 2
    b = sample_subsets(12, 2, 4, seed=3)
    _check_subsets(b, 12, 4, 11)  # at least ceil(66 / 6) subsets
    assert len(b) < 30  # the greedy completion is not wasteful
    np.testing.assert_array_equal(b, sample_subsets(12, 2, 4, seed=3))
    full = sample_subsets(5, 3, 5, seed=0)
    np.testing.assert_array_equal(full, np.ones((3, 5), dtype=bool))


def test_sample_subsets_large_m_keeps_m():
    a = sample_subsets(10, 60, 4, seed=0)
    _check_subsets(a, 10, 4, 60)
    assert len(a) == 60  # 60 random subsets of 4 of 10 tasks cover all 45 pairs for this seed


@pytest.mark.parametrize("args, name", [((10, 5, 1), "subset_size"), ((10, 5, 11), "subset_size"),
                                        ((10, 0, 3), "n_subsets"), ((1, 5, 2), "n_tasks"),
                                        ((10, 5, 2.5), "subset_size")])
def test_sample_subsets_validation(args, name):
    with pytest.raises(ValueError, match=f"invalid {name}="):
        sample_subsets(*args, seed=0)


def test_gradient_similarity():
    g = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [0.0, 0.0]])
    s = gradient_similarity(g)
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(s, [[0, 0, r, 0], [0, 0, r, 0], [r, r, 0, 0], [0, 0, 0, 0]], atol=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        gradient_similarity(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        gradient_similarity(np.ones(3))


def test_subset_zscore_normalisation_by_hand():
    """The authors' normalisation: each task's scores z-scored over its subsets, then averaged per pair."""
    members = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=bool)
    scores = np.array([[1.0, 4.0, np.nan], [3.0, np.nan, 0.0], [np.nan, 2.0, 2.0], [5.0, 0.0, 4.0]])
    aff = compute_affinity(members, scores, "subset_zscore")
    z0 = (np.array([1.0, 3.0, 5.0]) - 3.0) / np.std([1.0, 3.0, 5.0])        # task 0 in subsets 0, 1, 3
    z1 = (np.array([4.0, 2.0, 0.0]) - 2.0) / np.std([4.0, 2.0, 0.0])        # task 1 in subsets 0, 2, 3
    z2 = (np.array([0.0, 2.0, 4.0]) - 2.0) / np.std([0.0, 2.0, 4.0])        # task 2 in subsets 1, 2, 3
    u01, u10 = (z0[0] + z0[2]) / 2, (z1[0] + z1[2]) / 2                      # subsets 0 and 3 hold tasks 0, 1
    u02, u20 = (z0[1] + z0[2]) / 2, (z2[0] + z2[2]) / 2
    u12, u21 = (z1[1] + z1[2]) / 2, (z2[1] + z2[2]) / 2
    expected = np.array([[0, (u01 + u10) / 2, (u02 + u20) / 2], [(u01 + u10) / 2, 0, (u12 + u21) / 2],
                         [(u02 + u20) / 2, (u12 + u21) / 2, 0]])
    np.testing.assert_allclose(aff.normalized, expected, rtol=1e-12)
    np.testing.assert_allclose(aff.raw, compute_affinity(members, scores).raw)
    with pytest.raises(ValueError, match="normalization"):
        compute_affinity(members, scores, "nope")
