"""The config validator family and the per-field checks of every config dataclass."""
import ast
import dataclasses
import inspect
import math

import numpy as np
import pytest

from pgxlib.config import (
    FAMILIES,
    MAX_DEPTH,
    MAX_ENVS,
    MAX_EPISODES,
    MAX_PROJ_DIM,
    MAX_STEPS_PER_TASK,
    MAX_SUBSETS,
    MAX_TASKS,
    MAX_WIDTH,
    PROFILES,
    AffinityConfig,
    ClusterConfig,
    ConfigError,
    EvalConfig,
    FeatureConfig,
    MAMLConfig,
    MetaRLConfig,
    NetConfig,
    PipelineConfig,
    PPOConfig,
    SurrogateConfig,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_int_list,
)
from pgxlib.profiles import ALIASES, PROFILE_TABLE, apply_overrides, flatten, pipeline_config

NAN, INF = float("nan"), float("inf")
STAGES = (NetConfig, PPOConfig, MAMLConfig, MetaRLConfig, FeatureConfig, SurrogateConfig, AffinityConfig,
          ClusterConfig, EvalConfig, PipelineConfig)


def _raises(match, **overrides) -> str:
    with pytest.raises(ConfigError, match=match) as err:
        pipeline_config("smoke", "cartpole", **overrides)
    msg = str(err.value)
    assert len(msg.splitlines()) == 1, msg
    return msg


# ---- the validator family --------------------------------------------------------------------

def test_check_int():
    assert check_int("n", 3, 1, 5) == 3 and type(check_int("n", np.int64(3), 1, 5)) is int
    assert check_int("n", 1, 1, 5) == 1 and check_int("n", 5, 1, 5) == 5
    for bad in (True, False, 2.0, "3", None, np.float64(3.0), np.bool_(True)):
        with pytest.raises(ConfigError, match=r"^invalid n=.*: allowed a positive integer in 1\.\.5$"):
            check_int("n", bad, 1, 5)
    with pytest.raises(ConfigError, match=r"invalid n=6: allowed a positive integer in 1\.\.5"):
        check_int("n", 6, 1, 5)
    with pytest.raises(ConfigError, match=r"invalid n=1: allowed an integer >= 8"):
        check_int("n", 1, 8)
    with pytest.raises(ConfigError, match=r"invalid n=-1: allowed a non-negative integer$"):
        check_int("n", -1, 0)
    with pytest.raises(ConfigError, match=r"invalid n=1: allowed an integer in 2\.\.3"):
        check_int("n", 1, 2, 3)


def test_check_float():
    assert check_float("x", 1, 0, 1, lo_open=True) == 1.0 and type(check_float("x", 1)) is float
    assert check_float("x", np.float32(0.5), 0, 1) == 0.5
    for bad in (NAN, INF, -INF, True, "0.1", None, [0.1], 10**400):
        with pytest.raises(ConfigError, match=r"invalid x=.*: allowed a finite number$"):
            check_float("x", bad)
    with pytest.raises(ConfigError, match=r"invalid x=0: allowed a finite number in \(0, 1\]"):
        check_float("x", 0, 0, 1, lo_open=True)
    with pytest.raises(ConfigError, match=r"invalid x=1: allowed a finite number in \[0, 1\)"):
        check_float("x", 1, 0, 1, hi_open=True)
    with pytest.raises(ConfigError, match=r"invalid x=0: allowed a finite number > 0$"):
        check_float("x", 0, 0, lo_open=True)
    with pytest.raises(ConfigError, match=r"invalid x=-0.1: allowed a finite number >= 0$"):
        check_float("x", -0.1, 0)
    with pytest.raises(ConfigError, match=r"invalid x=3: allowed a finite number <= 2$"):
        check_float("x", 3, hi=2)


def test_check_choice_and_bool():
    assert check_choice("c", "b", ("a", "b")) == "b" and check_choice("c", np.str_("a"), ("a", "b")) == "a"
    with pytest.raises(ConfigError, match=r"invalid c='z': allowed one of a, b$"):
        check_choice("c", "z", ("a", "b"))
    with pytest.raises(ConfigError, match=r"invalid c=True: allowed one of 1, 2"):
        check_choice("c", True, (1, 2))
    assert check_bool("b", True) is True and check_bool("b", False) is False
    for bad in (1, 0, "True", None, np.bool_(True)):
        with pytest.raises(ConfigError, match=r"invalid b=.*: allowed True, False"):
            check_bool("b", bad)


@pytest.mark.parametrize("values, lo, hi, allow_empty, expected", [
    ([1, 2, 3], 1, 3, False, [1, 2, 3]),
    ((0, 5), 0, None, False, [0, 5]),
    ([np.int64(2)], 1, None, False, [2]),
    ([], 1, None, True, []),
])
def test_check_int_list_accepts(values, lo, hi, allow_empty, expected):
    out = check_int_list("xs", values, lo, hi, allow_empty)
    assert out == expected and all(type(v) is int for v in out)


@pytest.mark.parametrize("values, lo, hi, allow_empty, match", [
    ([], 1, None, False, r"invalid xs=\[\]: allowed a non-empty list of distinct integers >= 1$"),
    ([1, 1], 1, None, False, "distinct"),
    ([True, 2], 1, None, False, "invalid xs"),
    ([0, 1], 1, 4, False, r"in 1\.\.4"),
    ([5], 1, 4, False, r"in 1\.\.4"),
    ([1.0], 1, None, False, "integers"),
    ("12", 1, None, False, "list"),
    (3, 1, None, False, "list"),
    (None, 1, None, True, r"allowed a list of distinct integers >= 1$"),
])
def test_check_int_list_refuses(values, lo, hi, allow_empty, match):
    with pytest.raises(ConfigError, match=match) as err:
        check_int_list("xs", values, lo, hi, allow_empty)
    assert len(str(err.value).splitlines()) == 1


def test_multiline_repr_is_one_line():
    with pytest.raises(ConfigError) as err:
        check_int("a", np.zeros((30, 30)))
    assert len(str(err.value).splitlines()) == 1 and len(str(err.value)) < 200


# ---- profiles and defaults -------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_profile_builds(profile, family):
    cfg = pipeline_config(profile, family)
    for key, value in PROFILE_TABLE[profile][family].items():
        assert flatten(cfg)[ALIASES.get(key, key)] == value
    assert apply_overrides(cfg, {}) == cfg


@pytest.mark.parametrize("cls", STAGES)
def test_defaults_build_and_every_field_has_a_docstring(cls):
    cls()
    documented = set()
    for klass in cls.__mro__:  # fields may be declared (and documented) by a base config
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(inspect.getsource(klass)).body[0].body
        documented |= {stmt.target.id for stmt, nxt in zip(body, body[1:])
                       if isinstance(stmt, ast.AnnAssign) and isinstance(nxt, ast.Expr)
                       and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)}
    assert documented == {f.name for f in dataclasses.fields(cls)}


# ---- types: bools are not integers, NaN/inf are not numbers ----------------------------------

@pytest.mark.parametrize("key", ["seed", "k", "n_tasks", "d", "m", "subset_size", "width", "depth",
                                 "meta_ppo.num_envs", "maml.inner_updates", "meta_rl.n_targets",
                                 "evaluation.episodes", "features.seed", "affinity.seed", "cluster.seed"])
def test_bool_is_not_an_integer(key):
    msg = _raises("integer", **{key: True})
    assert f"{ALIASES.get(key, key)}=True" in msg


@pytest.mark.parametrize("key", ["meta_ppo.lr", "group_ppo.lr", "maml.lr", "maml.inner_lr", "l2",
                                 "max_rel_dist", "meta_ppo.gamma", "maml.gae_lambda", "group_ppo.max_grad_norm",
                                 "meta_ppo.ent_coef", "meta_ppo.vf_coef", "meta_ppo.clip_coef",
                                 "features.heldout_frac", "maml.inner_max_norm", "lam"])
@pytest.mark.parametrize("bad", [NAN, INF, -INF, True, "0.1", None])
def test_non_finite_and_non_numbers_refused(key, bad):
    if key == "lam" and bad is None:
        return  # lam=None is the default (k decides)
    msg = _raises("finite number", **{key: bad})
    assert f"invalid {ALIASES.get(key, key)}=" in msg


@pytest.mark.parametrize("key", ["meta_ppo.anneal_lr", "group_ppo.norm_adv", "net.task_conditioned",
                                 "evaluation.deterministic", "meta_rl.deterministic"])
def test_flags_must_be_real_bools(key):
    _raises(rf"invalid {key}=1: allowed True, False", **{key: 1})
    _raises(rf"invalid {key}='yes'", **{key: "yes"})
    assert pipeline_config("smoke", "cartpole", **{key: False})


def test_float_fields_accept_ints():
    cfg = pipeline_config("smoke", "cartpole", **{"meta_ppo.gamma": 1, "maml.inner_lr": 0, "l2": 2})
    assert cfg.meta_ppo.gamma == 1 and cfg.maml.inner_lr == 0 and cfg.surrogate.l2 == 2


def test_numpy_scalars_become_python_scalars():
    cfg = pipeline_config("smoke", "cartpole", width=np.int64(8), **{"meta_ppo.lr": np.float64(1e-3)},
                          seed=np.int32(3))
    assert type(cfg.net.width) is int and type(cfg.meta_ppo.lr) is float and type(cfg.seed) is int
    assert cfg.net.width == 8 and cfg.meta_ppo.lr == 1e-3 and cfg.seed == 3


# ---- ranges and dotted paths -----------------------------------------------------------------

@pytest.mark.parametrize("stage", ["meta_ppo", "group_ppo", "maml"])
def test_lr_named_by_its_dotted_path(stage):
    _raises(rf"^invalid {stage}\.lr=-1: allowed a finite number > 0$", **{f"{stage}.lr": -1})
    _raises(rf"^invalid {stage}\.lr=0: allowed a finite number > 0$", **{f"{stage}.lr": 0})
    _raises(rf"^invalid {stage}\.lr=nan", **{f"{stage}.lr": NAN})
    _raises(rf"^invalid {stage}\.lr=inf", **{f"{stage}.lr": INF})


def test_stage_dataclass_alone_names_the_bare_field():
    with pytest.raises(ConfigError, match=r"^invalid lr=-1: allowed a finite number > 0$"):
        PPOConfig(lr=-1)
    with pytest.raises(ConfigError, match=r"^invalid gamma=0: "):
        dataclasses.replace(MAMLConfig(), gamma=0)
    with pytest.raises(ConfigError, match=r"^invalid width=0: "):
        NetConfig(width=0)


@pytest.mark.parametrize("key, bad, match", [
    ("meta_ppo.max_grad_norm", 0, r"meta_ppo\.max_grad_norm=0: allowed a finite number > 0"),
    ("maml.max_grad_norm", -1.0, r"maml\.max_grad_norm=-1\.0: allowed a finite number > 0"),
    ("meta_ppo.gamma", 0, r"meta_ppo\.gamma=0: allowed a finite number in \(0, 1\]"),
    ("group_ppo.gamma", 1.5, r"group_ppo\.gamma=1\.5: allowed a finite number in \(0, 1\]"),
    ("maml.gae_lambda", 1.01, r"maml\.gae_lambda=1\.01: allowed a finite number in \[0, 1\]"),
    ("meta_ppo.gae_lambda", -0.1, r"meta_ppo\.gae_lambda=-0\.1"),
    ("meta_ppo.ent_coef", -0.01, r"meta_ppo\.ent_coef=-0\.01: allowed a finite number >= 0"),
    ("group_ppo.vf_coef", -1, r"group_ppo\.vf_coef=-1: allowed a finite number >= 0"),
    ("meta_ppo.clip_coef", 0, r"meta_ppo\.clip_coef=0: allowed a finite number > 0"),
    ("meta_ppo.update_epochs", 0, r"meta_ppo\.update_epochs=0: allowed a positive integer"),
    ("group_ppo.num_minibatches", 0, r"group_ppo\.num_minibatches=0: allowed a positive integer"),
    ("meta_ppo.num_minibatches", 2.0, r"meta_ppo\.num_minibatches=2\.0"),
    ("meta_ppo.rollout_len", 1, r"meta_ppo\.rollout_len=1: allowed an integer in 2\.\."),
    ("features.heldout_frac", 0, r"features\.heldout_frac=0: allowed a finite number in \(0, 1\)"),
    ("features.heldout_frac", 1, r"features\.heldout_frac=1: allowed a finite number in \(0, 1\)"),
    ("l2", 0, r"surrogate\.l2=0: allowed a finite number > 0"),
    ("max_rel_dist", -1, r"surrogate\.max_rel_dist=-1: allowed a finite number > 0"),
    ("inner_lr", -0.1, r"maml\.inner_lr=-0\.1: allowed a finite number >= 0"),
    ("maml.inner_max_norm", 0, r"maml\.inner_max_norm=0"),
    ("adapt_steps", 3, r"maml\.support_steps=3: .*4\.\..*2 × num_envs"),
    ("features.steps_per_task", 7, r"features\.steps_per_task=7: allowed an integer in 8\.\."),
    ("seed", -1, r"^invalid seed=-1: allowed a non-negative integer"),
    ("features.seed", -1, r"features\.seed=-1: allowed a non-negative integer"),
    ("cluster.method", "kmeans", r"cluster\.method='kmeans': allowed one of sdp, spectral, random"),
    ("net.activation", "gelu", r"net\.activation='gelu': allowed one of tanh, relu"),
    ("arch", "cnn", r"net\.arch='cnn'"),
    ("score", "x", r"affinity\.score='x'"),
    ("meta_rl.assign", "x", r"meta_rl\.assign='x'"),
    ("group_init", "x", r"^invalid group_init='x': allowed one of meta, scratch"),
    ("device", "tpu", r"^invalid device='tpu': allowed one of auto, cpu, cuda"),
    ("k", 0, r"cluster\.k=0: allowed a positive integer"),
    ("k", 5, r"cluster\.k=5: allowed an integer in 1\.\.4 \(n_tasks\)"),
    ("k", None, r"cluster\.k=None: .*or set lam"),
    ("subset_size", 5, r"affinity\.subset_size=5: allowed an integer in 2\.\.4 \(n_tasks\)"),
    ("n_targets", 51, r"meta_rl\.n_targets=51: allowed a positive integer in 1\.\.50$"),
    ("d", 0, r"features\.proj_dim=0: allowed a positive integer"),
    ("meta_steps", -1, r"meta_ppo\.steps_per_task=-1: allowed a non-negative integer"),
])
def test_range_refused_with_dotted_path(key, bad, match):
    _raises(match, **{key: bad})


def test_boundary_values_accepted():
    cfg = pipeline_config("smoke", "cartpole", **{
        "meta_ppo.gamma": 1, "group_ppo.gamma": 1e-6, "meta_ppo.gae_lambda": 0, "group_ppo.gae_lambda": 1,
        "meta_ppo.ent_coef": 0, "meta_ppo.vf_coef": 0, "inner_lr": 0, "maml.inner_updates": 0,
        "meta_ppo.steps_per_task": 0, "lam": -3.5, "k": None, "n_targets": 50, "features.heldout_frac": 0.999})
    assert cfg.meta_ppo.gamma == 1 and cfg.cluster.k is None and cfg.cluster.lam == -3.5


# ---- upper bounds ----------------------------------------------------------------------------

@pytest.mark.parametrize("key, bound", [
    ("n_tasks", MAX_TASKS),
    ("meta_steps", MAX_STEPS_PER_TASK),
    ("group_steps", MAX_STEPS_PER_TASK),
    ("maml_steps", MAX_STEPS_PER_TASK),
    ("width", MAX_WIDTH),
    ("depth", MAX_DEPTH),
    ("d", MAX_PROJ_DIM),
    ("m", MAX_SUBSETS),
    ("meta_ppo.num_envs", MAX_ENVS),
    ("evaluation.episodes", MAX_EPISODES),
    ("meta_rl.episodes", MAX_EPISODES),
    ("features.steps_per_task", None),
    ("features.chunk_size", None),
    ("surrogate.max_iter", None),
    ("meta_ppo.rollout_len", None),
    ("maml.support_steps", None),
    ("maml.inner_updates", None),
    ("net.n_modules", None),
    ("meta_ppo.update_epochs", None),
    ("seed", None),
])
def test_upper_bounds_refused_with_the_bound(key, bound):
    msg = _raises("invalid", **{key: 10**12})
    if bound is not None:
        assert f"..{bound}" in msg, msg


def test_huge_n_tasks_names_the_bound():
    _raises(rf"^invalid n_tasks=1000000: allowed an integer in 2\.\.{MAX_TASKS}$", n_tasks=10**6)


def test_paper_scale_values_accepted():
    cfg = pipeline_config("paper", "metaworld", n_tasks=100, d=4000, k=10, n_targets=50)
    assert cfg.meta_ppo.steps_per_task == 2_000_000 and cfg.n_tasks == 100 and cfg.features.proj_dim == 4000


# ---- top-level and structure -----------------------------------------------------------------

def test_pipeline_config_top_level():
    _raises(r"^invalid n_tasks=1: allowed an integer in 2\.\.", n_tasks=1)
    _raises(r"^invalid n_tasks=2\.0", n_tasks=2.0)
    with pytest.raises(ConfigError, match=r"^invalid family='nosuch': allowed one of cartpole, .*metaworld$"):
        pipeline_config("smoke", "nosuch")
    with pytest.raises(ConfigError, match=r"^invalid family='nosuch'"):
        PipelineConfig(family="nosuch")
    with pytest.raises(ConfigError, match=r"^invalid profile='huge': allowed one of smoke, default, paper$"):
        pipeline_config("huge", "cartpole")
    with pytest.raises(ConfigError, match=r"^invalid net=\{'width': 8\}: allowed a NetConfig$"):
        PipelineConfig(net={"width": 8})
    with pytest.raises(ConfigError, match=r"^invalid cluster\.k=11"):
        PipelineConfig(n_tasks=10, cluster=ClusterConfig(k=11))


def test_every_message_is_one_line():
    bad = {"seed": "x\ny", "device": "multi\nline", "net.arch": "a\nb", "meta_ppo.lr": "1\n2"}
    for key, value in bad.items():
        _raises("invalid", **{key: value})


def test_defaults_unchanged():
    """No default moved: the numbers results are fingerprinted on."""
    assert PPOConfig() == PPOConfig(steps_per_task=100_000, num_envs=4, rollout_len=128, gamma=0.99, gae_lambda=0.95,
                                   lr=3e-4, anneal_lr=True, update_epochs=4, num_minibatches=4, clip_coef=0.2,
                                   ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, norm_adv=True)
    assert MAMLConfig().support_steps == 200 and MAMLConfig().inner_lr == 0.05 and MAMLConfig().inner_max_norm == 1.0
    assert (FeatureConfig().proj_dim, FeatureConfig().heldout_frac) == (400, 0.25)
    assert (SurrogateConfig().l2, SurrogateConfig().max_rel_dist, SurrogateConfig().max_iter) == (1.0, 0.01, 200)
    assert ClusterConfig().k == 3 and MetaRLConfig().n_targets == 50 and EvalConfig().episodes == 10
    assert math.isclose(PipelineConfig().meta_ppo.lr, 3e-4)
