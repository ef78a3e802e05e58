"""The PPO-objective evaluator (PPO's clipped surrogate, min(r·Â, clip(r)·Â), per task) and rollout evaluation."""
import numpy as np
import pytest
import torch

from pgxlib.profiles import pipeline_config
from pgxlib.estimate.scores import ppo_objective_scores
from pgxlib.evaluate import evaluate_policy
from pgxlib.nets import actor_log_prob, actor_params, flat_params, new_policy, unflatten_like
from pgxlib.tasks import make_family
from pgxlib.transitions import Rollout, standardize_per_task


def test_ppo_objective_score_is_the_clipped_minimum():
    family = make_family("nav2d", 2, 0)
    policy = new_policy(family, pipeline_config("smoke", "nav2d"), 0, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    n, obs_dim = 64, family.observation_space.shape[0]
    task_id = torch.arange(n) % 2
    obs, actions = torch.randn(n, obs_dim, generator=gen), torch.randn(n, 2, generator=gen)
    zeros = torch.zeros(n)
    rollout = Rollout(obs, actions, zeros, zeros, torch.randn(n, generator=gen), zeros, task_id)
    params = actor_params(policy.actor)
    theta = flat_params(params)
    delta = 0.3 * theta.norm() * torch.randn(theta.shape, generator=gen) / theta.numel() ** 0.5
    scores = ppo_objective_scores(policy, rollout, torch.ones(n, dtype=torch.bool), lambda l: delta,
                                  np.ones((1, 2), dtype=bool), clip=0.2)

    with torch.no_grad():
        ratio = (actor_log_prob(policy.actor, unflatten_like(theta + delta, params), obs, task_id, actions)
                 - actor_log_prob(policy.actor, params, obs, task_id, actions)).exp().numpy()
    adv = standardize_per_task(rollout.advantages, task_id).numpy()
    clipped = np.clip(ratio, 0.8, 1.2) * adv
    assert ((ratio < 0.8) | (ratio > 1.2)).any(), "the step should leave the clip range on some samples"
    assert not np.allclose(np.minimum(ratio * adv, clipped), clipped), "min must differ from clip alone"
    for i in range(2):
        sel = task_id.numpy() == i
        assert scores[0, i] == pytest.approx(np.minimum(ratio * adv, clipped)[sel].mean(), rel=1e-5)


def test_episodes_spread_over_fewer_envs_count_every_episode():
    from fixed_length import pendulum_family

    family = pendulum_family()
    tasks = list(family.source)
    one_each = evaluate_policy("random", family, tasks, [0, 1], 4, seed=5)
    assert one_each.mean_return.shape == (2,) and one_each.episodes == 4
    same = evaluate_policy("random", family, tasks, [0, 1], 4, seed=5, envs_per_task=4)
    np.testing.assert_array_equal(same.mean_return, one_each.mean_return)
    spread = evaluate_policy("random", family, tasks, [0, 1], 4, seed=5, envs_per_task=2)
    assert spread.episodes == 4 and np.all(spread.mean_return < 0) and np.all(spread.std_return > 0)
    assert not np.allclose(spread.mean_return, one_each.mean_return)  # other envs, other episodes
    with pytest.raises(ValueError, match="multiple of envs_per_task"):
        evaluate_policy("random", family, tasks, [0, 1], 3, seed=5, envs_per_task=2)
