"""ablations: smoke run, parameter checks, knob values."""
import pytest

from pgxlib.config import ConfigError
from pgxlib.profiles import pipeline_config
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
    proj = m["projection"]
    assert proj["values"] == ["gaussian", "sketch"] and proj["reference"] == "gaussian"
    assert proj["by_value"]["gaussian"]["nmi"] == pytest.approx(1.0)  # the reference projection itself
    assert proj["rows"][0]["affinity_corr"] == pytest.approx(1.0)
    assert -1.0 <= proj["rows"][1]["affinity_corr"] <= 1.0 and proj["scores"][1] is not None
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
    ({"projections": ["gaussian", "dense"]}, ["projections", "gaussian, sketch"]),
    ({"projections": ["sketch", "sketch"]}, ["projections", "distinct"]),
    ({"projections": []}, ["projections", "non-empty"]),
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
    assert full["projection"] == ["gaussian", "sketch"]


def _knob_metrics(ref_score, scores):
    knob = {"values": [1, 2, 3], "scores": scores, "reference": 2}
    strategy = {"values": ["sdp", "random"], "scores": [ref_score, ref_score - 1.0], "reference": "sdp"}
    return {"reference": {"score": ref_score}, "k": knob, "proj_dim": knob, "n_subsets": knob,
            "subset_size": knob, "depth": knob, "strategy": strategy}


def test_ablation_overview_in_seed_stds():
    from pgxlib.report import ablations as report

    results = {"a": _knob_metrics(10.0, [12.0, 10.0, None]), "b": _knob_metrics(0.0, [-1.0, 0.0, 0.5])}
    stds = {"a": 0.5, "b": None}
    effects = report.knob_effects(results, stds, "k")
    assert effects["a"] == {"1": pytest.approx(4.0), "2": 0.0, "3": None}
    assert effects["b"] == {"1": None, "2": None, "3": None}
    table = report.ablation_overview(results, stds, "k")
    assert table.loc["a", "1"] == "12.0 (+4.0σ)" and table.loc["a", "3"] == "not trained"
    assert table.loc["b", "2 (ref.)"] == "0.000"
    summary = report.ablation_summary(results, stds)
    assert summary.loc["number of groups k", "a"] == "1 (+4.0σ)"
    assert summary.loc["grouping strategy", "a"] == "reference"
    assert summary.loc["number of groups k", "b"] == "–"
    assert summary.loc["number of groups k", "families with a value > 1σ from the reference"] == 1
    # results of older code lack the projection knob: left out, not an error
    assert report.knob_effects(results, stds, "projection") == {}
    assert report.ablation_overview(results, stds, "projection").empty
    assert summary.loc["gradient projection", "families with a value > 1σ from the reference"] == 0


def test_chapter_runs():
    from pgxlib.book import chapter_runs

    assert {p["family"] for p in chapter_runs("ablations", "default")} == {"cartpole", "lunarlander", "highway",
                                                                          "nav2d", "planted"}
    with pytest.raises(KeyError, match="no chapter"):
        chapter_runs("nope", "default")
