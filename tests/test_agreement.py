"""Like with like: the estimate's agreement with the truth and the truth's noise ceiling on one footing
(single repeats, or means of equally many repeats)."""
import numpy as np
import pytest

from pgxlib.analysis.speedup import agreement_with_single_repeats, offdiag_corr, split_half_agreement
from pgxlib.analysis.agreement import nmi

BLOCKS = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])


def noisy_repeats(r, noise, seed=0):
    """r affinities [9, 9]: three blocks (within 1, across 0) plus symmetric noise, and their labelings by
    the strongest attachment (a cheap, deterministic clustering for the test)."""
    rng = np.random.default_rng(seed)
    affs = []
    for _ in range(r):
        E = rng.normal(0, noise, (9, 9))
        affs.append((BLOCKS[:, None] == BLOCKS[None, :]) + (E + E.T) / 2)
    return affs


def attach(U):
    """Each task joins the block of the first three tasks it is most attached to on average."""
    scores = np.stack([U[:, BLOCKS == g].mean(axis=1) for g in range(3)], axis=1)
    return np.argmax(scores, axis=1)


def test_single_repeats_on_hand_made_labelings():
    est = [0, 0, 1, 1]
    reps = [[0, 0, 1, 1], [0, 1, 0, 1], [1, 1, 0, 0]]
    out = agreement_with_single_repeats(est, reps)
    assert out["footing"] == "single repeats"
    assert out["nmi_per_repeat"] == pytest.approx([1.0, 0.0, 1.0], abs=1e-12)
    assert out["nmi"] == pytest.approx(2 / 3)
    assert out["pairs_nmi"] == pytest.approx([0.0, 1.0, 0.0], abs=1e-12)
    assert out["ceiling_nmi"] == pytest.approx(1 / 3)
    assert out["reaches_ceiling"]
    assert "affinity_corr" not in out


def test_single_repeats_with_affinities_and_the_mean_of_repeats_is_not_on_that_footing():
    affs = noisy_repeats(3, noise=1.2, seed=4)
    labels = [attach(a) for a in affs]
    est_aff = (BLOCKS[:, None] == BLOCKS[None, :]).astype(float)
    out = agreement_with_single_repeats(BLOCKS, labels, est_aff, affs)
    assert out["nmi"] == pytest.approx(np.mean([nmi(BLOCKS, lab) for lab in labels]))
    assert out["affinity_corr_per_repeat"] == pytest.approx([offdiag_corr(est_aff, a) for a in affs])
    assert out["ceiling_affinity_corr"] == pytest.approx(np.mean([offdiag_corr(affs[i], affs[j])
                                                                  for i, j in ((0, 1), (0, 2), (1, 2))]))
    # the truth's mean is steadier than a single repeat: against it the same estimate scores higher
    mean_truth = attach(np.mean(affs, axis=0))
    assert nmi(BLOCKS, mean_truth) > out["nmi"]
    with pytest.raises(ValueError, match="both"):
        agreement_with_single_repeats(BLOCKS, labels, est_aff)
    with pytest.raises(ValueError, match="two repeats"):
        agreement_with_single_repeats(BLOCKS, labels[:1])


def test_split_half_uses_means_of_equal_halves():
    affs = noisy_repeats(4, noise=1.0, seed=1)
    calls = []

    def truth_of(idx):
        calls.append(idx)
        mean = np.mean([affs[i] for i in idx], axis=0)
        return attach(mean), mean

    est_aff = (BLOCKS[:, None] == BLOCKS[None, :]).astype(float)
    out = split_half_agreement(BLOCKS, 4, truth_of, est_aff)
    assert sorted(calls) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]      # each half once
    assert out["half"] == 2 and out["splits"] == 3 and out["footing"] == "means of 2 repeats"
    halves = {idx: truth_of(idx) for idx in calls[:6]}
    assert out["nmi"] == pytest.approx(np.mean([nmi(BLOCKS, lab) for lab, _ in halves.values()]))
    splits = [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]
    assert out["ceiling_nmi"] == pytest.approx(np.mean([nmi(halves[a][0], halves[b][0]) for a, b in splits]))
    assert out["ceiling_affinity_corr"] == pytest.approx(
        np.mean([offdiag_corr(halves[a][1], halves[b][1]) for a, b in splits]))


def test_split_half_of_three_repeats_is_single_repeats():
    affs = noisy_repeats(3, noise=1.5, seed=2)
    labels = [attach(a) for a in affs]
    est = attach(affs[0] + affs[1])
    single = agreement_with_single_repeats(est, labels)
    half = split_half_agreement(est, 3, lambda idx: (labels[idx[0]], None))
    assert half["footing"] == "means of 1 repeat" and half["splits"] == 3
    assert half["nmi"] == pytest.approx(single["nmi"])
    assert half["ceiling_nmi"] == pytest.approx(single["ceiling_nmi"])
    assert "affinity_corr" not in half
    with pytest.raises(ValueError, match="repeats"):
        split_half_agreement(est, 1, lambda idx: (labels[0], None))
