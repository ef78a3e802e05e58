"""θ* fine-tuned on each of m task subsets and evaluated: the measured affinity of the structure and speedup chapters.

`stored_finetunes` stores each repeat once in the shared store ``runs/finetunes/<family>`` (`finetune_store`),
keyed by everything it depends on (`finetune_key`), so both chapters and a recompute fine-tune a subset once. The
store is cleared when this module's code or what it imports changes: PPO, evaluation, networks and the family,
not the meta-RL protocol.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Mapping

import numpy as np
import torch
from tqdm import tqdm

from pgxlib.config import PipelineConfig, PPOConfig, to_dict
from pgxlib.evaluate import evaluate_policy
from pgxlib.executor import map_jobs
from pgxlib.nets import actor_params, flat_params, get_device, new_policy
from pgxlib.rl.ppo import train_ppo
from pgxlib.shared_stores import digest, shared_store, state_digest
from pgxlib.tasks import TaskFamily


FINETUNE_BUDGET = {"default": {"n_subsets": 30, "finetune_steps": 4096}}
"""The measured affinity's budget (θ* fine-tuned on each subset: the speedup and structure chapters) per profile:
m subsets and PPO steps per task; a profile without an entry uses its own m and `group_ppo` budget. Fine-tuning
every subset for the `default` profile's full group budget (30k-60k steps per task) would take hours."""


FAMILY_FINETUNE_STEPS = {"default": {"cartpole": 16_384, "lunarlander": 16_384, "nav2d": 2_048, "highway": 512}}
"""Per profile and family, the fine-tuning budget (PPO steps per task) at which the family's structure chapter
finds its noise ceiling stops rising (the method chapter's rule; highway at its cost cap): the speedup chapter's
truth and the main results' `truth_grouping` fine-tune θ* for this long, so the measured affinity that a grouping
is read against is the one whose ceiling the structure chapter measured. Families without an entry use
`FINETUNE_BUDGET`."""


def family_finetune_steps(profile: str, family: str, cfg: PipelineConfig) -> int:
    """The truth's fine-tuning budget of `family` (steps per task): `FAMILY_FINETUNE_STEPS`, else `FINETUNE_BUDGET`,
    else `cfg`'s group budget."""
    own = FAMILY_FINETUNE_STEPS.get(profile, {}).get(family)
    return int(own if own is not None else FINETUNE_BUDGET.get(profile, {}).get("finetune_steps",
                                                                                 cfg.group_ppo.steps_per_task))


def finetune_config(cfg: PipelineConfig, steps: int) -> PPOConfig:
    """The group fine-tuning PPO of `cfg` with `steps` environment steps per task."""
    return dataclasses.replace(cfg.group_ppo, steps_per_task=steps)



def finetune_store(family: TaskFamily):
    """The shared store ``runs/finetunes/<family>``, cleared when this module's code changes."""
    return shared_store("finetunes", family, __name__)


REPEAT_SEED_STRIDE = 100_003
"""Seed offset between repeats of the measured side: repeat r fine-tunes and evaluates with seeds shifted
by r times this prime, so repeats share nothing but θ* and the subsets."""


def finetune_and_evaluate(family: TaskFamily, cfg: PipelineConfig, state_dict: dict, tasks: list[int],
                          ppo: PPOConfig, subset: int, repeat: int = 0) -> dict:
    """f_i(S) for one subset S = `tasks` of `family` (any `TaskFamily`, a user's own too): θ* (`state_dict`)
    fine-tuned by PPO on S, then evaluated by rollouts on each task.

    Runs on one torch thread (restored afterwards); seeds depend on `cfg.seed`, `subset` and `repeat` only,
    so the numbers are the same in any process. Returns {"returns": [|S|], "success": [|S|] or None,
    "actor": [p] the fine-tuned actor's flat parameters (float32), "wall": s, "cpu": s, "finetune_wall": s,
    "eval_wall": s}.
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
        tuned = time.perf_counter()
        ev = evaluate_policy(policy, family, [family.source[i] for i in tasks], list(tasks), cfg.evaluation.episodes,
                             cfg.seed + 1 + subset + shift, cfg.evaluation.deterministic, device)
        end = time.perf_counter()
        return {"returns": np.asarray(ev.mean_return, dtype=float),
                "success": None if ev.success is None else np.asarray(ev.success, dtype=float),
                "actor": flat_params(actor_params(policy.actor)).detach().cpu().numpy().astype(np.float32),
                "wall": end - wall, "cpu": time.process_time() - cpu, "finetune_wall": tuned - wall,
                "eval_wall": end - tuned}
    finally:
        torch.set_num_threads(threads)


def finetune_subsets(family: TaskFamily, cfg: PipelineConfig, state_dict: dict, members: np.ndarray, ppo: PPOConfig,
                     n_jobs: int, progress: bool = False, repeat: int = 0) -> dict:
    """`finetune_and_evaluate` on every subset, in `n_jobs` processes; `repeat` selects independent seeds.

    Returns {"returns": [m, n] (NaN off the subsets), "success": [m, n] or None, "actors": [m, p] tensor,
    "wall", "cpu", "finetune_wall", "eval_wall": [m] seconds of the workers}.
    """
    jobs = [(family, cfg, state_dict, [int(i) for i in np.flatnonzero(row)], ppo, l, repeat)
            for l, row in enumerate(members)]
    desc = f"fine-tune subsets (repeat {repeat})"
    outs = list(tqdm(map_jobs(finetune_and_evaluate, jobs, n_jobs), total=len(jobs), desc=desc,
                     disable=not progress))
    returns = np.full(members.shape, np.nan)
    success = np.full(members.shape, np.nan) if family.has_success else None
    for l, out in enumerate(outs):
        returns[l, np.flatnonzero(members[l])] = out["returns"]
        if success is not None:
            success[l, np.flatnonzero(members[l])] = out["success"]
    return {"returns": returns, "success": success, "actors": torch.as_tensor(np.stack([o["actor"] for o in outs])),
            **{k: np.array([o[k] for o in outs]) for k in ("wall", "cpu", "finetune_wall", "eval_wall")}}


def finetune_key(family: TaskFamily, cfg: PipelineConfig, state_dict: Mapping[str, torch.Tensor],
                 members: np.ndarray, ppo: PPOConfig, n_jobs: int, repeat: int) -> str:
    """The stage name of one repeat of `finetune_subsets`: family, its tasks, seed, network, evaluation and
    fine-tuning settings, θ*'s parameters, the subsets and the number of processes (it sets the wall time)."""
    members = np.ascontiguousarray(np.asarray(members, dtype=bool))
    d = {"family": family.name, "tasks": [t.name for t in family.source], "seed": cfg.seed,
         "net": to_dict(cfg.net), "evaluation": to_dict(cfg.evaluation), "ppo": to_dict(ppo),
         "start": state_digest(state_dict), "n_jobs": int(n_jobs), "members": list(members.shape),
         "members_sha": hashlib.sha256(members.tobytes()).hexdigest()}
    return f"{family.name}-seed{cfg.seed}-m{len(members)}-{digest(d)}-r{repeat}"


def stored_finetunes(family: TaskFamily, cfg: PipelineConfig, state_dict: Mapping[str, torch.Tensor],
                     members: np.ndarray, ppo: PPOConfig, n_jobs: int, progress: bool = False, repeat: int = 0,
                     store=None) -> dict:
    """`finetune_subsets`, stored once in `store` (default: the shared ``runs/finetunes``, `finetune_store`)
    under `finetune_key`, so the structure and speedup chapters and a recompute fine-tune a subset once.

    Returns `finetune_subsets`' dict (arrays as numpy, "actors" a tensor) plus "seconds" and "process_cpu":
    the wall and this process's CPU seconds of the whole stage when it was computed.
    """
    store = finetune_store(family) if store is None else store
    stage = finetune_key(family, cfg, state_dict, members, ppo, n_jobs, repeat)

    def _run() -> dict:
        cpu = time.process_time()
        out = finetune_subsets(family, cfg, dict(state_dict), members, ppo, n_jobs, progress, repeat)
        value = {k: (torch.as_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in out.items()}
        return {**value, "process_cpu": time.process_time() - cpu}

    stored = store.get_or_compute(stage, _run)
    out = {k: (v.numpy() if isinstance(v, torch.Tensor) and k != "actors" else v) for k, v in stored.items()}
    out["seconds"] = store.times.get(stage, float("nan"))
    return out
