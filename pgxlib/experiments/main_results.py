"""The main results chapter: PolicyGradEx against the multitask, architecture and grouping baselines.

Protocol (meta-RL, `pgxlib.metarl`): for each seed, θ* is the shared meta-policy of
`pipeline_config(profile, family, seed=s)` (multitask PPO on the n source tasks). Every method turns
it into meta-policies with first-order MAML (`cfg.maml`, the same steps per source task for every
method) and is scored on the family's unseen target tasks (`cfg.meta_rl`): each target is assigned
to its nearest source task, adapted from that task's group's meta-policy with the MAML inner loop,
and evaluated before and after adaptation. The score of a method on a seed is the mean return over
target tasks after adaptation; the table reports mean and sample std over seeds. Soft
Modularization and PaCo start from a policy of their architecture trained like θ*. See
`pgxlib.methods`.

``seeds`` are offsets from the base ``seed``: the runs use seeds ``seed + s``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from pgxlib.analysis.stats import finite_mean, seed_summary
from pgxlib.cluster import gradient_similarity_labels, nmi, random_grouping
from pgxlib.config import (
    MAX_TASKS,
    apply_overrides,
    check_int,
    check_int_list,
    pipeline_config,
    progress_default,
)
from pgxlib.estimate.affinity import task_mean_gradients
from pgxlib.methods import ARCH_OF_METHOD, METHOD_NAMES, cached_meta_rl, stored_features
from pgxlib.nets import get_device
from pgxlib.pipeline import run_policygradex, shared_meta_policy
from pgxlib.store.cache import StageView
from pgxlib.tasks import design_groups, make_family

PARAMETERS: dict[str, Any] = {"seeds": [0, 1, 2], "k": None}
EXPECTED_KEYS = (*(f"metrics.methods.{m}.mean" for m in METHOD_NAMES),
                 *(f"metrics.methods.{m}.before.mean" for m in METHOD_NAMES),
                 "metrics.theta_star.mean", "metrics.protocol", "metrics.groups.policygradex", "metrics.seeds",
                 "metrics.budget", "arrays.after_policygradex", "arrays.before_multitask", "arrays.curve_post_multitask",
                 "arrays.source_params", "arrays.target_params", "arrays.assigned")


def configs(profile: str, family: str, seed: int, seeds=(0, 1, 2), k: int | None = None):
    """One `PipelineConfig` per run seed ``seed + s``."""
    offsets = check_int_list("seeds", seeds, 0)
    if k is not None:
        check_int("k", k, 1, MAX_TASKS)
    return [pipeline_config(profile, family, seed=seed + s, **({} if k is None else {"k": k})) for s in offsets]


def check(profile: str, family: str, seed: int, **params) -> None:
    configs(profile, family, seed, **params)


def protocol_text(cfg) -> str:
    """The protocol and budget, in one line (stored as ``metrics.protocol``)."""
    m, r = cfg.maml, cfg.meta_rl
    return (f"meta-RL: θ* = multitask PPO on the {cfg.n_tasks} source tasks ({cfg.meta_ppo.steps_per_task:,} "
            f"steps/task); each method meta-trains one policy per group from θ* with first-order MAML "
            f"({m.steps_per_task:,} steps/task, {m.iterations} outer iterations; multitask, Soft Modularization "
            f"and PaCo: one policy on all tasks); {r.n_targets} unseen target tasks, each assigned to its "
            f"{'nearest' if r.assign == 'nearest' else 'a random'} source task's group and adapted with "
            f"{m.inner_updates} policy-gradient step(s) on {m.adaptation_steps} environment steps "
            f"(inner lr {m.inner_lr}); score = mean return over {r.episodes} "
            f"{'greedy' if r.deterministic else 'sampled'} episode(s) per target after adaptation.")


def task_param_matrix(family, tasks) -> np.ndarray:
    """Raw task parameters [len(tasks), n_params] in the order of `family.param_ranges`."""
    return np.array([[float(t.param(k)) for k in family.param_ranges] for t in tasks], dtype=float)


def design_nmi(cfgs, runs) -> dict[str, list[float]] | None:
    """Per grouping method, the NMI of its groups with the family's designed groups on each seed (None when
    the family has none, `pgxlib.tasks.design_groups`)."""
    designed = [design_groups(make_family(c.family, c.n_tasks, c.seed)) for c in cfgs]
    if any(d is None for d in designed):
        return None
    grouping = ("random_grouping", "gradient_similarity_grouping", "policygradex")
    return {m: [nmi(r["runs"][m]["labels"], d) for r, d in zip(runs, designed)] for m in grouping}


def run_seed(cfg, cache, progress: bool) -> dict[str, Any]:
    """Every method on one seed: groups, target returns before and after adaptation, MAML curves."""
    prefix = f"seed{cfg.seed}-"
    view = StageView(cache, prefix=prefix)
    res = run_policygradex(cfg, cache=view, progress=progress, train_groups_too=False)
    family, n = res.family, res.family.n_tasks
    device = get_device(cfg.device)
    k = cfg.cluster.k if cfg.cluster.k is not None else len(set(res.labels.tolist()))

    feats = stored_features(view)
    grads = task_mean_gradients(feats.G, feats.y, feats.w, feats.task_id, ~feats.heldout, n).numpy()
    gs_labels, gs_sim = gradient_similarity_labels(grads, k)
    one_group = np.zeros(n, dtype=np.int64)
    labels = {"multitask": one_group, "soft_modularization": one_group, "paco": one_group,
              "random_grouping": random_grouping(n, k, cfg.seed), "gradient_similarity_grouping": gs_labels,
              "policygradex": res.labels}
    starts, start_seconds = {"mlp": res.policy}, {"mlp": view.times.get("meta_train", float("nan"))}
    for arch in sorted(set(ARCH_OF_METHOD.values())):
        policy, _, seconds = shared_meta_policy(family, apply_overrides(cfg, {"arch": arch}), device, progress)
        starts[arch], start_seconds[arch] = policy, seconds

    out: dict[str, Any] = {"seed": cfg.seed, "runs": {}}
    for method in METHOD_NAMES:
        tag = ARCH_OF_METHOD.get(method, "mlp")
        out["runs"][method] = cached_meta_rl(cache, prefix, family, starts[tag], labels[method], cfg, device,
                                             progress, tag)
    ev = res.meta_eval
    out["theta_star"] = {"returns": ev.mean_return, "score": finite_mean(ev.mean_return)}
    out["affinity"] = res.affinity.normalized
    out["gradient_similarity"] = gs_sim
    out["start_seconds"] = start_seconds
    out["has_success"] = family.has_success
    out["task_names"] = [t.name for t in family.source]
    out["target_names"] = [t.name for t in family.target[:cfg.meta_rl.n_targets]]
    out["source_params"] = task_param_matrix(family, family.source)
    out["target_params"] = task_param_matrix(family, family.target[:cfg.meta_rl.n_targets])
    out["param_names"] = list(family.param_ranges)
    return out


def compute(profile: str, family: str, seed: int, cache, **params) -> dict:
    cfgs = configs(profile, family, seed, **params)
    progress = progress_default()
    runs, stage_times = [], {}
    for cfg in cfgs:
        start = time.perf_counter()
        runs.append(run_seed(cfg, cache, progress))
        stage_times[f"seed{cfg.seed}"] = time.perf_counter() - start
        for arch, secs in runs[-1]["start_seconds"].items():
            stage_times[f"seed{cfg.seed}-meta_train-{arch}"] = secs
    has_success = runs[0]["has_success"]

    def per_seed(method: str, key: str) -> list:
        return [finite_mean(r["runs"][method][key]) for r in runs]

    methods = {}
    for m in METHOD_NAMES:
        methods[m] = {**seed_summary(per_seed(m, "after")), "before": seed_summary(per_seed(m, "before")),
                      "status": "measured",
                      "train_seconds": [float(r["runs"][m]["train_seconds"]) for r in runs]}
        if has_success:
            methods[m]["success"] = seed_summary(per_seed(m, "success_after"))
            methods[m]["success_before"] = seed_summary(per_seed(m, "success_before"))
    cfg0 = cfgs[0]
    metrics = {
        "family": family,
        "seeds": [c.seed for c in cfgs],
        "k": int(max(len(r["runs"]["policygradex"]["groups"]) for r in runs)),
        "tasks": runs[0]["task_names"],
        "targets": runs[0]["target_names"],
        "param_names": runs[0]["param_names"],
        "methods": methods,
        "theta_star": {**seed_summary([r["theta_star"]["score"] for r in runs]),
                       "note": "θ* on the source tasks (no MAML, no adaptation), for scale"},
        "protocol": protocol_text(cfg0),
        "budget": {"meta_steps_per_task": cfg0.meta_ppo.steps_per_task,
                   "maml_steps_per_task": cfg0.maml.steps_per_task,
                   "maml_iterations": cfg0.maml.iterations,
                   "total_maml_steps": cfg0.maml.steps_per_task * cfg0.n_tasks,
                   "adaptation_steps": cfg0.maml.adaptation_steps,
                   "inner_updates": cfg0.maml.inner_updates, "inner_lr": cfg0.maml.inner_lr,
                   "n_targets": cfg0.meta_rl.n_targets, "assign": cfg0.meta_rl.assign,
                   "episodes_per_target": cfg0.meta_rl.episodes},
        "groups": {m: [r["runs"][m]["groups"] for r in runs] for m in METHOD_NAMES},
        "design_nmi": design_nmi(cfgs, runs),
        "per_seed": [{"seed": r["seed"], "after": {m: finite_mean(r["runs"][m]["after"]) for m in METHOD_NAMES},
                      "before": {m: finite_mean(r["runs"][m]["before"]) for m in METHOD_NAMES}} for r in runs],
        "start_seconds": [r["start_seconds"] for r in runs],
    }
    arrays: dict[str, np.ndarray] = {}
    for m in METHOD_NAMES:
        for key in ("after", "before", "curve_post", "curve_pre"):
            arrays[f"{key}_{m}"] = np.ma.masked_invalid(np.stack([r["runs"][m][key] for r in runs]))
        if has_success:
            for key in ("success_after", "success_before"):
                arrays[f"{key}_{m}"] = np.ma.masked_invalid(np.stack([r["runs"][m][key] for r in runs]))
        arrays[f"labels_{m}"] = np.stack([r["runs"][m]["labels"] for r in runs]).astype(np.int64)
        arrays[f"target_group_{m}"] = np.stack([r["runs"][m]["target_group"] for r in runs]).astype(np.int64)
    arrays["curve_steps"] = np.asarray(runs[0]["runs"]["multitask"]["curve_steps"], dtype=float)
    arrays["assigned"] = np.stack([r["runs"]["multitask"]["assigned"] for r in runs]).astype(np.int64)
    arrays["returns_theta_star"] = np.ma.masked_invalid(np.stack([r["theta_star"]["returns"] for r in runs]))
    arrays["source_params"] = runs[0]["source_params"]
    arrays["target_params"] = runs[0]["target_params"]
    arrays["affinity"] = np.stack([r["affinity"] for r in runs])
    arrays["gradient_similarity"] = np.stack([r["gradient_similarity"] for r in runs])
    arrays["seeds"] = np.asarray(metrics["seeds"], dtype=np.int64)
    return {"metrics": metrics, "arrays": arrays, "stage_times": stage_times, "config": cfg0}
