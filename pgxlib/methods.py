"""The methods of the main results and ablations: the meta-RL protocol (`pgxlib.metarl`, the control
families) and the multi-objective protocol (Meta-World, `trained_groups`).

Each seed has one θ* (the shared meta-policy, an MLP trained with multitask PPO). The grouping methods
partition the n source tasks; every group gets a MAML meta-policy from θ* and every target task is
adapted from its group's meta-policy:

- ``multitask``: one group of all n tasks (one meta-policy for all tasks);
- ``soft_modularization`` / ``paco``: one group of all tasks, with that architecture; its starting
  policy is trained exactly as θ* is (the same multitask PPO budget), since θ* is an MLP;
- ``random_grouping``: a uniformly random partition into k groups;
- ``gradient_similarity_grouping``: SDP on the cosine similarity of per-task mean projected policy
  gradients at θ* (`task_mean_gradients`);
- ``policygradex``: SDP on the surrogate affinity U (`pipeline.run_policygradex`).

Every method spends the same MAML steps per source task, hence the same total.

On the multi-objective protocol (Meta-World MT10), there are no targets and no adaptation: each method's
policies are trained with PPO from a fresh initialisation on their own source tasks (`group_ppo`, the same
steps per task for every method) and every source task is evaluated with its group's policy (success
rate, `evaluation.episodes` greedy episodes per task). Multitask, Soft Modularization, PaCo and CARE are one
policy of their architecture on all tasks; the groupings train one `GROUP_ARCH` policy per group. `StageView` lets
several pipeline runs share one `StageCache`; `cached_meta_rl` keys the meta-RL stage by the starting
policy and the partition, so a partition found by two methods (or two knob values) is trained once.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np
import torch

from pgxlib.cluster import groups_from_labels, labels_key
from pgxlib.config import PipelineConfig, apply_overrides, to_dict
from pgxlib.estimate.features import GradFeatures
from pgxlib.evaluate import evaluate_policy
from pgxlib.metarl import evaluate_targets, meta_train_groups
from pgxlib.nets import ActorCritic
from pgxlib.pipeline import new_policy
from pgxlib.rl.ppo import train_ppo
from pgxlib.tasks import TaskFamily

METHOD_NAMES = ("multitask", "soft_modularization", "paco", "random_grouping", "gradient_similarity_grouping",
                "policygradex")
"""The methods of the main table, in the paper's order."""
ARCH_OF_METHOD = {"soft_modularization": "soft_modularization", "paco": "paco"}
"""Methods that differ by network architecture (one policy for all tasks); the rest are MLP groupings."""
MULTI_OBJECTIVE_METHODS = ("multitask", "soft_modularization", "paco", "care", "random_grouping",
                           "gradient_similarity_grouping", "policygradex")
"""The methods of the paper's Meta-World column, in its order (CARE is a Meta-World-only baseline)."""
SINGLE_POLICY_ARCH = {"multitask": "mlp", "soft_modularization": "soft_modularization", "paco": "paco",
                      "care": "care"}
"""Multi-objective methods that are one policy of an architecture on all tasks."""
GROUP_ARCH = "soft_modularization"
"""The architecture of a group's policy on the multi-objective protocol: the paper trains one Soft
Modularization policy per group on Meta-World (random and gradient-similarity groups too, so that the
groupings differ only in their partition)."""


def _missing_stage() -> dict:
    raise RuntimeError("the features stage should have been stored by run_policygradex")


def stored_features(view) -> GradFeatures:
    """The gradient features a `run_policygradex` run just stored in `view` (stage "features")."""
    return GradFeatures(**view.get_or_compute("features", _missing_stage)["features"])


def cached_meta_rl(cache, prefix: str, family: TaskFamily, start: ActorCritic, labels: np.ndarray,
                   cfg: PipelineConfig, device, progress: bool, tag: str = "mlp") -> dict[str, Any]:
    """The meta-RL protocol for one partition, stored as stage ``<prefix>metarl-<tag>-<labels_key>``:
    a MAML meta-policy per group from `start` (`metarl.meta_train_groups`), then every target task
    adapted from its group's meta-policy (`metarl.evaluate_targets`). `tag` names the starting
    policy (its architecture), so that partitions are shared only between runs from the same start.

    Returns {"labels": [n], "groups": [[task indices]], "before"/"after": [T] target returns,
    "success_before"/"success_after": [T] or None, "assigned": [T] source task, "target_group": [T],
    "curve_steps": [I], "curve_pre"/"curve_post": [I, n] per-source-task MAML curves (before and
    after the inner step), "train_seconds", "adapt_seconds"}.
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

    stored = cache.get_or_compute(f"{prefix}metarl-{tag}-{labels_key(labels)}", _run)
    out = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in stored.items()}
    out["groups"] = [list(map(int, g)) for g in stored["groups"]]
    return out


def group_policies_key(family: TaskFamily, cfg: PipelineConfig, arch: str, labels: np.ndarray) -> str:
    """The stage name of one multi-objective training: family, seed, architecture, network, PPO and
    evaluation settings (hashed), and the partition."""
    d = {"family": family.name, "tasks": [t.name for t in family.source], "seed": cfg.seed, "arch": arch,
         "net": to_dict(cfg.net), "group_ppo": to_dict(cfg.group_ppo), "evaluation": to_dict(cfg.evaluation)}
    digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
    return f"{family.name}-seed{cfg.seed}-{arch}-{digest}-{labels_key(labels)}"


def trained_groups(family: TaskFamily, labels: np.ndarray, arch: str, cfg: PipelineConfig, device, progress: bool,
                   cache=None) -> dict[str, Any]:
    """The multi-objective protocol for one partition: per group, a fresh `arch` policy (seed ``cfg.seed + 100
    + g``) trained with PPO on the group's source tasks (`cfg.group_ppo`, seed ``cfg.seed + 1000 + g``,
    resumable through `cache`'s checkpoints), then each task evaluated with its group's policy
    (`cfg.evaluation`). Stored once in `cache` (default: the shared store ``runs/group_policies``, so that
    main results and the k ablation train a partition once) under `group_policies_key`.

    Returns {"labels": [n], "groups": [[task indices]], "success"/"returns": [n] per task with its group's
    policy, "curve_steps": [I] env steps per task, "curve_success"/"curve_returns": [I, n] per task during
    training, "train_seconds", "eval_seconds", "env_steps": total training env steps}.
    """
    from pgxlib.store.cache import StageCache
    from pgxlib.store.fingerprint import code_fingerprint
    from pgxlib.store.results import runs_root

    labels = np.asarray(labels, dtype=np.int64)
    if cache is None:
        cache = StageCache(runs_root() / "group_policies", fingerprint=code_fingerprint("pgxlib.methods")["sha256"])
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
