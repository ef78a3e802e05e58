"""ablations: smoke run, parameter checks, knob values."""
import pytest

from pgxlib.config import ConfigError, pipeline_config
from pgxlib.experiments import get, resolve, run_experiment
from pgxlib.experiments.ablations import KNOBS, STRATEGIES, resolve_values


@pytest.mark.slow
def test_smoke_run_has_every_knob(store):
    res = run_experiment("ablations", "smoke", "cartpole", ks=[1, 2], proj_dims=[16, 32], n_subsets=[4, 8],
                         subset_sizes=[2, 3])
    mod = get("ablations")
    assert all(res.has(k) for k in mod.EXPECTED_KEYS)
    m = res.metrics
    assert m["k"]["values"] == [1, 2] and all(s is not None for s in m["k"]["scores"])
    assert m["strategy"]["values"] == list(STRATEGIES) and all(s is not None for s in m["strategy"]["scores"])
    assert m["k"]["by_value"]["1"]["nmi"] == 0.0  # one group against two
    for knob in ("proj_dim", "n_subsets", "subset_size"):
        k = m[knob]
        assert len(k["values"]) == len(k["scores"]) == len(k["nmi"]) == 2
        assert all(0.0 <= x <= 1.0 + 1e-9 for x in k["nmi"])
    assert m["proj_dim"]["by_value"]["32"]["nmi"] == pytest.approx(1.0)  # the smoke reference d
    assert m["n_subsets"]["by_value"]["8"]["nmi"] == pytest.approx(1.0)  # the smoke reference m
    assert m["strategy"]["by_value"]["sdp"]["score"] == m["reference"]["score"]
    assert res.arrays["k_labels"].shape == (2, 4)
    for knob in KNOBS:
        assert res.has(f"metrics.{knob}.by_value")


@pytest.mark.parametrize("params, names", [
    ({"ks": [0]}, ["ks"]),
    ({"ks": [5]}, ["ks", "1..4"]),
    ({"ks": []}, ["ks", "non-empty"]),
    ({"proj_dims": [0, 16]}, ["proj_dims"]),
    ({"n_subsets": [10, 10]}, ["n_subsets", "distinct"]),
    ({"subset_sizes": [4]}, ["subset_sizes", "2..3"]),
    ({"train_sweeps": "yes"}, ["train_sweeps"]),
    ({"k": 3}, ["unknown parameter 'k'"]),
])
def test_check_rejects_bad_params(store, params, names):
    with pytest.raises(ConfigError) as err:
        resolve("ablations", "smoke", "cartpole", 0, **params)
    for name in names:
        assert name in str(err.value)
    assert not any(p.is_file() for p in store.rglob("*"))


def test_default_knob_values():
    small = resolve_values(pipeline_config("smoke", "cartpole"))
    assert small["k"] == [1, 2, 3, 4] and small["subset_size"] == [2, 3]
    full = resolve_values(pipeline_config("default", "nav2d"))
    assert full["k"] == [1, 2, 3, 4, 5] and full["subset_size"] == [2, 3, 4, 5]
    assert full["proj_dim"] == [100, 200, 400, 800, 1000] and full["strategy"] == list(STRATEGIES)
