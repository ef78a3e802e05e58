"""The λ sweep: its maths (gradient cosine, within/across affinity), validation, the rule, a smoke run."""
import numpy as np
import pytest
import torch

from pgxlib.config import ConfigError
from pgxlib.estimate.features import GradFeatures
from pgxlib.experiments import lambda_sweep as sweep
from pgxlib.experiments import run_experiment


def test_summed_gradient_cosine_by_hand():
    G = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    y, w = torch.tensor([1.0, -1.0, 1.0, 1.0]), torch.tensor([1.0, 2.0, 1.0, 0.5])
    f = GradFeatures(G=G, y=y, w=w, adv=w * y, task_id=torch.tensor([0, 0, 1, 1]),
                     heldout=torch.tensor([False, False, False, True]), proj_dim=2, n_params=2)
    members = torch.tensor([[True, False], [True, True]])
    W = torch.tensor([[1.0, -2.0], [0.0, 1.0]])
    # subset 0: Σ w y g over tasks {0} = (1, 0) − 2 (0, 1) = (1, −2), parallel to W[0]
    # subset 1: adds task 1's training row (1, 1): (2, −1); cos with (0, 1) = −1/√5
    np.testing.assert_allclose(sweep.summed_gradient_cosine(f, members, W), [1.0, -1 / 5 ** 0.5], rtol=1e-12)


def test_within_across():
    U = np.array([[0, 2, -1], [2, 0, -3], [-1, -3, 0]], dtype=float)
    assert sweep.within_across(U, np.array([0, 0, 1])) == (2.0, -2.0)


@pytest.mark.parametrize("bad", [[], [0.1, 0.1], [0.0], [True], "0.1", [float("nan")], list(np.logspace(-3, 1, 13))])
def test_grid_refuses_bad_values(bad):
    with pytest.raises(ConfigError, match="l2s"):
        sweep.grid(bad)


@pytest.mark.slow
def test_smoke_sweep_on_planted_follows_its_rule(store):
    res = run_experiment("lambda_sweep", "smoke", "planted", l2s=[0.001, 1.0])
    m = res.metrics
    assert set(m["by_l2"]) == {"0.001", "1"} and res.arrays["raw_steps"].shape[0] == 2
    raw = {lam: m["by_l2"][f"{lam:g}"]["raw_step_median"] for lam in m["l2s"]}
    assert raw[1.0] < raw[0.001], "more regularisation, shorter raw steps"
    within = [lam for lam in m["l2s"] if raw[lam] <= sweep.STEP_TARGET]
    assert m["rule"]["chosen"] == (min(within) if within else None)
    assert 0.0 <= m["by_l2"]["1"]["planted_nmi"] <= 1.0
    assert m["by_l2"]["1"]["other_normalization"]["name"] == "subset_zscore"
