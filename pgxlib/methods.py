"""Grouping methods compared in the main results and ablations, on the multitask-RL protocol.

Every method turns the same θ* (the shared meta-policy of a seed) into per-task returns:

- ``multitask``: one policy for all tasks, θ* fine-tuned on all n tasks with the group budget
  (`cfg.group_ppo.steps_per_task` steps per task, the same total as the groups together);
- ``random_grouping``: a uniformly random partition into k groups;
- ``gradient_similarity_grouping``: SDP on the cosine similarity of per-task mean projected policy
  gradients at θ* (`task_mean_gradients`);
- ``policygradex``: SDP on the surrogate affinity U (`pipeline.run_policygradex`).

A grouping is then trained by `pipeline.train_groups` (one PPO fine-tune from θ* per group, each
task evaluated with its own group's policy). `StageView` lets several pipeline runs share one
`StageCache`; `cached_group_training` keys group training by the partition, so a partition found by
two methods (or two knob values) is trained once.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .affinity import gradient_similarity
from .clustering import sdp_cluster
from .config import PipelineConfig
from .features import GradFeatures
from .pipeline import train_groups
from .tasks import TaskFamily

METHOD_NAMES = ("multitask", "soft_modularization", "paco", "random_grouping", "gradient_similarity_grouping",
                "policygradex")
"""The methods of the main table, in the paper's order (Soft Modularization and PaCo not implemented yet)."""
NOT_IMPLEMENTED = ("soft_modularization", "paco")


class StageView:
    """A view of a stage cache that renames stages: ``get_or_compute(stage)`` goes to the parent as
    ``rename.get(stage, prefix + stage)``. Lets `run_policygradex` run several times (seeds, knob
    values) in one experiment cache while sharing the stages that do not change (``rename``)."""

    def __init__(self, parent, prefix: str = "", rename: Mapping[str, str] | None = None):
        self.parent = parent
        self.prefix = prefix
        self.rename = dict(rename or {})
        self.times: dict[str, float] = {}

    def name(self, stage: str) -> str:
        return self.rename.get(stage, self.prefix + stage)

    def get_or_compute(self, stage: str, fn: Callable[[], dict]) -> dict:
        name = self.name(stage)
        value = self.parent.get_or_compute(name, fn)
        self.times[stage] = getattr(self.parent, "times", {}).get(name, float("nan"))
        return value


def _missing_stage() -> dict:
    raise RuntimeError("the features stage should have been stored by run_policygradex")


def stored_features(view) -> GradFeatures:
    """The gradient features a `run_policygradex` run just stored in `view` (stage "features")."""
    return GradFeatures(**view.get_or_compute("features", _missing_stage)["features"])


def labels_key(labels: Sequence[int]) -> str:
    """A stage-name-safe key of a partition: ``"0-0-1-2-1"`` (labels numbered by first appearance)."""
    return "-".join(str(int(x)) for x in labels)


def task_mean_gradients(G: torch.Tensor, y: torch.Tensor, w: torch.Tensor, task_id: torch.Tensor,
                        mask: torch.Tensor, n_tasks: int) -> torch.Tensor:
    """Per-task mean projected policy gradient at θ*, [n_tasks, d].

    Row i is the mean of w_t·y_t·g̃_t over the transitions t of task i selected by `mask` (the
    training, i.e. non-held-out, transitions). Since w·y = |Â|·sign(Â) = Â (advantages standardised per
    task), this is Pᵀ of the policy-gradient estimate (1/N_i) Σ_t Â_t ∇_θ log π_θ*(a_t|s_t) of task i:
    the direction in which task i alone would move θ*. A task without selected transitions gets 0.

    Args: G [N, d]; y, w [N]; task_id [N] int; mask [N] bool.
    """
    if G.dim() != 2 or not (y.shape == w.shape == task_id.shape == mask.shape == (G.shape[0],)):
        raise ValueError(f"expected G [N, d] and y, w, task_id, mask [N]; got {tuple(G.shape)}, {tuple(y.shape)}, "
                         f"{tuple(w.shape)}, {tuple(task_id.shape)}, {tuple(mask.shape)}")
    sel = mask.bool()
    weights = (w * y).double()[sel]
    onehot = (task_id[sel, None] == torch.arange(n_tasks, device=task_id.device)).double()  # [N_s, n]
    sums = onehot.T @ (weights[:, None] * G[sel].double())
    counts = onehot.sum(0).clamp(min=1.0)
    return sums / counts[:, None]


def gradient_similarity_labels(task_grads: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels [n], similarity [n, n]): the gradient-similarity baseline, SDP with k groups on the
    cosine similarity of the per-task mean gradients (the same clustering as PolicyGradEx, other U)."""
    sim = gradient_similarity(np.asarray(task_grads, dtype=float))
    return sdp_cluster(sim, k), sim


def cached_group_training(cache, prefix: str, family: TaskFamily, policy, labels: np.ndarray, cfg: PipelineConfig,
                          device, progress: bool) -> dict[str, Any]:
    """`train_groups` for `labels`, stored as stage ``<prefix>groups-<labels_key>``.

    Returns {"labels": [n], "groups": [[task indices]], "returns": [n], "success": [n] or None,
    "train_seconds": float}: per task, the evaluation of its own group's policy.
    """
    labels = np.asarray(labels, dtype=np.int64)

    def _train() -> dict:
        outs = train_groups(family, policy, labels, cfg, device, progress)
        n = len(labels)
        ret = torch.full((n,), float("nan"), dtype=torch.float64)
        succ = torch.full((n,), float("nan"), dtype=torch.float64)
        for o in outs:
            ret[o.tasks] = torch.as_tensor(o.evaluation.mean_return, dtype=torch.float64)
            if o.evaluation.success is not None:
                succ[o.tasks] = torch.as_tensor(o.evaluation.success, dtype=torch.float64)
        return {"labels": torch.as_tensor(labels), "groups": [list(map(int, o.tasks)) for o in outs],
                "returns": ret, "success": succ if family.has_success else None,
                "train_seconds": float(sum(o.train.wall_time for o in outs))}

    stored = cache.get_or_compute(f"{prefix}groups-{labels_key(labels)}", _train)
    return {"labels": stored["labels"].numpy(), "groups": [list(g) for g in stored["groups"]],
            "returns": stored["returns"].numpy(),
            "success": None if stored["success"] is None else stored["success"].numpy(),
            "train_seconds": float(stored["train_seconds"])}


def seed_summary(values: Sequence[float | None]) -> dict[str, Any]:
    """{"mean", "std", "seeds"} over per-seed scores; std is the sample std (ddof=1), 0 for one seed;
    all None when any seed is None (a method that was not measured)."""
    vals = list(values)
    if not vals or any(v is None for v in vals):
        return {"mean": None, "std": None, "seeds": [None] * len(vals)}
    arr = np.asarray(vals, dtype=float)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "seeds": [float(v) for v in arr]}


def finite_mean(x) -> float | None:
    """Mean of the finite entries of `x`, None when there is none."""
    arr = np.asarray(x, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else None


def check_int_list(name: str, values: Any, lo: int, hi: int | None = None, allow_empty: bool = False) -> list[int]:
    """`values` as a list of distinct integers in lo..hi; `ConfigError` naming `name` otherwise."""
    from .config import ConfigError

    allowed = f"a non-empty list of distinct integers in {lo}..{hi if hi is not None else '∞'}"
    ok = isinstance(values, (list, tuple)) and (allow_empty or len(values) > 0)
    ok = ok and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
    ok = ok and all(v >= lo and (hi is None or v <= hi) for v in values) and len(set(values)) == len(values)
    if not ok:
        raise ConfigError(f"invalid {name}={values!r}: allowed {allowed}")
    return [int(v) for v in values]
