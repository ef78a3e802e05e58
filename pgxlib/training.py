"""Policies trained for a partition of the tasks, stored once and shared by every experiment.

- `cached_meta_rl`: the meta-RL protocol (control families) for one partition, from a starting policy;
- `trained_groups`: the multi-objective protocol (Meta-World) for one partition;
(θ* fine-tuned on each of m subsets, the measured affinity, is `pgxlib.finetunes`: it runs no MAML.)

Each is stored in a shared store (`pgxlib.shared_stores`), ``runs/<store>/<family>`` (``metarl_policies``,
``group_policies``), under a key made of everything its result depends on (the task family and its tasks, the
seed, the settings it uses, the partition or subsets and the parameters of the starting policy), so main
results, ablations and a recompute train each once. A store is cleared
when the code of this module or of the modules it imports changes (`training_store`); that code is
training and evaluation alone (no estimator), so changing the gradient estimator retrains nothing.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from pgxlib.config import PipelineConfig, to_dict
from pgxlib.profiles import apply_overrides
from pgxlib.evaluate import evaluate_policy
from pgxlib.metarl import evaluate_targets, meta_train_groups
from pgxlib.nets import ActorCritic, new_policy
from pgxlib.partition import groups_from_labels, labels_key
from pgxlib.rl.ppo import train_ppo
from pgxlib.shared_stores import digest, shared_store, state_digest
from pgxlib.tasks import TaskFamily


def training_store(name: str, family: TaskFamily):
    """The shared stage store ``runs/<name>/<family>`` of this module's trainings, cleared when its code (and what
    it imports, of the task families only `family`'s) changes."""
    return shared_store(name, family, __name__)


def metarl_key(family: TaskFamily, cfg: PipelineConfig, start: ActorCritic, labels: np.ndarray, tag: str) -> str:
    """The stage name of one meta-RL run: family, its source and target tasks, seed, MAML and meta-RL settings
    and the starting policy's parameters (hashed), then the start's architecture `tag` and the partition."""
    d = {"family": family.name, "tasks": [t.name for t in family.source],
         "targets": [t.name for t in family.target[:cfg.meta_rl.n_targets]], "seed": cfg.seed,
         "maml": to_dict(cfg.maml), "meta_rl": to_dict(cfg.meta_rl), "start": state_digest(start)}
    return f"{family.name}-seed{cfg.seed}-{tag}-{digest(d)}-{labels_key(labels)}"


def cached_meta_rl(family: TaskFamily, start: ActorCritic, labels: np.ndarray, cfg: PipelineConfig, device,
                   progress: bool, tag: str = "mlp", store=None) -> dict[str, Any]:
    """The meta-RL protocol for one partition: a MAML meta-policy per group from `start`
    (`metarl.meta_train_groups`), then every target task adapted from its group's meta-policy
    (`metarl.evaluate_targets`). Stored once in `store` (default: the shared ``runs/metarl_policies``,
    `training_store`) under `metarl_key`; `tag` names the starting policy's architecture.

    Returns {"labels": [n], "groups": [[task indices]], "before"/"after": [T] target returns,
    "success_before"/"success_after": [T] or None, "assigned": [T] source task, "target_group": [T],
    "curve_steps": [I], "curve_pre"/"curve_post": [I, n] per-source-task MAML curves (before and
    after the inner step), "train_seconds", "adapt_seconds", "seconds": the stage's wall time when it was computed}.
    """
    labels = np.asarray(labels, dtype=np.int64)

    def _run() -> dict:
        meta = meta_train_groups(family, start, labels, cfg, device, progress)
        ev = evaluate_targets(meta, family, cfg, device)
        n = len(labels)
        n_iter = len(meta.curves[0].steps)
        pre = torch.full((n_iter, n), float("nan"), dtype=torch.float64)
        post = torch.full((n_iter, n), float("nan"), dtype=torch.float64)
        for tasks, curve in zip(meta.groups, meta.curves):
            pre[:, tasks] = torch.as_tensor(curve.pre_returns, dtype=torch.float64)
            post[:, tasks] = torch.as_tensor(curve.post_returns, dtype=torch.float64)

        def t(x):
            return None if x is None else torch.as_tensor(np.asarray(x, dtype=float))
        return {"labels": torch.as_tensor(labels), "groups": meta.groups, "before": t(ev.before), "after": t(ev.after),
                "success_before": t(ev.success_before), "success_after": t(ev.success_after),
                "assigned": torch.as_tensor(ev.assigned), "target_group": torch.as_tensor(ev.group),
                "curve_steps": torch.as_tensor(meta.curves[0].steps), "curve_pre": pre, "curve_post": post,
                "train_seconds": meta.train_seconds, "adapt_seconds": ev.adapt_seconds}

    store = training_store("metarl_policies", family) if store is None else store
    stage = metarl_key(family, cfg, start, labels, tag)
    stored = store.get_or_compute(stage, _run)
    out = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in stored.items()}
    out["groups"] = [list(map(int, g)) for g in stored["groups"]]
    out["seconds"] = store.times.get(stage, float("nan"))
    return out


def group_policies_key(family: TaskFamily, cfg: PipelineConfig, arch: str, labels: np.ndarray) -> str:
    """The stage name of one multi-objective training: family, seed, architecture, network, PPO and
    evaluation settings (hashed), and the partition."""
    d = {"family": family.name, "tasks": [t.name for t in family.source], "seed": cfg.seed, "arch": arch,
         "net": to_dict(cfg.net), "group_ppo": to_dict(cfg.group_ppo), "evaluation": to_dict(cfg.evaluation)}
    return f"{family.name}-seed{cfg.seed}-{arch}-{digest(d)}-{labels_key(labels)}"


def trained_groups(family: TaskFamily, labels: np.ndarray, arch: str, cfg: PipelineConfig, device, progress: bool,
                   cache=None) -> dict[str, Any]:
    """The multi-objective protocol for one partition: per group, a fresh `arch` policy (seed ``cfg.seed + 100
    + g``) trained with PPO on the group's source tasks (`cfg.group_ppo`, seed ``cfg.seed + 1000 + g``,
    resumable through `cache`'s checkpoints), then each task evaluated with its group's policy
    (`cfg.evaluation`). Stored once in `cache` (default: the shared store ``runs/group_policies``, `training_store`, so
    that main results and the k ablation train a partition once) under `group_policies_key`.

    Returns {"labels": [n], "groups": [[task indices]], "success"/"returns": [n] per task with its group's
    policy, "curve_steps": [I] env steps per task, "curve_success"/"curve_returns": [I, n] per task during
    training, "train_seconds", "eval_seconds", "env_steps": total training env steps}.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if cache is None:
        cache = training_store("group_policies", family)
    stage = group_policies_key(family, cfg, arch, labels)
    arch_cfg = apply_overrides(cfg, {"arch": arch})

    def _run() -> dict:
        n, groups = len(labels), groups_from_labels(labels)
        success, returns = torch.full((n,), float("nan"), dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
        curves: dict[str, torch.Tensor] = {}
        train_seconds = eval_seconds = 0.0
        for g, tasks in enumerate(groups):
            policy = new_policy(family, arch_cfg, cfg.seed + 100 + g, device)
            train = train_ppo(policy, family, tasks, cfg.group_ppo, cfg.seed + 1000 + g, device, progress,
                              desc=f"{arch} group {g} {tasks}", checkpoint=cache.checkpoint(stage, f"g{g}"))
            start = time.perf_counter()
            ev = evaluate_policy(policy, family, [family.source[i] for i in tasks], tasks, cfg.evaluation.episodes,
                                 cfg.seed, cfg.evaluation.deterministic, device, cfg.evaluation.envs_per_task)
            eval_seconds += time.perf_counter() - start
            train_seconds += train.wall_time
            returns[tasks] = torch.as_tensor(ev.mean_return, dtype=torch.float64)
            if ev.success is not None:
                success[tasks] = torch.as_tensor(ev.success, dtype=torch.float64)
            for key, curve in (("curve_success", train.success), ("curve_returns", train.returns)):
                curves.setdefault(key, torch.full((len(train.steps), n), float("nan"), dtype=torch.float64))
                curves[key][:, tasks] = torch.as_tensor(curve, dtype=torch.float64)
            curves["curve_steps"] = torch.as_tensor(train.steps, dtype=torch.float64)
        return {"labels": torch.as_tensor(labels), "groups": groups, "success": success, "returns": returns,
                **curves, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                "env_steps": int(cfg.group_ppo.iterations * cfg.group_ppo.steps_per_iteration * n)}

    stored = cache.get_or_compute(stage, _run)
    out = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in stored.items()}
    out["groups"] = [list(map(int, g)) for g in stored["groups"]]
    out["seconds"] = cache.times.get(stage, float("nan"))
    return out
