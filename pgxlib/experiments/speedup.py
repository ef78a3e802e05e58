"""Surrogate accuracy and cost (PAPER.md, "Surrogate accuracy and cost"): estimated vs. measured affinity.

For every policy depth L (hidden layers of the MLP) the shared meta-policy θ*_L (`pipeline.shared_meta_policy`,
the profile's meta-training budget with ``net.depth = L``) is the common starting point of two ways of scoring
the same m random subsets S_l:

- ESTIMATED (PolicyGradEx): rollouts of θ* and their projected gradient features, the surrogate fits of all m
  subsets, the configured score f̂_i(S_l) (`pipeline.estimate_scores`), the affinity and the SDP clustering;
- MEASURED ("full training"): for every subset, a copy of θ* fine-tuned with PPO on the subset's tasks
  (`finetune_steps` environment steps per task) and evaluated by rollouts on each of them, f_i(S_l) = mean
  return; then the same affinity and the same SDP clustering. Subsets run in parallel over `n_jobs`
  processes (joblib, loky), one torch thread each, seeds fixed per subset, so the numbers do not depend on
  `n_jobs`.

Both sides are timed in the same run (wall and CPU seconds per stage). Meta-training θ* is shared by both and
excluded from `speedup` (the scorecard's number); `speedup_with_meta` adds it to both sides.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pgxlib.analysis.speedup import random_nmi_floor, rank_correlation, speedup
from pgxlib.cluster import nmi
from pgxlib.config import (
    MAX_DEPTH,
    MAX_STEPS_PER_TASK,
    MAX_SUBSETS,
    PipelineConfig,
    PPOConfig,
    check_int,
    check_int_list,
    pipeline_config,
    progress_default,
    to_dict,
)
from pgxlib.estimate.affinity import compute_affinity, sample_subsets
from pgxlib.estimate.features import compute_features
from pgxlib.estimate.projector import Projector
from pgxlib.estimate.surrogate import surrogate_fit
from pgxlib.evaluate import evaluate_policy
from pgxlib.nets import actor_params, flat_params, get_device
from pgxlib.pipeline import cluster, estimate_scores, new_policy, shared_meta_policy
from pgxlib.rl.ppo import train_ppo
from pgxlib.rollout import collect_rollout
from pgxlib.tasks import TaskFamily, make_family

PARAMETERS: dict[str, Any] = {"depths": (2, 4, 8), "n_subsets": None, "finetune_steps": None, "n_jobs": 2}
EXPECTED_KEYS = ("metrics.nmi", "metrics.speedup", "metrics.rank_correlation", "metrics.rank_correlation_centred",
                 "metrics.random_nmi", "metrics.by_layers", "metrics.headline_depth", "metrics.budget",
                 "metrics.stage_times", "arrays.members")

# The `default` profile's budget of this experiment (None elsewhere: the profile's own m and group_ppo budget).
# Fine-tuning every subset for the profile's full group budget (30k-60k steps per task) would take hours here.
BUDGET = {"default": {"n_subsets": 30, "finetune_steps": 4096}}
RANDOM_DRAWS = 100
THREADS = 1  # torch threads of the estimating process (each fine-tuning worker has one too)
MAX_JOBS = 64


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------

def budget(profile: str, family: str, seed: int, n_subsets: int | None, finetune_steps: int | None) -> tuple[int, int]:
    """(m, fine-tuning steps per task): the given values, else this experiment's budget of the profile."""
    cfg = pipeline_config(profile, family, seed=seed)
    own = BUDGET.get(profile, {})
    m = n_subsets if n_subsets is not None else own.get("n_subsets", cfg.affinity.n_subsets)
    steps = finetune_steps if finetune_steps is not None else own.get("finetune_steps", cfg.group_ppo.steps_per_task)
    return int(m), int(steps)


def config_for(profile: str, family: str, seed: int, depth: int, n_subsets: int) -> PipelineConfig:
    """The pipeline configuration of one depth: the profile's, with ``net.depth = depth`` and m subsets."""
    return pipeline_config(profile, family, seed=seed, depth=depth, n_subsets=n_subsets)


def finetune_config(cfg: PipelineConfig, steps: int) -> PPOConfig:
    """The group fine-tuning PPO of the profile with `steps` environment steps per task."""
    return dataclasses.replace(cfg.group_ppo, steps_per_task=steps)


def headline_depth(profile: str, family: str, depths) -> int:
    """The depth whose numbers are the result's headline: the profile's own depth if measured, else the first."""
    own = pipeline_config(profile, family).net.depth
    return own if own in depths else int(depths[0])


def check(profile: str, family: str, seed: int, depths=(2, 4, 8), n_subsets=None, finetune_steps=None,
          n_jobs=2) -> None:
    cfg = pipeline_config(profile, family, seed=seed)
    check_int_list("depths", depths, 1, MAX_DEPTH)
    if n_subsets is not None:
        check_int("n_subsets", n_subsets, 1, MAX_SUBSETS)
    check_int("n_jobs", n_jobs, 1, MAX_JOBS)
    if finetune_steps is not None:
        check_int("finetune_steps", finetune_steps,
                  cfg.group_ppo.steps_per_iteration, MAX_STEPS_PER_TASK)
    m, _ = budget(profile, family, seed, n_subsets, finetune_steps)
    config_for(profile, family, seed, int(depths[0]), m)


# ---------------------------------------------------------------------------------------------
# The two sides
# ---------------------------------------------------------------------------------------------

class _Clock:
    """Wall and process-CPU seconds of named stages."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def run(self, name: str, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        self.wall[name] = time.perf_counter() - w
        self.cpu[name] = time.process_time() - c
        return out


def estimated_side(policy, fam, cfg: PipelineConfig, members: np.ndarray, device, progress: bool) -> dict:
    """PolicyGradEx's scores, affinity and clustering of `members` from θ* = `policy`, each stage timed."""
    clock = _Clock()
    n = fam.n_tasks
    theta = flat_params(actor_params(policy.actor))
    projector = Projector(theta.numel(), cfg.features.proj_dim, seed=cfg.features.seed + cfg.seed)

    def _features():
        rollout = collect_rollout(policy, fam, list(range(n)), cfg.features.steps_per_task, cfg.meta_ppo.num_envs,
                                  cfg.meta_ppo.gamma, cfg.meta_ppo.gae_lambda, cfg.seed + 17, device)
        return rollout, compute_features(policy.actor, rollout, projector, cfg.features.chunk_size,
                                         cfg.features.heldout_frac, cfg.features.seed + cfg.seed, progress)
    rollout, features = clock.run("features", _features)
    fit = clock.run("surrogate", lambda: surrogate_fit(features, members, projector, float(theta.norm()),
                                                       cfg.surrogate))
    scores = clock.run("scores", lambda: estimate_scores(policy, fam, rollout, features, members, fit, projector,
                                                         cfg, device))

    def _cluster():
        aff = compute_affinity(members, scores)
        return aff, cluster(aff, cfg)[0]
    affinity, labels = clock.run("cluster", _cluster)
    return {"scores": torch.as_tensor(scores), "affinity": torch.as_tensor(affinity.normalized),
            "labels": torch.as_tensor(labels), "wall": clock.wall, "cpu": clock.cpu,
            "rel_dist": torch.as_tensor(fit.rel_dist.cpu().numpy())}


REPEAT_SEED_STRIDE = 100_003
"""Seed offset between repeats of the measured side: repeat r fine-tunes and evaluates with seeds shifted
by r times this prime, so repeats share nothing but θ* and the subsets."""


def finetune_and_evaluate(family: TaskFamily, cfg: PipelineConfig, state_dict: dict, tasks: list[int],
                          ppo: PPOConfig, subset: int, repeat: int = 0) -> dict:
    """f_i(S) for one subset S = `tasks` of `family` (any `TaskFamily`, a user's own too): θ* (`state_dict`)
    fine-tuned by PPO on S, then evaluated on each task.

    Runs on one torch thread (restored afterwards); seeds depend on `cfg.seed`, `subset` and `repeat` only,
    so the numbers are the same in any process. Returns {"returns": [|S|], "wall": s, "cpu": s}.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        device = get_device(cfg.device)
        shift = REPEAT_SEED_STRIDE * repeat
        policy = new_policy(family, cfg, cfg.seed, device)
        policy.load_state_dict(state_dict)
        train_ppo(policy, family, list(tasks), ppo, cfg.seed + 1000 + subset + shift, device, progress=False)
        ev = evaluate_policy(policy, family, [family.source[i] for i in tasks], list(tasks), cfg.evaluation.episodes,
                             cfg.seed + 1 + subset + shift, cfg.evaluation.deterministic, device)
        return {"returns": np.asarray(ev.mean_return, dtype=float), "wall": time.perf_counter() - wall,
                "cpu": time.process_time() - cpu}
    finally:
        torch.set_num_threads(threads)


def _warm_up() -> int:
    return 0


def measured_scores(family: TaskFamily, cfg: PipelineConfig, state_dict: dict, members: np.ndarray, ppo: PPOConfig,
                    n_jobs: int, progress: bool = False, repeat: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f_i(S_l) for every subset by fine-tuning and evaluation, [m, n] (NaN off the subsets); `repeat`
    selects independent fine-tuning and evaluation seeds (`REPEAT_SEED_STRIDE`).

    Also returns the per-subset wall and CPU seconds [m] of the workers.
    """
    from joblib import Parallel, delayed

    jobs = [delayed(finetune_and_evaluate)(family, cfg, state_dict, [int(i) for i in np.flatnonzero(row)], ppo, l,
                                           repeat)
            for l, row in enumerate(members)]
    runner = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")
    outs = list(tqdm(runner(jobs), total=len(jobs), desc="fine-tune subsets", disable=not progress))
    scores = np.full(members.shape, np.nan)
    for l, out in enumerate(outs):
        scores[l, np.flatnonzero(members[l])] = out["returns"]
    return scores, np.array([o["wall"] for o in outs]), np.array([o["cpu"] for o in outs])


def measured_side(policy, family: TaskFamily, cfg: PipelineConfig, members: np.ndarray, ppo: PPOConfig, n_jobs: int,
                  progress: bool, repeat: int = 0) -> dict:
    """Scores, affinity and clustering of `members` by really fine-tuning θ* on each subset of `family`,
    each stage timed; `repeat` selects independent seeds."""
    clock = _Clock()
    state = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
    scores, sub_wall, sub_cpu = clock.run("finetune_eval", lambda: measured_scores(family, cfg, state, members, ppo,
                                                                                   n_jobs, progress, repeat))

    def _cluster():
        aff = compute_affinity(members, scores)
        return aff, cluster(aff, cfg)[0]
    affinity, labels = clock.run("cluster", _cluster)
    cpu = dict(clock.cpu)
    if n_jobs > 1:  # the workers' CPU seconds, beside this process's own (dispatch, pickling)
        cpu["finetune_eval"] += float(sub_cpu.sum())
    return {"scores": torch.as_tensor(scores), "affinity": torch.as_tensor(affinity.normalized),
            "labels": torch.as_tensor(labels), "wall": clock.wall, "cpu": cpu,
            "subset_wall": torch.as_tensor(sub_wall), "subset_cpu": torch.as_tensor(sub_cpu)}


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------

def _depth_metrics(est: dict, true: dict, members: np.ndarray, cfg: PipelineConfig, meta_seconds: float,
                   seed: int) -> dict:
    labels_est, labels_true = est["labels"].numpy(), true["labels"].numpy()
    s_est, s_true = est["scores"].numpy(), true["scores"].numpy()
    est_wall, true_wall = sum(est["wall"].values()), sum(true["wall"].values())
    est_cpu, true_cpu = sum(est["cpu"].values()), sum(true["cpu"].values())
    floor, floor_std = random_nmi_floor(labels_true, cfg.cluster.k, RANDOM_DRAWS, seed)
    return {
        "nmi": nmi(labels_est, labels_true),
        "rank_correlation": rank_correlation(members, s_est, s_true),
        "rank_correlation_centred": rank_correlation(members, s_est, s_true, centred=True),
        "speedup": speedup(true_wall, est_wall),
        "speedup_cpu": speedup(true_cpu, est_cpu),
        "speedup_with_meta": speedup(true_wall + meta_seconds, est_wall + meta_seconds),
        "random_nmi": floor,
        "random_nmi_std": floor_std,
        "labels_estimated": labels_est.tolist(),
        "labels_measured": labels_true.tolist(),
        "seconds": {"estimated": est_wall, "measured": true_wall, "meta_train": meta_seconds,
                    "estimated_cpu": est_cpu, "measured_cpu": true_cpu},
        "stages": {"estimated": dict(est["wall"]), "measured": dict(true["wall"])},
        "stages_cpu": {"estimated": dict(est["cpu"]), "measured": dict(true["cpu"])},
        "rel_dist_mean": float(est["rel_dist"].mean()),
    }


def compute(profile: str, family: str, seed: int, cache, depths=(2, 4, 8), n_subsets=None, finetune_steps=None,
            n_jobs=2) -> dict:
    """Both sides for every depth, in this process on one torch thread (as each fine-tuning worker).

    One thread: on a small shared machine several torch threads per process oversubscribe the cores
    and slow small-network PPO down many times over; it also makes the CPU-time ratio a like-for-like one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _compute(profile, family, seed, cache, [int(d) for d in depths], n_subsets, finetune_steps, n_jobs)
    finally:
        torch.set_num_threads(threads)


def _compute(profile: str, family: str, seed: int, cache, depths: list[int], n_subsets, finetune_steps,
             n_jobs: int) -> dict:
    import cvxpy  # noqa: F401  (imported before the clocks start, so neither side pays for it)
    from joblib import Parallel, delayed

    progress = progress_default()
    m, steps = budget(profile, family, seed, n_subsets, finetune_steps)
    head = headline_depth(profile, family, depths)
    Parallel(n_jobs=n_jobs, backend="loky")(delayed(_warm_up)() for _ in range(n_jobs))
    by_layers: dict[str, dict] = {}
    arrays: dict[str, np.ndarray] = {}
    stage_times: dict[str, float] = {}
    members = None
    for depth in depths:
        cfg = config_for(profile, family, seed, depth, m)
        device = get_device(cfg.device)
        fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
        policy, _, meta_seconds = shared_meta_policy(fam, cfg, device, progress)
        members = sample_subsets(fam.n_tasks, cfg.affinity.n_subsets, cfg.affinity.subset_size,
                                 cfg.affinity.seed + cfg.seed)
        ppo = finetune_config(cfg, steps)
        est = cache.get_or_compute(f"estimated-d{depth}", lambda: estimated_side(policy, fam, cfg, members, device,
                                                                                  progress))
        true = cache.get_or_compute(f"measured-d{depth}", lambda: measured_side(policy, fam, cfg, members, ppo, n_jobs,
                                                                                 progress))
        row = _depth_metrics(est, true, members, cfg, meta_seconds, seed)
        row["actor_params"] = int(flat_params(actor_params(policy.actor)).numel())
        by_layers[str(depth)] = row
        stage_times[f"d{depth}_meta_train (shared, excluded)"] = meta_seconds
        for side in ("estimated", "measured"):
            for stage, sec in row["stages"][side].items():
                stage_times[f"d{depth}_{side}_{stage}"] = sec
        arrays[f"affinity_estimated_d{depth}"] = est["affinity"].numpy()
        arrays[f"affinity_measured_d{depth}"] = true["affinity"].numpy()
        arrays[f"labels_estimated_d{depth}"] = est["labels"].numpy()
        arrays[f"labels_measured_d{depth}"] = true["labels"].numpy()
        arrays[f"scores_estimated_d{depth}"] = np.ma.masked_invalid(est["scores"].numpy())
        arrays[f"scores_measured_d{depth}"] = np.ma.masked_invalid(true["scores"].numpy())
        arrays[f"subset_seconds_d{depth}"] = true["subset_wall"].numpy()
    cfg = config_for(profile, family, seed, head, m)
    top = by_layers[str(head)]
    arrays["members"] = members.astype(np.int8)
    metrics = {
        "family": family,
        "headline_depth": head,
        "depths": depths,
        "nmi": top["nmi"],
        "speedup": top["speedup"],
        "speedup_cpu": top["speedup_cpu"],
        "speedup_with_meta": top["speedup_with_meta"],
        "rank_correlation": top["rank_correlation"],
        "rank_correlation_centred": top["rank_correlation_centred"],
        "random_nmi": top["random_nmi"],
        "random_nmi_std": top["random_nmi_std"],
        "by_layers": by_layers,
        "budget": {"n_subsets": int(len(members)), "n_subsets_requested": m, "subset_size": cfg.affinity.subset_size,
                   "finetune_steps_per_task": steps, "finetune_iterations": finetune_config(cfg, steps).iterations,
                   "group_ppo_steps_per_task": cfg.group_ppo.steps_per_task, "n_jobs": n_jobs,
                   "eval_episodes": cfg.evaluation.episodes, "score": cfg.affinity.score, "k": cfg.cluster.k,
                   "n_tasks": cfg.n_tasks, "torch_threads_estimated": torch.get_num_threads(),
                   "random_draws": RANDOM_DRAWS},
        "stage_times": stage_times,
    }
    return {"metrics": metrics, "arrays": arrays, "stage_times": stage_times,
            "config": {**to_dict(cfg), "experiment": {"depths": depths, "n_subsets": m, "finetune_steps": steps,
                                                      "n_jobs": n_jobs}}}
