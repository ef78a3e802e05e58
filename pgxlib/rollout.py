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

from .tasks import Task, TaskFamily


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
