"""The executor of independent runs: engine choice, order of results, and joblib vs a local Ray bit for bit."""
import numpy as np
import pytest

from pgxlib.config import ConfigError
from pgxlib.profiles import pipeline_config
from pgxlib.executor import map_jobs, resolve_engine
from pgxlib.experiments import speedup as exp
from pgxlib.nets import new_policy
from pgxlib.tasks import make_family


def _square_plus(x, y):
    return x * x + y


def test_engine_choice(monkeypatch):
    monkeypatch.delenv("PGX_ENGINE", raising=False)
    assert resolve_engine() == "joblib" and resolve_engine("ray") == "ray"
    monkeypatch.setenv("PGX_ENGINE", "ray")
    assert resolve_engine() == "ray" and resolve_engine("joblib") == "joblib"
    monkeypatch.setenv("PGX_ENGINE", "dask")
    with pytest.raises(ConfigError, match=r"^invalid PGX_ENGINE='dask': allowed one of joblib, ray$"):
        resolve_engine()
    with pytest.raises(ConfigError, match="n_jobs"):
        list(map_jobs(_square_plus, [(1, 2)], n_jobs=0, engine="joblib"))


def test_joblib_keeps_the_order_of_the_jobs():
    assert list(map_jobs(_square_plus, [(i, 1) for i in range(7)], n_jobs=2, engine="joblib")) == \
        [i * i + 1 for i in range(7)]


def test_ray_missing_is_one_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(RuntimeError, match=r"pip install 'pgxlib\[ray\]'"):
        list(map_jobs(_square_plus, [(1, 2)], engine="ray"))


@pytest.mark.slow
def test_joblib_and_local_ray_give_the_same_fine_tunings_bit_for_bit():
    """A smoke fan-out (PPO fine-tuning and evaluation of 3 subsets): identical returns and parameters."""
    ray = pytest.importorskip("ray")
    cfg = pipeline_config("smoke", "cartpole", seed=3)
    fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
    state = new_policy(fam, cfg, cfg.seed, "cpu").state_dict()
    members = np.array([[1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=bool)
    ppo = exp.finetune_config(cfg, cfg.group_ppo.steps_per_iteration)
    mp = pytest.MonkeyPatch()
    outs = {}
    try:
        for engine in ("joblib", "ray"):
            mp.setenv("PGX_ENGINE", engine)
            outs[engine] = exp.finetune_subsets(fam, cfg, state, members, ppo, n_jobs=2)
    finally:
        mp.undo()
        if ray.is_initialized():
            ray.shutdown()
    np.testing.assert_array_equal(outs["joblib"]["returns"], outs["ray"]["returns"])
    assert np.isfinite(outs["ray"]["returns"][members]).all()
    assert np.array_equal(outs["joblib"]["actors"].numpy(), outs["ray"]["actors"].numpy())
