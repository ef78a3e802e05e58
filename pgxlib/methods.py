"""The methods of the main results and ablations, on the meta-RL protocol (`pgxlib.metarl`).

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

Every method spends the same MAML steps per source task, hence the same total. `StageView` lets
several pipeline runs share one `StageCache`; `cached_meta_rl` keys the meta-RL stage by the starting
policy and the partition, so a partition found by two methods (or two knob values) is trained once.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pgxlib.cluster import labels_key
from pgxlib.config import PipelineConfig
from pgxlib.estimate.features import GradFeatures
from pgxlib.metarl import evaluate_targets, meta_train_groups
from pgxlib.nets import ActorCritic
from pgxlib.tasks import TaskFamily

METHOD_NAMES = ("multitask", "soft_modularization", "paco", "random_grouping", "gradient_similarity_grouping",
                "policygradex")
"""The methods of the main table, in the paper's order."""
ARCH_OF_METHOD = {"soft_modularization": "soft_modularization", "paco": "paco"}
"""Methods that differ by network architecture (one policy for all tasks); the rest are MLP groupings."""


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
