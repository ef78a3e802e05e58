"""First-order MAML maths, the Soft Modularization and PaCo networks, and the meta-RL target protocol."""
import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.func import functional_call

from pgxlib.cluster import groups_from_labels
from pgxlib.config import ConfigError, NetConfig
from pgxlib.profiles import pipeline_config
from pgxlib.metarl import assign_targets, evaluate_targets, meta_train_groups
from pgxlib.nets import ActorCritic, actor_params
from pgxlib.nets import new_policy
from pgxlib.rl.maml import (
    AdaptedActors,
    per_position,
    pg_inner_step,
    stack_params,
    stacked_log_prob,
    standardise,
    train_maml,
)
from pgxlib.tasks import make_family

OBS = gym.spaces.Box(-1.0, 1.0, shape=(3,))
DISCRETE = gym.spaces.Discrete(2)
CONT = gym.spaces.Box(-1.0, 1.0, shape=(2,))


def _policy(arch="mlp", action_space=DISCRETE, depth=2):
    torch.manual_seed(0)
    return ActorCritic(OBS, action_space, 3, NetConfig(depth=depth, width=8, arch=arch, n_modules=3))


@pytest.mark.parametrize("arch", ["mlp", "soft_modularization", "paco", "care"])
@pytest.mark.parametrize("action_space", [DISCRETE, CONT])
def test_stacked_log_prob_matches_each_actor(arch, action_space):
    pol = _policy(arch, action_space)
    params = stack_params(actor_params(pol.actor), 2)
    params = {k: v + 0.05 * torch.randn_like(v) * torch.tensor([0.0, 1.0]).view(-1, *[1] * (v.dim() - 1))
              for k, v in params.items()}
    obs, tid = torch.randn(2, 5, 3), torch.randint(0, 3, (2, 5))
    actions = torch.randint(0, 2, (2, 5)) if action_space is DISCRETE else torch.randn(2, 5, 2)
    stacked = stacked_log_prob(pol.actor, params, obs, tid, actions)
    for p in range(2):
        actor = copy.deepcopy(pol.actor)
        with torch.no_grad():
            for name, param in actor.named_parameters():
                param.copy_(params[name][p])
        torch.testing.assert_close(stacked[p], actor.log_prob(obs[p], tid[p], actions[p]))


def test_pg_inner_step_is_one_gradient_step_per_position():
    pol = _policy()
    theta = actor_params(pol.actor)
    params = stack_params(theta, 2)
    obs, tid = torch.randn(2, 6, 3), torch.zeros(2, 6, dtype=torch.long)
    actions, adv = torch.randint(0, 2, (2, 6)), torch.randn(2, 6)
    new = pg_inner_step(pol.actor, params, obs, tid, actions, adv, lr=0.1, max_norm=1e9)
    for p in range(2):
        leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
        logp = functional_call(pol.actor, leaves, (obs[p], tid[p]))
        logp = torch.log_softmax(logp, -1).gather(1, actions[p][:, None]).squeeze(1)
        a = adv[p]
        loss = -(((a - a.mean()) / (a.std() + 1e-8)) * logp).mean()
        grads = torch.autograd.grad(loss, list(leaves.values()))
        for (k, v), g in zip(theta.items(), grads):
            torch.testing.assert_close(new[k][p], v - 0.1 * g)


def test_pg_inner_step_clips_each_position_to_max_norm():
    pol = _policy()
    params = stack_params(actor_params(pol.actor), 3)
    obs, tid = torch.randn(3, 16, 3), torch.zeros(3, 16, dtype=torch.long)
    new = pg_inner_step(pol.actor, params, obs, tid, torch.randint(0, 2, (3, 16)), torch.randn(3, 16), lr=1.0,
                        max_norm=1e-3)
    step = torch.stack([torch.cat([(new[k][p] - params[k][p]).reshape(-1) for k in params]).norm() for p in range(3)])
    assert torch.all(step <= 1e-3 + 1e-7) and torch.all(step > 0)


def test_per_position_and_standardise():
    x = torch.arange(2 * 6).reshape(2, 6)  # T=2, P=3 positions of E=2 envs
    out = per_position(x, 3)
    assert out.tolist() == [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]]
    s = standardise(torch.tensor([[1.0, 2.0, 3.0], [10.0, 10.0, 13.0]]))
    torch.testing.assert_close(s.mean(1), torch.zeros(2))
    torch.testing.assert_close(s.std(1), torch.ones(2), atol=1e-6, rtol=1e-6)


def test_adapted_actors_act_with_each_positions_parameters():
    pol = _policy()
    theta = actor_params(pol.actor)
    params = stack_params(theta, 2)
    params = {k: v * torch.tensor([1.0, 0.0]).view(-1, *[1] * (v.dim() - 1)) for k, v in params.items()}
    acting = AdaptedActors(pol.actor, params, pol.critic)
    obs, tid = torch.randn(6, 3), torch.zeros(6, dtype=torch.long)
    action, logp, value = acting.act(obs, tid, deterministic=True)
    assert action.shape == (6,) and logp.shape == (6,) and value.shape == (6,)
    torch.testing.assert_close(logp[3:], torch.full((3,), float(np.log(0.5))))  # zero actor: uniform
    torch.testing.assert_close(logp[:3], pol.actor.log_prob(obs[:3], tid[:3], action[:3]))


def test_paco_is_a_task_weighted_sum_of_parameter_sets():
    pol = _policy("paco", depth=1)
    body = pol.actor.body
    with torch.no_grad():
        body.composition.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]]))
    x, tid = torch.randn(4, 6), torch.tensor([0, 1, 1, 2])
    out = body(x, tid)
    for b in range(4):
        w = body.composition[tid[b]]
        h = x[b]
        for i, (W, B) in enumerate(zip(body.weights, body.biases)):
            h = h @ torch.einsum("k,kio->io", w, W) + w @ B
            if i < len(body.weights) - 1:
                h = torch.tanh(h)
        torch.testing.assert_close(out[b], h)


def test_soft_modularization_routes_are_distributions_and_depend_on_task():
    pol = _policy("soft_modularization", depth=3)
    body = pol.actor.body
    x = torch.randn(4, 6)
    out0, out1 = body(x, torch.zeros(4, dtype=torch.long)), body(x, torch.ones(4, dtype=torch.long))
    assert out0.shape == (4, 2) and not torch.allclose(out0, out1)
    assert len(body.route_logits) == 2 and body.module_w[0].shape == (3, 8, 8)
    with pytest.raises(ConfigError, match="n_modules"):
        NetConfig(n_modules=0)


def test_care_mixes_encoders_by_task_attention():
    pol = _policy("care", depth=2)
    body = pol.actor.body
    x, tid = torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1])
    out = body(x, tid)
    assert out.shape == (5, 2) and body.enc_w.shape == (3, 6, 8)
    c, alpha = body.context_and_weights(tid, x.dtype)
    assert c.shape == (5, 8) and alpha.shape == (5, 3)
    torch.testing.assert_close(alpha.sum(1), torch.ones(5))
    torch.testing.assert_close(alpha[0], alpha[3])  # the attention depends on the task only
    with torch.no_grad():  # by hand: Σ_k α_k tanh(x W_k + b_k), then the trunk on [mix, context]
        h = torch.stack([torch.tanh(x @ body.enc_w[k] + body.enc_b[k]) for k in range(3)], 1)
        torch.testing.assert_close(out, body.trunk(torch.cat([(alpha[:, :, None] * h).sum(1), c], -1)))
        body.attention[0].weight.add_(torch.randn_like(body.attention[0].weight))
    assert not torch.allclose(body(x, torch.zeros(5, dtype=torch.long)), body(x, torch.ones(5, dtype=torch.long)))


def test_assign_targets_nearest_and_groups_from_labels():
    family = make_family("nav2d", 6, 0)
    nearest = assign_targets(family, 10, "nearest", 0)
    src = family.param_matrix(family.source)
    for t, j in zip(family.target[:10], nearest):
        d = ((src - family.param_matrix([t])[0]) ** 2).sum(1)
        assert d[j] == d.min()
    rand = assign_targets(family, 10, "random", 3)
    assert rand.shape == (10,) and rand.min() >= 0 and rand.max() < 6
    assert groups_from_labels(np.array([0, 1, 0, 2])) == [[0, 2], [1], [3]]
    with pytest.raises(ValueError, match="target tasks"):
        assign_targets(family, 51, "nearest", 0)


def test_maml_smoke_and_target_protocol():
    cfg = pipeline_config("smoke", "nav2d")
    family = make_family("nav2d", cfg.n_tasks, 0)
    start = new_policy(family, cfg, 0, torch.device("cpu"))
    before = {k: v.clone() for k, v in start.state_dict().items()}
    meta = meta_train_groups(family, start, np.array([0, 1, 0, 1]), cfg, torch.device("cpu"), False)
    assert all(torch.equal(v, start.state_dict()[k]) for k, v in before.items())  # the start is copied
    assert meta.groups == [[0, 2], [1, 3]] and meta.group_of_task.tolist() == [0, 1, 0, 1]
    curve = meta.curves[0]
    assert curve.post_returns.shape == curve.pre_returns.shape == (cfg.maml.iterations, 2)
    assert np.isfinite(np.r_[curve.pre_returns, curve.post_returns]).any()  # 50-step episodes end in some phase
    ev = evaluate_targets(meta, family, cfg, torch.device("cpu"))
    T = cfg.meta_rl.n_targets
    assert ev.before.shape == ev.after.shape == (T,) and np.isfinite(ev.after).all()
    assert ev.group.tolist() == meta.group_of_task[ev.assigned].tolist()
    assert not np.allclose(ev.before, ev.after)


def test_train_maml_moves_the_meta_parameters():
    cfg = pipeline_config("smoke", "cartpole")
    family = make_family("cartpole", cfg.n_tasks, 0)
    pol = new_policy(family, cfg, 0, torch.device("cpu"))
    theta = torch.cat([p.detach().reshape(-1).clone() for p in pol.actor.parameters()])
    res = train_maml(pol, family, [0, 1], cfg.maml, 0, progress=False)
    after = torch.cat([p.detach().reshape(-1) for p in pol.actor.parameters()])
    assert not torch.allclose(theta, after)
    assert res.steps[-1] == cfg.maml.iterations * cfg.maml.steps_per_iteration
    assert set(res.losses) >= {"losses/policy_loss", "losses/value_loss"}
