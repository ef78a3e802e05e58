"""The speedup experiment: smoke run, bad parameters, the random-NMI floor, determinism of the measured side."""
from itertools import product

import numpy as np
import pytest

from pgxlib.analysis.speedup import centre_per_task, random_nmi_floor, rank_correlation, speedup
from pgxlib.cluster import nmi
from pgxlib.config import ConfigError, pipeline_config
from pgxlib.experiments import run_experiment
from pgxlib.experiments import speedup as exp
from pgxlib.pipeline import new_policy
from pgxlib.tasks import make_family


@pytest.mark.slow
def test_smoke_run_has_expected_keys(store):
    res = run_experiment("speedup", "smoke", "cartpole", depths=[2])
    for key in exp.EXPECTED_KEYS:
        assert res.has(key), key
    row = res.get("metrics.by_layers.2")
    for key in ("nmi", "speedup", "rank_correlation", "random_nmi", "speedup_with_meta"):
        assert key in row
    assert 0.0 <= res.get("metrics.nmi") <= 1.0
    assert res.get("metrics.speedup") > 0
    n = pipeline_config("smoke", "cartpole").n_tasks
    assert res.arrays["affinity_estimated_d2"].shape == res.arrays["affinity_measured_d2"].shape == (n, n)
    assert res.arrays["scores_measured_d2"].shape == res.arrays["members"].shape
    assert res.get("metrics.budget.n_subsets") == len(res.arrays["members"])


@pytest.mark.parametrize("params, names", [
    ({"depths": [0]}, ["depths", "1..16"]),
    ({"depths": []}, ["depths"]),
    ({"depths": [2, 2]}, ["depths", "distinct"]),
    ({"n_jobs": 0}, ["n_jobs", "1..64"]),
    ({"n_subsets": 0}, ["n_subsets", "positive"]),
    ({"finetune_steps": 1}, ["finetune_steps", "128"]),
])
def test_check_rejects_bad_parameters(store, params, names):
    with pytest.raises(ConfigError) as err:
        run_experiment("speedup", "smoke", "cartpole", **params)
    msg = str(err.value)
    assert len(msg.splitlines()) == 1
    for name in names:
        assert name in msg, msg
    assert not any(p.is_file() for p in store.rglob("*"))


def _exact_random_nmi(labels, k):
    """Mean NMI over every partition of n tasks into exactly k groups (by enumeration)."""
    n = len(labels)
    seen, values = set(), []
    for assign in product(range(k), repeat=n):
        if len(set(assign)) != k:
            continue
        first = {}
        canon = tuple(first.setdefault(a, len(first)) for a in assign)
        if canon in seen:
            continue
        seen.add(canon)
        values.append(nmi(np.array(canon), labels))
    return float(np.mean(values)), len(values)


def test_random_nmi_floor_known_cases():
    labels = np.array([0, 0, 1, 1, 2])
    exact, count = _exact_random_nmi(labels, 2)
    assert count == 15  # Stirling number S(5, 2)
    mean, sd = random_nmi_floor(labels, 2, n_draws=800, seed=0)
    assert abs(mean - exact) < 0.035  # 800 draws: standard error about 0.01
    assert sd > 0
    assert random_nmi_floor(labels, 2, 50, seed=3) == random_nmi_floor(labels, 2, 50, seed=3)
    singles = np.arange(4)
    assert random_nmi_floor(singles, 4, 5) == (1.0, 0.0)  # k = n: the only partition is all singletons
    with pytest.raises(ValueError, match="n_draws"):
        random_nmi_floor(labels, 2, 0)


def test_rank_correlation_and_centring():
    members = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
    est = np.where(members, np.arange(12.0).reshape(4, 3), np.nan)
    assert rank_correlation(members, est, 2 * est + 5) == pytest.approx(1.0)
    assert rank_correlation(members, est, -est) == pytest.approx(-1.0)
    offset = np.where(members, est + np.array([100.0, 0.0, -100.0]), np.nan)  # per-task shifts
    assert rank_correlation(members, est, offset, centred=True) == pytest.approx(1.0)
    c = centre_per_task(members, est)
    np.testing.assert_allclose(np.nansum(c, axis=0), 0.0, atol=1e-12)
    assert np.isnan(c[~members]).all()
    assert np.isnan(rank_correlation(members, est, np.where(members, 1.0, np.nan)))
    assert speedup(30.0, 1.5) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        speedup(1.0, 0.0)


@pytest.mark.slow
def test_measured_scores_do_not_depend_on_n_jobs(store):
    cfg = pipeline_config("smoke", "cartpole", seed=3)
    fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
    state = new_policy(fam, cfg, cfg.seed, "cpu").state_dict()
    members = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    ppo = exp.finetune_config(cfg, 2 * cfg.group_ppo.steps_per_iteration)
    one, _, _ = exp.measured_scores(fam, cfg, state, members, ppo, n_jobs=1)
    two, _, _ = exp.measured_scores(fam, cfg, state, members, ppo, n_jobs=2)
    np.testing.assert_array_equal(one, two)
    assert np.isfinite(one[members]).all() and np.isnan(one[~members]).all()
    again, _, _ = exp.measured_scores(fam, cfg, state, members, ppo, n_jobs=1, repeat=1)
    assert not np.array_equal(again[members], one[members]), "a repeat must use other fine-tuning seeds"


@pytest.mark.slow
def test_measured_side_accepts_a_users_own_family(store):
    """A family that `make_family` cannot rebuild by name (here: episodes cut to 5 steps) is measured as given."""
    import dataclasses
    from functools import partial

    from pgxlib.tasks import cartpole

    cfg = pipeline_config("smoke", "cartpole", seed=3)
    own = dataclasses.replace(make_family("cartpole", cfg.n_tasks, cfg.seed),
                              env_factory=partial(cartpole.make_env, max_episode_steps=5), max_episode_steps=5)
    state = new_policy(own, cfg, cfg.seed, "cpu").state_dict()
    members = np.array([[1, 1, 0, 0]], dtype=bool)
    ppo = exp.finetune_config(cfg, cfg.group_ppo.steps_per_iteration)
    scores, _, _ = exp.measured_scores(own, cfg, state, members, ppo, n_jobs=1)
    assert np.isfinite(scores[members]).all() and (scores[members] <= 5).all()
