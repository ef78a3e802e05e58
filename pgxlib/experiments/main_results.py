"""The main results chapter: PolicyGradEx against the grouping and multitask baselines, over seeds.

Protocol (multitask RL, not the paper's meta-RL): for each seed, θ* is the shared meta-policy of
`pipeline_config(profile, family, seed=s)`; every method partitions the n source tasks, fine-tunes one
policy per group from θ* with PPO (`cfg.group_ppo`, the same steps per task for every method) and
evaluates every source task with its own group's policy (`cfg.evaluation`). The score of a method on
a seed is the mean over source tasks of the per-task mean return (and success rate where the family
has one); the table reports mean and sample std over seeds. See `pgxlib.methods` for the methods.

``seeds`` are offsets from the base ``seed``: the runs use seeds ``seed + s``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..clustering import random_grouping
from ..config import ConfigError, pipeline_config
from ..methods import (METHOD_NAMES, NOT_IMPLEMENTED, StageView, cached_group_training, check_int_list, finite_mean,
                       gradient_similarity_labels, seed_summary, stored_features, task_mean_gradients)
from ..nets import get_device
from ..pipeline import progress_default, run_policygradex

PARAMETERS: dict[str, Any] = {"seeds": [0, 1, 2], "k": None}
EXPECTED_KEYS = ("metrics.methods.multitask.mean", "metrics.methods.random_grouping.mean",
                 "metrics.methods.gradient_similarity_grouping.mean", "metrics.methods.policygradex.mean",
                 "metrics.methods.soft_modularization", "metrics.methods.paco", "metrics.theta_star.mean",
                 "metrics.protocol", "metrics.groups.policygradex", "metrics.seeds",
                 "arrays.returns_policygradex", "arrays.returns_multitask")
TRAINED = ("multitask", "random_grouping", "gradient_similarity_grouping", "policygradex")


def configs(profile: str, family: str, seed: int, seeds=(0, 1, 2), k: int | None = None):
    """One `PipelineConfig` per run seed ``seed + s``."""
    offsets = check_int_list("seeds", seeds, 0)
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ConfigError(f"invalid k={k!r}: allowed a positive integer or None (the profile's k)")
    return [pipeline_config(profile, family, seed=seed + s, **({} if k is None else {"k": k})) for s in offsets]


def check(profile: str, family: str, seed: int, **params) -> None:
    configs(profile, family, seed, **params)


def protocol_text(cfg) -> str:
    """The protocol and budget, in one line (stored as ``metrics.protocol``)."""
    e = cfg.evaluation
    return (f"multitask RL on the {cfg.n_tasks} source tasks: θ* = PPO on all tasks "
            f"({cfg.meta_ppo.steps_per_task:,} steps/task); each method fine-tunes one policy per group from θ* "
            f"with PPO ({cfg.group_ppo.steps_per_task:,} steps/task; multitask: one policy on all tasks with the "
            f"same steps/task, hence the same total) and evaluates every source task with its group's policy "
            f"({e.episodes} {'greedy' if e.deterministic else 'sampled'} episode(s) per task). Not the paper's "
            f"meta-RL protocol (MAML per group, 50 unseen target tasks, return after adaptation).")


def run_seed(cfg, cache, progress: bool) -> dict[str, Any]:
    """Every method on one seed: groups, per-task returns and success, scores."""
    prefix = f"seed{cfg.seed}-"
    view = StageView(cache, prefix=prefix)
    res = run_policygradex(cfg, cache=view, progress=progress, train_groups_too=False)
    family, policy, n = res.family, res.policy, res.family.n_tasks
    device = get_device(cfg.device)
    k = cfg.cluster.k if cfg.cluster.k is not None else len(set(res.labels.tolist()))

    feats = stored_features(view)
    grads = task_mean_gradients(feats.G, feats.y, feats.w, feats.task_id, ~feats.heldout, n).numpy()
    gs_labels, gs_sim = gradient_similarity_labels(grads, k)

    labels = {"multitask": np.zeros(n, dtype=np.int64),
              "random_grouping": random_grouping(n, k, cfg.seed),
              "gradient_similarity_grouping": gs_labels,
              "policygradex": res.labels}
    out: dict[str, Any] = {"seed": cfg.seed, "labels": {}, "groups": {}, "returns": {}, "success": {}, "score": {},
                           "success_score": {}, "train_seconds": {}}
    for method, lab in labels.items():
        tr = cached_group_training(cache, prefix, family, policy, lab, cfg, device, progress)
        out["labels"][method] = tr["labels"]
        out["groups"][method] = tr["groups"]
        out["returns"][method] = tr["returns"]
        out["success"][method] = tr["success"]
        out["score"][method] = finite_mean(tr["returns"])
        out["success_score"][method] = None if tr["success"] is None else finite_mean(tr["success"])
        out["train_seconds"][method] = tr["train_seconds"]
    ev = res.meta_eval
    out["theta_star"] = {"returns": ev.mean_return, "success": ev.success, "score": finite_mean(ev.mean_return),
                         "success_score": None if ev.success is None else finite_mean(ev.success)}
    out["affinity"] = res.affinity.normalized
    out["gradient_similarity"] = gs_sim
    out["meta_seconds"] = view.times.get("meta_train", float("nan"))
    out["has_success"] = family.has_success
    out["task_names"] = [t.name for t in family.source]
    return out


def compute(profile: str, family: str, seed: int, cache, **params) -> dict:
    cfgs = configs(profile, family, seed, **params)
    progress = progress_default()
    runs, stage_times = [], {}
    for cfg in cfgs:
        start = time.perf_counter()
        runs.append(run_seed(cfg, cache, progress))
        stage_times[f"seed{cfg.seed}"] = time.perf_counter() - start
        stage_times[f"seed{cfg.seed}-meta_train"] = runs[-1]["meta_seconds"]
    has_success = runs[0]["has_success"]

    methods = {}
    for method in METHOD_NAMES:
        if method in NOT_IMPLEMENTED:
            methods[method] = {"mean": None, "std": None, "seeds": [None] * len(runs), "status": "not implemented yet"}
        else:
            methods[method] = {**seed_summary([r["score"][method] for r in runs]), "status": "measured"}
            if has_success:
                methods[method]["success"] = seed_summary([r["success_score"][method] for r in runs])
    theta_star = seed_summary([r["theta_star"]["score"] for r in runs])
    if has_success:
        theta_star["success"] = seed_summary([r["theta_star"]["success_score"] for r in runs])
    cfg0 = cfgs[0]
    metrics = {
        "family": family,
        "seeds": [c.seed for c in cfgs],
        "k": int(max(len(r["groups"]["policygradex"]) for r in runs)),
        "tasks": runs[0]["task_names"],
        "methods": methods,
        "headline_multitask": "multitask = θ* fine-tuned on all tasks with the group budget (budget-matched)",
        "theta_star": theta_star,
        "protocol": protocol_text(cfg0),
        "budget": {"meta_steps_per_task": cfg0.meta_ppo.steps_per_task,
                   "group_steps_per_task": cfg0.group_ppo.steps_per_task,
                   "total_group_steps": cfg0.group_ppo.steps_per_task * cfg0.n_tasks,
                   "eval_episodes_per_task": cfg0.evaluation.episodes},
        "groups": {m: [r["groups"][m] for r in runs] for m in TRAINED},
        "per_seed": [{"seed": r["seed"], "scores": r["score"], "theta_star": r["theta_star"]["score"]} for r in runs],
        "train_seconds": {m: [r["train_seconds"][m] for r in runs] for m in TRAINED},
    }
    arrays: dict[str, np.ndarray] = {}
    for m in TRAINED:
        arrays[f"returns_{m}"] = np.ma.masked_invalid(np.stack([r["returns"][m] for r in runs]))
        arrays[f"labels_{m}"] = np.stack([r["labels"][m] for r in runs]).astype(np.int64)
        if has_success:
            arrays[f"success_{m}"] = np.ma.masked_invalid(np.stack([r["success"][m] for r in runs]))
    arrays["returns_theta_star"] = np.ma.masked_invalid(np.stack([r["theta_star"]["returns"] for r in runs]))
    if has_success:
        arrays["success_theta_star"] = np.ma.masked_invalid(np.stack([r["theta_star"]["success"] for r in runs]))
    arrays["affinity"] = np.stack([r["affinity"] for r in runs])
    arrays["gradient_similarity"] = np.stack([r["gradient_similarity"] for r in runs])
    arrays["seeds"] = np.asarray(metrics["seeds"], dtype=np.int64)
    return {"metrics": metrics, "arrays": arrays, "stage_times": stage_times, "config": cfg0}
