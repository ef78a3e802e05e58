"""Scale: the cost of each stage of PolicyGradEx against the number of tasks n, and what it groups at each n.

For each n of a grid (`N_GRID`: 10, 25, 50, 100 under ``default``), the family is built with ``n_tasks = n``
and the stages of `pgx group` (`pipeline.run_policygradex`) run in order, each timed on its own (wall and
process-CPU seconds) with the peak resident memory of the process during it:

    meta_train  θ* by multitask PPO on the n tasks, the profile's budget per task (trained here, not loaded:
                its cost is what is measured)
    rollout     θ*'s rollouts for the features (`features.steps_per_task` per task)
    features    projected per-sample gradient features G̃ [n · steps, d] (`features.projection`)
    subsets     the m task subsets (`sample_subsets`, with its completion to cover every pair)
    surrogate   the m surrogate fits (blockwise, `surrogate_fit`)
    scores      every θ̂_S scored on each task of S (`affinity.score`, rollout return by default)
    affinity    the affinity matrix U [n, n]
    cluster     the SDP and its rounding into k groups (the profile's k)

The seeds, budgets and calls are those of `run_policygradex`, so the labels at each n are those `pgx group`
finds for ``-p n_tasks n``; what `pgx group` does besides (evaluating θ* and a random policy, and training one
policy per group) is not timed here. The grouping is scored by its NMI with the family's designed groups
(`pgxlib.tasks.design_groups`); families without designed groups get None.

How m grows with n (`M_RULES`):

- ``"profile"`` (default, what `pgx group` does): the profile's m random subsets of `subset_size` tasks,
  completed by `sample_subsets` until every pair of tasks shares a subset (U_ij is undefined otherwise). With
  s = 4 at least ⌈n(n−1)/12⌉ subsets cover the pairs, so m stays at the profile's 60 while that covers them and
  then grows about as n²/11 (≈ 900 at n = 100): the cost of the surrogate and the scores grows like n², not n.
- ``"pairs"``: m = n(n−1)/2 random subsets (the paper's O(n²) rule; 4,950 at n = 100), then completed alike:
  about five times the profile rule's surrogate and scoring cost at n = 100.

Each stage's cost is summarised by the slope of log cost against log n (least squares over the grid): 1 is
linear in n, 2 quadratic. The measurement of each n is one stage (``n<n>``) of the experiment's cache, so an
interrupted run resumes at the first unfinished n (within an n nothing is resumed: a resumed θ* would hide
its cost). An untimed `WARM_UP` run first keeps imports and first calls out of the smallest n's costs.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pgxlib.analysis.agreement import nmi
from pgxlib.analysis.scaling import log_log_slope
from pgxlib.config import (
    CONTROL_FAMILIES,
    MAX_TASKS,
    ConfigError,
    check_choice,
    check_int_list,
    progress_default,
    to_dict,
)
from pgxlib.profiles import pipeline_config
from pgxlib.nets import actor_params, flat_params, get_device, new_policy
from pgxlib.pipeline import (
    affinity_of,
    cluster,
    estimate_scores,
    features_of,
    meta_train,
    projector_of,
    rollout_of_theta,
    subsets_of,
    surrogate_fits,
)
from pgxlib.tasks import design_groups, make_family
from pgxlib.timing import StageClock

PARAMETERS: dict[str, Any] = {"n_grid": None, "m_rule": "profile"}
EXPECTED_KEYS = ("metrics.rows", "metrics.stages", "metrics.wall_slopes", "metrics.cpu_time_slopes",
                 "metrics.m_rule", "arrays.n", "arrays.m", "arrays.wall", "arrays.cpu", "arrays.peak_rss_mib")

N_GRID = {"smoke": (4, 8, 16), "default": (10, 25, 50, 100)}
"""Numbers of tasks n swept when `n_grid` is None (the smoke grid is small: every code path, in seconds)."""
STAGES = ("meta_train", "rollout", "features", "subsets", "surrogate", "scores", "affinity", "cluster")
"""The timed stages, in the order `run_policygradex` runs them."""
M_RULES = ("profile", "pairs")
"""How the number of random subsets m grows with n (see the module docstring)."""
FAMILIES = CONTROL_FAMILIES
"""Families with room for n up to `MAX_TASKS` tasks (Meta-World MT10 has ten)."""
MAX_GRID = 8
WARM_UP = ("smoke", 4)
"""(profile, n) of an untimed run before the first measured n."""
THREADS = 1


def n_grid_of(profile: str, n_grid) -> list[int]:
    """The grid of n, sorted; `ConfigError` for a bad one."""
    values = N_GRID.get(profile, N_GRID["smoke"]) if n_grid is None else n_grid
    check_int_list("n_grid", values, 2, MAX_TASKS)
    if len(values) > MAX_GRID:
        raise ConfigError(f"invalid n_grid={values!r}: allowed 1..{MAX_GRID} distinct integers in 2..{MAX_TASKS}")
    return sorted(int(v) for v in values)


def n_subsets_of(m_rule: str, profile_m: int, n: int) -> int:
    """Random subsets drawn before the pair-coverage completion: the profile's m, or n(n−1)/2."""
    return profile_m if m_rule == "profile" else n * (n - 1) // 2


def config_at(profile: str, family: str, seed: int, n: int, m_rule: str):
    """The `pgx group` configuration of `family` with ``n_tasks = n`` (k and subset size capped at n)."""
    base = pipeline_config(profile, family, seed=seed)
    return pipeline_config(profile, family, seed=seed, n_tasks=n, k=min(base.cluster.k, n),
                           subset_size=min(base.affinity.subset_size, n),
                           n_subsets=n_subsets_of(m_rule, base.affinity.n_subsets, n))


def check(profile: str, family: str, seed: int, n_grid=None, m_rule="profile") -> None:
    check_choice("m_rule", m_rule, M_RULES)
    if family not in FAMILIES:
        raise ConfigError(f"invalid family={family!r}: allowed one of {', '.join(FAMILIES)} (scale needs up to "
                          f"{MAX_TASKS} tasks; metaworld has 10)")
    for n in n_grid_of(profile, n_grid):
        config_at(profile, family, seed, n, m_rule)


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------

def _meta_policy(fam, cfg, device, progress: bool):
    """θ* trained here, then reloaded into a fresh network as `pipeline.shared_meta_policy` does (which reseeds
    torch: the rollouts that follow draw the same actions as in `run_policygradex`)."""
    trained, _ = meta_train(fam, cfg, device, progress)
    policy = new_policy(fam, cfg, cfg.seed, device)
    policy.load_state_dict(trained.state_dict())
    return policy


def measure(profile: str, family: str, seed: int, n: int, m_rule: str, progress: bool = False) -> dict:
    """One PolicyGradEx run on `family` with n tasks, every stage timed (`STAGES`). Returns tensors and plain
    values: wall, cpu, peak_mib [S]; labels [n]; m, the actor's parameter count p, the features' rows N."""
    cfg = config_at(profile, family, seed, n, m_rule)
    device = get_device(cfg.device)
    fam = make_family(cfg.family, n, cfg.seed)
    clock = StageClock()
    policy = clock.run("meta_train", lambda: _meta_policy(fam, cfg, device, progress))
    rollout = clock.run("rollout", lambda: rollout_of_theta(policy, fam, cfg, device))
    projector = projector_of(policy, cfg)
    features = clock.run("features", lambda: features_of(policy, rollout, projector, cfg, progress))
    members = clock.run("subsets", lambda: subsets_of(n, cfg))
    fit = clock.run("surrogate", lambda: surrogate_fits(policy, features, members, projector, cfg))
    scores = clock.run("scores", lambda: estimate_scores(policy, fam, rollout, features, members, fit, projector,
                                                         cfg, device))
    affinity = clock.run("affinity", lambda: affinity_of(members, scores, cfg))
    labels, _ = clock.run("cluster", lambda: cluster(affinity, cfg))
    theta = flat_params(actor_params(policy.actor))
    return {"wall": torch.tensor([clock.wall[s] for s in STAGES], dtype=torch.float64),
            "cpu": torch.tensor([clock.cpu[s] for s in STAGES], dtype=torch.float64),
            "peak_mib": torch.tensor([clock.peak_mib[s] for s in STAGES], dtype=torch.float64),
            "peak_reset": clock.peak_reset, "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64)),
            "m": int(len(members)), "m_random": int(cfg.affinity.n_subsets), "p": int(theta.numel()),
            "features_rows": len(features),
            "k": int(cfg.cluster.k), "subset_size": int(cfg.affinity.subset_size),
            "meta_steps_per_task": int(cfg.meta_ppo.steps_per_task)}


def slopes(ns, costs: np.ndarray) -> dict[str, float | None]:
    """Per stage (columns of `costs` [G, S], `STAGES`) and for the total, the log-log slope against n."""
    out = {s: log_log_slope(ns, costs[:, j]) for j, s in enumerate(STAGES)}
    out["total"] = log_log_slope(ns, costs.sum(axis=1))
    return out


def compute(profile: str, family: str, seed: int, cache, n_grid=None, m_rule="profile") -> dict:
    """Every n of the grid in this process, on one torch thread (the machine's other core is left alone)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _compute(profile, family, seed, cache, n_grid_of(profile, n_grid), m_rule)
    finally:
        torch.set_num_threads(threads)


def _compute(profile, family, seed, cache, ns, m_rule) -> dict:
    progress = progress_default()
    rows, arrays, outs = [], {}, []
    warm: list[bool] = []

    def measured(n: int) -> dict:
        if not warm:  # imports and first calls (cvxpy, torch kernels) would otherwise count at the first n
            measure(WARM_UP[0], family, seed, WARM_UP[1], "profile")
            warm.append(True)
        return measure(profile, family, seed, n, m_rule, progress)

    for n in ns:
        out = cache.get_or_compute(f"n{n}", lambda n=n: measured(n))
        outs.append(out)
        labels = out["labels"].numpy()
        groups = design_groups(make_family(family, n, seed))
        wall, cpu, peak = (out[k].numpy() for k in ("wall", "cpu", "peak_mib"))
        rows.append({"n": n, "m": out["m"], "m_random": out["m_random"], "k": out["k"],
                     "subset_size": out["subset_size"], "p": out["p"], "features_rows": out["features_rows"],
                     "meta_steps_per_task": out["meta_steps_per_task"],
                     "nmi": None if groups is None else nmi(labels, groups),
                     "labels": labels.tolist(), "design_groups": None if groups is None else groups.tolist(),
                     "stages": {s: {"wall": float(wall[j]), "cpu": float(cpu[j]), "peak_rss_mib": float(peak[j])}
                                for j, s in enumerate(STAGES)},
                     "total_wall_seconds": float(wall.sum()), "total_cpu_seconds": float(cpu.sum()),
                     "peak_reset_per_stage": bool(out["peak_reset"])})
        arrays[f"labels_n{n}"] = labels
    wall = np.stack([o["wall"].numpy() for o in outs])
    cpu = np.stack([o["cpu"].numpy() for o in outs])
    peak = np.stack([o["peak_mib"].numpy() for o in outs])
    base = pipeline_config(profile, family, seed=seed)
    metrics = {"family": family, "m_rule": m_rule, "stages": list(STAGES), "rows": rows,
               "wall_slopes": slopes(ns, wall), "cpu_time_slopes": slopes(ns, cpu),
               "projection": base.features.projection, "proj_dim": base.features.proj_dim,
               "score": base.affinity.score, "threads": THREADS,
               "has_design_groups": rows[0]["design_groups"] is not None}
    arrays.update({"n": np.asarray(ns), "m": np.asarray([r["m"] for r in rows]), "wall": wall, "cpu": cpu,
                   "peak_rss_mib": peak})
    return {"metrics": metrics, "arrays": arrays,
            "stage_times": {f"n{n}": float(w) for n, w in zip(ns, wall.sum(axis=1))},
            "config": {**to_dict(base), "experiment": {"n_grid": ns, "m_rule": m_rule, "stages": list(STAGES)}}}
