"""The whole pipeline on the smoke profile: `pgx group` on every control family, determinism, bad input."""
import json

import numpy as np
import pytest

from pgxlib import cli
from pgxlib.config import CONTROL_FAMILIES
from pgxlib.profiles import pipeline_config
from pgxlib.pipeline import run_policygradex
from pgxlib.store.cache import MemoryCache


@pytest.mark.slow
@pytest.mark.parametrize("family", CONTROL_FAMILIES)
def test_pgx_group_smoke(store, capsys, family):
    code = cli.main(["group", "--family", family, "--profile", "smoke", "--k", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"PolicyGradEx on {family}: 2 groups" in out
    assert "normalised affinity U" in out
    assert "θ* of this run. Meta-trained for " in out  # its budget, and the structure measured there (or none)
    stored = list((store / "results" / "smoke" / "group").glob(f"{family}-seed0*/result.json"))
    assert len(stored) == 1
    if family == "planted":
        metrics = json.loads(stored[0].read_text())["metrics"]
        assert 0.0 <= metrics["planted_nmi"] <= 1.0 and "planted groups:" in out


@pytest.mark.slow
def test_same_seed_same_numbers(store):
    cfg = pipeline_config("smoke", "nav2d")
    a = run_policygradex(cfg, MemoryCache(), progress=False)
    for path in (store / "runs").rglob("*.pt"):  # retrain θ* too
        path.unlink()
    b = run_policygradex(cfg, MemoryCache(), progress=False)
    np.testing.assert_array_equal(a.meta_train.returns, b.meta_train.returns)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.grouped_returns(), b.grouped_returns())
    assert len(set(a.labels.tolist())) == cfg.cluster.k


@pytest.mark.parametrize("argv, names", [
    (["--family", "nosuch"], ["family", "cartpole"]),
    (["--family", "cartpole", "--k", "11"], ["k=11", "1..4"]),
    (["--family", "cartpole", "-p", "d", "0"], ["proj_dim", "positive integer"]),
    (["--family", "cartpole", "-p", "meta_steps", "-1"], ["steps_per_task=-1", "non-negative"]),
    (["--family", "cartpole", "--profile", "huge"], ["profile", "smoke"]),
])
def test_group_bad_input_exits_with_one_line(store, capsys, argv, names):
    code = cli.main(["group", *argv])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1, err
    for name in names:
        assert name in err, err
    assert not any(p.is_file() for p in store.rglob("*"))


def _pendulum_env(task):
    import gymnasium as gym
    return gym.make("Pendulum-v1", g=task.param("g"), max_episode_steps=50)


@pytest.mark.slow
def test_own_task_family(store):
    """A family defined outside pgxlib (the README's example) goes through the whole pipeline."""
    from pgxlib.tasks import TaskFamily, sample_tasks

    ranges = {"g": (5.0, 15.0)}
    src, tgt = np.random.default_rng(0).spawn(2)
    family = TaskFamily(name="pendulum", source=sample_tasks("pendulum", "source", 5, src, ranges),
                        target=sample_tasks("pendulum", "target", 3, tgt, ranges), env_factory=_pendulum_env,
                        param_ranges=ranges, max_episode_steps=50)
    res = run_policygradex(pipeline_config("smoke", "cartpole", k=2), MemoryCache(), progress=False, family=family)
    assert res.family.name == "pendulum" and res.config.n_tasks == 5
    assert len(set(res.labels.tolist())) == 2
    assert np.isfinite(res.grouped_returns()).all()
