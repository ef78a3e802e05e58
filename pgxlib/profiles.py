"""The named profiles: presets of `PipelineConfig` per task family, and the one place that builds a configuration.

A profile (`smoke`, `default`, `paper`) is a preset per task family in `PROFILE_TABLE`.
`pipeline_config(profile, family, **overrides)` builds a validated `PipelineConfig`; overrides use dotted
paths (``"features.proj_dim"``) or the short aliases in `ALIASES` (``"d"``), and a bad value fails in one line
naming the dotted path (``invalid meta_ppo.lr=-1: ...``). A stored result fingerprints only its own entry of
`PROFILE_TABLE` (`pgxlib.store.fingerprint`), so editing one family's preset leaves the others' results current.
"""
from __future__ import annotations

import dataclasses
from dataclasses import fields
from typing import Any

from pgxlib.config import FAMILIES, PROFILES, ConfigError, PipelineConfig, _prefixed, check_choice


_SMOKE = {
    "n_tasks": 4,
    "net.width": 16,
    "net.depth": 2,
    "meta_ppo.steps_per_task": 256,
    "meta_ppo.num_envs": 2,
    "meta_ppo.rollout_len": 64,
    "meta_ppo.update_epochs": 2,
    "meta_ppo.num_minibatches": 2,
    "group_ppo.steps_per_task": 128,
    "group_ppo.num_envs": 2,
    "group_ppo.rollout_len": 64,
    "group_ppo.update_epochs": 1,
    "group_ppo.num_minibatches": 2,
    "features.steps_per_task": 64,
    "features.proj_dim": 32,
    "features.chunk_size": 64,
    "affinity.n_subsets": 8,
    "affinity.subset_size": 2,
    "cluster.k": 2,
    "surrogate.max_iter": 50,
    "evaluation.episodes": 1,
    "maml.steps_per_task": 192,
    "maml.num_envs": 2,
    "maml.support_steps": 32,
    "maml.rollout_len": 32,
    "maml.update_epochs": 1,
    "maml.num_minibatches": 2,
    "meta_rl.n_targets": 4,
    "meta_rl.episodes": 1,
}

_DEFAULT_COMMON = {
    "n_tasks": 10,
    "net.depth": 4,
    "net.width": 64,
    "features.proj_dim": 400,
    "affinity.n_subsets": 60,
    "affinity.subset_size": 4,
    "cluster.k": 3,
    "maml.steps_per_task": 30_000,
    "meta_rl.n_targets": 50,
    "meta_rl.episodes": 3,
}

PAPER_META_STEPS = {"metaworld": 2_000_000, "planted": 15_000}
"""θ* budgets of the paper profile that differ from 500k per task: MT10's, and planted's, which stays at its
default on purpose (a θ* that solves every planted task leaves no gradient to group by)."""
PAPER_GROUP_STEPS = {"metaworld": 1_000_000}
"""Group-training budgets of the paper profile that differ from 200k per task: MT10's (multi-objective: each group's
policy is trained from scratch, with no adaptation afterwards)."""

PROFILE_TABLE: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "cartpole": {**_SMOKE},
        "lunarlander": {**_SMOKE},
        "highway": {**_SMOKE, "meta_ppo.steps_per_task": 128, "meta_ppo.rollout_len": 32, "features.steps_per_task": 32,
                    "group_ppo.rollout_len": 32, "group_ppo.steps_per_task": 64},
        "nav2d": {**_SMOKE},
        "planted": {**_SMOKE},
        # group policies: one 500-step episode per task per iteration (whole episodes, so resumable), 2 iterations
        "metaworld": {**_SMOKE, "meta_ppo.rollout_len": 32, "meta_ppo.steps_per_task": 128,
                      "group_ppo.num_envs": 1, "group_ppo.rollout_len": 500, "group_ppo.steps_per_task": 1000,
                      "features.steps_per_task": 32},
    },
    "default": {
        # θ* stops at the budget of the family's structure sweep with the highest noise ceiling (the method chapter's
        # rule; the structure chapter checks each entry against it): the affinity lives in the gradient θ* leaves.
        "cartpole": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 5_000, "group_ppo.steps_per_task": 30_000,
                     "features.steps_per_task": 2048},
        "lunarlander": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 15_000, "meta_ppo.ent_coef": 0.01,
                        "group_ppo.steps_per_task": 60_000, "features.steps_per_task": 2048},
        "highway": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 8_000, "meta_ppo.num_envs": 2,
                    "meta_ppo.rollout_len": 100, "meta_ppo.gamma": 0.9, "group_ppo.steps_per_task": 3_000,
                    "group_ppo.num_envs": 2, "group_ppo.rollout_len": 100, "group_ppo.gamma": 0.9,
                    "features.steps_per_task": 512, "evaluation.episodes": 3, "maml.steps_per_task": 1_200,
                    "maml.num_envs": 2, "maml.rollout_len": 100, "maml.gamma": 0.9, "meta_rl.episodes": 1},
        "nav2d": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 5_000, "group_ppo.steps_per_task": 20_000,
                  "features.steps_per_task": 2048},
        # θ* is stopped early on purpose: the task affinity lives in the gradient θ* leaves, and a θ* that
        # solves every task leaves none (see pgxlib/tasks/planted.py).
        "planted": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 15_000, "group_ppo.steps_per_task": 20_000,
                    "features.steps_per_task": 2048},
        # MT10 (multi-objective), sized so that the chapter takes about 10 h as two processes: see tasks.metaworld.DEFAULT_BUDGET_NOTE
        "metaworld": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 100_000, "meta_ppo.rollout_len": 500,
                      "group_ppo.steps_per_task": 150_000, "group_ppo.rollout_len": 500,
                      "evaluation.episodes": 10, "evaluation.envs_per_task": 2},
    },
    "paper": {
        fam: {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": PAPER_META_STEPS.get(fam, 500_000),
              "meta_ppo.num_envs": 4, "meta_ppo.rollout_len": 512, "features.steps_per_task": 2048,
              "group_ppo.steps_per_task": PAPER_GROUP_STEPS.get(fam, 200_000),
              "maml.steps_per_task": 200_000}
        for fam in FAMILIES
    },
}

ALIASES = {
    "k": "cluster.k",
    "lam": "cluster.lam",
    "d": "features.proj_dim",
    "proj_dim": "features.proj_dim",
    "projection": "features.projection",
    "m": "affinity.n_subsets",
    "n_subsets": "affinity.n_subsets",
    "subset_size": "affinity.subset_size",
    "score": "affinity.score",
    "normalization": "affinity.normalization",
    "depth": "net.depth",
    "width": "net.width",
    "arch": "net.arch",
    "meta_steps": "meta_ppo.steps_per_task",
    "group_steps": "group_ppo.steps_per_task",
    "l2": "surrogate.l2",
    "maml_steps": "maml.steps_per_task",
    "adapt_steps": "maml.support_steps",
    "inner_lr": "maml.inner_lr",
    "n_targets": "meta_rl.n_targets",
    "max_rel_dist": "surrogate.max_rel_dist",
}


def _build(overrides: dict[str, Any]) -> PipelineConfig:
    """Build a `PipelineConfig` from dotted-path overrides, validating every field once."""
    top: dict[str, Any] = {}
    stages: dict[str, dict[str, Any]] = {}
    top_fields = {f.name: f for f in fields(PipelineConfig)}
    for key, value in overrides.items():
        path = ALIASES.get(key, key)
        head, _, rest = path.partition(".")
        if head not in top_fields:
            raise ConfigError(f"unknown parameter {key!r}: allowed {', '.join(sorted([*top_fields, *ALIASES]))}")
        is_stage = top_fields[head].default_factory is not dataclasses.MISSING
        if is_stage != bool(rest):
            raise ConfigError(f"unknown parameter {key!r}: use " + (f"{head}.<field>" if is_stage else head))
        if rest:
            stage_names = {f.name for f in fields(top_fields[head].default_factory)}
            if rest not in stage_names:
                raise ConfigError(f"unknown parameter {key!r}: {head} has {', '.join(sorted(stage_names))}")
            stages.setdefault(head, {})[rest] = value
        else:
            top[head] = value
    built = {}
    for name, kw in stages.items():
        try:
            built[name] = top_fields[name].default_factory(**kw)
        except ConfigError as err:
            raise _prefixed(err, name) from None
    return PipelineConfig(**top, **built)


def apply_overrides(cfg: PipelineConfig, overrides: dict[str, Any]) -> PipelineConfig:
    """Return `cfg` with `overrides` (dotted paths or `ALIASES`) applied; validates the result."""
    return _build({**flatten(cfg), **overrides})


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """The dotted-path view of a config: ``{"features.proj_dim": 400, ...}``."""
    out: dict[str, Any] = {}
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, prefix + f.name + "."))
        else:
            out[prefix + f.name] = value
    return out


def pipeline_config(profile: str, family: str, **overrides: Any) -> PipelineConfig:
    """The configuration of `family` under `profile`, with single fields overridden."""
    check_choice("profile", profile, PROFILES)
    check_choice("family", family, FAMILIES)
    preset = {ALIASES.get(k, k): v for k, v in PROFILE_TABLE[profile][family].items()}
    return _build({**preset, "family": family, **{ALIASES.get(k, k): v for k, v in overrides.items()}})
