import numpy as np
import pytest

from pgxlib.config import ConfigError
from pgxlib.profiles import pipeline_config
from pgxlib.experiments import get, resolve, run_experiment
from pgxlib.experiments.adaptation import settings
from pgxlib.report import adaptation as report


def test_settings_keep_the_adaptation_budget():
    cfg = pipeline_config("default", "cartpole")
    grid, lrs, ups = settings(cfg, [0.05, 0.01], [1, 2, 4])
    assert lrs == [0.05, 0.01] and ups == [1, 2, 4] and len(grid) == 6
    assert grid[1] == {"maml.inner_lr": 0.05, "maml.inner_updates": 2,
                       "maml.support_steps": cfg.maml.adaptation_steps // 2}
    assert [g["maml.inner_lr"] for g in grid] == [0.05] * 3 + [0.01] * 3


@pytest.mark.parametrize("params, names", [
    ({"inner_lrs": []}, ["inner_lrs"]),
    ({"inner_lrs": [0.1, 0.1]}, ["inner_lrs", "distinct"]),
    ({"inner_lrs": [-1.0]}, ["inner_lrs"]),
    ({"inner_updates": [0]}, ["inner_updates"]),
    ({"inner_updates": [1000]}, ["inner_updates"]),
])
def test_check_rejects_bad_params(params, names):
    with pytest.raises(ConfigError) as err:
        resolve("adaptation", "default", "cartpole", **params)
    assert all(n in str(err.value) for n in names)


def _metrics(gain):
    gain = np.asarray(gain, dtype=float)
    return {"family": "x", "inner_lrs": [0.01, 0.05], "inner_updates": [1, 2], "before": 10.0,
            "adaptation_steps": 200,
            "grid": {"after": (10.0 + gain).tolist(), "gain": gain.tolist(),
                     "improved_targets": np.full(gain.shape, 0.5).tolist()},
            "reference": {"inner_lr": 0.05, "inner_updates": 1, "after": float(10.0 + gain[1, 0])},
            "best": {"inner_lr": 0.01, "inner_updates": 1, "after": float(10.0 + gain[0, 0]),
                     "gain": float(gain[0, 0])}}


def test_adaptation_report():
    m = _metrics([[-1.0, -2.0], [-3.0, -4.0]])
    table = report.adaptation_grid(m)
    assert table.loc["α = 0.05", "1 step"] == "7.000 (-3; 50% improved) ← main results"
    text = report.adaptation_sentence(m)
    assert "0 of 4 settings raise it" in text and "No setting helps" in text and "falls as α grows" in text
    text = report.adaptation_sentence(_metrics([[1.0, -2.0], [3.0, -4.0]]))
    assert "2 of 4 settings" in text and "falls as α grows" not in text
    report.adaptation_heatmap(m)


@pytest.mark.slow
def test_smoke_run(store):
    res = run_experiment("adaptation", "smoke", "cartpole", inner_lrs=[0.02, 0.05], inner_updates=[1, 2])
    mod = get("adaptation")
    assert all(res.has(k) for k in mod.EXPECTED_KEYS)
    after, before = res.arrays["after"], res.arrays["before"]
    assert after.shape == (4, before.shape[0])
    grid = np.asarray(res.metrics["grid"]["after"])
    assert grid.shape == (2, 2)
    assert np.allclose(grid.ravel(), np.nanmean(after, axis=1))
    assert np.allclose(res.metrics["grid"]["gain"], grid - np.nanmean(before))
    assert res.metrics["reference"]["after"] == pytest.approx(grid[1, 0])
