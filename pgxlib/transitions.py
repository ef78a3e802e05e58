"""Transition containers and the pure maths on them: `Rollout`, `Trajectory`, GAE, per-task advantage
standardisation. No environment here (stepping lives in `pgxlib.rollout`)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


def standardize_per_task(adv: torch.Tensor, task_id: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Advantages with zero mean and unit (population) std within each task; a constant task gives 0."""
    out = torch.zeros_like(adv, dtype=torch.float32)
    a = adv.float()
    for t in torch.unique(task_id).tolist():
        sel = task_id == t
        x = a[sel]
        out[sel] = (x - x.mean()) / (x.std(correction=0) + eps)
    return out


@dataclass
class Rollout:
    """Flat transitions from one or more tasks. N transitions, obs_dim observation size.

    obs [N, obs_dim] float32, actions [N] (discrete) or [N, act_dim], logp [N] = log π_θ(a|s) at
    collection, values [N], advantages [N] (GAE), returns [N] = advantages + values,
    task_id [N] int64 (index among the family's source tasks).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    task_id: torch.Tensor

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def select(self, index: torch.Tensor) -> "Rollout":
        """The transitions at `index` (bool mask or integer index over N)."""
        return Rollout(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def to(self, device: torch.device | str) -> "Rollout":
        return Rollout(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


@dataclass
class Trajectory:
    """Time-major steps of a `TaskVecEnv`. T steps, E envs.

    obs [T, E, obs_dim], actions [T, E, ...], logp [T, E], values [T, E], rewards [T, E] (training
    rewards: scaled, with γ·V(final obs) added on truncation), dones [T, E] (the episode ended at
    this step), last_value [E] = V(obs after the last step), task_id [E] (conditioning ids).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    last_value: torch.Tensor
    task_id: torch.Tensor


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, last_value: torch.Tensor,
        gamma: float, lam: float) -> torch.Tensor:
    """Generalized advantage estimates, shape [T, E].

    `dones[t]` marks that the episode ended at step t, so step t+1 starts a new episode and
    nothing is bootstrapped across it; `last_value` [E] bootstraps the step after the last.
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    for t in reversed(range(T)):
        next_value = last_value if t == T - 1 else values[t + 1]
        nonterminal = (~dones[t].bool()).to(rewards.dtype)
        delta = rewards[t] + gamma * next_value * nonterminal - values[t]
        running = delta + gamma * lam * nonterminal * running
        advantages[t] = running
    return advantages


def to_rollout(traj: Trajectory, advantages: torch.Tensor) -> Rollout:
    """Flatten a trajectory [T, E, ...] and its advantages into a `Rollout` of N = T·E transitions."""
    T, E = traj.rewards.shape
    flat = lambda x: x.reshape(T * E, *x.shape[2:])  # noqa: E731
    return Rollout(obs=flat(traj.obs), actions=flat(traj.actions), logp=flat(traj.logp), values=flat(traj.values),
                   advantages=flat(advantages), returns=flat(advantages + traj.values),
                   task_id=traj.task_id.repeat(T))
