"""The adaptation chapter: how the adaptation step on unseen target tasks changes their return.

PolicyGradEx's meta-policies (the main results' protocol on one seed: θ*, the SDP groups, first-order
MAML per group with the profile's `cfg.maml`) are trained once. Then the target tasks are adapted and
scored under a grid of adaptation settings: inner learning rate α × number of policy-gradient steps,
with the **total adaptation budget fixed** at the profile's `cfg.maml.adaptation_steps` environment
steps (u steps of adaptation_steps / u transitions each, rounded down to whole rollouts of the
envs; `metrics.steps_per_setting` has the exact counts). The score before adaptation is the same
for every setting (same meta-policies, same evaluation episodes).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from pgxlib.analysis.stats import finite_mean
from pgxlib.config import ConfigError, check_int_list, progress_default
from pgxlib.profiles import apply_overrides, pipeline_config
from pgxlib.metarl import evaluate_targets, meta_train_groups
from pgxlib.nets import get_device
from pgxlib.pipeline import run_policygradex
from pgxlib.store.cache import StageView

PARAMETERS: dict[str, Any] = {"inner_lrs": [0.01, 0.02, 0.05, 0.1], "inner_updates": [1, 2, 4]}
EXPECTED_KEYS = ("metrics.grid.after", "metrics.grid.gain", "metrics.before", "metrics.reference",
                 "metrics.best", "metrics.protocol", "arrays.after", "arrays.before")


def settings(cfg, inner_lrs, inner_updates) -> tuple[list[dict[str, Any]], list[float], list[int]]:
    """(the grid as `apply_overrides` dicts, α-major, each keeping the profile's adaptation steps;
    the α values; the step counts)."""
    ok = isinstance(inner_lrs, (list, tuple)) and len(inner_lrs) > 0 and len(set(inner_lrs)) == len(inner_lrs)
    if not ok or not all(isinstance(a, (int, float)) and not isinstance(a, bool) and a > 0 for a in inner_lrs):
        raise ConfigError(f"invalid inner_lrs={inner_lrs!r}: allowed a non-empty list of distinct positive numbers")
    m = cfg.maml
    total = m.adaptation_steps
    updates = check_int_list("inner_updates", inner_updates, 1, total // (2 * m.num_envs))
    lrs = [float(a) for a in inner_lrs]
    grid = [{"maml.inner_lr": a, "maml.inner_updates": u, "maml.support_steps": total // u}
            for a in lrs for u in updates]
    for setting in grid:
        apply_overrides(cfg, setting)
    return grid, lrs, updates


def check(profile: str, family: str, seed: int, **params) -> None:
    settings(pipeline_config(profile, family, seed=seed), **params)


def compute(profile: str, family: str, seed: int, cache, inner_lrs=(), inner_updates=()) -> dict:
    cfg = pipeline_config(profile, family, seed=seed)
    grid, lrs, ups = settings(cfg, inner_lrs, inner_updates)
    progress = progress_default()
    device = get_device(cfg.device)
    view = StageView(cache)
    res = run_policygradex(cfg, cache=view, progress=progress, train_groups_too=False)
    fam = res.family

    def _run() -> dict:
        start = time.perf_counter()
        meta = meta_train_groups(fam, res.policy, res.labels, cfg, device, progress)
        train_seconds = time.perf_counter() - start
        before, after, seconds = None, [], []
        for setting in grid:
            start = time.perf_counter()
            ev = evaluate_targets(meta, fam, apply_overrides(cfg, setting), device)
            seconds.append(time.perf_counter() - start)
            before = ev.before if before is None else before
            after.append(ev.after)
        return {"before": torch.as_tensor(np.asarray(before, dtype=float)),
                "after": torch.as_tensor(np.asarray(after, dtype=float)),
                "groups": meta.groups, "train_seconds": train_seconds, "eval_seconds": seconds}

    out = cache.get_or_compute("adaptation-grid", _run)
    after = out["after"].numpy()  # [C, T]
    before = out["before"].numpy()  # [T]
    shape = (len(lrs), len(ups))
    means = np.array([finite_mean(row) for row in after], dtype=float).reshape(shape)
    before_mean = finite_mean(before)
    best = int(np.nanargmax(means))
    m = cfg.maml
    metrics = {
        "family": family, "seed": seed,
        "groups": [list(map(int, g)) for g in out["groups"]],
        "inner_lrs": lrs, "inner_updates": ups,
        "before": before_mean,
        "grid": {"after": means.tolist(), "gain": (means - before_mean).tolist(),
                 "improved_targets": (np.mean(after > before[None, :], axis=1)).reshape(shape).tolist()},
        "reference": {"inner_lr": m.inner_lr, "inner_updates": m.inner_updates,
                      "after": _lookup(means, lrs, ups, m.inner_lr, m.inner_updates)},
        "best": {"inner_lr": lrs[best // len(ups)], "inner_updates": ups[best % len(ups)],
                 "after": float(means.flat[best]), "gain": float(means.flat[best] - before_mean)},
        "adaptation_steps": m.adaptation_steps,
        "steps_per_setting": [apply_overrides(cfg, g).maml.adaptation_steps for g in grid],
        "protocol": (f"{family}, seed {seed}: PolicyGradEx groups from θ* ({cfg.meta_ppo.steps_per_task:,} PPO "
                     f"steps/task), one first-order MAML meta-policy per group ({m.steps_per_task:,} steps/task, "
                     f"inner lr {m.inner_lr}, {m.inner_updates} inner step(s)); {cfg.meta_rl.n_targets} unseen "
                     f"target tasks adapted with about {m.adaptation_steps} environment steps in every setting "
                     f"(u policy-gradient steps of about {m.adaptation_steps}/u transitions each, rounded down "
                     f"to whole rollouts of the {m.num_envs} envs), scored over "
                     f"{cfg.meta_rl.episodes} {'greedy' if cfg.meta_rl.deterministic else 'sampled'} "
                     f"episode(s)."),
        "seconds": {"maml": float(out["train_seconds"]), "evaluation": [float(s) for s in out["eval_seconds"]]},
    }
    return {"metrics": metrics, "arrays": {"after": after, "before": before},
            "stage_times": {**res.stage_times, "maml": float(out["train_seconds"]),
                            "evaluations": float(np.sum(out["eval_seconds"]))},
            "config": cfg}


def _lookup(means: np.ndarray, lrs: list[float], ups: list[int], lr: float, updates: int) -> float | None:
    """The grid cell of the profile's own setting, None when the grid does not contain it."""
    if lr in lrs and updates in ups:
        return float(means[lrs.index(lr), ups.index(updates)])
    return None
