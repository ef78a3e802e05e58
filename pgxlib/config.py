"""Frozen configuration dataclasses, one per stage, composed into `PipelineConfig`.

Every dataclass validates every field, type and range, with the `check_*` family of `pgxlib.checks` (re-exported
here), so bad input fails before any computation with one line naming the parameter and what it may be; a stage
dataclass names its bare field (``invalid lr=-1: ...``). The named profiles and `pipeline_config`, which builds a
configuration from a profile and overrides, are in `pgxlib.profiles`.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from pgxlib.checks import (  # noqa: F401  (re-exported: `config.check_int`, `config.ConfigError`, the bounds)
    MAX_CHUNK, MAX_DEPTH, MAX_ENVS, MAX_EPISODES, MAX_EPOCHS, MAX_FEATURE_STEPS, MAX_INNER_UPDATES, MAX_ITER,
    MAX_MINIBATCHES, MAX_MODULES, MAX_PROJ_DIM, MAX_ROLLOUT_LEN, MAX_SEED, MAX_STEPS_PER_TASK, MAX_SUBSETS,
    MAX_SUPPORT_STEPS, MAX_TARGETS, MAX_TASKS, MAX_WIDTH, ConfigError, _require, check_bool, check_choice,
    check_float, check_int, check_int_list, check_seed,
)


def _plain(obj: Any) -> None:
    """Replace numpy scalars in the fields of the frozen dataclass `obj` by Python ones (in place)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.generic):
            object.__setattr__(obj, f.name, value.item())


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
DEFAULT_SCORE = "logistic"
"""The evaluator of `pgx group` (`AffinityConfig.score`) and of the speedup chapter's headline: the surrogate's own
held-out logistic loss, the pick of the method chapter's rule (the best worst case, over the families whose truth
reproduces itself, of the estimate's agreement with the truth over the truth's noise ceiling;
`analysis.selection.choose_evaluator`, stored by the `evaluator_rule` experiment; `tests/test_evaluator_rule.py`
holds this default to the rule's pick on the stored `default` results)."""
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

def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a config."""
    return dataclasses.asdict(cfg)


def progress_default() -> bool:
    """Progress bars are on unless the environment sets PGX_PROGRESS=0 (the book build does)."""
    return os.environ.get("PGX_PROGRESS", "1") != "0"
