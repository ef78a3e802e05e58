"""The meta-RL stage: one MAML meta-policy per group, scored on unseen target tasks after adaptation.

Protocol (`MetaRLConfig`, `MAMLConfig`):

1. Each group of source tasks gets a meta-policy: a copy of the starting policy (θ*, or a policy of
   another architecture trained the same way) meta-trained with first-order MAML on the group's
   tasks, `cfg.maml.steps_per_task` environment steps per task (`pgxlib.rl.maml.train_maml`).
2. Each of the first `cfg.meta_rl.n_targets` target tasks of the family is assigned to a source task:
   the nearest in normalised task-parameter space (``assign="nearest"``) or a uniformly random one.
   It is conditioned on that source task's id and uses the meta-policy of that task's group.
3. Before adaptation: mean return over `cfg.meta_rl.episodes` episodes of the group's meta-policy.
   Adaptation: the MAML inner loop, `inner_updates` policy-gradient steps on `support_steps` fresh
   transitions each. After adaptation: the same evaluation with the adapted actor.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from pgxlib.partition import groups_from_labels
from pgxlib.config import PipelineConfig
from pgxlib.evaluate import evaluate_policy
from pgxlib.nets import ActorCritic, actor_params
from pgxlib.rl.maml import AdaptedActors, MAMLResult, adapt, train_maml
from pgxlib.tasks import TaskFamily


def assign_targets(family: TaskFamily, n_targets: int, how: str, seed: int) -> np.ndarray:
    """The source task each of the first `n_targets` target tasks is assigned to, shape [n_targets]."""
    if n_targets > len(family.target):
        raise ValueError(f"family {family.name} has {len(family.target)} target tasks, asked for {n_targets}")
    targets = family.target[:n_targets]
    if how == "nearest":
        return np.array([family.nearest_source(t) for t in targets], dtype=np.int64)
    return np.random.default_rng(seed).integers(0, family.n_tasks, size=n_targets).astype(np.int64)


def group_critic(policies: list[ActorCritic], group_of_task: np.ndarray):
    """V(s, task) where each source task id uses the critic of its group's policy."""
    if len(policies) == 1:
        return policies[0].critic
    lookup = torch.as_tensor(np.asarray(group_of_task), dtype=torch.long)

    def critic(obs: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        group = lookup.to(task_id.device)[task_id]
        out = torch.zeros(obs.shape[0], device=obs.device)
        for g, pol in enumerate(policies):
            rows = group == g
            if rows.any():
                out[rows] = pol.critic(obs[rows], task_id[rows])
        return out
    return critic


@dataclass
class GroupMetaPolicies:
    """One meta-policy per group. groups[g] lists the source tasks of group g; curves[g] its MAML run."""

    groups: list[list[int]]
    policies: list[ActorCritic]
    curves: list[MAMLResult]

    @property
    def group_of_task(self) -> np.ndarray:
        out = np.zeros(sum(len(g) for g in self.groups), dtype=np.int64)
        for g, tasks in enumerate(self.groups):
            out[tasks] = g
        return out

    @property
    def train_seconds(self) -> float:
        return float(sum(c.wall_time for c in self.curves))


def meta_train_groups(family: TaskFamily, start: ActorCritic, labels: np.ndarray, cfg: PipelineConfig,
                      device: torch.device, progress: bool) -> GroupMetaPolicies:
    """A copy of `start` meta-trained with MAML on each group of `labels` (same budget per task)."""
    groups, policies, curves = groups_from_labels(labels), [], []
    for g, tasks in enumerate(groups):
        policy = copy.deepcopy(start)
        curves.append(train_maml(policy, family, tasks, cfg.maml, cfg.seed + 2000 + g, device, progress,
                                 desc=f"MAML group {g} {tasks}"))
        policies.append(policy)
    return GroupMetaPolicies(groups, policies, curves)


@dataclass
class TargetEvaluation:
    """Returns on T unseen target tasks. assigned [T] source task, group [T], before/after [T] mean
    return, success_before/after [T] or None, adapt_seconds the wall time of adaptation."""

    assigned: np.ndarray
    group: np.ndarray
    before: np.ndarray
    after: np.ndarray
    success_before: np.ndarray | None
    success_after: np.ndarray | None
    adapt_seconds: float


def evaluate_targets(meta: GroupMetaPolicies, family: TaskFamily, cfg: PipelineConfig,
                     device: torch.device) -> TargetEvaluation:
    """Every target task, adapted from its group's meta-policy: returns before and after adaptation."""
    r = cfg.meta_rl
    assigned = assign_targets(family, r.n_targets, r.assign, cfg.seed)
    group = meta.group_of_task[assigned]
    targets = list(family.target[:r.n_targets])
    actor = meta.policies[0].actor
    per_group = [actor_params(p.actor) for p in meta.policies]
    base = {k: torch.stack([per_group[g][k] for g in group]) for k in per_group[0]}
    critic = group_critic(meta.policies, meta.group_of_task)
    seed = cfg.seed + 5000

    def score(params):
        return evaluate_policy(AdaptedActors(actor, params, critic), family, targets, list(assigned), r.episodes,
                               seed, r.deterministic, device)

    before = score(base)
    start = time.perf_counter()
    adapted = adapt(actor, base, critic, family, targets, list(assigned), cfg.maml, seed, device)
    seconds = time.perf_counter() - start
    after = score(adapted)
    return TargetEvaluation(assigned, group, before.mean_return, after.mean_return, before.success, after.success,
                            seconds)
