"""Rollouts: stepping all tasks of a family at once in one vector env, and the `Rollout` container.

One `TaskVecEnv` holds `num_envs` copies of every task in a single gymnasium `SyncVectorEnv`
(env e belongs to task ``task_ids[e]``), so one policy forward pass acts on every task together and
every task gets the same share of steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from pgxlib.tasks import Task, TaskFamily
from pgxlib.transitions import Rollout, Trajectory, gae, to_rollout


@dataclass
class EpisodeLog:
    """Finished episodes: per task, lists of undiscounted returns, lengths and success flags."""

    returns: dict[int, list[float]] = field(default_factory=dict)
    lengths: dict[int, list[int]] = field(default_factory=dict)
    successes: dict[int, list[float]] = field(default_factory=dict)

    def add(self, task: int, ret: float, length: int, success: float | None) -> None:
        self.returns.setdefault(task, []).append(ret)
        self.lengths.setdefault(task, []).append(length)
        if success is not None:
            self.successes.setdefault(task, []).append(success)

    def mean_return(self, task: int) -> float:
        vals = self.returns.get(task, [])
        return float(np.mean(vals)) if vals else float("nan")


class TaskVecEnv:
    """`num_envs` copies of each task in one SyncVectorEnv, stepped together by one policy.

    `tasks[k]` is conditioned on id `cond_ids[k]` (its index among the family's source tasks, or the
    source task a target task is assigned to). Episode statistics are logged by position k.
    """

    def __init__(self, family: TaskFamily, tasks: list[Task], cond_ids: list[int], num_envs: int, seed: int,
                 device: torch.device | str = "cpu"):
        if len(tasks) != len(cond_ids) or not tasks:
            raise ValueError("tasks and cond_ids must be non-empty and of equal length")
        self.family, self.tasks, self.num_envs, self.device = family, list(tasks), num_envs, torch.device(device)
        self.position = np.repeat(np.arange(len(tasks)), num_envs)
        self.cond_ids = torch.as_tensor(np.repeat(np.asarray(cond_ids), num_envs), dtype=torch.long,
                                        device=self.device)
        fns = [_EnvFn(family, tasks[k]) for k in self.position]
        self.envs = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        self.discrete = isinstance(self.envs.single_action_space, gym.spaces.Discrete)
        obs, _ = self.envs.reset(seed=[seed * 10_007 + e for e in range(self.n_envs)])
        self.obs = obs
        self.ep_return = np.zeros(self.n_envs)
        self.ep_length = np.zeros(self.n_envs, dtype=int)
        self.ep_success = np.zeros(self.n_envs)
        self.log = EpisodeLog()

    @property
    def n_envs(self) -> int:
        return len(self.position)

    def close(self) -> None:
        self.envs.close()

    def at_episode_start(self) -> bool:
        """Whether every env has just started an episode (no step taken in it yet)."""
        return bool((self.ep_length == 0).all())

    def reseed(self, seed: int, iteration: int) -> None:
        """Reset every env with seeds drawn from (seed, iteration), so that the envs' state at the start of
        an iteration is a function of those two numbers alone (what an exact resume needs; the family's envs
        must honour ``reset(seed=...)``). Only between episodes: a reset mid-episode would cut it short."""
        if not self.at_episode_start():
            raise RuntimeError("reseed is only allowed between episodes")
        seeds = np.random.SeedSequence([int(seed), int(iteration)]).generate_state(self.n_envs)
        self.obs, _ = self.envs.reset(seed=[int(s) for s in seeds])

    def _env_action(self, action: torch.Tensor) -> np.ndarray:
        a = action.cpu().numpy()
        if self.discrete:
            return a.astype(np.int64)
        space = self.envs.single_action_space
        return np.clip(a, space.low, space.high)

    def _record(self, rewards: np.ndarray, ended: np.ndarray, infos: dict) -> None:
        self.ep_return += rewards
        self.ep_length += 1
        step_success = _info_field(infos, "success", self.n_envs)
        final_success = _info_field(infos.get("final_info", {}), "success", self.n_envs)
        success = np.where(ended, final_success, step_success)
        self.ep_success = np.maximum(self.ep_success, np.nan_to_num(success))
        for e in np.flatnonzero(ended):
            has = self.family.has_success
            self.log.add(int(self.position[e]), float(self.ep_return[e]), int(self.ep_length[e]),
                         float(self.ep_success[e]) if has else None)
        self.ep_return[ended] = 0.0
        self.ep_length[ended] = 0
        self.ep_success[ended] = 0.0

    @torch.no_grad()
    def collect(self, policy, n_steps: int, gamma: float, reward_scale: float = 1.0) -> Trajectory:
        """Step every env `n_steps` times with `policy` (an `ActorCritic`), sampling actions."""
        dev = self.device
        obs_buf, act_buf, logp_buf, val_buf, rew_buf, done_buf = [], [], [], [], [], []
        for _ in range(n_steps):
            obs_t = torch.as_tensor(self.obs, dtype=torch.float32, device=dev)
            action, logp, value = policy.act(obs_t, self.cond_ids)
            obs, rewards, term, trunc, infos = self.envs.step(self._env_action(action))
            ended = np.logical_or(term, trunc)
            self._record(rewards, ended, infos)
            train_rewards = torch.as_tensor(rewards * reward_scale, dtype=torch.float32, device=dev)
            cut = np.flatnonzero(np.logical_and(trunc, ~term))
            if len(cut):
                final_obs = np.stack([infos["final_obs"][e] for e in cut])
                v_final = policy.critic(torch.as_tensor(final_obs, dtype=torch.float32, device=dev),
                                        self.cond_ids[cut])
                train_rewards[cut] += gamma * v_final
            obs_buf.append(obs_t)
            act_buf.append(action)
            logp_buf.append(logp)
            val_buf.append(value)
            rew_buf.append(train_rewards)
            done_buf.append(torch.as_tensor(ended, device=dev))
            self.obs = obs
        last_value = policy.critic(torch.as_tensor(self.obs, dtype=torch.float32, device=dev), self.cond_ids)
        traj = Trajectory(torch.stack(obs_buf), torch.stack(act_buf), torch.stack(logp_buf), torch.stack(val_buf),
                          torch.stack(rew_buf), torch.stack(done_buf), last_value, self.cond_ids.clone())
        if not torch.isfinite(traj.rewards).all():
            raise FloatingPointError("non-finite reward or value during collection")
        return traj


class _EnvFn:
    """A picklable env factory for one task."""

    def __init__(self, family: TaskFamily, task: Task):
        self.family, self.task = family, task

    def __call__(self) -> gym.Env:
        return self.family.make_env(self.task)


def _info_field(infos: dict, key: str, n: int) -> np.ndarray:
    """infos[key] as a float array [n], NaN where an env did not report it."""
    if key not in infos:
        return np.full(n, np.nan)
    vals = np.asarray(infos[key], dtype=float)
    mask = np.asarray(infos.get("_" + key, np.ones(n, dtype=bool)))
    return np.where(mask, vals, np.nan)


def collect_rollout(policy, family: TaskFamily, task_indices: list[int], steps_per_task: int, num_envs: int,
                    gamma: float, gae_lambda: float, seed: int, device: torch.device | str = "cpu") -> Rollout:
    """Roll out `policy` on the given source tasks, `steps_per_task` transitions each, with GAE."""
    n_steps = max(1, -(-steps_per_task // num_envs))
    env = TaskVecEnv(family, [family.source[i] for i in task_indices], list(task_indices), num_envs, seed, device)
    try:
        traj = env.collect(policy, n_steps, gamma, family.reward_scale)
    finally:
        env.close()
    adv = gae(traj.rewards, traj.values, traj.dones, traj.last_value, gamma, gae_lambda)
    return to_rollout(traj, adv)
