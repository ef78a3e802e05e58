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

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .affinity import gradient_similarity
from .clustering import sdp_cluster
from .config import PipelineConfig
from .features import GradFeatures
from .metarl import evaluate_targets, meta_train_groups
from .nets import ActorCritic
from .tasks import TaskFamily

METHOD_NAMES = ("multitask", "soft_modularization", "paco", "random_grouping", "gradient_similarity_grouping",
                "policygradex")
"""The methods of the main table, in the paper's order."""
ARCH_OF_METHOD = {"soft_modularization": "soft_modularization", "paco": "paco"}
"""Methods that differ by network architecture (one policy for all tasks); the rest are MLP groupings."""


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
