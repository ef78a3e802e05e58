"""Policies trained for a partition of the tasks, stored once and shared by every experiment.

- `new_policy`: a freshly initialised actor-critic, deterministic given its seed;
- `cached_meta_rl`: the meta-RL protocol (control families) for one partition, from a starting policy;
- `trained_groups`: the multi-objective protocol (Meta-World) for one partition;
- `stored_finetunes`: θ* fine-tuned on each of m subsets and evaluated (the measured affinity).

Each is stored in a shared store, ``runs/<store>/<family>`` (``metarl_policies``, ``group_policies``,
``finetunes``), under a key made of everything its result depends on (the task family and its tasks, the
seed, the settings it uses, the partition or subsets and the parameters of the starting policy), so main
results, ablations, the structure and speedup chapters and a recompute train each once. A store is cleared
when the code of this module or of the modules it imports changes (`training_store`); that code is
training and evaluation alone (no estimator), so changing the gradient estimator retrains nothing.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Mapping

import numpy as np
import torch
from tqdm import tqdm

from pgxlib.config import PipelineConfig, PPOConfig, apply_overrides, to_dict
from pgxlib.evaluate import evaluate_policy
from pgxlib.executor import map_jobs
from pgxlib.metarl import evaluate_targets, meta_train_groups
from pgxlib.nets import ActorCritic, actor_params, flat_params, get_device
from pgxlib.partition import groups_from_labels, labels_key
from pgxlib.rl.ppo import train_ppo
from pgxlib.tasks import TaskFamily


def new_policy(family: TaskFamily, cfg: PipelineConfig, seed: int, device: torch.device) -> ActorCritic:
    """A freshly initialised actor-critic for `family`, deterministic given `seed`."""
    torch.manual_seed(seed)
    return ActorCritic(family.observation_space, family.action_space, family.n_tasks, cfg.net).to(device)


def training_store(name: str, family: TaskFamily):
    """The shared stage store ``runs/<name>/<family>``, cleared when this module's code (and what it imports,
    of the task families only `family`'s) changes."""
    from pgxlib.store.cache import StageCache
    from pgxlib.store.fingerprint import code_fingerprint
    from pgxlib.store.results import runs_root

    return StageCache(runs_root() / name / family.name,
                      fingerprint=code_fingerprint(__name__, family=family.name)["sha256"])


def state_digest(state: torch.nn.Module | Mapping[str, torch.Tensor]) -> str:
    """sha256 (12 hex digits) of a module's state (or a state dict): names, dtypes, shapes and values."""
    digest = hashlib.sha256()
    items = state.state_dict().items() if isinstance(state, torch.nn.Module) else state.items()
    for name, value in sorted(items):
        t = value.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode() + b"\0")
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return digest.hexdigest()[:12]


def _digest(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def metarl_key(family: TaskFamily, cfg: PipelineConfig, start: ActorCritic, labels: np.ndarray, tag: str) -> str:
    """The stage name of one meta-RL run: family, its source and target tasks, seed, MAML and meta-RL settings
    and the starting policy's parameters (hashed), then the start's architecture `tag` and the partition."""
    d = {"family": family.name, "tasks": [t.name for t in family.source],
         "targets": [t.name for t in family.target[:cfg.meta_rl.n_targets]], "seed": cfg.seed,
         "maml": to_dict(cfg.maml), "meta_rl": to_dict(cfg.meta_rl), "start": state_digest(start)}
    return f"{family.name}-seed{cfg.seed}-{tag}-{_digest(d)}-{labels_key(labels)}"


def cached_meta_rl(family: TaskFamily, start: ActorCritic, labels: np.ndarray, cfg: PipelineConfig, device,
                   progress: bool, tag: str = "mlp", store=None) -> dict[str, Any]:
    """The meta-RL protocol for one partition: a MAML meta-policy per group from `start`
    (`metarl.meta_train_groups`), then every target task adapted from its group's meta-policy
    (`metarl.evaluate_targets`). Stored once in `store` (default: the shared ``runs/metarl_policies``,
    `training_store`) under `metarl_key`; `tag` names the starting policy's architecture.

    Returns {"labels": [n], "groups": [[task indices]], "before"/"after": [T] target returns,
    "success_before"/"success_after": [T] or None, "assigned": [T] source task, "target_group": [T],
    "curve_steps": [I], "curve_pre"/"curve_post": [I, n] per-source-task MAML curves (before and
    after the inner step), "train_seconds", "adapt_seconds", "seconds": the stage's wall time when it was computed}.
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

    store = training_store("metarl_policies", family) if store is None else store
    stage = metarl_key(family, cfg, start, labels, tag)
    stored = store.get_or_compute(stage, _run)
    out = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in stored.items()}
    out["groups"] = [list(map(int, g)) for g in stored["groups"]]
    out["seconds"] = store.times.get(stage, float("nan"))
    return out


def group_policies_key(family: TaskFamily, cfg: PipelineConfig, arch: str, labels: np.ndarray) -> str:
    """The stage name of one multi-objective training: family, seed, architecture, network, PPO and
    evaluation settings (hashed), and the partition."""
    d = {"family": family.name, "tasks": [t.name for t in family.source], "seed": cfg.seed, "arch": arch,
         "net": to_dict(cfg.net), "group_ppo": to_dict(cfg.group_ppo), "evaluation": to_dict(cfg.evaluation)}
    return f"{family.name}-seed{cfg.seed}-{arch}-{_digest(d)}-{labels_key(labels)}"


def trained_groups(family: TaskFamily, labels: np.ndarray, arch: str, cfg: PipelineConfig, device, progress: bool,
                   cache=None) -> dict[str, Any]:
    """The multi-objective protocol for one partition: per group, a fresh `arch` policy (seed ``cfg.seed + 100
    + g``) trained with PPO on the group's source tasks (`cfg.group_ppo`, seed ``cfg.seed + 1000 + g``,
    resumable through `cache`'s checkpoints), then each task evaluated with its group's policy
    (`cfg.evaluation`). Stored once in `cache` (default: the shared store ``runs/group_policies``, `training_store`, so
    that main results and the k ablation train a partition once) under `group_policies_key`.

    Returns {"labels": [n], "groups": [[task indices]], "success"/"returns": [n] per task with its group's
    policy, "curve_steps": [I] env steps per task, "curve_success"/"curve_returns": [I, n] per task during
    training, "train_seconds", "eval_seconds", "env_steps": total training env steps}.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if cache is None:
        cache = training_store("group_policies", family)
    stage = group_policies_key(family, cfg, arch, labels)
    arch_cfg = apply_overrides(cfg, {"arch": arch})

    def _run() -> dict:
        n, groups = len(labels), groups_from_labels(labels)
        success, returns = torch.full((n,), float("nan"), dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
        curves: dict[str, torch.Tensor] = {}
        train_seconds = eval_seconds = 0.0
        for g, tasks in enumerate(groups):
            policy = new_policy(family, arch_cfg, cfg.seed + 100 + g, device)
            train = train_ppo(policy, family, tasks, cfg.group_ppo, cfg.seed + 1000 + g, device, progress,
                              desc=f"{arch} group {g} {tasks}", checkpoint=cache.checkpoint(stage, f"g{g}"))
            start = time.perf_counter()
            ev = evaluate_policy(policy, family, [family.source[i] for i in tasks], tasks, cfg.evaluation.episodes,
                                 cfg.seed, cfg.evaluation.deterministic, device, cfg.evaluation.envs_per_task)
            eval_seconds += time.perf_counter() - start
            train_seconds += train.wall_time
            returns[tasks] = torch.as_tensor(ev.mean_return, dtype=torch.float64)
            if ev.success is not None:
                success[tasks] = torch.as_tensor(ev.success, dtype=torch.float64)
            for key, curve in (("curve_success", train.success), ("curve_returns", train.returns)):
                curves.setdefault(key, torch.full((len(train.steps), n), float("nan"), dtype=torch.float64))
                curves[key][:, tasks] = torch.as_tensor(curve, dtype=torch.float64)
            curves["curve_steps"] = torch.as_tensor(train.steps, dtype=torch.float64)
        return {"labels": torch.as_tensor(labels), "groups": groups, "success": success, "returns": returns,
                **curves, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                "env_steps": int(cfg.group_ppo.iterations * cfg.group_ppo.steps_per_iteration * n)}

    stored = cache.get_or_compute(stage, _run)
    out = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in stored.items()}
    out["groups"] = [list(map(int, g)) for g in stored["groups"]]
    out["seconds"] = cache.times.get(stage, float("nan"))
    return out


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
    return f"{family.name}-seed{cfg.seed}-m{len(members)}-{_digest(d)}-r{repeat}"


def stored_finetunes(family: TaskFamily, cfg: PipelineConfig, state_dict: Mapping[str, torch.Tensor],
                     members: np.ndarray, ppo: PPOConfig, n_jobs: int, progress: bool = False, repeat: int = 0,
                     store=None) -> dict:
    """`finetune_subsets`, stored once in `store` (default: the shared ``runs/finetunes``, `training_store`)
    under `finetune_key`, so the structure and speedup chapters and a recompute fine-tune a subset once.

    Returns `finetune_subsets`' dict (arrays as numpy, "actors" a tensor) plus "seconds" and "process_cpu":
    the wall and this process's CPU seconds of the whole stage when it was computed.
    """
    store = training_store("finetunes", family) if store is None else store
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
