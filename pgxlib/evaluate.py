"""Policy evaluation: rollout returns (and success rates) per task.

`evaluate_policy` runs `episodes` episodes of every task in parallel (one vector env) and reports
the mean undiscounted return per task. (The off-policy estimate without rollouts, `ppo_objective_scores`,
is maths on transitions: `pgxlib.estimate.scores`.)
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from pgxlib.nets import ActorCritic, actor_params, flat_params, unflatten_like
from pgxlib.rollout import TaskVecEnv
from pgxlib.tasks import Task, TaskFamily


@dataclass
class Evaluation:
    """Per-task rollout results for n tasks: mean_return [n], std_return [n], success [n] or None."""

    mean_return: np.ndarray
    std_return: np.ndarray
    success: np.ndarray | None
    episodes: int

    def to_stage(self) -> dict:
        """Tensors and numbers only, for a stage cache (``torch.load(weights_only=True)``); `from_stage` inverts it."""
        return {"mean_return": torch.as_tensor(self.mean_return), "std_return": torch.as_tensor(self.std_return),
                "success": None if self.success is None else torch.as_tensor(self.success), "episodes": self.episodes}

    @classmethod
    def from_stage(cls, d: dict) -> "Evaluation":
        return cls(d["mean_return"].numpy(), d["std_return"].numpy(),
                   None if d["success"] is None else d["success"].numpy(), int(d["episodes"]))


def with_actor_delta(policy: ActorCritic, delta: torch.Tensor) -> ActorCritic:
    """A copy of `policy` whose actor parameters are θ* + `delta` (a flat vector of length p)."""
    new = copy.deepcopy(policy)
    theta = flat_params(actor_params(policy.actor))
    new_params = unflatten_like(theta + delta.to(theta.device), actor_params(policy.actor))
    with torch.no_grad():
        for name, param in new.actor.named_parameters():
            param.copy_(new_params[name])
    return new


class _UniformPolicy:
    """Uniformly random actions, with the `ActorCritic.act` interface (for the random baseline)."""

    def __init__(self, action_space, seed: int):
        self.space = action_space
        self.space.seed(seed)

    def act(self, obs: torch.Tensor, task_id: torch.Tensor, deterministic: bool = False):
        actions = np.stack([self.space.sample() for _ in range(obs.shape[0])])
        zeros = torch.zeros(obs.shape[0])
        return torch.as_tensor(actions), zeros, zeros


@torch.no_grad()
def evaluate_policy(policy, family: TaskFamily, tasks: list[Task], cond_ids: list[int], episodes: int, seed: int,
                    deterministic: bool = True, device: torch.device | str = "cpu",
                    envs_per_task: int | None = None) -> Evaluation:
    """Mean undiscounted return (and success rate) of `policy` on each task over `episodes` episodes.

    `policy` is an `ActorCritic` (or "random" for uniformly random actions). The episodes run on
    `envs_per_task` envs per task (default: one env per episode), each env playing its first
    ``episodes / envs_per_task`` episodes back to back, so every task gets exactly `episodes` episodes
    (fewer envs cost less to build: a Meta-World env takes about a second). An episode succeeds when
    ``info["success"]`` is ever 1 in it.
    """
    envs_per_task = episodes if envs_per_task is None else min(envs_per_task, episodes)
    if episodes % envs_per_task:
        raise ValueError(f"episodes={episodes} must be a multiple of envs_per_task={envs_per_task}")
    rounds = episodes // envs_per_task
    if policy == "random":
        policy = _UniformPolicy(family.action_space, seed)
    env = TaskVecEnv(family, tasks, cond_ids, envs_per_task, seed + 7_919, device)
    done = np.zeros(env.n_envs, dtype=int)
    ep_return = np.zeros((env.n_envs, rounds))
    ep_success = np.zeros((env.n_envs, rounds))
    rows = np.arange(env.n_envs)
    try:
        for _ in range(rounds * (family.max_episode_steps + 1)):
            obs = torch.as_tensor(env.obs, dtype=torch.float32, device=env.device)
            action, _, _ = policy.act(obs, env.cond_ids, deterministic=deterministic)
            obs, rewards, term, trunc, infos = env.envs.step(env._env_action(action))
            env.obs = obs
            live = done < rounds
            at = np.minimum(done, rounds - 1)
            ep_return[rows[live], at[live]] += rewards[live]
            ended = np.logical_or(term, trunc)
            success_now = np.nan_to_num(np.where(
                ended, _success(infos.get("final_info", {}), env.n_envs), _success(infos, env.n_envs)))
            ep_success[rows[live], at[live]] = np.maximum(ep_success[rows[live], at[live]], success_now[live])
            done += ended & live
            if (done >= rounds).all():
                break
    finally:
        env.close()
    per_task = ep_return.reshape(len(tasks), episodes)
    succ = ep_success.reshape(len(tasks), episodes).mean(1) if family.has_success else None
    return Evaluation(per_task.mean(1), per_task.std(1), succ, episodes)


def _success(infos: dict, n: int) -> np.ndarray:
    if "success" not in infos:
        return np.zeros(n)
    mask = np.asarray(infos.get("_success", np.ones(n, dtype=bool)))
    return np.where(mask, np.asarray(infos["success"], dtype=float), 0.0)
