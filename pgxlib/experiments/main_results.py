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

References (`methods.REFERENCE_METHODS`, meta-RL only), stored beside the methods and listed in
``metrics.references``: ``truth_grouping`` clusters, with the same SDP and k as PolicyGradEx, the MEASURED
affinity of the seed's θ*: θ* fine-tuned on each subset PolicyGradEx sampled (`finetunes.stored_finetunes`, the
fine-tuning budget of the family where its structure chapter measured the noise ceiling,
`finetunes.family_finetune_steps`, the same as the speedup chapter's truth; `FINETUNE_JOBS` processes) and scored
by the truth's evaluator of the speedup chapter (`truth.COMPARISONS`); ``design_grouping`` takes the family's
designed groups (`tasks.design_groups`: planted, cartpole, nav2d). They are trained and scored exactly like the
methods, so per-seed paired differences are meaningful; each seed's groups and their NMI with the designed groups
are stored. The truth's fine-tuning per seed, estimated for `default` from the stored speedup results (60 subsets;
about 70 s at 4,096 steps on planted, 115 s on nav2d, 120 s on cartpole, 190 s on lunarlander, 6,500 s on highway,
scaled to each family's budget): planted ≈ 70 s (4,096 steps), nav2d ≈ 60 s (2,048), cartpole ≈ 480 s (16,384),
lunarlander ≈ 760 s (16,384), highway ≈ 810 s (512).

Meta-World (MT10) has no reference: no grouping of MT10 is argued from its tasks, so no design grouping is
invented, and a truth grouping is not worth its cost there. Measured on the stored `default` results: the
speedup chapter fine-tunes MT10's θ* on 31 subsets at 4,096 steps per task in 430-475 s (2 processes), so the
60 subsets of PolicyGradEx's estimate cost about 900 s per seed, and the truth's groups need one more Soft
Modularization training of every task (1,190-1,330 s for a grouping): about 2,150 s per seed on top of the
8,400 s a seed costs today (θ* and seven trainings), a quarter more, for groups clustered from a measured
affinity whose noise ceiling at that budget is 0.11 NMI (the speedup chapter): mostly noise, bounding nothing.

Meta-World (MT10) uses the paper's **multi-objective** protocol instead (`compute_multi_objective`): no
target tasks and no adaptation. Per seed, θ* and its gradient features only serve the groupings; every
method trains its policies from scratch with PPO on their own source tasks (`cfg.group_ppo`, the same steps
per task for every method; `training.trained_groups`), and every one of the 10 tasks is evaluated with its
group's policy over `cfg.evaluation.episodes` greedy episodes with the goals of the benchmark seed. The score
is the success rate (an episode succeeds when ``info["success"]`` is ever 1) averaged over the tasks; the
table reports mean and sample std over seeds. Methods: `methods.MULTI_OBJECTIVE_METHODS` (CARE included).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from pgxlib.analysis.agreement import nmi
from pgxlib.analysis.stats import finite_mean, seed_summary
from pgxlib.cluster import labels_key, random_grouping
from pgxlib.config import MAX_TASKS, check_int, check_int_list, progress_default
from pgxlib.profiles import apply_overrides, pipeline_config
from pgxlib.estimate.gradient_similarity import gradient_similarity_labels, task_mean_gradients
from pgxlib.truth import COMPARISONS, ppo_truth_scores
from pgxlib.finetunes import family_finetune_steps, finetune_config, stored_finetunes
from pgxlib.methods import (
    ARCH_OF_METHOD,
    GROUP_ARCH,
    METHOD_NAMES,
    MULTI_OBJECTIVE_METHODS,
    REFERENCE_METHODS,
    SINGLE_POLICY_ARCH,
    cached_meta_rl,
    trained_groups,
)
from pgxlib.nets import get_device
from pgxlib.pipeline import affinity_of, cluster, run_policygradex, shared_meta_policy
from pgxlib.store.cache import StageView
from pgxlib.tasks import MULTI_OBJECTIVE, design_groups, make_family, protocol_of

PARAMETERS: dict[str, Any] = {"seeds": [0, 1, 2], "k": None}
EXPECTED_KEYS = (*(f"metrics.methods.{m}.mean" for m in METHOD_NAMES), "metrics.protocol",
                 "metrics.groups.policygradex", "metrics.seeds", "metrics.budget")
"""What every main result has; each protocol's own keys are `META_RL_KEYS` and `MULTI_OBJECTIVE_KEYS`."""
META_RL_KEYS = ("metrics.methods.truth_grouping.mean", "metrics.references", "arrays.affinity_measured",
                *(f"metrics.methods.{m}.before.mean" for m in METHOD_NAMES), "metrics.theta_star.mean",
                "arrays.after_policygradex", "arrays.before_multitask", "arrays.curve_post_multitask",
                "arrays.source_params", "arrays.target_params", "arrays.assigned")
MULTI_OBJECTIVE_KEYS = (*(f"metrics.methods.{m}.success.mean" for m in MULTI_OBJECTIVE_METHODS),
                        "metrics.env", "metrics.throughput", "arrays.success_policygradex",
                        "arrays.curve_success_policygradex", "arrays.curve_steps")


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


REFERENCE_NOTES = {
    "truth_grouping": "reference: the SDP with PolicyGradEx's k on the measured affinity of θ*",
    "design_grouping": "reference: the groups the family was designed with",
}
FINETUNE_JOBS = 2
"""Processes fine-tuning θ* on the subsets for ``truth_grouping`` (the speedup chapter's default, so the stored
fine-tunes of one are the other's when the subsets agree)."""


def design_nmi(cfgs, runs) -> dict[str, list[float]] | None:
    """Per grouping method (references included), the NMI of its groups with the family's designed groups on each
    seed (None when the family has none, `pgxlib.tasks.design_groups`)."""
    designed = [design_groups(make_family(c.family, c.n_tasks, c.seed)) for c in cfgs]
    if any(d is None for d in designed):
        return None
    grouping = ("random_grouping", "gradient_similarity_grouping", "policygradex", *REFERENCE_METHODS)
    return {m: [nmi(r["runs"][m]["labels"], d) for r, d in zip(runs, designed)] for m in grouping if m in runs[0]["runs"]}


def finetune_steps(profile: str, cfg) -> int:
    """The fine-tuning budget of the measured affinity (steps per task): the family's own, where its structure
    chapter found the noise ceiling (`finetunes.family_finetune_steps`), the same as the speedup chapter's truth."""
    return family_finetune_steps(profile, cfg.family, cfg)


def truth_grouping(res, cfg, k: int, steps: int, progress: bool) -> dict[str, Any]:
    """The SDP (PolicyGradEx's path, k groups) on the measured affinity of θ* = ``res.policy``: θ* fine-tuned on
    each subset ``res.members`` [m, n] for `steps` steps per task, scored by the speedup chapter's truth of the
    run's evaluator. Returns {"labels": [n], "affinity": [n, n], "score": the truth's evaluator, "seconds"}."""
    state = {key: v.detach().cpu() for key, v in res.policy.state_dict().items()}
    out = stored_finetunes(res.family, cfg, state, res.members, finetune_config(cfg, steps), FINETUNE_JOBS, progress)
    score = COMPARISONS[cfg.affinity.score][1]
    if score == "ppo":
        scores = ppo_truth_scores(res.policy, res.rollout.select(res.features.heldout), out["actors"], res.members)
    else:
        scores = out["returns" if score == "rollout" else "success"]
    affinity = affinity_of(res.members, scores, cfg)
    labels, _ = cluster(affinity, apply_overrides(cfg, {"k": k}))
    return {"labels": np.asarray(labels, dtype=np.int64), "affinity": affinity.normalized, "score": score,
            "seconds": float(out["seconds"])}


def run_seed(cfg, cache, progress: bool, steps: int) -> dict[str, Any]:
    """Every method and reference on one seed: groups, target returns before and after adaptation, MAML curves;
    `steps` is the truth grouping's fine-tuning budget per task."""
    prefix = f"seed{cfg.seed}-"
    view = StageView(cache, prefix=prefix)
    res = run_policygradex(cfg, cache=view, progress=progress, train_groups_too=False)
    family, n = res.family, res.family.n_tasks
    device = get_device(cfg.device)
    k = cfg.cluster.k if cfg.cluster.k is not None else len(set(res.labels.tolist()))

    feats = res.features
    grads = task_mean_gradients(feats.G, feats.y, feats.w, feats.task_id, ~feats.heldout, n).numpy()
    gs_labels, gs_sim = gradient_similarity_labels(grads, k)
    one_group = np.zeros(n, dtype=np.int64)
    labels = {"multitask": one_group, "soft_modularization": one_group, "paco": one_group,
              "random_grouping": random_grouping(n, k, cfg.seed), "gradient_similarity_grouping": gs_labels,
              "policygradex": res.labels}
    truth = truth_grouping(res, cfg, k, steps, progress)
    labels["truth_grouping"] = truth["labels"]
    designed = design_groups(family)
    if designed is not None:
        labels["design_grouping"] = designed
    starts, start_seconds = {"mlp": res.policy}, {"mlp": view.times.get("meta_train", float("nan"))}
    for arch in sorted(set(ARCH_OF_METHOD.values())):
        policy, _, seconds = shared_meta_policy(family, apply_overrides(cfg, {"arch": arch}), device, progress)
        starts[arch], start_seconds[arch] = policy, seconds

    out: dict[str, Any] = {"seed": cfg.seed, "runs": {}, "stage_seconds": {f"{prefix}finetune": truth["seconds"]}}
    for method in labels:
        tag = ARCH_OF_METHOD.get(method, "mlp")
        out["runs"][method] = cached_meta_rl(family, starts[tag], labels[method], cfg, device, progress, tag)
        out["stage_seconds"][f"{prefix}metarl-{tag}-{labels_key(labels[method])}"] = out["runs"][method]["seconds"]
    ev = res.meta_eval
    out["theta_star"] = {"returns": ev.mean_return, "score": finite_mean(ev.mean_return)}
    out["affinity"] = res.affinity.normalized
    out["affinity_measured"], out["truth_score"] = truth["affinity"], truth["score"]
    out["gradient_similarity"] = gs_sim
    out["start_seconds"] = start_seconds
    out["has_success"] = family.has_success
    out["task_names"] = [t.name for t in family.source]
    out["target_names"] = [t.name for t in family.target[:cfg.meta_rl.n_targets]]
    out["source_params"] = task_param_matrix(family, family.source)
    out["target_params"] = task_param_matrix(family, family.target[:cfg.meta_rl.n_targets])
    out["param_names"] = list(family.param_ranges)
    return out


def expected_keys(family: str) -> tuple[str, ...]:
    """`EXPECTED_KEYS` and the keys of the family's protocol."""
    return (*EXPECTED_KEYS, *(MULTI_OBJECTIVE_KEYS if protocol_of(family) == MULTI_OBJECTIVE else META_RL_KEYS))


def compute(profile: str, family: str, seed: int, cache, **params) -> dict:
    if protocol_of(family) == MULTI_OBJECTIVE:
        return compute_multi_objective(profile, family, seed, cache, **params)
    return compute_meta_rl(profile, family, seed, cache, **params)


def compute_meta_rl(profile: str, family: str, seed: int, cache, **params) -> dict:
    cfgs = configs(profile, family, seed, **params)
    progress = progress_default()
    runs, stage_times = [], {}
    steps = finetune_steps(profile, cfgs[0])
    for cfg in cfgs:
        start = time.perf_counter()
        runs.append(run_seed(cfg, cache, progress, steps))
        stage_times[f"seed{cfg.seed}"] = time.perf_counter() - start
        stage_times.update(runs[-1]["stage_seconds"])
        for arch, secs in runs[-1]["start_seconds"].items():
            stage_times[f"seed{cfg.seed}-meta_train-{arch}"] = secs
    has_success = runs[0]["has_success"]
    references = [m for m in REFERENCE_METHODS if m in runs[0]["runs"]]
    names = (*METHOD_NAMES, *references)

    def per_seed(method: str, key: str) -> list:
        return [finite_mean(r["runs"][method][key]) for r in runs]

    methods = {}
    for m in names:
        methods[m] = {**seed_summary(per_seed(m, "after")), "before": seed_summary(per_seed(m, "before")),
                      "status": "measured",
                      "train_seconds": [float(r["runs"][m]["train_seconds"]) for r in runs]}
        if has_success:
            methods[m]["success"] = seed_summary(per_seed(m, "success_after"))
            methods[m]["success_before"] = seed_summary(per_seed(m, "success_before"))
    for m in references:
        methods[m]["note"] = REFERENCE_NOTES[m]
    cfg0 = cfgs[0]
    metrics = {
        "family": family,
        "seeds": [c.seed for c in cfgs],
        "k": int(max(len(r["runs"]["policygradex"]["groups"]) for r in runs)),
        "tasks": runs[0]["task_names"],
        "targets": runs[0]["target_names"],
        "param_names": runs[0]["param_names"],
        "methods": methods,
        "references": references,
        "truth": {"score": runs[0]["truth_score"], "finetune_steps_per_task": steps,
                  "n_subsets": int(cfg0.affinity.n_subsets), "n_jobs": FINETUNE_JOBS,
                  "note": "the measured affinity truth_grouping clusters: θ* fine-tuned on PolicyGradEx's subsets"},
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
        "groups": {m: [r["runs"][m]["groups"] for r in runs] for m in names},
        "design_nmi": design_nmi(cfgs, runs),
        "per_seed": [{"seed": r["seed"], "after": {m: finite_mean(r["runs"][m]["after"]) for m in names},
                      "before": {m: finite_mean(r["runs"][m]["before"]) for m in names}} for r in runs],
        "start_seconds": [r["start_seconds"] for r in runs],
    }
    arrays: dict[str, np.ndarray] = {}
    for m in names:
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
    arrays["affinity_measured"] = np.stack([r["affinity_measured"] for r in runs])
    arrays["gradient_similarity"] = np.stack([r["gradient_similarity"] for r in runs])
    arrays["seeds"] = np.asarray(metrics["seeds"], dtype=np.int64)
    return {"metrics": metrics, "arrays": arrays, "stage_times": stage_times, "config": cfg0}


# ---------------------------------------------------------------------------------------------
# The multi-objective protocol (Meta-World)
# ---------------------------------------------------------------------------------------------

def multi_objective_protocol_text(cfg) -> str:
    """The multi-objective protocol and budget, in one line (stored as ``metrics.protocol``)."""
    g, e = cfg.group_ppo, cfg.evaluation
    return (f"multi-objective: every method trains its policies from scratch with PPO on their own source tasks "
            f"({g.steps_per_task:,} environment steps per task, {g.num_envs} env(s) × {g.rollout_len} steps per "
            f"task per iteration); multitask (MLP), Soft Modularization, PaCo and CARE: one policy on all "
            f"{cfg.n_tasks} tasks; random, gradient-similarity and PolicyGradEx grouping: one {GROUP_ARCH} policy "
            f"per group (k = {cfg.cluster.k}), the groups of PolicyGradEx from θ* (MLP, "
            f"{cfg.meta_ppo.steps_per_task:,} PPO steps per task) and its gradient features; every task evaluated with its group's policy over "
            f"{e.episodes} {'greedy' if e.deterministic else 'sampled'} episodes; score = success rate (an episode "
            f"succeeds when info['success'] is ever 1) averaged over the {cfg.n_tasks} tasks. No target tasks, "
            f"no adaptation.")


def multi_objective_labels(cfg, cache, progress: bool) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
    """The partition of every multi-objective method on one seed, the PolicyGradEx run, and extras
    (affinity, gradient similarity) for the record."""
    view = StageView(cache, prefix=f"seed{cfg.seed}-")
    res = run_policygradex(cfg, cache=view, progress=progress, train_groups_too=False)
    n = res.family.n_tasks
    k = cfg.cluster.k if cfg.cluster.k is not None else len(set(res.labels.tolist()))
    feats = res.features
    grads = task_mean_gradients(feats.G, feats.y, feats.w, feats.task_id, ~feats.heldout, n).numpy()
    gs_labels, gs_sim = gradient_similarity_labels(grads, k)
    one_group = np.zeros(n, dtype=np.int64)
    labels = {m: one_group for m in SINGLE_POLICY_ARCH}
    labels.update({"random_grouping": random_grouping(n, k, cfg.seed), "gradient_similarity_grouping": gs_labels,
                   "policygradex": np.asarray(res.labels, dtype=np.int64)})
    extras = {"affinity": res.affinity.normalized, "gradient_similarity": gs_sim,
              "meta_train_seconds": view.times.get("meta_train", float("nan")),
              "theta_star_success": res.meta_eval.success}
    return labels, res, extras


def method_arch(method: str) -> str:
    """The architecture of a multi-objective method's policies."""
    return SINGLE_POLICY_ARCH.get(method, GROUP_ARCH)


def stepping_throughput(family, steps: int, seed: int) -> dict[str, float]:
    """Environment steps per second of the family's tasks stepped together in our vector env (one env per
    task, uniformly random actions, `steps` steps per env), construction excluded."""
    from pgxlib.rollout import TaskVecEnv

    envs = TaskVecEnv(family, list(family.source), list(range(family.n_tasks)), 1, seed)
    rng = np.random.default_rng(seed)
    low, high = envs.envs.single_action_space.low, envs.envs.single_action_space.high
    start = time.perf_counter()
    for _ in range(steps):
        envs.envs.step(rng.uniform(low, high, size=(envs.n_envs, len(low))).astype(np.float32))
    seconds = time.perf_counter() - start
    envs.close()
    return {"env_steps": steps * envs.n_envs, "seconds": seconds, "env_steps_per_second": steps * envs.n_envs / seconds}


def compute_multi_objective(profile: str, family: str, seed: int, cache, **params) -> dict:
    cfgs = configs(profile, family, seed, **params)
    progress = progress_default()
    device = get_device(cfgs[0].device)
    runs, stage_times = [], {}
    for cfg in cfgs:
        start = time.perf_counter()
        labels, res, extras = multi_objective_labels(cfg, cache, progress)
        trained = {m: trained_groups(res.family, labels[m], method_arch(m), cfg, device, progress)
                   for m in MULTI_OBJECTIVE_METHODS}
        runs.append({"seed": cfg.seed, "trained": trained, **extras})
        stage_times[f"seed{cfg.seed}"] = time.perf_counter() - start
        stage_times[f"seed{cfg.seed}-meta_train"] = extras["meta_train_seconds"]
    fam = res.family
    cfg0 = cfgs[0]
    stepping = stepping_throughput(fam, 200 if profile == "smoke" else 500, cfg0.seed)

    methods, throughput = {}, {}
    for m in MULTI_OBJECTIVE_METHODS:
        success = [finite_mean(r["trained"][m]["success"]) for r in runs]
        returns = [finite_mean(r["trained"][m]["returns"]) for r in runs]
        train_seconds = [float(r["trained"][m]["train_seconds"]) for r in runs]
        methods[m] = {**seed_summary(success), "success": seed_summary(success), "returns": seed_summary(returns),
                      "status": "measured", "arch": method_arch(m), "train_seconds": train_seconds,
                      "eval_seconds": [float(r["trained"][m]["eval_seconds"]) for r in runs]}
        steps = runs[0]["trained"][m]["env_steps"]
        throughput[m] = {"ppo_env_steps_per_second": float(np.mean([steps / s for s in train_seconds])),
                         "train_seconds_per_run": float(np.mean(train_seconds))}
    metrics = {
        "family": family,
        "seeds": [c.seed for c in cfgs],
        "k": int(max(len(r["trained"]["policygradex"]["groups"]) for r in runs)),
        "tasks": [t.name for t in fam.source],
        "task_names": [fam.env_kwargs["mt10_names"][int(t.param("mt10_index"))] for t in fam.source],
        "methods": methods,
        "protocol": multi_objective_protocol_text(cfg0),
        "env": {**fam.env_kwargs, "max_episode_steps": fam.max_episode_steps, "reward_scale": fam.reward_scale},
        "budget": {"group_steps_per_task": cfg0.group_ppo.steps_per_task,
                   "meta_steps_per_task": cfg0.meta_ppo.steps_per_task,
                   "num_envs": cfg0.group_ppo.num_envs, "rollout_len": cfg0.group_ppo.rollout_len,
                   "eval_episodes_per_task": cfg0.evaluation.episodes, "group_arch": GROUP_ARCH},
        "groups": {m: [r["trained"][m]["groups"] for r in runs] for m in MULTI_OBJECTIVE_METHODS},
        "theta_star": {**seed_summary([finite_mean(r["theta_star_success"]) for r in runs]),
                       "note": "success of θ* (the MLP the groupings are computed from) on the source tasks"},
        "throughput": {"stepping": stepping, "ppo": throughput},
        "per_seed": [{"seed": r["seed"], "success": {m: finite_mean(r["trained"][m]["success"])
                                                    for m in MULTI_OBJECTIVE_METHODS}} for r in runs],
    }
    arrays: dict[str, np.ndarray] = {}
    for m in MULTI_OBJECTIVE_METHODS:
        for key in ("success", "returns", "curve_success", "curve_returns"):
            arrays[f"{key}_{m}"] = np.ma.masked_invalid(np.stack([r["trained"][m][key] for r in runs]))
        arrays[f"labels_{m}"] = np.stack([r["trained"][m]["labels"] for r in runs]).astype(np.int64)
    arrays["curve_steps"] = np.asarray(runs[0]["trained"]["multitask"]["curve_steps"], dtype=float)
    arrays["affinity"] = np.stack([r["affinity"] for r in runs])
    arrays["gradient_similarity"] = np.stack([r["gradient_similarity"] for r in runs])
    arrays["seeds"] = np.asarray(metrics["seeds"], dtype=np.int64)
    return {"metrics": metrics, "arrays": arrays, "stage_times": stage_times, "config": cfg0}
