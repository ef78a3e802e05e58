"""Does a family have a stable task-affinity structure? The noise ceiling against θ*'s and fine-tuning's budgets.

The measured truth of the speedup chapter (θ* fine-tuned by PPO on each of m random subsets S_l, every task of
S_l scored by rollout return) is only evidence when it is reproducible. Here it is measured r times with
independent fine-tuning and evaluation seeds (`finetunes.stored_finetunes`, repeat r, shared with the speedup chapter), each repeat clustered with
the same SDP (k of the profile), and the NOISE CEILING is their agreement: the mean pairwise NMI of the r
clusterings and the mean pairwise correlation of their normalised affinities. A family whose ceiling stays
near the NMI of random partitions has no stable affinity structure at that budget: no estimator can be checked
on it and no grouping can beat another by much.

Two sweeps, method-agnostic (nothing of PolicyGradEx's estimate is used):

- META: θ* trained for each budget of `meta_steps` (environment steps per task, the profile's meta-training
  otherwise), then fine-tuned with `finetune_steps[0]` steps per task. The affinity lives in the gradient θ*
  leaves: a θ* that already solves every task leaves none, and fine-tuning it on any subset is a seed-driven
  random walk. θ*'s return is shown normalised, 0 = the untrained policy, 1 = the θ* of the largest budget.
  The budget with the highest ceiling (ties: the smaller) is where θ* should stop (`chosen_meta_steps`, the
  rule of the method chapter); the profile's `meta_ppo.steps_per_task` is set to it.
- FINE-TUNING: the chosen θ*, fine-tuned with each budget of `finetune_steps`: where the ceiling stops rising.

The result does not depend on the profile's own meta-training budget (`PROFILE_FIELDS_IGNORED`): it is what
chooses that budget, so setting it afterwards leaves the result current.

Where the family was designed with groups (`pgxlib.tasks.design_groups`), the NMI of the repeats' mean truth
with those groups is reported too.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pgxlib.analysis.agreement import nmi
from pgxlib.analysis.speedup import noise_ceiling, random_nmi_floor
from pgxlib.config import (
    MAX_STEPS_PER_TASK,
    MAX_SUBSETS,
    ConfigError,
    check_int,
    check_int_list,
    progress_default,
    to_dict,
)
from pgxlib.profiles import pipeline_config
from pgxlib.evaluate import evaluate_policy
from pgxlib.finetunes import FINETUNE_BUDGET, finetune_config, stored_finetunes
from pgxlib.nets import get_device, new_policy
from pgxlib.pipeline import affinity_of, cluster, shared_meta_policy, subsets_of
from pgxlib.tasks import design_groups, make_family

PARAMETERS: dict[str, Any] = {"meta_steps": None, "finetune_steps": None, "repeats": 3, "n_subsets": None,
                              "n_jobs": 2}
EXPECTED_KEYS = ("metrics.meta_sweep", "metrics.finetune_sweep", "metrics.ceiling", "metrics.random_nmi",
                 "metrics.plateau_finetune_steps", "arrays.members")

META_GRID = {"smoke": (128, 256), "default": (5_000, 15_000, 50_000)}
"""Meta-training budgets (steps per task) swept when `meta_steps` is None."""
PROFILE_FIELDS_IGNORED = ("meta_ppo.steps_per_task",)
"""Fields of the profile entry this experiment sets itself, left out of its results' fingerprint."""
FINETUNE_GRID = {"smoke": (128, 256), "default": (2_048, 4_096, 8_192)}
"""Fine-tuning budgets (steps per task) swept when `finetune_steps` is None. The meta sweep and the headline
ceiling use the speedup chapter's budget (`config.FINETUNE_BUDGET`) when it is in the grid, else the first."""
PLATEAU_TOL = 0.05
"""The fine-tuning budget where the ceiling stops rising: the smallest whose ceiling NMI is within this of the
sweep's best."""
RANDOM_DRAWS = 100
MAX_GRID = 8


def _grid(name: str, values, profile: str, default: dict, lo: int) -> list[int]:
    if values is None:
        values = default.get(profile, default["smoke"])
    check_int_list(name, values, lo, MAX_STEPS_PER_TASK)
    if not 0 < len(values) <= MAX_GRID or len(set(values)) != len(values):
        raise ConfigError(f"invalid {name}={values!r}: allowed 1..{MAX_GRID} distinct step counts")
    return [int(v) for v in values]


def grids(profile: str, family: str, seed: int, meta_steps, finetune_steps) -> tuple[list[int], list[int]]:
    """(meta budgets, sorted; fine-tuning budgets, sorted)."""
    cfg = pipeline_config(profile, family, seed=seed)
    metas = sorted(_grid("meta_steps", meta_steps, profile, META_GRID, cfg.meta_ppo.steps_per_iteration))
    fine = sorted(_grid("finetune_steps", finetune_steps, profile, FINETUNE_GRID, cfg.group_ppo.steps_per_iteration))
    return metas, fine


def best_meta_row(rows: list[dict]) -> dict:
    """The meta-sweep row where θ* should stop: the highest ceiling NMI, ties broken by the affinity correlation,
    then by the smaller budget."""
    def key(r):
        corr = r["noise_ceiling_affinity_corr"]
        return (r["noise_ceiling_nmi"], -1.0 if corr is None else corr, -r["meta_steps"])
    return max(rows, key=key)


def n_subsets_of(profile: str, family: str, seed: int, n_subsets) -> int:
    cfg = pipeline_config(profile, family, seed=seed)
    return int(n_subsets if n_subsets is not None
               else FINETUNE_BUDGET.get(profile, {}).get("n_subsets", cfg.affinity.n_subsets))


def check(profile: str, family: str, seed: int, meta_steps=None, finetune_steps=None, repeats=3, n_subsets=None,
          n_jobs=2) -> None:
    check_int("repeats", repeats, 2, 10)
    check_int("n_jobs", n_jobs, 1, 64)
    if n_subsets is not None:
        check_int("n_subsets", n_subsets, 2, MAX_SUBSETS)
    grids(profile, family, seed, meta_steps, finetune_steps)


def _clustered(members: np.ndarray, scores: np.ndarray, cfg) -> tuple[np.ndarray, np.ndarray]:
    aff = affinity_of(members, scores, cfg)
    return aff.normalized, cluster(aff, cfg)[0]


def ceiling_row(members: np.ndarray, repeats: list[np.ndarray], theta_returns: np.ndarray, cfg,
                groups: np.ndarray | None) -> dict:
    """The noise ceiling of r repeated measurements `repeats` ([m, n] returns, NaN off the subsets each), the
    gain of fine-tuning over θ* (`theta_returns` [n]) and, with designed `groups`, their recovery."""
    clustered = [_clustered(members, s, cfg) for s in repeats]
    ceiling = noise_ceiling([lab for _, lab in clustered], [aff for aff, _ in clustered])
    mean_scores = np.mean(repeats, axis=0)
    _, mean_labels = _clustered(members, mean_scores, cfg)
    gain = np.nanmean(mean_scores - theta_returns[None, :], axis=0)
    row = {"noise_ceiling_nmi": ceiling["noise_ceiling_nmi"],
           "noise_ceiling_affinity_corr": (float(ceiling["noise_ceiling_affinity_corr"])
                                           if np.isfinite(ceiling["noise_ceiling_affinity_corr"]) else None),
           "pairs_nmi": ceiling["pairs_nmi"],
           "finetune_gain": float(np.mean(gain)), "finetune_gain_per_task": gain.tolist(),
           "labels_mean_truth": mean_labels.tolist()}
    if groups is not None:
        row["design_nmi"] = nmi(mean_labels, groups)
        row["design_nmi_per_repeat"] = [nmi(lab, groups) for _, lab in clustered]
    return row


def compute(profile: str, family: str, seed: int, cache, meta_steps=None, finetune_steps=None, repeats=3,
            n_subsets=None, n_jobs=2) -> dict:
    """Both sweeps in this process on one torch thread (as each fine-tuning worker)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _compute(profile, family, seed, cache, meta_steps, finetune_steps, int(repeats), n_subsets,
                        int(n_jobs))
    finally:
        torch.set_num_threads(threads)


def _compute(profile, family, seed, cache, meta_steps, finetune_steps, repeats, n_subsets, n_jobs) -> dict:
    progress = progress_default()
    metas, fines = grids(profile, family, seed, meta_steps, finetune_steps)
    m = n_subsets_of(profile, family, seed, n_subsets)
    base = pipeline_config(profile, family, seed=seed, n_subsets=m)
    device = get_device(base.device)
    fam = make_family(base.family, base.n_tasks, base.seed)
    groups = design_groups(fam)
    members = subsets_of(fam.n_tasks, base, m)
    episodes, eval_seed = base.evaluation.episodes, base.seed + 5_003

    def evaluate(policy) -> np.ndarray:
        ev = evaluate_policy(policy, fam, list(fam.source), list(range(fam.n_tasks)), episodes, eval_seed,
                             base.evaluation.deterministic, device)
        return torch.as_tensor(np.asarray(ev.mean_return, dtype=float))

    untrained = cache.get_or_compute("untrained", lambda: {"returns": evaluate(new_policy(fam, base, base.seed,
                                                                                          device))})["returns"].numpy()
    stage_times: dict[str, float] = {}

    def measure(meta: int, fine: int) -> dict:
        cfg = pipeline_config(profile, family, seed=seed, n_subsets=m, meta_steps=meta)
        policy, _, meta_seconds = shared_meta_policy(fam, cfg, device, progress)
        stage_times[f"meta_train_{meta}"] = meta_seconds
        theta = cache.get_or_compute(f"theta-{meta}", lambda: {"returns": evaluate(policy)})["returns"].numpy()
        state = {k: v.detach().cpu() for k, v in policy.state_dict().items()}
        ppo = finetune_config(cfg, fine)
        reps = []
        for r in range(repeats):
            out = stored_finetunes(fam, cfg, state, members, ppo, n_jobs, progress, r)
            stage_times[f"measured-{meta}-{fine}-r{r}"] = out["seconds"]
            reps.append(out["returns"])
        row = ceiling_row(members, reps, theta, cfg, groups)
        return {"meta_steps": meta, "finetune_steps": fine, "theta_return": float(np.mean(theta)),
                "theta_returns": theta.tolist(), **row}

    target = FINETUNE_BUDGET.get(profile, {}).get("finetune_steps")
    sweep_fine = target if target in fines else fines[0]
    meta_rows = [measure(b, sweep_fine) for b in metas]
    top = meta_rows[-1]["theta_return"]
    for row in meta_rows:
        span = top - float(np.mean(untrained))
        row["theta_return_normalised"] = (row["theta_return"] - float(np.mean(untrained))) / span if span else None
    chosen = best_meta_row(meta_rows)["meta_steps"]
    fine_rows = [next(r for r in meta_rows if r["meta_steps"] == chosen) if f == sweep_fine else measure(chosen, f)
                 for f in fines]
    best = max(r["noise_ceiling_nmi"] for r in fine_rows)
    plateau = next(r["finetune_steps"] for r in fine_rows if r["noise_ceiling_nmi"] >= best - PLATEAU_TOL)
    headline = next(r for r in fine_rows if r["finetune_steps"] == sweep_fine)
    floor, floor_std = random_nmi_floor(np.asarray(headline["labels_mean_truth"]), base.cluster.k, RANDOM_DRAWS,
                                        seed)
    metrics = {
        "family": family, "k": base.cluster.k, "repeats": repeats, "n_subsets": int(len(members)),
        "subset_size": base.affinity.subset_size, "eval_episodes": episodes,
        "chosen_meta_steps": chosen, "meta_sweep": meta_rows, "finetune_sweep": fine_rows,
        "ceiling": {key: headline.get(key) for key in ("meta_steps", "finetune_steps", "noise_ceiling_nmi",
                                                       "noise_ceiling_affinity_corr", "design_nmi")},
        "random_nmi": floor, "random_nmi_std": floor_std,
        "untrained_return": float(np.mean(untrained)),
        "plateau_finetune_steps": plateau, "plateau_tol": PLATEAU_TOL,
        "has_design_groups": groups is not None,
        "design_groups": None if groups is None else groups.tolist(),
    }
    return {"metrics": metrics, "arrays": {"members": members.astype(np.int8)}, "stage_times": stage_times,
            "config": {**to_dict(base), "experiment": {"meta_steps": metas, "finetune_steps": fines,
                                                       "repeats": repeats, "n_subsets": m, "n_jobs": n_jobs}}}
