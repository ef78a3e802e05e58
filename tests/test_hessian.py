"""Hessian traces and the bound: Hutchinson against the exact Hessian, determinism, golden values, bad input, smoke run."""
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian

from pgxlib.analysis.hessian import (
    bound_terms,
    bounded_policy_loss,
    hessian_bound,
    hutchinson_trace,
    layer_dist_sq,
    layer_groups,
    max_batch_trace,
)
from pgxlib.analysis.stats import spearman
from pgxlib.config import ConfigError


def tiny_case(seed=0):
    """A 3-4-3 tanh network in float64, 16 samples, the bounded loss on their labels' log-probabilities."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    X = 2 * torch.randn(16, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss(p):
        logp = torch.log_softmax(functional_call(net, p, (X,)), -1).gather(-1, y[:, None]).squeeze(-1)
        return bounded_policy_loss(logp, 2.0).mean()
    return params, loss


def exact_layer_traces(params, loss):
    """Tr of each layer's diagonal Hessian block from torch.func.hessian, and Hutchinson's per-probe std."""
    H = hessian(loss)(params)
    names = list(params)
    full = torch.cat([torch.cat([H[a][b].reshape(params[a].numel(), params[b].numel()) for b in names], 1)
                      for a in names], 0)
    owner = [n for n in names for _ in range(params[n].numel())]
    exact, std = {}, {}
    for layer, members in layer_groups(names).items():
        mask = torch.tensor([o in members for o in owner])
        block = full[mask][:, mask]
        exact[layer] = float(block.diagonal().sum())
        var = 2 * ((block ** 2).sum() - (block.diagonal() ** 2).sum()) + (full[mask][:, ~mask] ** 2).sum()
        std[layer] = math.sqrt(float(var))
    return exact, std


def test_hutchinson_matches_exact_hessian_trace():
    params, loss = tiny_case()
    exact, std = exact_layer_traces(params, loss)
    n_probes = 2000
    est = hutchinson_trace(loss, params, n_probes, torch.Generator().manual_seed(0))
    assert list(est) == ["0", "2"]
    for layer, value in exact.items():
        assert abs(float(est[layer]) - value) <= 4 * std[layer] / math.sqrt(n_probes)
        assert float(est[layer]) == pytest.approx(value, rel=0.05)


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    """Rademacher probes give vᵀDv = Tr D exactly: one probe suffices for a diagonal Hessian."""
    params = {"a.weight": torch.randn(3, 2, dtype=torch.float64), "a.bias": torch.randn(3, dtype=torch.float64),
              "log_std": torch.randn(2, dtype=torch.float64)}
    scale = {"a.weight": 2.0, "a.bias": 3.0, "log_std": 5.0}
    loss = lambda p: sum(0.5 * scale[k] * (v ** 2).sum() for k, v in p.items())  # noqa: E731
    est = hutchinson_trace(loss, params, 1, torch.Generator().manual_seed(1))
    assert {k: float(v) for k, v in est.items()} == pytest.approx({"a": 2.0 * 6 + 3.0 * 3, "log_std": 10.0})


def test_hutchinson_is_deterministic_under_a_seed():
    params, loss = tiny_case()
    a = hutchinson_trace(loss, params, 16, torch.Generator().manual_seed(3))
    again = hutchinson_trace(loss, params, 16, torch.Generator().manual_seed(3))
    b = hutchinson_trace(loss, params, 16, torch.Generator().manual_seed(3), chunk=5)
    c = hutchinson_trace(loss, params, 16, torch.Generator().manual_seed(4))
    assert all(torch.equal(a[k], again[k]) for k in a)
    for k in a:  # the same probes, summed in other chunks
        torch.testing.assert_close(a[k], b[k])
    assert any(not torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(ValueError, match="n_probes"):
        hutchinson_trace(loss, params, 0, torch.Generator())


def test_max_batch_trace_takes_the_max_over_batches():
    """loss(batch) = mean(a_batch) · ½‖W‖²: each batch's trace is mean(a_batch) · numel(W), known exactly."""
    a = torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0, 20.0], dtype=torch.float64)
    params = {"l.weight": torch.ones(2, 2, dtype=torch.float64)}
    loss = lambda p, idx: a[idx].mean() * 0.5 * (p["l.weight"] ** 2).sum()  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    best, per_batch = max_batch_trace(loss, params, 6, 2, 3, 1, gen)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    expect = [4 * float(a[perm[2 * b:2 * b + 2]].mean()) for b in range(3)]
    assert per_batch[:, 0].tolist() == pytest.approx(expect)
    assert best == {"l": pytest.approx(max(expect))}
    _, fewer = max_batch_trace(loss, params, 6, 4, 3, 1, torch.Generator().manual_seed(0))
    assert fewer.shape == (1, 1)


def test_layers_distances_and_loss():
    names = ["body.net.0.weight", "body.net.0.bias", "body.net.2.weight", "body.net.2.bias", "log_std"]
    assert layer_groups(names) == {"body.net.0": names[:2], "body.net.2": names[2:4], "log_std": ["log_std"]}
    p = {"x.weight": torch.ones(2, 2), "x.bias": torch.zeros(2), "log_std": torch.tensor([1.0])}
    q = {"x.weight": torch.zeros(2, 2), "x.bias": torch.ones(2), "log_std": torch.tensor([-1.0])}
    assert layer_dist_sq(p, q) == {"x": 6.0, "log_std": 4.0}
    logp = torch.tensor([-1.0, 0.0, 3.0, -5.0])
    ell = bounded_policy_loss(logp, 1.0)
    assert ell[0].item() == pytest.approx(1 - math.exp(-math.log1p(math.e)))
    assert ((ell > 0) & (ell < 1)).all() and (ell.diff()[1:] > 0).tolist() == [False, True]
    assert bounded_policy_loss(logp, 3.0).max() < 3.0


def test_bound_golden_value():
    # Σ sqrt(C·T·D/N): sqrt(1·2·8/4) + sqrt(1·0.5·2/4) + 0 (negative trace estimate counts as zero) = 2.5
    assert hessian_bound([2.0, 0.5, -1.0], [8.0, 2.0, 5.0], 4, 1.0) == pytest.approx(2.5)
    assert hessian_bound([2.0, 0.5, -1.0], [8.0, 2.0, 5.0], 4, 4.0) == pytest.approx(5.0)
    assert bound_terms([3.0], [12.0], 9, 1.0) == pytest.approx([2.0])
    with pytest.raises(ValueError):
        hessian_bound([1.0], [1.0, 2.0], 4, 1.0)
    with pytest.raises(ValueError):
        hessian_bound([1.0], [1.0], 0, 1.0)


@pytest.mark.parametrize("params, names", [
    ({"train_steps": 0}, ["train_steps"]),
    ({"train_steps": 100}, ["train_steps", "checkpoints"]),
    ({"checkpoints": 0}, ["checkpoints", "1..50"]),
    ({"group_sizes": [0, 2]}, ["group_sizes", "1..4"]),
    ({"group_sizes": [5]}, ["group_sizes"]),
    ({"group_sizes": []}, ["group_sizes"]),
    ({"n_probes": 0}, ["n_probes"]),
    ({"batch_size": 1.5}, ["batch_size"]),
    ({"eval_steps": 4}, ["eval_steps", ">= 8"]),
    ({"loss_cap": 0}, ["loss_cap"]),
    ({"subsets_per_size": -1}, ["subsets_per_size"]),
    ({"nosuch": 1}, ["nosuch", "n_probes"]),
])
def test_check_rejects_bad_parameters(params, names):
    from pgxlib.experiments import resolve

    with pytest.raises(ConfigError) as err:
        resolve("hessian_bound", "smoke", "cartpole", 0, **params)
    for name in names:
        assert name in str(err.value)


def test_test_tasks_are_routed_by_nearest_source():
    from pgxlib.experiments.hessian_bound import random_subsets, test_tasks
    from pgxlib.tasks import make_family

    fam = make_family("cartpole", 4, 0)
    tasks, cond = test_tasks(fam, [0, 1, 2, 3], 50)
    assert len(tasks) == 50 and cond == [fam.nearest_source(t) for t in tasks]
    tasks, cond = test_tasks(fam, [2], 3)
    assert 1 <= len(tasks) <= 3 and set(cond) == {2}
    subsets = random_subsets(4, 2, 3, seed=0)
    assert len(subsets) == 3 and len({tuple(s) for s in subsets}) == 3
    assert random_subsets(4, 4, 2, seed=0) == [[0, 1, 2, 3]]


@pytest.mark.slow
def test_smoke_run_has_expected_keys(monkeypatch, tmp_path):
    from pgxlib.experiments import get, run_experiment

    monkeypatch.setenv("PGX_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PGX_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PGX_PROGRESS", "0")
    res = run_experiment("hessian_bound", "smoke", "cartpole", group_sizes=[1, 4], subsets_per_size=1)
    for key in get("hessian_bound").EXPECTED_KEYS:
        assert res.has(key), key
    m = res.metrics
    k = len(m["steps"])
    assert len(m["bound"]) == len(m["generalization_error"]) == len(m["hessian_trace"]) == k
    assert res.arrays["layer_traces"].shape == (k, len(m["layers"]))
    assert set(m["by_group_size"]) == {"1", "4"}
    assert all(0 <= v <= 1 for v in m["train_loss"] + m["test_loss"])
    assert all(b >= 0 for b in m["bound"])


def test_report_sentences_are_computed_from_the_numbers():
    from pgxlib.report import hessian_bound as report

    metrics = {"generalization_error": [0.01, -0.02], "bound": [0.03, 0.03], "bound_to_gap_ratio": 2.0,
               "by_group_size": {"1": {"gap": 0.02, "bound": 0.1}, "10": {"gap": 0.01, "bound": 0.05}}}
    text = report.verdict(metrics)
    assert "= 2: the Hessian measure is of the same scale" in text and "at 1 of 2 points" in text
    assert "The gap falls as groups grow" in text
    metrics["bound_to_gap_ratio"] = 50.0
    assert "not of the same scale" in report.verdict(metrics)
    spread = report.verdict(metrics, {"group_gap": np.array([[0.01, 0.03], [0.01, np.nan]])})
    assert "pooled std of 0.0141; the mean gaps of all sizes span 0.01, so no difference" in spread
    assert "not measured" in report.verdict(metrics, {"group_gap": np.array([[0.02], [0.01]])})
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2, 3], [1, 1, 1]))
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(3 / 10 ** 0.5)  # ties get average ranks


class _Stored:
    def __init__(self, values):
        self.values = values

    def get(self, key, default=None):
        return self.values.get(key if isinstance(key, str) else ".".join(key), default)


class _Lookup:
    def __init__(self, values):
        self.stored = _Stored(values)

    def result(self, experiment, params):
        return self.stored, None


def test_an_order_of_gaps_by_group_size_from_one_seed_is_undecided_not_read_from_the_means():
    from pgxlib.report.hessian_bound import ONE_SEED, GapOrder, SubsetSpread
    from pgxlib.report.scorecard import Metric

    def gap(size):
        return Metric("hessian_bound", {"family": "planted"}, ("metrics", "by_group_size", size, "gap"), 1e3)

    # sizes 1 and 10: size 1 has two subsets (sample variance 2e-6 -> spread 1.41e-3), size 10 one
    values = {"metrics.by_group_size.1.gap": 0.030, "metrics.by_group_size.1.subsets": [[0], [3]],
              "metrics.by_group_size.10.gap": 0.010, "metrics.by_group_size.10.subsets": [list(range(10))],
              "arrays.group_gap": np.ma.masked_invalid(np.array([[0.029, 0.031], [0.010, np.nan]]))}
    falls = GapOrder(gap("10"), gap("1"), "the gap with 1 task", -1, SubsetSpread("planted", 1e3))
    got = falls.judge(10.0, "10⁻³ loss", _Lookup(values))
    assert got.status == "undecided" and not got.ok and got.why.startswith(f"{ONE_SEED}: the gap with 1 task − ours +20")
    assert got.order.seeds == 1 and got.order.gap == pytest.approx(20.0) and not np.isfinite(got.order.interval[0])
    assert got.order.seeds_to_decide == 3  # a gap 10 spreads wide: the fewest seeds that give an interval
    rises = GapOrder(gap("10"), gap("1"), "the gap with 1 task", 1, SubsetSpread("planted", 1e3))
    got = rises.judge(10.0, "10⁻³ loss", _Lookup(values))  # the means say "not above": still not refuted
    assert got.status == "undecided" and got.order.gap == pytest.approx(-20.0)
    close = {**values, "metrics.by_group_size.10.gap": 0.029}
    got = falls.judge(29.0, "10⁻³ loss", _Lookup(close))
    assert got.status == "undecided" and got.order.seeds_to_decide > 3
    lonely = {**values, "arrays.group_gap": np.ma.masked_invalid(np.array([[0.03, np.nan], [0.01, np.nan]]))}
    got = falls.judge(10.0, "10⁻³ loss", _Lookup(lonely))
    assert got.status == "undecided" and got.order.seeds_to_decide is None
    assert "no spread between random subsets of one size" in got.why


def test_an_order_of_gaps_with_per_seed_values_is_judged_on_the_paired_interval():
    from pgxlib.report.hessian_bound import GapOrder, SubsetSpread
    from pgxlib.report.scorecard import Metric

    small, large = Metric("x", {}, "small.mean"), Metric("x", {}, "large.mean")
    values = {"small.mean": 3.0, "small.seeds": [3.0, 3.2, 2.9, 3.1, 2.8],
              "large.mean": 1.0, "large.seeds": [1.0, 1.1, 0.8, 1.2, 0.9]}
    got = GapOrder(large, small, "the gap with 1 task", -1, SubsetSpread("planted")).judge(1.0, "", _Lookup(values))
    assert got.status == "reproduced" and got.order.seeds == 5 and got.order.interval[0] > 0
