"""Gradient features: per-sample gradients, the seeded JL projector, and `compute_features`."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgxlib.config import NetConfig
from pgxlib.estimate.features import (GradFeatures, compute_features, hooked_per_sample_grads, linear_signals,
                                      per_sample_grads)
from pgxlib.estimate.projector import TILE_ROWS, Projector, tile_seed
from pgxlib.nets import ActorCritic, actor_log_prob, actor_params, flat_params, unflatten_like
from pgxlib.transitions import Rollout

OBS_DIM, N_TASKS = 5, 3


def make_actor(discrete: bool, seed: int = 0, arch: str = "mlp"):
    torch.manual_seed(seed)
    obs_space = gym.spaces.Box(-1.0, 1.0, (OBS_DIM,), dtype=np.float32)
    act_space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    return ActorCritic(obs_space, act_space, N_TASKS, NetConfig(depth=2, width=16, arch=arch, n_modules=3)).actor


def make_batch(actor, B: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(B, OBS_DIM, generator=gen)
    task_id = torch.randint(0, N_TASKS, (B,), generator=gen)
    if actor.discrete:
        actions = torch.randint(0, actor.action_dim, (B,), generator=gen)
    else:
        actions = torch.randn(B, actor.action_dim, generator=gen)
    return obs, task_id, actions


EVERY_ACTOR = [(True, "mlp"), (False, "mlp"), (False, "care"), (False, "soft_modularization"), (False, "paco")]
"""(discrete, arch) of one actor of every architecture in `pgxlib.nets`."""


@pytest.mark.parametrize("discrete, arch", EVERY_ACTOR)
def test_per_sample_grads_match_autograd_loop(discrete, arch):
    actor = make_actor(discrete, arch=arch)
    params = actor_params(actor)
    obs, task_id, actions = make_batch(actor, 7)
    G = per_sample_grads(actor, params, obs, task_id, actions)
    p = sum(v.numel() for v in params.values())
    assert G.shape == (7, p)
    for b in range(7):
        leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        logp = actor_log_prob(actor, leaves, obs[b:b + 1], task_id[b:b + 1], actions[b:b + 1])[0]
        ref = flat_params(dict(zip(leaves, torch.autograd.grad(logp, list(leaves.values())))))
        torch.testing.assert_close(G[b], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("discrete, arch", EVERY_ACTOR)
def test_hooked_per_sample_grads_equal_vmap(discrete, arch):
    """One batched backward with hooks gives the per-sample gradients of `vmap(grad)`, every architecture."""
    actor = make_actor(discrete, arch=arch)
    params = actor_params(actor)
    obs, task_id, actions = make_batch(actor, 9)
    torch.testing.assert_close(hooked_per_sample_grads(actor, params, obs, task_id, actions),
                               per_sample_grads(actor, params, obs, task_id, actions), rtol=1e-5, atol=1e-6)


def test_linear_signals_give_the_log_std_per_sample_gradient_and_leave_the_actor_as_it_was():
    actor = make_actor(False)
    actor.log_std.requires_grad_(False)
    obs, task_id, actions = make_batch(actor, 6)
    signals, grads = linear_signals(actor, obs, task_id, actions, ["log_std"])
    ref = per_sample_grads(actor, actor_params(actor), obs, task_id, actions, only=["log_std"])
    torch.testing.assert_close(grads["log_std"], ref, rtol=1e-5, atol=1e-6)
    assert [name for name, _, _ in signals] == ["body.net.0", "body.net.2", "body.net.4"]
    assert all(a.shape[0] == 6 and delta.shape[0] == 6 for _, a, delta in signals)
    assert not actor.log_std.requires_grad and all(m._forward_hooks == {} for m in actor.modules())
    with pytest.raises(ValueError, match="broadcast"):
        linear_signals(actor, obs, task_id, actions, ["body.net.0.weight"])


def test_projector_validates_sizes():
    for kw in ({"p": 0, "d": 4}, {"p": 10, "d": 0}, {"p": -3, "d": 4}, {"p": 10, "d": 4, "block_rows": 0}):
        with pytest.raises(ValueError):
            Projector(**kw)


def test_projector_deterministic_and_seeded():
    G = torch.randn(4, 3000)
    a = Projector(3000, 16, seed=1).project(G)
    b = Projector(3000, 16, seed=1).project(G)
    c = Projector(3000, 16, seed=2).project(G)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_project_lift_adjoint():
    proj = Projector(2500, 12, seed=3, block_rows=1024)
    G = torch.randn(5, 2500, dtype=torch.float64)
    w = torch.randn(12, dtype=torch.float64)
    W = torch.randn(4, 12, dtype=torch.float64)
    torch.testing.assert_close(proj.project(G) @ w, G @ proj.lift(w))
    torch.testing.assert_close(proj.project(G) @ W.T, G @ proj.lift(W).T)
    torch.testing.assert_close(proj.lift_norms(W), proj.lift(W).norm(dim=1))


def test_block_size_does_not_change_P():
    eye = torch.eye(8)
    P_small = Projector(5000, 8, seed=4, block_rows=1024).lift(eye)
    P_odd = Projector(5000, 8, seed=4, block_rows=1500).lift(eye)
    P_large = Projector(5000, 8, seed=4, block_rows=16384).lift(eye)
    torch.testing.assert_close(P_small, P_large, rtol=0, atol=0)
    torch.testing.assert_close(P_odd, P_large, rtol=0, atol=0)
    G = torch.randn(3, 5000)
    torch.testing.assert_close(Projector(5000, 8, seed=4, block_rows=1024).project(G),
                               Projector(5000, 8, seed=4, block_rows=8192).project(G), rtol=1e-5, atol=1e-5)


def test_jl_preserves_norms_and_inner_products():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(6, 5000, generator=gen, dtype=torch.float64)
    Y = Projector(5000, 400, seed=0).project(X)
    norm_err = (Y.norm(dim=1) / X.norm(dim=1) - 1).abs()
    assert norm_err.max() < 0.25 and norm_err.mean() < 0.1
    nx = X.norm(dim=1)
    ip_err = ((Y @ Y.T - X @ X.T) / (nx[:, None] * nx[None, :])).abs()
    off = ~torch.eye(6, dtype=torch.bool)
    assert ip_err[off].max() < 0.25 and ip_err[off].mean() < 0.1


def test_projection_golden_values():
    """P regenerated here from the documented rule: tile t = randn(TILE_ROWS, d) / sqrt(d) from a CPU
    generator seeded with SeedSequence([seed, t]).generate_state(1, uint32)[0]; rows cut to p."""
    p, d, seed = 2 * TILE_ROWS + 300, 3, 11
    tiles = []
    for t in range(3):
        s = int(np.random.SeedSequence([seed, t]).generate_state(1, dtype=np.uint32)[0])
        assert s == tile_seed(seed, t)
        tiles.append(torch.randn(TILE_ROWS, d, generator=torch.Generator().manual_seed(s)) / math.sqrt(d))
    P = torch.cat(tiles)[:p].double()
    G = torch.randn(2, p, dtype=torch.float64)
    proj = Projector(p, d, seed=seed, block_rows=TILE_ROWS)
    torch.testing.assert_close(proj.project(G), G @ P)
    torch.testing.assert_close(proj.lift(torch.eye(d, dtype=torch.float64)).T, P)
    # literal values (torch 2.13 CPU generator)
    expected = torch.tensor([[0.18194653, 0.88607645], [-0.80948281, -1.64721620], [0.62905699, -0.95770782]])
    torch.testing.assert_close(Projector(3, 2, seed=7).lift(torch.eye(2)).T, expected, rtol=0, atol=1e-6)


def test_first_order_expansion():
    actor = make_actor(discrete=False, seed=1)
    params = actor_params(actor)
    obs, task_id, actions = make_batch(actor, 64, seed=2)
    G = per_sample_grads(actor, params, obs, task_id, actions)
    theta = flat_params(params)
    direction = G.mean(0)
    delta = 1e-3 * theta.norm() * direction / direction.norm()
    new = unflatten_like(theta + delta, params)
    actual = actor_log_prob(actor, new, obs, task_id, actions) - actor_log_prob(actor, params, obs, task_id, actions)
    estimate = G @ delta
    assert ((actual - estimate).norm() / actual.norm()) < 1e-2


def synthetic_rollout(counts=(40, 30, 50), discrete=True, seed=0):
    actor = make_actor(discrete, seed)
    N = sum(counts)
    obs, _, actions = make_batch(actor, N, seed)
    task_id = torch.cat([torch.full((c,), i, dtype=torch.int64) for i, c in enumerate(counts)])
    gen = torch.Generator().manual_seed(seed + 1)
    adv = torch.randn(N, generator=gen) * (1.0 + 3.0 * task_id) + task_id
    zeros = torch.zeros(N)
    return actor, Rollout(obs=obs, actions=actions, logp=zeros, values=zeros, advantages=adv, returns=adv,
                          task_id=task_id)


def test_compute_features_end_to_end():
    counts = (40, 30, 50)
    actor, ro = synthetic_rollout(counts)
    p = sum(v.numel() for v in actor.parameters())
    proj = Projector(p, 24, seed=0)
    feats = compute_features(actor, ro, proj, chunk_size=16, heldout_frac=0.25, seed=3, progress=False)
    assert isinstance(feats, GradFeatures)
    N = sum(counts)
    assert feats.G.shape == (N, 24) and feats.proj_dim == 24 and feats.n_params == p and len(feats) == N
    for f in (feats.y, feats.w, feats.adv, feats.task_id, feats.heldout):
        assert f.shape == (N,)
    assert feats.task_id.dtype == torch.int64 and feats.heldout.dtype == torch.bool
    ref = proj.project(per_sample_grads(actor, actor_params(actor), ro.obs, ro.task_id, ro.actions))
    torch.testing.assert_close(feats.G, ref, rtol=1e-4, atol=1e-5)
    for i, c in enumerate(counts):
        sel = feats.task_id == i
        a = feats.adv[sel]
        assert abs(a.mean().item()) < 1e-5 and abs(a.std(correction=0).item() - 1) < 1e-4
        assert int(feats.heldout[sel].sum()) == round(0.25 * c)
    assert set(feats.y.unique().tolist()) <= {-1.0, 1.0}
    torch.testing.assert_close(feats.y, torch.where(feats.adv >= 0, 1.0, -1.0))
    torch.testing.assert_close(feats.w, feats.adv.abs())
    again = compute_features(actor, ro, proj, chunk_size=50, heldout_frac=0.25, seed=3, progress=False)
    assert torch.equal(again.heldout, feats.heldout)
    other = compute_features(actor, ro, proj, chunk_size=50, heldout_frac=0.25, seed=4, progress=False)
    assert not torch.equal(other.heldout, feats.heldout)


def test_zero_advantage_counts_as_positive():
    actor, ro = synthetic_rollout((10, 10))
    ro.advantages[:10] = 2.0  # constant task: standardised advantage 0
    p = sum(v.numel() for v in actor.parameters())
    feats = compute_features(actor, ro, Projector(p, 8), progress=False)
    assert torch.all(feats.adv[:10] == 0) and torch.all(feats.y[:10] == 1) and torch.all(feats.w[:10] == 0)


def test_compute_features_rejects_bad_input():
    actor, ro = synthetic_rollout((10, 10))
    p = sum(v.numel() for v in actor.parameters())
    proj = Projector(p, 8)
    bad = ro.select(torch.arange(len(ro)))
    bad.advantages[3] = float("nan")
    with pytest.raises(ValueError, match="advantages"):
        compute_features(actor, bad, proj, progress=False)
    bad = ro.select(torch.arange(len(ro)))
    bad.obs[5, 0] = float("inf")
    with pytest.raises(ValueError, match="gradients"):
        compute_features(actor, bad, proj, progress=False)
    with pytest.raises(ValueError, match="projector"):
        compute_features(actor, ro, Projector(p + 1, 8), progress=False)
