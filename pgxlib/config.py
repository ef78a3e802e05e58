"""Frozen configuration dataclasses, one per stage, and the named profiles.

A profile (`smoke`, `default`, `paper`) is a preset of `PipelineConfig` per task family.
`pipeline_config(profile, family, **overrides)` is the one place that builds a configuration;
overrides use dotted paths (``"features.proj_dim"``) or the short aliases in `ALIASES` (``"d"``).
Every dataclass validates every field, type and range, with the `check_*` family below, so bad
input fails before any computation with one line naming the parameter and what it may be. A stage
dataclass names its bare field (``invalid lr=-1: ...``); `pipeline_config` and `apply_overrides`
name the dotted path (``invalid meta_ppo.lr=-1: ...``).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A parameter has a value outside its allowed set; the message is one line."""


# ---------------------------------------------------------------------------------------------
# Upper bounds for values that could exhaust the machine (memory or time) if mistyped.
# ---------------------------------------------------------------------------------------------

MAX_TASKS = 200
"""Source tasks of one run (`n_tasks`), and so the largest `k` and `subset_size`."""
MAX_TARGETS = 50
"""Unseen target tasks of the meta-RL evaluation (`meta_rl.n_targets`)."""
MAX_STEPS_PER_TASK = 50_000_000
"""Environment steps per task of one training stage (PPO or MAML `steps_per_task`)."""
MAX_FEATURE_STEPS = 1_000_000
"""Transitions per task whose gradient features are kept (`features.steps_per_task`)."""
MAX_ENVS = 256
"""Parallel environments per task (`num_envs`)."""
MAX_ROLLOUT_LEN = 10_000
"""Steps per environment of one rollout (`rollout_len`)."""
MAX_SUPPORT_STEPS = 1_000_000
"""Transitions per task of one MAML support rollout (`maml.support_steps`)."""
MAX_INNER_UPDATES = 1_000
"""MAML inner policy-gradient steps per adaptation (`maml.inner_updates`)."""
MAX_EPOCHS = 1_000
"""PPO epochs over one batch (`update_epochs`)."""
MAX_MINIBATCHES = 65_536
"""Minibatches per PPO epoch (`num_minibatches`)."""
MAX_WIDTH = 4096
"""Units per hidden layer (`net.width`)."""
MAX_DEPTH = 16
"""Hidden layers (`net.depth`)."""
MAX_MODULES = 64
"""Modules per layer or parameter sets (`net.n_modules`)."""
MAX_PROJ_DIM = 100_000
"""Dimension of the projected gradient features (`features.proj_dim`)."""
MAX_CHUNK = 65_536
"""Transitions whose per-sample gradients are held at once (`features.chunk_size`)."""
MAX_SUBSETS = 100_000
"""Random task subsets of the affinity estimate (`affinity.n_subsets`)."""
MAX_ITER = 100_000
"""Newton steps of one surrogate logistic-regression fit (`surrogate.max_iter`)."""
MAX_EPISODES = 10_000
"""Evaluation episodes per task (`evaluation.episodes`, `meta_rl.episodes`)."""
MAX_SEED = 2**32 - 1
"""Largest seed (the range every RNG of numpy, torch and gymnasium accepts)."""


# ---------------------------------------------------------------------------------------------
# The validator family. Each returns the value as a plain Python object or raises a one-line
# `ConfigError` "invalid {name}={value!r}: allowed {what}".
# ---------------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    """`repr(value)` on one line and at most 120 characters."""
    text = repr(value)
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."


def _fail(name: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"invalid {name}={_show(value)}: allowed {allowed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _int_range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"{lo}..{hi}"
    if lo is not None:
        return f">= {lo}"
    return "" if hi is None else f"<= {hi}"


def _int_allowed(lo: int | None, hi: int | None) -> str:
    """'a positive integer in 1..16', 'a non-negative integer', 'an integer >= 8', ..."""
    kind = {1: "a positive integer", 0: "a non-negative integer"}.get(lo, "an integer")
    if lo is not None and hi is not None:
        return f"{kind} in {lo}..{hi}"
    if kind != "an integer" or (lo is None and hi is None):
        return kind
    return f"an integer {_int_range(lo, hi)}"


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """`value` as an `int` in lo..hi (inclusive; None = unbounded); bools are refused."""
    if not _is_int(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(name, value, _int_allowed(lo, hi))
    return int(value)


def _float_allowed(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"a finite number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"a finite number {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f"a finite number {'<' if hi_open else '<='} {hi}"
    return "a finite number"


def check_float(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """`value` as a finite `float` in the interval lo..hi (each end closed unless `*_open`).

    Ints and floats (numpy ones too) are accepted; bools, strings, None, NaN and ±inf are refused.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    try:
        ok = ok and math.isfinite(float(value))
    except OverflowError:  # an int too large for a float
        ok = False
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        raise _fail(name, value, _float_allowed(lo, hi, lo_open, hi_open))
    return float(value)


def check_choice(name: str, value: Any, choices) -> Any:
    """`value` if it is one of `choices` (same type too: True is not 1)."""
    for choice in choices:
        same_kind = type(value) is type(choice) or (isinstance(value, str) and isinstance(choice, str))
        if same_kind and value == choice:
            return choice
    raise _fail(name, value, "one of " + ", ".join(str(c) for c in choices))


def check_bool(name: str, value: Any) -> bool:
    """`value` if it is a real `bool` (not 0/1, not a numpy bool, not a string)."""
    if not isinstance(value, bool):
        raise _fail(name, value, "True, False")
    return value


def check_int_list(name: str, values: Any, lo: int, hi: int | None = None, allow_empty: bool = False) -> list[int]:
    """`values` (a list or tuple) as a list of distinct integers in lo..hi; bools are refused.

    Empty only with `allow_empty`.
    """
    rng = _int_range(lo, hi)
    allowed = (f"a {'' if allow_empty else 'non-empty '}list of distinct integers "
               + (f"in {rng}" if hi is not None else rng))
    ok = isinstance(values, (list, tuple)) and (allow_empty or len(values) > 0)
    ok = ok and all(_is_int(v) and v >= lo and (hi is None or v <= hi) for v in values)
    ok = ok and len({int(v) for v in values}) == len(values)
    if not ok:
        raise _fail(name, values, allowed)
    return [int(v) for v in values]


def check_seed(name: str, value: Any) -> int:
    """A seed: an integer in 0..`MAX_SEED`."""
    return check_int(name, value, 0, MAX_SEED)


def _plain(obj: Any) -> None:
    """Replace numpy scalars in the fields of the frozen dataclass `obj` by Python ones (in place)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.generic):
            object.__setattr__(obj, f.name, value.item())


def _require(cond: bool, name: str, allowed: str, value: Any) -> None:
    """Raise a one-line `ConfigError` for a cross-field rule the `check_*` family cannot state."""
    if not cond:
        raise _fail(name, value, allowed)


def _prefixed(err: ConfigError, stage: str) -> ConfigError:
    """`err` with its field named by the dotted path ``stage.field``."""
    msg = re.sub(r"^invalid ([A-Za-z_]\w*)=", lambda m: f"invalid {stage}.{m.group(1)}=", str(err), count=1)
    return ConfigError(msg)


FAMILIES = ("cartpole", "lunarlander", "highway", "nav2d", "planted", "metaworld")
CONTROL_FAMILIES = ("cartpole", "lunarlander", "highway", "nav2d", "planted")
PROFILES = ("smoke", "default", "paper")
ACTIVATIONS = ("tanh", "relu")


@dataclass(frozen=True)
class NetConfig:
    """Actor-critic network: `depth` hidden layers of `width` units."""

    depth: int = 4
    """Hidden layers of the actor and of the critic (count, 1..`MAX_DEPTH`)."""
    width: int = 64
    """Units per hidden layer (count, 1..`MAX_WIDTH`)."""
    arch: str = "mlp"
    """Network body: one of `ARCHS`."""
    activation: str = "tanh"
    """Hidden-layer nonlinearity: tanh or relu."""
    task_conditioned: bool = True
    """Whether the input carries a one-hot task id (n_tasks extra inputs)."""
    n_modules: int = 4
    """Modules per layer (soft_modularization), parameter sets (paco) or encoders (care); unused by mlp."""

    def __post_init__(self):
        check_int("depth", self.depth, 1, MAX_DEPTH)
        check_int("width", self.width, 1, MAX_WIDTH)
        check_choice("arch", self.arch, ARCHS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_bool("task_conditioned", self.task_conditioned)
        check_int("n_modules", self.n_modules, 1, MAX_MODULES)
        _plain(self)


ARCHS = ("mlp", "soft_modularization", "paco", "care")


@dataclass(frozen=True)
class PolicyGradientConfig:
    """What PPO and MAML's outer loop share: a clipped-objective policy-gradient learner with GAE that
    collects `num_envs * rollout_len` steps per task per iteration and takes `update_epochs` passes of
    `num_minibatches` minibatches over them (`pgxlib.rl.ppo.minibatch_updates`)."""

    steps_per_task: int = 100_000
    """Environment steps per task over the whole training (0..`MAX_STEPS_PER_TASK`)."""
    num_envs: int = 4
    """Parallel environments per task (count, 1..`MAX_ENVS`)."""
    rollout_len: int = 128
    """Steps per environment per iteration (2..`MAX_ROLLOUT_LEN`)."""
    gamma: float = 0.99
    """Discount factor per step, in (0, 1]."""
    gae_lambda: float = 0.95
    """GAE λ, in [0, 1]."""
    lr: float = 3e-4
    """Adam learning rate (> 0), annealed linearly to 0 over the iterations (PPO: when `anneal_lr`)."""
    update_epochs: int = 4
    """Passes over each iteration's batch (count, 1..`MAX_EPOCHS`)."""
    num_minibatches: int = 4
    """Minibatches per pass (count, 1..`MAX_MINIBATCHES`)."""
    clip_coef: float = 0.2
    """PPO ratio clipping ε (> 0)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus in the loss (>= 0)."""
    vf_coef: float = 0.5
    """Weight of the value loss in the loss (>= 0)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip per update (L2 norm, > 0)."""

    def __post_init__(self):
        self._check()
        _plain(self)

    def _check(self) -> None:
        """Type and range of every field (bare field names; `_build` adds the stage's prefix)."""
        check_int("steps_per_task", self.steps_per_task, 0, MAX_STEPS_PER_TASK)
        check_int("num_envs", self.num_envs, 1, MAX_ENVS)
        check_int("rollout_len", self.rollout_len, 2, MAX_ROLLOUT_LEN)
        check_float("gamma", self.gamma, 0, 1, lo_open=True)
        check_float("gae_lambda", self.gae_lambda, 0, 1)
        check_float("lr", self.lr, 0, lo_open=True)
        check_int("update_epochs", self.update_epochs, 1, MAX_EPOCHS)
        check_int("num_minibatches", self.num_minibatches, 1, MAX_MINIBATCHES)
        check_float("clip_coef", self.clip_coef, 0, lo_open=True)
        check_float("ent_coef", self.ent_coef, 0)
        check_float("vf_coef", self.vf_coef, 0)
        check_float("max_grad_norm", self.max_grad_norm, 0, lo_open=True)

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps per task per iteration."""
        return self.num_envs * self.rollout_len

    @property
    def iterations(self) -> int:
        return self.steps_per_task // self.steps_per_iteration


@dataclass(frozen=True)
class PPOConfig(PolicyGradientConfig):
    """Multitask PPO. Each iteration collects `num_envs * rollout_len` steps on every task."""

    anneal_lr: bool = True
    """Whether the learning rate decays linearly to 0 over the iterations."""
    norm_adv: bool = True
    """Whether advantages are standardised per minibatch."""

    def _check(self) -> None:
        super()._check()
        check_bool("anneal_lr", self.anneal_lr)
        check_bool("norm_adv", self.norm_adv)


@dataclass(frozen=True)
class MAMLConfig(PolicyGradientConfig):
    """First-order MAML for policy-gradient RL, one meta-policy per group.

    Each outer iteration, on every task of the group: `inner_updates` times, collect
    `support_steps` transitions (over `num_envs` envs) with the current adapted actor and take one
    policy-gradient step of size `inner_lr` (the adaptation); then collect `num_envs * rollout_len`
    query transitions with the adapted actor and update the meta-parameters with the clipped PPO loss
    of the adapted actor (first-order: the inner steps are held fixed). The critic is shared, not
    adapted, and fitted on the query data. `steps_per_task` counts support and query steps.
    """

    steps_per_task: int = 20_000
    """Environment steps per task over the meta-training, support and query (0..`MAX_STEPS_PER_TASK`)."""
    support_steps: int = 200
    """Transitions per task of one support rollout (2 × num_envs..`MAX_SUPPORT_STEPS`)."""
    inner_updates: int = 1
    """Inner policy-gradient steps per adaptation (count, 0..`MAX_INNER_UPDATES`)."""
    inner_lr: float = 0.05
    """Step size α of an inner policy-gradient step (>= 0)."""
    inner_max_norm: float = 1.0
    """Clip of the inner policy gradient per task (L2 norm, > 0)."""

    def _check(self) -> None:
        super()._check()
        try:
            check_int("support_steps", self.support_steps, 2 * self.num_envs, MAX_SUPPORT_STEPS)
        except ConfigError as err:
            raise ConfigError(f"{err} (at least 2 × num_envs)") from None
        check_int("inner_updates", self.inner_updates, 0, MAX_INNER_UPDATES)
        check_float("inner_lr", self.inner_lr, 0)
        check_float("inner_max_norm", self.inner_max_norm, 0, lo_open=True)

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


ASSIGNMENTS = ("nearest", "random")


@dataclass(frozen=True)
class MetaRLConfig:
    """Meta-RL evaluation: `n_targets` unseen target tasks, each assigned to a source task (and so
    to that task's group) by `assign`, adapted from the group's meta-policy with the MAML inner loop
    (`MAMLConfig.inner_updates` × `support_steps`), and evaluated before and after adaptation over
    `episodes` episodes."""

    n_targets: int = 50
    """Unseen target tasks (count, 1..`MAX_TARGETS`)."""
    assign: str = "nearest"
    """How a target picks its source task: one of `ASSIGNMENTS`."""
    episodes: int = 3
    """Evaluation episodes per target, before and after adaptation (count, 1..`MAX_EPISODES`)."""
    deterministic: bool = True
    """Whether evaluation takes greedy actions (else sampled)."""

    def __post_init__(self):
        check_int("n_targets", self.n_targets, 1, MAX_TARGETS)
        check_choice("assign", self.assign, ASSIGNMENTS)
        check_int("episodes", self.episodes, 1, MAX_EPISODES)
        check_bool("deterministic", self.deterministic)
        _plain(self)


PROJECTIONS = ("gaussian", "sketch")
"""Projections of per-sample gradients (`pgxlib.estimate.projector`: `Projector`, `SketchProjector`)."""


@dataclass(frozen=True)
class FeatureConfig:
    """Gradient features: `steps_per_task` transitions per task, projected to `proj_dim`."""

    proj_dim: int = 400
    """Dimension d of the random projection of a per-sample gradient (1..`MAX_PROJ_DIM`)."""
    steps_per_task: int = 2048
    """Transitions per task whose features are computed (8..`MAX_FEATURE_STEPS`)."""
    chunk_size: int = 256
    """Transitions whose per-sample gradients are held at once (1..`MAX_CHUNK`)."""
    heldout_frac: float = 0.25
    """Fraction of each task's transitions held out from the surrogate fit, in (0, 1)."""
    seed: int = 0
    """Seed of the projection and the held-out split, added to the run seed (0..`MAX_SEED`)."""
    projection: str = "gaussian"
    """Projection of per-sample gradients: one of `PROJECTIONS` (gaussian: the paper's dense JL matrix;
    sketch: a structured sketch of Linear layers from activations and output gradients, much faster)."""

    def __post_init__(self):
        check_int("proj_dim", self.proj_dim, 1, MAX_PROJ_DIM)
        check_int("steps_per_task", self.steps_per_task, 8, MAX_FEATURE_STEPS)
        check_int("chunk_size", self.chunk_size, 1, MAX_CHUNK)
        check_float("heldout_frac", self.heldout_frac, 0, 1, lo_open=True, hi_open=True)
        check_seed("seed", self.seed)
        check_choice("projection", self.projection, PROJECTIONS)
        _plain(self)


@dataclass(frozen=True)
class SurrogateConfig:
    """Weighted logistic regression per subset; Δθ is rescaled to at most `max_rel_dist` · ‖θ*‖."""

    l2: float = 1.0
    """L2 penalty of the logistic regression (> 0)."""
    max_rel_dist: float = 0.01
    """Largest step ‖Δθ‖ as a fraction of ‖θ*‖ (> 0)."""
    max_iter: int = 200
    """Newton steps per fit at most (count, 1..`MAX_ITER`)."""

    def __post_init__(self):
        check_float("l2", self.l2, 0, lo_open=True)
        check_float("max_rel_dist", self.max_rel_dist, 0, lo_open=True)
        check_int("max_iter", self.max_iter, 1, MAX_ITER)
        _plain(self)


SCORES = ("logistic", "ppo", "rollout", "success")
"""The evaluators of f̂_i(S) by name; `pgxlib.estimate.scores.EVALUATORS` maps each to its function (the one
named ``<name>_scores`` there). The names are declared here, not there, because this module is the lowest layer:
it validates a configuration without loading the maths, and the maths imports it (a config cannot import
`pgxlib.estimate`, whose networks import the config). "success" needs a family that reports success."""
DEFAULT_SCORE = "rollout"
"""The evaluator of `pgx group` (`AffinityConfig.score`) and of the speedup chapter's headline: rollout return,
the evaluator of the truth too, applied to θ̂_S (the method chapter gives the rule that chose it)."""
NORMALIZATIONS = ("row_zscore", "subset_zscore")
"""Affinity normalisations (`pgxlib.estimate.affinity.NORMALIZATIONS` describes them)."""


@dataclass(frozen=True)
class AffinityConfig:
    """`n_subsets` random subsets of `subset_size` tasks; `score` is how f̂_i(S) is evaluated."""

    n_subsets: int = 60
    """Random task subsets m (count, 1..`MAX_SUBSETS`)."""
    subset_size: int = 4
    """Tasks per subset (2..`MAX_TASKS`, and at most n_tasks)."""
    score: str = DEFAULT_SCORE
    """How f̂_i(S) is scored: one of `SCORES` (`DEFAULT_SCORE` unless set)."""
    seed: int = 0
    """Seed of the subset draw, added to the run seed (0..`MAX_SEED`)."""
    normalization: str = "row_zscore"
    """How the affinity is normalised before clustering: one of `NORMALIZATIONS` (ours or the authors')."""

    def __post_init__(self):
        check_int("n_subsets", self.n_subsets, 1, MAX_SUBSETS)
        check_int("subset_size", self.subset_size, 2, MAX_TASKS)
        check_choice("score", self.score, SCORES)
        check_seed("seed", self.seed)
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        _plain(self)


CLUSTER_METHODS = ("sdp", "spectral", "random")


@dataclass(frozen=True)
class ClusterConfig:
    """Clustering of the affinity: fixed `k` groups, or the trace penalty `lam` when k is None."""

    k: int | None = 3
    """Groups (count, 1..`MAX_TASKS` and at most n_tasks), or None to let `lam` decide."""
    lam: float | None = None
    """Trace penalty λ of the SDP when k is None (a finite number), or None."""
    method: str = "sdp"
    """Clustering algorithm: one of `CLUSTER_METHODS`."""
    seed: int = 0
    """Seed of the rounding or random grouping (0..`MAX_SEED`)."""

    def __post_init__(self):
        if self.k is not None:
            check_int("k", self.k, 1, MAX_TASKS)
        if self.lam is not None:
            check_float("lam", self.lam)
        _require(self.k is not None or self.lam is not None, "k", f"an integer in 1..{MAX_TASKS} (or set lam)",
                 self.k)
        check_choice("method", self.method, CLUSTER_METHODS)
        check_seed("seed", self.seed)
        _plain(self)


@dataclass(frozen=True)
class EvalConfig:
    """Policy evaluation by rollouts: `episodes` per task, greedy or sampled actions."""

    episodes: int = 10
    """Evaluation episodes per task (count, 1..`MAX_EPISODES`)."""
    deterministic: bool = True
    """Whether evaluation takes greedy actions (else sampled)."""
    envs_per_task: int | None = None
    """Envs per task the episodes are spread over, back to back (a divisor of episodes), or None: one per episode."""

    def __post_init__(self):
        check_int("episodes", self.episodes, 1, MAX_EPISODES)
        check_bool("deterministic", self.deterministic)
        if self.envs_per_task is not None:
            check_int("envs_per_task", self.envs_per_task, 1, self.episodes)
            _require(self.episodes % self.envs_per_task == 0, "envs_per_task",
                     f"a divisor of episodes={self.episodes}", self.envs_per_task)
        _plain(self)


GROUP_INITS = ("meta", "scratch")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything one PolicyGradEx run needs, from the task family to the trained groups."""

    family: str = "cartpole"
    """Task family: one of `FAMILIES`."""
    n_tasks: int = 10
    """Source tasks (count, 2..`MAX_TASKS`)."""
    seed: int = 0
    """Run seed; every stage's seed is offset from it (0..`MAX_SEED`)."""
    net: NetConfig = field(default_factory=NetConfig)
    """The actor-critic network."""
    meta_ppo: PPOConfig = field(default_factory=PPOConfig)
    """Multitask PPO on all source tasks (θ*)."""
    features: FeatureConfig = field(default_factory=FeatureConfig)
    """Projected gradient features at θ*."""
    surrogate: SurrogateConfig = field(default_factory=SurrogateConfig)
    """The logistic surrogate of fine-tuning on a subset."""
    affinity: AffinityConfig = field(default_factory=AffinityConfig)
    """The task-affinity estimate from random subsets."""
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    """Clustering the affinity into groups."""
    group_ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO of one policy per group."""
    group_init: str = "meta"
    """Start of a group's policy: one of `GROUP_INITS` (θ* or a fresh network)."""
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    """Rollout evaluation of the policies."""
    maml: MAMLConfig = field(default_factory=MAMLConfig)
    """First-order MAML of one meta-policy per group."""
    meta_rl: MetaRLConfig = field(default_factory=MetaRLConfig)
    """Adaptation to unseen target tasks."""
    device: str = "auto"
    """Torch device: one of `DEVICES` (auto picks cuda when available)."""

    def __post_init__(self):
        check_choice("family", self.family, FAMILIES)
        check_int("n_tasks", self.n_tasks, 2, MAX_TASKS)
        check_seed("seed", self.seed)
        for f in fields(self):
            if f.default_factory is not dataclasses.MISSING:
                stage = getattr(self, f.name)
                _require(isinstance(stage, f.default_factory), f.name, f"a {f.default_factory.__name__}", stage)
        check_choice("group_init", self.group_init, GROUP_INITS)
        check_choice("device", self.device, DEVICES)
        k = self.cluster.k
        _require(k is None or k <= self.n_tasks, "cluster.k", f"an integer in 1..{self.n_tasks} (n_tasks)", k)
        _require(self.affinity.subset_size <= self.n_tasks, "affinity.subset_size",
                 f"an integer in 2..{self.n_tasks} (n_tasks)", self.affinity.subset_size)
        _plain(self)


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

FINETUNE_BUDGET = {"default": {"n_subsets": 30, "finetune_steps": 4096}}
"""The measured affinity's budget (θ* fine-tuned on each subset: the speedup and structure chapters) per profile:
m subsets and PPO steps per task; a profile without an entry uses its own m and `group_ppo` budget. Fine-tuning
every subset for the `default` profile's full group budget (30k-60k steps per task) would take hours."""


def finetune_config(cfg: PipelineConfig, steps: int) -> PPOConfig:
    """The group fine-tuning PPO of `cfg` with `steps` environment steps per task."""
    return dataclasses.replace(cfg.group_ppo, steps_per_task=steps)


PAPER_META_STEPS = {"metaworld": 2_000_000, "planted": 15_000}
"""θ* budgets of the paper profile that differ from 500k per task: MT10's, and planted's, which stays at its
default on purpose (a θ* that solves every planted task leaves no gradient to group by)."""
PAPER_GROUP_STEPS = {"metaworld": 1_000_000}
"""Group-training budgets of the paper profile that differ from 200k per task: MT10's (multi-objective: each group's
policy is trained from scratch, with no adaptation afterwards)."""

MT10_BUDGET = """How the default MT10 budget was chosen (measured on the project's 2-core machine, one torch thread,
other jobs running: load about 5). PPO env steps/s on the 10 tasks with 4 envs × 500 steps per task per
iteration, env construction included: MLP 840, PaCo 750, CARE 640, Soft Modularization 610; MT10 stepping
alone 1,100-1,900. With S group steps and M θ* steps per task, one seed of the main results costs
10M/840 (θ*) + 10S (1/840 + 1/640 + 1/750 + 4/610) (multitask, CARE, PaCo, and Soft Modularization for its
baseline and the three groupings) + about 450 s (evaluations: 10 episodes × 10 tasks per method; features)
= 0.012 M + 0.106 S + 450 s. Two processes side by side: A runs the main results (seeds 0, 1; seed 2 is read
from the shared stores), B runs the main results of seed 2 alone, then Figure 2 (hessian_bound: 42 S/840 s
of MLP training plus about 600 s of measuring) and the k ablation (k = 2 and 4 are new: 2 × 10S/610 s).
With M = 100k and S = 150k: one seed ≈ 1,190 + 15,960 + 450 ≈ 17,600 s; A ≈ 35,200 s ≈ 9.8 h;
B ≈ 17,600 + 8,100 + 5,100 ≈ 30,800 s ≈ 8.6 h."""

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
        # MT10 (multi-objective), sized so that the chapter takes about 10 h as two processes: see MT10_BUDGET
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


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a config."""
    return dataclasses.asdict(cfg)


def progress_default() -> bool:
    """Progress bars are on unless the environment sets PGX_PROGRESS=0 (the book build does)."""
    return os.environ.get("PGX_PROGRESS", "1") != "0"
