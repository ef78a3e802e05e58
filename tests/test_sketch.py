"""The structured sketch (`projection="sketch"`) and the dense projector's block cache.

Golden identities against explicit per-sample gradients: the features from hooks (activations × output
gradients) equal `SketchProjector.project` of the per-sample gradients, ``project(G) @ w == G @ lift(w)``,
`lift_norms` is ‖lift(w)‖, and the sketch is an unbiased inner-product estimate.
"""
import gymnasium as gym
import numpy as np
import pytest
import torch

import pgxlib.estimate.projector as projector_mod
import pgxlib.estimate.features as features
from pgxlib.config import ConfigError, FeatureConfig, NetConfig
from pgxlib.profiles import pipeline_config
from pgxlib.estimate.features import compute_features, linear_layers, make_projector, per_sample_grads, sketch_features
from pgxlib.estimate.projector import Projector, SketchProjector
from pgxlib.nets import ActorCritic, actor_params
from tests.test_features import make_batch, synthetic_rollout

ARCHS = [("mlp", True), ("mlp", False), ("soft_modularization", False), ("paco", True)]


def make_actor(arch: str, discrete: bool, seed: int = 0):
    torch.manual_seed(seed)
    obs_space = gym.spaces.Box(-1.0, 1.0, (5,), dtype=np.float32)
    act_space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    actor = ActorCritic(obs_space, act_space, 3, NetConfig(depth=3, width=8, arch=arch, n_modules=2)).actor
    with torch.no_grad():  # away from the init (zero biases, tiny head) so that every term is exercised
        for prm in actor.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    return actor


def test_single_layer_formula():
    """Feature k = Σ_oi g_oi P_ik Q_ok + Σ_o g_o P_bk Q_ok, written out with loops on a 3×2 layer."""
    proj = SketchProjector({"w": (3, 2), "b": (3,)}, [("w", "b")], d=4, seed=5)
    P, Q = proj.layer_mats(0)
    assert P.shape == (3, 4) and Q.shape == (3, 4)
    g = torch.randn(2, 9)
    out = proj.project(g)
    for n in range(2):
        gw, gb = g[n, :6].reshape(3, 2), g[n, 6:]
        for k in range(4):
            ref = sum(gw[o, i] * P[i, k] * Q[o, k] for o in range(3) for i in range(2))
            ref = ref + sum(gb[o] * P[2, k] * Q[o, k] for o in range(3))
            assert abs(out[n, k] - ref) < 1e-5
    a, delta = torch.randn(5, 2), torch.randn(5, 3)
    G = torch.cat([(delta[:, :, None] * a[:, None, :]).reshape(5, 6), delta], dim=1)   # δ aᵀ, δ
    torch.testing.assert_close(proj.project_layer(0, a, delta), proj.project(G), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch,discrete", ARCHS)
def test_hooks_match_explicit_per_sample_gradients(arch, discrete):
    actor = make_actor(arch, discrete)
    params = actor_params(actor)
    proj = make_projector(actor, 16, seed=3, projection="sketch")
    assert proj.p == sum(v.numel() for v in params.values())
    assert len(proj.slots) == len(linear_layers(actor)) and (len(proj.slots) > 0) == (arch != "paco")
    obs, task_id, actions = make_batch(actor, 9)
    G = per_sample_grads(actor, params, obs, task_id, actions)
    torch.testing.assert_close(sketch_features(actor, params, proj, obs, task_id, actions), proj.project(G),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch,discrete", ARCHS)
def test_project_lift_adjoint_and_norms(arch, discrete):
    actor = make_actor(arch, discrete)
    proj = make_projector(actor, 12, seed=1, projection="sketch")
    G, W = torch.randn(6, proj.p, dtype=torch.float64), torch.randn(4, 12, dtype=torch.float64)
    lifted = proj.lift(W)
    assert lifted.shape == (4, proj.p)
    torch.testing.assert_close(proj.project(G) @ W.T, G @ lifted.T, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(proj.lift(W[0]), lifted[0])
    torch.testing.assert_close(proj.lift_norms(W), lifted.norm(dim=1), rtol=1e-10, atol=1e-10)


def test_sketch_is_seeded_and_unbiased():
    shapes, linears = {"w1": (4, 3), "b1": (4,), "w2": (2, 4), "s": (2,)}, [("w1", "b1"), ("w2", None)]
    g = torch.randn(2, 26, dtype=torch.float64)
    a = SketchProjector(shapes, linears, 8, seed=2).project(g)
    assert torch.equal(a, SketchProjector(shapes, linears, 8, seed=2).project(g))
    assert not torch.allclose(a, SketchProjector(shapes, linears, 8, seed=3).project(g))
    inner = torch.stack([(lambda f: f[0] @ f[1])(SketchProjector(shapes, linears, 50, seed=s).project(g))
                         for s in range(400)])
    exact = g[0] @ g[1]
    assert abs(inner.mean() - exact) < 4 * inner.std() / 20          # mean of 400 draws: 4 standard errors
    sq = torch.stack([SketchProjector(shapes, linears, 50, seed=s).project(g[:1]).square().sum() for s in range(400)])
    assert abs(sq.mean() - g[0].square().sum()) < 4 * sq.std() / 20


def test_sketch_keeps_inner_products():
    """Gram matrix of 64 per-sample gradients of an MLP actor: correlation with the exact one."""
    actor = make_actor("mlp", False)
    params = actor_params(actor)
    obs, task_id, actions = make_batch(actor, 64)
    G = per_sample_grads(actor, params, obs, task_id, actions).double()
    exact = (G @ G.T).flatten()
    for projection in ("sketch", "gaussian"):
        F = make_projector(actor, 1000, seed=0, projection=projection).project(G)
        assert np.corrcoef(exact, (F @ F.T).flatten())[0, 1] > 0.95


@pytest.mark.parametrize("discrete", [True, False])
def test_compute_features_with_sketch(discrete, monkeypatch):
    actor, ro = synthetic_rollout(discrete=discrete)
    proj = make_projector(actor, 24, seed=0, projection="sketch")
    feats = compute_features(actor, ro, proj, chunk_size=16, progress=False)
    ref = proj.project(per_sample_grads(actor, actor_params(actor), ro.obs, ro.task_id, ro.actions))
    torch.testing.assert_close(feats.G, ref, rtol=1e-4, atol=1e-5)
    monkeypatch.setattr(features, "SKETCH_CHUNK_ROWS", 7)           # many small chunks: the same features
    torch.testing.assert_close(compute_features(actor, ro, proj, chunk_size=5, progress=False).G, feats.G,
                               rtol=1e-5, atol=1e-6)
    bad = ro.select(torch.arange(len(ro)))
    bad.obs[5, 0] = float("inf")
    with pytest.raises(ValueError, match="gradients"):
        compute_features(actor, bad, proj, progress=False)
    actor.requires_grad_(False)                                      # a frozen actor: same features, left frozen
    torch.testing.assert_close(compute_features(actor, ro, proj, chunk_size=16, progress=False).G, feats.G)
    assert not any(prm.requires_grad for prm in actor.parameters())


def test_projection_choice_is_validated():
    assert FeatureConfig().projection == "gaussian"
    assert pipeline_config("smoke", "cartpole", projection="sketch").features.projection == "sketch"
    with pytest.raises(ConfigError, match=r"^invalid projection='dense': allowed one of gaussian, sketch$"):
        FeatureConfig(projection="dense")
    with pytest.raises(ValueError, match="projection"):
        make_projector(make_actor("mlp", True), 8, 0, projection="kron")


def test_dense_cache_is_bit_identical_and_generates_once(monkeypatch):
    calls = []
    tile = projector_mod.projection_tile
    monkeypatch.setattr(projector_mod, "projection_tile", lambda *a: calls.append(a) or tile(*a))
    proj = Projector(5000, 16, seed=2, block_rows=2048)
    G = torch.randn(7, 5000)
    plain = [proj.project(G[i:i + 3]) for i in range(0, 7, 3)]
    n_plain = len(calls)
    calls.clear()
    with proj.cached():
        cached = [proj.project(G[i:i + 3]) for i in range(0, 7, 3)]
        lifted = proj.lift(torch.ones(16))
    assert len(calls) == n_plain // 3 and proj._cache is None           # one pass over the tiles instead of three
    assert all(torch.equal(a, b) for a, b in zip(plain, cached))
    assert torch.equal(lifted, proj.lift(torch.ones(16)))
    calls.clear()
    with proj.cached(budget_bytes=1000):                                  # P does not fit: regenerated per call
        [proj.project(G[i:i + 3]) for i in range(0, 7, 3)]
    assert len(calls) == n_plain
