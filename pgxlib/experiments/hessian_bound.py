"""Hessian trace and the generalization bound (PAPER.md, "Generalization analysis": Theorem 1, Figure 2).

Two parts, both from a freshly initialised policy (`nets.new_policy`; W^(0) is its initial actor):

1. **Over training.** Multitask PPO (`rl.ppo.train_ppo`, the profile's `group_ppo` settings, no learning-rate
   annealing) on all n source tasks, run in `checkpoints` equal chunks of `train_steps / checkpoints` steps per
   task (each chunk a new `train_ppo` call, so Adam's moments restart at every checkpoint). After each chunk:
   train loss, test loss, their difference (the observed generalization error), per-layer Hutchinson traces
   (max over mini-batches of the train transitions) and the bound.
2. **Across group sizes.** For each size s in `group_sizes`, `subsets_per_size` random subsets of s source tasks
   (one for s = n), each trained from its own fresh policy for `train_steps` per task; the final gap and bound.

Data and loss. At a measuring point, the current policy is rolled out (`eval_steps` transitions per task,
sampled actions) on the training tasks and on the test tasks; advantages are GAE with the policy's own critic.
The test tasks of a group S are the family's unseen *target* tasks routed to S by `family.nearest_source` (at
most `n_test_tasks` of them; if none is, the one target closest to S), each conditioned on its nearest source
task in S. The loss of a transition is `hessian.bounded_policy_loss` (bounded NLL of the taken action, in
[0, C)) on the advantage-filtered transitions (Â_t above the mean advantage of its task's transitions): how
likely the policy makes the actions that turned out better than the others. Train and test loss are the means of that same ℓ over each set.

Bound: Σ_i sqrt(C · T_i · D_i / N) with T_i the max over `n_batches` mini-batches of `batch_size` filtered train
transitions of the Hutchinson trace (`n_probes` Rademacher probes) of the batch-mean loss's Hessian in layer i,
D_i = ‖W_i − W_i^(0)‖²_F (actor layers only: ℓ depends on the actor alone), N = the number of training
transitions PPO has used so far (steps per task × tasks), C = `loss_cap`; ε omitted.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pgxlib.analysis.hessian import bounded_policy_loss, hessian_bound, layer_dist_sq, max_batch_trace
from pgxlib.config import (
    MAX_FEATURE_STEPS,
    MAX_STEPS_PER_TASK,
    MAX_TASKS,
    ConfigError,
    check_float,
    check_int,
    check_int_list,
    progress_default,
)
from pgxlib.profiles import pipeline_config
from pgxlib.nets import actor_log_prob, actor_params, get_device
from pgxlib.nets import new_policy
from pgxlib.rl.ppo import train_ppo
from pgxlib.rollout import TaskVecEnv
from pgxlib.tasks import TaskFamily, make_family
from pgxlib.timing import StageClock
from pgxlib.transitions import Rollout, gae, to_rollout

PARAMETERS: dict[str, Any] = {"train_steps": None, "checkpoints": None, "group_sizes": None, "subsets_per_size": None,
                              "eval_steps": None, "n_test_tasks": 10, "n_probes": 8, "batch_size": 256,
                              "n_batches": 4, "loss_cap": 1.0}
EXPECTED_KEYS = ("metrics.hessian_trace", "metrics.bound", "metrics.generalization_error", "metrics.train_loss",
                 "metrics.test_loss", "metrics.steps", "metrics.by_group_size", "metrics.bound_to_gap_ratio",
                 "metrics.layers", "arrays.layer_traces", "arrays.layer_dists", "arrays.steps",
                 "arrays.group_sizes", "arrays.group_gap", "arrays.group_bound")
SLOW_FAMILIES = ("highway",)
"""Families whose env steps at a few hundred steps/s: fewer group sizes and one subset per size by default."""


def settings(profile: str, family: str, seed: int, train_steps=None, checkpoints=None, group_sizes=None,
             subsets_per_size=None, eval_steps=None, n_test_tasks=10, n_probes=8, batch_size=256, n_batches=4,
             loss_cap=1.0) -> dict[str, Any]:
    """The knobs with the family's defaults filled in (None = default), and the PPO config of one chunk."""
    cfg = pipeline_config(profile, family, seed=seed)
    n = cfg.n_tasks
    slow = family in SLOW_FAMILIES
    per_iter = cfg.group_ppo.steps_per_iteration
    steps = max(cfg.group_ppo.steps_per_task, 3 * per_iter) if train_steps is None else train_steps
    if checkpoints is None:
        checkpoints = max(1, min(4 if slow else 5, steps // per_iter))
    sizes = group_sizes if group_sizes is not None else (
        [1, max(1, n // 3), n] if slow else sorted({1, 2, 3, n // 2, n} & set(range(1, n + 1))))
    per_size = (1 if slow else 2) if subsets_per_size is None else subsets_per_size
    ev = max(8, cfg.features.steps_per_task // 4) if eval_steps is None else eval_steps
    return {"cfg": cfg, "train_steps": steps, "checkpoints": checkpoints, "group_sizes": sorted(set(sizes)),
            "subsets_per_size": per_size, "eval_steps": ev, "n_test_tasks": n_test_tasks, "n_probes": n_probes,
            "batch_size": batch_size, "n_batches": n_batches, "loss_cap": float(loss_cap)}


def check(profile: str, family: str, seed: int, **params) -> None:
    p = dict(params)
    upper = {"train_steps": MAX_STEPS_PER_TASK, "checkpoints": 50, "subsets_per_size": 100,
             "eval_steps": MAX_FEATURE_STEPS, "n_test_tasks": MAX_TASKS, "n_probes": 1024, "batch_size": 65_536,
             "n_batches": 1024}
    for key, hi in upper.items():
        if p.get(key) is not None:
            check_int(key, p[key], 1, hi)
    check_float("loss_cap", p.get("loss_cap", 1.0), 0, lo_open=True)
    s = settings(profile, family, seed, **p)
    if p.get("group_sizes") is not None:
        check_int_list("group_sizes", p["group_sizes"], 1, s["cfg"].n_tasks)
    if s["eval_steps"] < 8:
        raise ConfigError(f"invalid eval_steps={s['eval_steps']!r}: allowed an integer >= 8")
    per_iter = s["cfg"].group_ppo.steps_per_iteration
    if s["train_steps"] // s["checkpoints"] < per_iter:
        raise ConfigError(f"invalid train_steps={s['train_steps']!r}: allowed at least checkpoints × {per_iter} "
                          f"(one PPO iteration per checkpoint; checkpoints={s['checkpoints']})")


# ---------------------------------------------------------------------------------------------
# Measuring one policy on one group
# ---------------------------------------------------------------------------------------------

def test_tasks(family: TaskFamily, group: list[int], n_test: int) -> tuple[list, list[int]]:
    """The unseen target tasks routed to `group` by `nearest_source` (at most `n_test`), and their conditioning
    ids (nearest source task within the group). If no target is routed to it, the single closest target."""
    src = family.param_matrix(family.source)[group]
    tgt = family.param_matrix(family.target)
    d2 = ((tgt[:, None, :] - src[None, :, :]) ** 2).sum(-1)
    routed = [j for j, t in enumerate(family.target) if family.nearest_source(t) in group][:n_test]
    if not routed:
        routed = [int(np.argmin(d2.min(1)))]
    return [family.target[j] for j in routed], [group[int(np.argmin(d2[j]))] for j in routed]


def rollout_tasks(policy, family: TaskFamily, tasks: list, cond_ids: list[int], steps_per_task: int, ppo, seed: int,
                  device) -> Rollout:
    """`steps_per_task` on-policy transitions on each task (any split), with GAE from the policy's critic."""
    env = TaskVecEnv(family, tasks, cond_ids, ppo.num_envs, seed, device)
    try:
        traj = env.collect(policy, max(1, -(-steps_per_task // ppo.num_envs)), ppo.gamma, family.reward_scale)
    finally:
        env.close()
    return to_rollout(traj, gae(traj.rewards, traj.values, traj.dones, traj.last_value, ppo.gamma, ppo.gae_lambda))


def filtered(r: Rollout) -> Rollout:
    """The advantage-filtered transitions, the data set the loss is defined on: Â_t above the mean advantage of
    its task's transitions (the sign PPO's normalised advantages give; raw GAE advantages can be negative
    everywhere while the critic is poor, e.g. under nav2d's negative rewards)."""
    keep = torch.zeros(len(r), dtype=torch.bool, device=r.advantages.device)
    for k in r.task_id.unique():
        rows = r.task_id == k
        keep |= rows & (r.advantages > r.advantages[rows].mean())
    return r.select(keep)


def mean_loss(actor, params, r: Rollout, cap: float) -> float:
    with torch.no_grad():
        return float(bounded_policy_loss(actor_log_prob(actor, params, r.obs, r.task_id, r.actions), cap).mean())


def measure(policy, init: dict[str, torch.Tensor], family: TaskFamily, group: list[int], n_train: int, s: dict,
            seed: int, device) -> dict[str, Any]:
    """Train/test loss, gap, per-layer max-batch traces, distances and the bound of `policy` on `group`."""
    ppo, cap = s["cfg"].group_ppo, s["loss_cap"]
    tasks, cond = test_tasks(family, group, s["n_test_tasks"])
    train = filtered(rollout_tasks(policy, family, [family.source[i] for i in group], group, s["eval_steps"], ppo,
                                   seed, device))
    test = filtered(rollout_tasks(policy, family, tasks, cond, s["eval_steps"], ppo, seed + 1, device))
    actor = policy.actor
    params = actor_params(actor)
    if len(train) == 0 or len(test) == 0:
        raise FloatingPointError(f"no transition with above-mean advantage on group {group}; raise eval_steps")
    train_loss, test_loss = mean_loss(actor, params, train, cap), mean_loss(actor, params, test, cap)

    def loss_of_batch(p, index):
        index = index.to(train.obs.device)
        return bounded_policy_loss(actor_log_prob(actor, p, train.obs[index], train.task_id[index],
                                                  train.actions[index]), cap).mean()
    traces, _ = max_batch_trace(loss_of_batch, params, len(train), s["batch_size"], s["n_batches"], s["n_probes"],
                                torch.Generator().manual_seed(seed))
    dists = layer_dist_sq(params, init)
    layers = list(traces)
    t, d = [traces[k] for k in layers], [dists[k] for k in layers]
    return {"train_loss": train_loss, "test_loss": test_loss, "gap": test_loss - train_loss,
            "bound": hessian_bound(t, d, n_train, cap), "traces": t, "dists": d, "layers": layers, "N": n_train,
            "n_train_transitions": len(train), "n_test_transitions": len(test), "n_test_tasks": len(tasks)}


def _to_stage(m: dict) -> dict:
    return {k: (torch.as_tensor(v, dtype=torch.float64) if k in ("traces", "dists") else v) for k, v in m.items()}


def _from_stage(m: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in m.items()}


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------

def train_and_measure(family: TaskFamily, group: list[int], s: dict, n_points: int, seed: int, device,
                      progress: bool, desc: str, checkpoint_of=None) -> list[dict]:
    """Train a fresh policy on `group` in `n_points` chunks, measuring after each; one dict per chunk.
    `checkpoint_of(c)` gives chunk c's checkpoint (resumable runs, `rl.ppo.train_ppo`), or None."""
    cfg = s["cfg"]
    chunk = s["train_steps"] // n_points
    chunk -= chunk % cfg.group_ppo.steps_per_iteration
    ppo = replace(cfg.group_ppo, steps_per_task=chunk, anneal_lr=False)
    policy = new_policy(family, cfg, seed, device)
    init = {k: v.clone() for k, v in actor_params(policy.actor).items()}
    out, used = [], 0
    for c in range(n_points):
        train_ppo(policy, family, group, ppo, seed * 1000 + c, device, progress, desc=f"{desc} chunk {c + 1}",
                  checkpoint=None if checkpoint_of is None else checkpoint_of(c))
        used += ppo.iterations * ppo.steps_per_iteration
        m = measure(policy, init, family, group, used * len(group), s, seed * 1000 + 500 + c, device)
        out.append({**m, "steps": used})
    return out


def random_subsets(n: int, size: int, count: int, seed: int) -> list[list[int]]:
    """`count` distinct random subsets of `size` of range(n) (fewer when fewer exist), each sorted."""
    rng = np.random.default_rng(seed * 1009 + size)
    out: list[list[int]] = []
    for _ in range(100 * count):
        if len(out) == count:
            break
        group = sorted(rng.choice(n, size, replace=False).tolist())
        if group not in out:
            out.append(group)
    return out


def _checkpoints(cache, stage: str):
    """Chunk c's checkpoint inside `stage` of `cache` (None where the cache keeps none)."""
    make = getattr(cache, "checkpoint", None)
    return None if make is None else (lambda c: make(stage, f"chunk{c}"))


def compute(profile: str, family: str, seed: int, cache, **params) -> dict:
    s = settings(profile, family, seed, **params)
    cfg = s["cfg"]
    device = get_device(cfg.device)
    progress = progress_default()
    fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
    n = fam.n_tasks
    clock = StageClock()

    def _curve():
        pts = train_and_measure(fam, list(range(n)), s, s["checkpoints"], seed, device, progress, "all tasks",
                                _checkpoints(cache, "curve"))
        return {"points": [_to_stage(p) for p in pts]}
    curve = clock.run("over_training", lambda: [_from_stage(p) for p in cache.get_or_compute("curve", _curve)["points"]])

    plan = [(size, r, group) for size in s["group_sizes"]
            for r, group in enumerate(random_subsets(n, size, s["subsets_per_size"], seed + 7))]
    def _group_sizes() -> dict[int, list[dict]]:
        by_size: dict[int, list[dict]] = {}
        for i, (size, r, group) in enumerate(tqdm(plan, desc="group sizes", disable=not progress, leave=False)):
            def _group(group=group, i=i, size=size, r=r):
                pt = train_and_measure(fam, group, s, 1, seed + 101 + i, device, progress, f"size {len(group)}",
                                       _checkpoints(cache, f"group_{size}_{r}"))[-1]
                return _to_stage({**pt, "group": group})
            by_size.setdefault(size, []).append(_from_stage(cache.get_or_compute(f"group_{size}_{r}", _group)))
        return by_size
    by_size = clock.run("group_sizes", _group_sizes)

    bound = [p["bound"] for p in curve]
    gap = [p["gap"] for p in curve]
    mean_abs_gap = float(np.mean(np.abs(gap)))
    reps = max(len(v) for v in by_size.values())
    group_gap = np.full((len(by_size), reps), np.nan)
    group_bound = np.full((len(by_size), reps), np.nan)
    for a, (size, pts) in enumerate(by_size.items()):
        group_gap[a, :len(pts)] = [p["gap"] for p in pts]
        group_bound[a, :len(pts)] = [p["bound"] for p in pts]
    metrics = {
        "layers": curve[0]["layers"],
        "steps": [p["steps"] for p in curve],
        "N": [p["N"] for p in curve],
        "train_loss": [p["train_loss"] for p in curve],
        "test_loss": [p["test_loss"] for p in curve],
        "generalization_error": gap,
        "hessian_trace": [float(sum(max(t, 0.0) for t in p["traces"])) for p in curve],
        "bound": bound,
        "bound_to_gap_ratio": float(np.mean(bound)) / mean_abs_gap if mean_abs_gap > 0 else None,
        "final": {"gap": gap[-1], "bound": bound[-1]},
        "n_transitions": {"train": [p["n_train_transitions"] for p in curve],
                          "test": [p["n_test_transitions"] for p in curve]},
        "n_test_tasks": curve[0]["n_test_tasks"],
        "by_group_size": {str(size): {"gap": float(np.mean([p["gap"] for p in pts])),
                                      "bound": float(np.mean([p["bound"] for p in pts])),
                                      "train_loss": float(np.mean([p["train_loss"] for p in pts])),
                                      "test_loss": float(np.mean([p["test_loss"] for p in pts])),
                                      "n_test_tasks": [p["n_test_tasks"] for p in pts],
                                      "subsets": [p["group"] for p in pts]}
                          for size, pts in by_size.items()},
        "settings": {k: v for k, v in s.items() if k != "cfg"},
    }
    arrays = {"steps": np.asarray(metrics["steps"], dtype=float),
              "layer_traces": np.asarray([p["traces"] for p in curve]),
              "layer_dists": np.asarray([p["dists"] for p in curve]),
              "group_sizes": np.asarray(list(by_size), dtype=int),
              "group_gap": np.ma.masked_invalid(group_gap), "group_bound": np.ma.masked_invalid(group_bound)}
    return {"metrics": metrics, "arrays": arrays, "stage_times": clock.wall, "config": cfg}
