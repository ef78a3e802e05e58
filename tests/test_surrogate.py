"""The subset surrogate: weighted logistic regression (checked against scikit-learn), the rescale rule, scores."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from pgxlib.config import SurrogateConfig
from pgxlib.estimate.features import GradFeatures
from pgxlib.estimate.projector import Projector
from pgxlib.estimate.surrogate import (
    SurrogateFit,
    first_order_logp_change,
    fit_logistic,
    fit_subsets,
    heldout_logistic_scores,
    surrogate_fit,
)

N_TASKS, D, P = 4, 10, 600


def synthetic_features(n_per_task=150, seed=0) -> GradFeatures:
    """Tasks with their own feature means and their own true coefficients; labels are noisy signs."""
    gen = torch.Generator().manual_seed(seed)
    task_id = torch.arange(N_TASKS).repeat_interleave(n_per_task)
    N = task_id.numel()
    G = torch.randn(N, D, generator=gen) + 0.5 * torch.randn(N_TASKS, D, generator=gen)[task_id]
    w_true = torch.randn(N_TASKS, D, generator=gen)[task_id]
    adv = (G * w_true).sum(1) / D**0.5 + torch.randn(N, generator=gen)
    adv = (adv - adv.mean()) / adv.std()
    heldout = torch.rand(N, generator=gen) < 0.25
    return GradFeatures(G=G, y=torch.where(adv >= 0, 1.0, -1.0), w=adv.abs(), adv=adv, task_id=task_id,
                        heldout=heldout, proj_dim=D, n_params=P)


def sklearn_fit(G, y, w, l2):
    clf = LogisticRegression(fit_intercept=False, C=1.0 / l2, tol=1e-12, max_iter=100_000)
    clf.fit(G.double().numpy(), y.numpy(), sample_weight=w.double().numpy())
    return torch.tensor(clf.coef_[0], dtype=torch.float32)


MEMBERS = np.array([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 0, 1], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=bool)


@pytest.mark.parametrize("l2", [1.0, 0.05])
def test_fit_logistic_matches_sklearn(l2):
    f = synthetic_features()
    w = fit_logistic(f.G, f.y, f.w, l2, max_iter=100)
    torch.testing.assert_close(w, sklearn_fit(f.G, f.y, f.w, l2), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("l2", [1.0, 0.05])
def test_fit_subsets_matches_sklearn_per_subset(l2):
    """The subset loss is a mean over its N_S training transitions: the same minimiser as the sum with
    sample weights w_t / N_S (sklearn's C = 1/λ multiplies a sum)."""
    f = synthetic_features()
    W = fit_subsets(f, MEMBERS, l2, max_iter=100)
    assert W.shape == (len(MEMBERS), D)
    for l, row in enumerate(MEMBERS):
        sel = torch.as_tensor(row)[f.task_id] & ~f.heldout
        weight = f.w[sel] / int(sel.sum())
        ref = sklearn_fit(f.G[sel], f.y[sel], weight, l2)
        torch.testing.assert_close(W[l], ref, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(W[l], fit_logistic(f.G[sel], f.y[sel], weight, l2), rtol=1e-4, atol=1e-5)


def test_lambda_means_the_same_whatever_the_amount_of_data():
    """Repeating every transition twice leaves the fit unchanged: λ is not diluted by the data's size."""
    f = synthetic_features()
    doubled = GradFeatures(**{k: torch.cat([v, v]) if torch.is_tensor(v) else v for k, v in vars(f).items()})
    torch.testing.assert_close(fit_subsets(doubled, MEMBERS, 0.5), fit_subsets(f, MEMBERS, 0.5), rtol=1e-5,
                               atol=1e-6)


def test_fit_subsets_accepts_tensor_members_and_rejects_bad_input():
    f = synthetic_features(n_per_task=40)
    W_np = fit_subsets(f, MEMBERS, 1.0)
    W_t = fit_subsets(f, torch.as_tensor(MEMBERS), 1.0)
    torch.testing.assert_close(W_np, W_t)
    with pytest.raises(ValueError, match="l2"):
        fit_subsets(f, MEMBERS, 0.0)
    with pytest.raises(ValueError, match="members"):
        fit_subsets(f, MEMBERS[:, :2], 1.0)


def test_rescale_rule():
    f = synthetic_features()
    proj = Projector(P, D, seed=0)
    theta_norm = 3.0
    loose = surrogate_fit(f, MEMBERS, proj, theta_norm, SurrogateConfig(l2=0.5, max_rel_dist=1e6))
    assert torch.all(loose.scale == 1)
    torch.testing.assert_close(loose.rel_dist, loose.rel_dist_raw)
    torch.testing.assert_close(loose.rel_dist_raw, proj.lift(loose.W).norm(dim=1) / theta_norm)

    cap = float(loose.rel_dist_raw.median())
    fit = surrogate_fit(f, MEMBERS, proj, theta_norm, SurrogateConfig(l2=0.5, max_rel_dist=cap))
    assert isinstance(fit, SurrogateFit)
    assert fit.W.shape == (len(MEMBERS), D) and fit.scale.shape == (len(MEMBERS),)
    assert torch.all(fit.rel_dist <= cap * (1 + 1e-5))
    inside = fit.rel_dist_raw <= cap
    assert inside.any() and (~inside).any()
    assert torch.all(fit.scale[inside] == 1)
    assert torch.all(fit.scale[~inside] < 1)
    torch.testing.assert_close(fit.rel_dist[~inside], torch.full_like(fit.rel_dist[~inside], cap))
    for l in range(len(MEMBERS)):
        delta = fit.delta(l, proj)
        assert delta.shape == (P,)
        torch.testing.assert_close(delta.norm() / theta_norm, fit.rel_dist[l], rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="projector"):
        surrogate_fit(f, MEMBERS, Projector(P + 1, D), theta_norm, SurrogateConfig())


def test_heldout_logistic_scores():
    f = synthetic_features()
    proj = Projector(P, D, seed=0)
    fit = surrogate_fit(f, MEMBERS, proj, 1.0, SurrogateConfig(l2=1.0, max_rel_dist=0.5))
    scores = heldout_logistic_scores(f, fit)
    assert scores.shape == (len(MEMBERS), N_TASKS)
    assert torch.equal(torch.isnan(scores), ~torch.as_tensor(MEMBERS))
    l, i = 1, 2
    sel = f.heldout & (f.task_id == i)
    margin = f.G[sel] @ (fit.scale[l] * fit.W[l])
    loss = torch.nn.functional.softplus(-f.y[sel] * margin)
    expected = -(f.w[sel] * loss).sum() / f.w[sel].sum()
    torch.testing.assert_close(scores[l, i], expected, rtol=1e-5, atol=1e-6)
    # the fitted step beats no step on its own tasks' held-out data (log 2 is the loss at w = 0)
    assert torch.nanmean(scores) > -np.log(2)


def test_first_order_logp_change():
    f = synthetic_features(n_per_task=10)
    w = torch.randn(D)
    W = torch.randn(3, D)
    torch.testing.assert_close(first_order_logp_change(f, w), f.G @ w)
    torch.testing.assert_close(first_order_logp_change(f.G, W), f.G @ W.T)


def test_fit_subsets_in_blocks_gives_the_same_solutions():
    """Solving the subsets two at a time (a preconditioner budget of two d×d factors) changes nothing but
    rounding: the problems are separable and each keeps its own iterates."""
    from pgxlib.estimate.surrogate import subset_block_size

    f = synthetic_features()
    assert subset_block_size(D, 8 * D * D * 2) == 2 and subset_block_size(D, 1) == 1
    whole = fit_subsets(f, MEMBERS, 0.3).double()
    blocks = fit_subsets(f, MEMBERS, 0.3, budget_bytes=8 * D * D * 2).double()
    torch.testing.assert_close(blocks, whole, rtol=1e-6, atol=1e-9)
    alone = torch.cat([fit_subsets(f, MEMBERS[l:l + 1], 0.3) for l in range(len(MEMBERS))]).double()
    torch.testing.assert_close(alone, whole, rtol=1e-6, atol=1e-9)
