"""The scale experiment: each stage's cost against n, the same labels as `pgx group`, the chapter's report."""
import numpy as np
import pytest

from pgxlib.analysis.scaling import log_log_slope
from pgxlib.config import ConfigError
from pgxlib.experiments import run_experiment
from pgxlib.experiments import scale as exp
from pgxlib.pipeline import run_policygradex
from pgxlib.report import scale as report


@pytest.mark.parametrize("params, family, names", [
    ({"m_rule": "all"}, "planted", ["m_rule", "profile, pairs"]),
    ({"n_grid": []}, "planted", ["n_grid"]),
    ({"n_grid": [4, 4]}, "planted", ["n_grid", "distinct"]),
    ({"n_grid": [4, 201]}, "planted", ["n_grid", "2..200"]),
    ({"n_grid": list(range(2, 12))}, "planted", ["n_grid", "1..8"]),
    ({}, "metaworld", ["family", "nav2d"]),
])
def test_check_rejects_bad_parameters(store, params, family, names):
    with pytest.raises(ConfigError) as err:
        run_experiment("scale", "smoke", family, **params)
    msg = str(err.value)
    assert len(msg.splitlines()) == 1
    for name in names:
        assert name in msg, msg


def test_log_log_slope_golden_values():
    ns = [10, 25, 50, 100]
    for power in (1, 2, 4):  # synthetic power laws c·n^power: the slope is the power
        assert log_log_slope(ns, [0.5 * n ** power for n in ns]) == pytest.approx(power)
    assert log_log_slope(ns, [3.0 * n ** 2 for n in ns]) == pytest.approx(2.0)
    assert log_log_slope(ns, [7.0] * 4) == pytest.approx(0.0, abs=1e-12)
    assert log_log_slope([10], [1.0]) is None
    assert log_log_slope([10, 10], [1.0, 2.0]) is None
    assert log_log_slope(ns, [0.0, 0.0, 0.0, 1.0]) is None
    for values in ([3.0 * n ** 2 for n in ns], [1.0, 3.0, 2.0, 9.0], [0.0, 2.0, 4.0, 8.0]):
        assert report.log_log_slope(ns, values) == log_log_slope(ns, values)
    costs = np.array([[n, n ** 2] for n in ns], dtype=float)
    out = exp.slopes(ns, np.pad(costs, ((0, 0), (0, len(exp.STAGES) - 2)), constant_values=1.0))
    assert out["meta_train"] == pytest.approx(1.0) and out["rollout"] == pytest.approx(2.0)
    assert set(out) == {*exp.STAGES, "total"}


def test_m_rules():
    assert exp.config_at("default", "nav2d", 0, 100, "profile").affinity.n_subsets == 60
    assert exp.config_at("default", "nav2d", 0, 100, "pairs").affinity.n_subsets == 4950
    small = exp.config_at("default", "planted", 0, 2, "profile")
    assert small.cluster.k == 2 and small.affinity.subset_size == 2 and small.n_tasks == 2


@pytest.mark.parametrize("family", ["planted", "nav2d"])
def test_measure_groups_as_pgx_group_does(store, family):
    """The timed stages are run_policygradex's: same subsets, same labels."""
    out = exp.measure("smoke", family, 0, 6, "profile")
    res = run_policygradex(exp.config_at("smoke", family, 0, 6, "profile"), train_groups_too=False, progress=False)
    assert out["m"] == len(res.members)
    np.testing.assert_array_equal(out["labels"].numpy(), res.labels)
    assert out["wall"].shape == out["cpu"].shape == out["peak_mib"].shape == (len(exp.STAGES),)
    assert (out["peak_mib"] > 0).all() and (out["wall"] >= 0).all()


def test_smoke_run_costs_grow_with_n(store):
    res = run_experiment("scale", "smoke", "planted")
    for key in exp.EXPECTED_KEYS:
        assert res.has(key), key
    m = res.metrics
    ns = list(exp.N_GRID["smoke"])
    assert [r["n"] for r in m["rows"]] == ns and res.arrays["wall"].shape == (len(ns), len(exp.STAGES))
    assert [len(r["labels"]) for r in m["rows"]] == ns and all(r["nmi"] is not None for r in m["rows"])
    subsets = [r["m"] for r in m["rows"]]
    assert subsets == sorted(subsets) and subsets[-1] >= ns[-1] * (ns[-1] - 1) // 2  # pairs of 2: one subset each
    totals = [r["total_wall_seconds"] for r in m["rows"]]
    assert totals[-1] > totals[0]
    # a slope per stage is fitted and stored; its value is a speed figure, measured by `pgx bench` and the chapter,
    # not asserted here (a wall-time slope of a sub-second stage on shared cores can even come out negative)
    assert set(m["wall_slopes"]) == {*exp.STAGES, "total"}
    assert all(np.isfinite(v) for v in m["wall_slopes"].values())
    assert sorted(p.name for p in store.rglob("n*.pt")) == [f"n{n}.pt" for n in sorted(ns, key=str)]
    assert f"n = {ns[-1]} tasks" in report.end_to_end_sentence(m)
    assert report.cost_table(m).shape[0] == len(ns) and "total" in report.slope_table(m).index
    assert "extrapolation" in report.pairs_sentence(m) and "at n = 4" in report.nmi_sentence(m)
    assert "not stored" in report.group_sentence(None, ns[-1], "planted", "smoke")
    report.cost_figure(m)
    report.cost_figure(m, "cpu")
    again = run_experiment("scale", "smoke", "planted")
    assert not again.fresh and again.metrics["rows"] == m["rows"]


def _rows(nmis):
    stage = {s: {"wall": 1.0, "cpu": 1.0, "peak_rss_mib": 100.0} for s in exp.STAGES}
    return [{"n": n, "m": 60, "m_random": 60, "k": 3, "subset_size": 4, "nmi": v, "stages": stage,
             "total_wall_seconds": 8.0, "total_cpu_seconds": 8.0, "peak_reset_per_stage": True}
            for n, v in zip((10, 25, 50, 100), nmis)]


def test_nmi_sentence_points_out_a_fall_only():
    steady = {"family": "planted", "has_design_groups": True, "rows": _rows([0.5, 0.8, 1.0, 1.0])}
    assert "falls" not in report.nmi_sentence(steady) and "1.00 at n = 100" in report.nmi_sentence(steady)
    fall = {**steady, "rows": _rows([1.0, 1.0, 1.0, 0.36])}
    assert "falls by more than 0.2 at n = 100:" in report.nmi_sentence(fall)
    none = {"family": "cartpole", "has_design_groups": False, "rows": _rows([None] * 4)}
    assert "no designed groups" in report.nmi_sentence(none)
