"""Frozen configuration dataclasses, one per stage, and the named profiles.

A profile (`smoke`, `default`, `paper`) is a preset of `PipelineConfig` per task family.
`pipeline_config(profile, family, **overrides)` is the one place that builds a configuration;
overrides use dotted paths (``"features.proj_dim"``) or the short aliases in `ALIASES` (``"d"``).
Every dataclass validates itself, so bad input fails before any computation with one line
naming the parameter and what it may be.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from typing import Any


class ConfigError(ValueError):
    """A parameter has a value outside its allowed set; the message is one line."""


def _require(cond: bool, name: str, allowed: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"invalid {name}={value!r}: allowed {allowed}")


FAMILIES = ("cartpole", "lunarlander", "highway", "nav2d", "metaworld")
CONTROL_FAMILIES = ("cartpole", "lunarlander", "highway", "nav2d")
PROFILES = ("smoke", "default", "paper")


@dataclass(frozen=True)
class NetConfig:
    """Actor-critic network: `depth` hidden layers of `width` units."""

    depth: int = 4
    width: int = 64
    arch: str = "mlp"
    activation: str = "tanh"
    task_conditioned: bool = True
    n_modules: int = 4
    """Modules per layer (soft_modularization) or parameter sets (paco); unused by mlp."""

    def __post_init__(self):
        _require(isinstance(self.depth, int) and 1 <= self.depth <= 16, "depth", "an integer in 1..16", self.depth)
        _require(isinstance(self.n_modules, int) and self.n_modules >= 1, "net.n_modules", "a positive integer",
                 self.n_modules)
        _require(isinstance(self.width, int) and self.width >= 1, "width", "a positive integer", self.width)
        _require(self.arch in ARCHS, "arch", "one of " + ", ".join(ARCHS), self.arch)
        _require(self.activation in ("tanh", "relu"), "activation", "tanh, relu", self.activation)


ARCHS = ("mlp", "soft_modularization", "paco")


@dataclass(frozen=True)
class PPOConfig:
    """Multitask PPO. Each iteration collects `num_envs * rollout_len` steps on every task."""

    steps_per_task: int = 100_000
    num_envs: int = 4
    rollout_len: int = 128
    gamma: float = 0.99
    gae_lambda: float = 0.95
    lr: float = 3e-4
    anneal_lr: bool = True
    update_epochs: int = 4
    num_minibatches: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    norm_adv: bool = True

    def __post_init__(self):
        _require(isinstance(self.steps_per_task, int) and self.steps_per_task >= 0, "steps_per_task",
                 "a non-negative integer", self.steps_per_task)
        _require(isinstance(self.num_envs, int) and self.num_envs >= 1, "num_envs", "a positive integer", self.num_envs)
        _require(isinstance(self.rollout_len, int) and self.rollout_len >= 2, "rollout_len", "an integer >= 2",
                 self.rollout_len)
        _require(0 < self.gamma <= 1, "gamma", "a number in (0, 1]", self.gamma)
        _require(0 <= self.gae_lambda <= 1, "gae_lambda", "a number in [0, 1]", self.gae_lambda)
        _require(self.lr > 0, "lr", "a positive number", self.lr)
        _require(self.update_epochs >= 1, "update_epochs", "a positive integer", self.update_epochs)
        _require(self.num_minibatches >= 1, "num_minibatches", "a positive integer", self.num_minibatches)
        _require(self.clip_coef > 0, "clip_coef", "a positive number", self.clip_coef)

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps per task per iteration."""
        return self.num_envs * self.rollout_len

    @property
    def iterations(self) -> int:
        return self.steps_per_task // self.steps_per_iteration


@dataclass(frozen=True)
class MAMLConfig:
    """First-order MAML for policy-gradient RL, one meta-policy per group.

    Each outer iteration, on every task of the group: `inner_updates` times, collect
    `support_steps` transitions (over `num_envs` envs) with the current adapted actor and take one
    policy-gradient step of size `inner_lr` (the adaptation); then collect `num_envs * rollout_len`
    query transitions with the adapted actor and update the meta-parameters with the clipped PPO loss
    of the adapted actor (first-order: the inner steps are held fixed). The critic is shared, not
    adapted, and fitted on the query data. `steps_per_task` counts support and query steps.
    """

    steps_per_task: int = 20_000
    num_envs: int = 4
    support_steps: int = 200
    inner_updates: int = 1
    inner_lr: float = 0.05
    rollout_len: int = 128
    gamma: float = 0.99
    gae_lambda: float = 0.95
    lr: float = 3e-4
    update_epochs: int = 4
    num_minibatches: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    inner_max_norm: float = 1.0

    def __post_init__(self):
        _require(isinstance(self.steps_per_task, int) and self.steps_per_task >= 0, "maml.steps_per_task",
                 "a non-negative integer", self.steps_per_task)
        _require(isinstance(self.num_envs, int) and self.num_envs >= 1, "maml.num_envs", "a positive integer",
                 self.num_envs)
        _require(isinstance(self.support_steps, int) and self.support_steps >= 2 * self.num_envs,
                 "adapt_steps (maml.support_steps)", f"an integer >= 2 * maml.num_envs ({2 * self.num_envs})",
                 self.support_steps)
        _require(isinstance(self.inner_updates, int) and self.inner_updates >= 0, "maml.inner_updates",
                 "a non-negative integer", self.inner_updates)
        _require(self.inner_lr >= 0, "inner_lr (maml.inner_lr)", "a non-negative number", self.inner_lr)
        _require(isinstance(self.rollout_len, int) and self.rollout_len >= 2, "maml.rollout_len", "an integer >= 2",
                 self.rollout_len)
        _require(0 < self.gamma <= 1, "maml.gamma", "a number in (0, 1]", self.gamma)
        _require(0 <= self.gae_lambda <= 1, "maml.gae_lambda", "a number in [0, 1]", self.gae_lambda)
        _require(self.lr > 0, "maml.lr", "a positive number", self.lr)
        _require(self.update_epochs >= 1, "maml.update_epochs", "a positive integer", self.update_epochs)
        _require(self.num_minibatches >= 1, "maml.num_minibatches", "a positive integer", self.num_minibatches)
        _require(self.clip_coef > 0, "maml.clip_coef", "a positive number", self.clip_coef)
        _require(self.inner_max_norm > 0, "maml.inner_max_norm", "a positive number", self.inner_max_norm)

    @property
    def support_len(self) -> int:
        """Steps per env of one support rollout."""
        return self.support_steps // self.num_envs

    @property
    def adaptation_steps(self) -> int:
        """Environment steps per task spent on adaptation (all inner updates)."""
        return self.inner_updates * self.support_len * self.num_envs

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps per task per outer iteration (support and query)."""
        return self.adaptation_steps + self.num_envs * self.rollout_len

    @property
    def iterations(self) -> int:
        return self.steps_per_task // self.steps_per_iteration


ASSIGNMENTS = ("nearest", "random")


@dataclass(frozen=True)
class MetaRLConfig:
    """Meta-RL evaluation: `n_targets` unseen target tasks, each assigned to a source task (and so
    to that task's group) by `assign`, adapted from the group's meta-policy with the MAML inner loop
    (`MAMLConfig.inner_updates` × `support_steps`), and evaluated before and after adaptation over
    `episodes` episodes."""

    n_targets: int = 50
    assign: str = "nearest"
    episodes: int = 3
    deterministic: bool = True

    def __post_init__(self):
        _require(isinstance(self.n_targets, int) and 1 <= self.n_targets <= 50, "n_targets (meta_rl.n_targets)",
                 "an integer in 1..50", self.n_targets)
        _require(self.assign in ASSIGNMENTS, "meta_rl.assign", "one of " + ", ".join(ASSIGNMENTS), self.assign)
        _require(isinstance(self.episodes, int) and self.episodes >= 1, "meta_rl.episodes", "a positive integer",
                 self.episodes)


@dataclass(frozen=True)
class FeatureConfig:
    """Gradient features: `steps_per_task` transitions per task, projected to `proj_dim`."""

    proj_dim: int = 400
    steps_per_task: int = 2048
    chunk_size: int = 256
    heldout_frac: float = 0.25
    seed: int = 0

    def __post_init__(self):
        _require(isinstance(self.proj_dim, int) and self.proj_dim > 0, "d (features.proj_dim)", "a positive integer",
                 self.proj_dim)
        _require(isinstance(self.steps_per_task, int) and self.steps_per_task >= 8, "features.steps_per_task",
                 "an integer >= 8", self.steps_per_task)
        _require(isinstance(self.chunk_size, int) and self.chunk_size >= 1, "features.chunk_size",
                 "a positive integer", self.chunk_size)
        _require(0 < self.heldout_frac < 1, "features.heldout_frac", "a number in (0, 1)", self.heldout_frac)


@dataclass(frozen=True)
class SurrogateConfig:
    """Weighted logistic regression per subset; Δθ is rescaled to at most `max_rel_dist` · ‖θ*‖."""

    l2: float = 1.0
    max_rel_dist: float = 0.01
    max_iter: int = 200

    def __post_init__(self):
        _require(self.l2 > 0, "surrogate.l2", "a positive number", self.l2)
        _require(self.max_rel_dist > 0, "surrogate.max_rel_dist", "a positive number", self.max_rel_dist)
        _require(isinstance(self.max_iter, int) and self.max_iter >= 1, "surrogate.max_iter", "a positive integer",
                 self.max_iter)


SCORES = ("logistic", "ppo", "rollout")


@dataclass(frozen=True)
class AffinityConfig:
    """`n_subsets` random subsets of `subset_size` tasks; `score` is how f̂_i(S) is evaluated."""

    n_subsets: int = 60
    subset_size: int = 4
    score: str = "logistic"
    seed: int = 0

    def __post_init__(self):
        _require(isinstance(self.n_subsets, int) and self.n_subsets >= 1, "m (affinity.n_subsets)",
                 "a positive integer", self.n_subsets)
        _require(isinstance(self.subset_size, int) and self.subset_size >= 2, "subset_size (affinity.subset_size)",
                 "an integer >= 2", self.subset_size)
        _require(self.score in SCORES, "affinity.score", "one of " + ", ".join(SCORES), self.score)


CLUSTER_METHODS = ("sdp", "spectral", "random")


@dataclass(frozen=True)
class ClusterConfig:
    """Clustering of the affinity: fixed `k` groups, or the trace penalty `lam` when k is None."""

    k: int | None = 3
    lam: float | None = None
    method: str = "sdp"
    seed: int = 0

    def __post_init__(self):
        _require(self.k is None or (isinstance(self.k, int) and self.k >= 1), "k", "a positive integer", self.k)
        _require(self.k is not None or self.lam is not None, "k", "a positive integer (or set lam)", self.k)
        _require(self.method in CLUSTER_METHODS, "cluster.method", "one of " + ", ".join(CLUSTER_METHODS),
                 self.method)


@dataclass(frozen=True)
class EvalConfig:
    """Policy evaluation by rollouts: `episodes` per task, greedy or sampled actions."""

    episodes: int = 10
    deterministic: bool = True

    def __post_init__(self):
        _require(isinstance(self.episodes, int) and self.episodes >= 1, "evaluation.episodes", "a positive integer",
                 self.episodes)


GROUP_INITS = ("meta", "scratch")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything one PolicyGradEx run needs, from the task family to the trained groups."""

    family: str = "cartpole"
    n_tasks: int = 10
    seed: int = 0
    net: NetConfig = field(default_factory=NetConfig)
    meta_ppo: PPOConfig = field(default_factory=PPOConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    surrogate: SurrogateConfig = field(default_factory=SurrogateConfig)
    affinity: AffinityConfig = field(default_factory=AffinityConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    group_ppo: PPOConfig = field(default_factory=PPOConfig)
    group_init: str = "meta"
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    maml: MAMLConfig = field(default_factory=MAMLConfig)
    meta_rl: MetaRLConfig = field(default_factory=MetaRLConfig)
    device: str = "auto"

    def __post_init__(self):
        _require(self.family in FAMILIES, "family", "one of " + ", ".join(FAMILIES), self.family)
        _require(isinstance(self.n_tasks, int) and self.n_tasks >= 2, "n_tasks", "an integer >= 2", self.n_tasks)
        _require(isinstance(self.seed, int) and self.seed >= 0, "seed", "a non-negative integer", self.seed)
        _require(self.group_init in GROUP_INITS, "group_init", "one of " + ", ".join(GROUP_INITS), self.group_init)
        _require(self.device in ("auto", "cpu", "cuda"), "device", "auto, cpu, cuda", self.device)
        k = self.cluster.k
        _require(k is None or k <= self.n_tasks, "k", f"an integer in 1..{self.n_tasks} (n_tasks)", k)
        _require(self.affinity.subset_size <= self.n_tasks, "subset_size",
                 f"an integer in 2..{self.n_tasks} (n_tasks)", self.affinity.subset_size)


# ---------------------------------------------------------------------------------------------
# Profiles: per family, the fields that differ from the dataclass defaults.
# ---------------------------------------------------------------------------------------------

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

PROFILE_TABLE: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "cartpole": {**_SMOKE},
        "lunarlander": {**_SMOKE},
        "highway": {**_SMOKE, "meta_ppo.steps_per_task": 128, "meta_ppo.rollout_len": 32, "features.steps_per_task": 32,
                    "group_ppo.rollout_len": 32, "group_ppo.steps_per_task": 64},
        "nav2d": {**_SMOKE},
        "metaworld": {**_SMOKE, "meta_ppo.rollout_len": 32, "meta_ppo.steps_per_task": 128,
                      "group_ppo.rollout_len": 32, "group_ppo.steps_per_task": 64, "features.steps_per_task": 32},
    },
    "default": {
        "cartpole": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 100_000, "group_ppo.steps_per_task": 30_000,
                     "features.steps_per_task": 2048},
        "lunarlander": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 200_000, "meta_ppo.ent_coef": 0.01,
                        "group_ppo.steps_per_task": 60_000, "features.steps_per_task": 2048},
        "highway": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 8_000, "meta_ppo.num_envs": 2,
                    "meta_ppo.rollout_len": 100, "meta_ppo.gamma": 0.9, "group_ppo.steps_per_task": 3_000,
                    "group_ppo.num_envs": 2, "group_ppo.rollout_len": 100, "group_ppo.gamma": 0.9,
                    "features.steps_per_task": 512, "evaluation.episodes": 3, "maml.steps_per_task": 1_200,
                    "maml.num_envs": 2, "maml.rollout_len": 100, "maml.gamma": 0.9, "meta_rl.episodes": 1},
        "nav2d": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 50_000, "group_ppo.steps_per_task": 20_000,
                  "features.steps_per_task": 2048},
        "metaworld": {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 200_000, "meta_ppo.rollout_len": 500,
                      "group_ppo.steps_per_task": 100_000, "group_ppo.rollout_len": 500},
    },
    "paper": {
        fam: {**_DEFAULT_COMMON, "meta_ppo.steps_per_task": 2_000_000 if fam == "metaworld" else 500_000,
              "meta_ppo.num_envs": 4, "meta_ppo.rollout_len": 512, "features.steps_per_task": 2048,
              "group_ppo.steps_per_task": 1_000_000 if fam == "metaworld" else 200_000,
              "maml.steps_per_task": 200_000}
        for fam in FAMILIES
    },
}

ALIASES = {
    "k": "cluster.k",
    "lam": "cluster.lam",
    "d": "features.proj_dim",
    "proj_dim": "features.proj_dim",
    "m": "affinity.n_subsets",
    "n_subsets": "affinity.n_subsets",
    "subset_size": "affinity.subset_size",
    "score": "affinity.score",
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
    built = {name: top_fields[name].default_factory(**kw) for name, kw in stages.items()}
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
    _require(profile in PROFILES, "profile", "one of " + ", ".join(PROFILES), profile)
    _require(family in FAMILIES, "family", "one of " + ", ".join(FAMILIES), family)
    preset = {ALIASES.get(k, k): v for k, v in PROFILE_TABLE[profile][family].items()}
    return _build({**preset, "family": family, **{ALIASES.get(k, k): v for k, v in overrides.items()}})


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a config."""
    return dataclasses.asdict(cfg)
