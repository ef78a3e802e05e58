"""First-order error: golden values on a linear-softmax policy, JVP = per-sample gradients, bad input, smoke run."""
import math

import numpy as np
import pytest
import torch
from test_features import make_actor, make_batch
from torch import nn

from pgxlib.analysis.first_order import (
    DISTANCES,
    first_order_errors,
    float64_actor,
    logp_and_directional,
    paper_definition_error,
    random_directions,
    relative_error,
    summarise,
)
from pgxlib.analysis.scaling import log_log_slope
from pgxlib.analysis.stats import distance_key
from pgxlib.config import ConfigError
from pgxlib.estimate.features import per_sample_grads
from pgxlib.nets import actor_log_prob, actor_params, flat_params

from doubles import StoredLookup

OBS, ACTIONS, N = 4, 3, 50


class LinearSoftmax(nn.Module):
    """π_W(a|s) = softmax(W s)_a, float64; the actor interface `actor_log_prob` needs."""

    def __init__(self, W: torch.Tensor):
        super().__init__()
        self.W = nn.Parameter(W.clone())

    def log_prob(self, obs, task_id, action):
        logp = torch.log_softmax(obs @ self.W.T, dim=-1)
        return logp.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)


def linear_case(seed=0):
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(ACTIONS, OBS, generator=gen, dtype=torch.float64)
    obs = torch.randn(N, OBS, generator=gen, dtype=torch.float64)
    actions = torch.randint(0, ACTIONS, (N,), generator=gen)
    adv = torch.randn(N, generator=gen, dtype=torch.float64)
    return LinearSoftmax(W), W, obs, actions, adv


def closed_form(W, obs, actions, adv, u, rho):
    """Exact true changes and first-order estimates of a linear-softmax policy (numpy, float64)."""
    W, X, a, A, U = (t.numpy() for t in (W, obs, actions, adv, u.reshape(W.shape)))
    step = rho * np.linalg.norm(W)
    z0, dz = X @ W.T, step * X @ U.T

    def lse(z):
        return np.log(np.exp(z).sum(1))

    rows = np.arange(len(a))
    true = dz[rows, a] - (lse(z0 + dz) - lse(z0))
    pi = np.exp(z0 - lse(z0)[:, None])
    est = dz[rows, a] - (pi * dz).sum(1)
    curvature = 0.5 * ((pi * dz**2).sum(1) - (pi * dz).sum(1) ** 2)  # ½ Δzᵀ(diag π − ππᵀ)Δz: the 2nd-order term
    err_logp = np.linalg.norm(true - est) / np.linalg.norm(true)
    j_true, j_est = (A * np.expm1(true)).mean(), (A * est).mean()
    return err_logp, abs(j_true - j_est) / abs(j_true), curvature, est


def test_linear_softmax_golden_values():
    actor, W, obs, actions, adv = linear_case()
    U = random_directions(W.numel(), 3, seed=1)
    params = actor_params(actor)
    task_id = torch.zeros(N, dtype=torch.int64)
    got = first_order_errors(actor, params, obs, task_id, actions, adv, U, DISTANCES)
    base = torch.log_softmax(obs @ W.T, dim=-1).gather(-1, actions[:, None]).squeeze(-1).numpy()
    for i in range(3):
        for j, rho in enumerate(DISTANCES):
            err_logp, err_obj, _, est = closed_form(W, obs, actions, adv, U[i], rho)
            assert got.logp[i, j].item() == pytest.approx(err_logp, rel=1e-6)
            assert got.objective[i, j].item() == pytest.approx(err_obj, rel=1e-6)
            # the authors' definition, in closed form: mean_t ((|f0 + est − f1|) / max(|f1|, |f0|))²
            step = rho * np.linalg.norm(W.numpy())
            z1 = obs.numpy() @ (W.numpy() + step * U[i].numpy().reshape(W.shape)).T
            f1 = (z1 - np.log(np.exp(z1).sum(1, keepdims=True)))[np.arange(N), actions.numpy()]
            paper = np.mean((np.abs(base + est - f1) / np.maximum(np.abs(f1), np.abs(base))) ** 2)
            assert got.paper_definition[i, j].item() == pytest.approx(paper, rel=1e-6)


def test_paper_definition_error_golden_values():
    # by hand: t=0: |1.5 − 1| / max(1, 2) = 0.25 -> 0.0625; t=1: |−3.5 + 4| / max(4, 3) = 0.125 -> 0.015625
    base, linear, true = [2.0, -3.0], [1.5, -3.5], [1.0, -4.0]
    assert paper_definition_error(base, linear, true) == pytest.approx((0.0625 + 0.015625) / 2, abs=1e-15)
    assert paper_definition_error(torch.tensor(base), torch.tensor(linear), torch.tensor(true)) == pytest.approx(
        0.0390625, abs=1e-15)
    # a sample whose |f| is 0 before and after is dropped (the authors drop f = 0); all dropped -> NaN
    assert paper_definition_error([2.0, 0.0], [1.5, 0.3], [1.0, 0.0]) == pytest.approx(0.0625, abs=1e-15)
    assert math.isnan(paper_definition_error([0.0], [1.0], [0.0]))
    # only one of f(θ*), f(θ*+Δ) zero: the other one is the scale; exact first order: 0
    assert paper_definition_error([0.0], [0.5], [-1.0]) == pytest.approx(2.25, abs=1e-15)
    assert paper_definition_error([-1.0, -2.0], [-1.1, -2.2], [-1.1, -2.2]) == 0.0
    with pytest.raises(ValueError, match="base, linear and true"):
        paper_definition_error([1.0, 2.0], [1.0], [1.0, 2.0])


def test_error_vanishes_linearly_with_the_distance():
    actor, W, obs, actions, adv = linear_case(seed=3)
    U = random_directions(W.numel(), 1, seed=4)
    rhos = (1e-5, 1e-4, 1e-3, 1e-2)
    got = first_order_errors(actor, actor_params(actor), obs, torch.zeros(N, dtype=torch.int64), actions, adv, U,
                             rhos)
    err = got.logp[0].numpy()
    assert np.all(np.diff(err) > 0) and err[0] < 1e-4
    assert log_log_slope(rhos, err) == pytest.approx(1.0, abs=0.02)
    # the limit err/ρ -> ‖curvature term‖/‖first-order term‖ per unit distance
    _, _, curv, est = closed_form(W, obs, actions, adv, U[0], 1e-5)
    assert err[0] == pytest.approx(np.linalg.norm(curv) / np.linalg.norm(est), rel=1e-3)


@pytest.mark.parametrize("discrete", [True, False])
def test_jvp_equals_per_sample_grads_times_delta(discrete):
    actor = float64_actor(make_actor(discrete, seed=2))
    params = actor_params(actor)
    obs, task_id, actions = make_batch(actor, 33, seed=5)
    u = random_directions(flat_params(params).numel(), 1, seed=6)[0]
    logp, gu = logp_and_directional(actor, params, obs, task_id, actions, u)
    G = per_sample_grads(actor, params, obs, task_id, actions)
    assert gu.dtype == torch.float64
    torch.testing.assert_close(gu, G @ u, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(logp, actor_log_prob(actor, params, obs, task_id, actions))
    plain = make_actor(discrete, seed=2)
    torch.testing.assert_close(logp.float(), plain.log_prob(obs, task_id, actions), rtol=1e-5, atol=1e-5)


def test_helpers():
    assert [distance_key(r) for r in DISTANCES] == ["0.1", "0.5", "1", "2", "5", "10"]
    assert math.isnan(relative_error(torch.zeros(3), torch.ones(3)).item())
    U = random_directions(10, 4, seed=0)
    torch.testing.assert_close(U.norm(dim=1), torch.ones(4, dtype=torch.float64))
    s = summarise(np.array([[0.01, np.nan], [0.03, np.nan]]), (0.001, 0.01))
    assert s["0.1"] == {"median": 2.0, "q25": 1.5, "q75": 2.5, "n": 2}
    assert s["1"]["median"] is None and s["1"]["n"] == 0


@pytest.mark.parametrize("params, names", [
    ({"n_directions": 0}, ["n_directions", "1..256"]),
    ({"n_directions": 2.5}, ["n_directions"]),
    ({"distances": []}, ["distances", "(0, 1]"]),
    ({"distances": [0.01, -0.1]}, ["distances"]),
    ({"distances": [0.01, 2]}, ["distances"]),
    ({"distances": "0.01"}, ["distances"]),
    ({"distances": [0.01, 0.01]}, ["distinct"]),
    ({"nosuch": 1}, ["nosuch", "n_directions"]),
])
def test_check_rejects_bad_parameters(params, names):
    from pgxlib.experiments import resolve

    with pytest.raises(ConfigError) as err:
        resolve("first_order_error", "smoke", "cartpole", 0, **params)
    for name in names:
        assert name in str(err.value)
    with pytest.raises(ConfigError, match="family"):
        resolve("first_order_error", "smoke", "nosuch", 0)


@pytest.mark.slow
def test_smoke_run_has_expected_keys(monkeypatch, tmp_path):
    from pgxlib.experiments import get, run_experiment

    monkeypatch.setenv("PGX_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PGX_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PGX_PROGRESS", "0")
    res = run_experiment("first_order_error", "smoke", "cartpole", n_directions=3)
    for key in get("first_order_error").EXPECTED_KEYS:
        assert res.has(key), key
    errs = res.metrics["relative_error_pct"]
    assert list(errs) == ["0.1", "0.5", "1", "2", "5", "10"]
    assert all(v is None or v >= 0 for v in errs.values())
    assert res.arrays["logp_surrogate"].shape == (3, 6)
    for name in ("surrogate", "random"):
        assert set(res.metrics["objective"][name]) == set(errs)
    assert res.get(("metrics", "relative_error_pct", "1")) == errs["1"]
    theirs = res.metrics["paper_definition_error_pct"]
    assert list(theirs) == list(errs)
    for name in ("surrogate", "random"):
        assert set(res.metrics["paper_definition"][name]) == set(errs)
        assert res.arrays[f"paper_definition_{name}"].shape == (3, 6)
    assert theirs["1"] == pytest.approx(np.nanmedian(100 * np.ma.filled(res.arrays["paper_definition_surrogate"]
                                                                         .astype(float), np.nan)[:, 2]))
    # the authors' definition (squared residual over |log π|) is far below ours (residual over Δlog π)
    for key in ("0.1", "0.5", "1"):
        assert theirs[key] is not None and 0 <= theirs[key] < errs[key]
    assert res.metrics["logp_abs_median"] > 0
    slopes = res.metrics["scaling_slope"]
    assert set(slopes) == {"relative_error_pct", "paper_definition_error_pct", "paper"}
    assert slopes["paper"] == pytest.approx(0.949, abs=1e-3)
    assert slopes["paper_definition_error_pct"] > slopes["relative_error_pct"] > 0
    assert res.metrics["matching_definition"] == min(("relative_error_pct", "paper_definition_error_pct"),
                                                     key=lambda k: abs(slopes[k] - slopes["paper"]))


def test_masks_restrict_each_direction_to_its_transitions():
    actor, W, obs, actions, adv = linear_case(seed=5)
    U = random_directions(W.numel(), 2, seed=7)
    tid = torch.zeros(N, dtype=torch.int64)
    masks = torch.zeros(2, N, dtype=torch.bool)
    masks[0, :20], masks[1, 10:] = True, True
    got = first_order_errors(actor, actor_params(actor), obs, tid, actions, adv, U, (0.01, 0.1), masks)
    for i in range(2):
        m = masks[i]
        ref = first_order_errors(actor, actor_params(actor), obs[m], tid[m], actions[m], adv[m], U[i:i + 1],
                                 (0.01, 0.1))
        torch.testing.assert_close(got.logp[i], ref.logp[0])
        torch.testing.assert_close(got.objective[i], ref.objective[0])
    with pytest.raises(ValueError, match="masks"):
        first_order_errors(actor, actor_params(actor), obs, tid, actions, adv, U, (0.01,), masks[:1])


def _fake_result(with_authors=True):
    """metrics/arrays shaped like a stored first_order_error result (2 directions, 3 distances)."""
    rhos, keys = (0.001, 0.01, 0.05), ("0.1", "1", "5")
    ours = np.array([[0.001, 0.01, 0.05], [0.002, 0.02, 0.1]])
    theirs = np.array([[1e-9, 1e-5, 1e-2], [2e-9, 2e-5, 3e-2]])
    m = {"relative_error_pct": {k: v["median"] for k, v in summarise(ours, rhos).items()},
         "logp": {n: summarise(ours, rhos) for n in ("surrogate", "random")},
         "objective": {n: summarise(ours, rhos) for n in ("surrogate", "random")}, "slope": {}}
    a = {"distances": np.array(rhos), "logp_surrogate": ours, "logp_random": ours,
         "logp_rms_change_surrogate": np.full((2, 3), 0.01)}
    if with_authors:
        m.update(paper_definition_error_pct={k: v["median"] for k, v in summarise(theirs, rhos).items()},
                 paper_definition={n: summarise(theirs, rhos) for n in ("surrogate", "random")},
                 paper_definition_slope={"surrogate": 4.0, "random": 4.0}, logp_abs_median=0.7)
        a.update(paper_definition_surrogate=theirs, paper_definition_random=theirs)
    assert list(m["relative_error_pct"]) == list(keys)
    return m, a


def test_report_shows_both_definitions_and_tolerates_old_results():
    import matplotlib.pyplot as plt

    from pgxlib.report import first_order_error as report

    m, a = _fake_result()
    table = report.definitions_table(m, "cartpole")
    assert table.loc["1"].iloc[0] == "1.5 (1.25–1.75)" and table.loc["1"].iloc[2] == "0.0015 (0.00125–0.00175)"
    assert table.loc["1", "paper (CartPole) %"] == "0.98"
    sentence = report.definitions_sentence(m, a, "cartpole")
    assert "1.5% by ours and 0.0015% by theirs (a factor of 1e+03)" in sentence and "0.7 nats" in sentence
    for described in (report.verdict_paper_definition(m, "cartpole"), report.verdict(m, "cartpole")):
        assert not any(w in described for w in ("**within**", "**above**", "refuted", "reproduced")), described
    assert "0.0015% at 1% distance" in report.verdict_paper_definition(m, "cartpole")
    plt.close(report.definitions_vs_distance(a, "cartpole"))
    old_m, old_a = _fake_result(with_authors=False)
    assert (report.definitions_table(old_m, "cartpole").iloc[:, 2:4] == "–").all().all()
    assert "--force" in report.definitions_sentence(old_m, old_a, "cartpole")
    assert "--force" in report.verdict_paper_definition(old_m, "cartpole")
    assert "cannot be judged" in report.verdict_matching(old_m, "cartpole")
    plt.close(report.definitions_vs_distance(old_a, "cartpole"))


def test_scorecard_judges_first_order_claims_by_the_matching_definition():
    from pgxlib.report import first_order_error, scorecard

    claims = {c.name: c for c in first_order_error.claims()}
    at1 = claims["First-order error (definition matching the paper's scaling), CartPole, distance 1.0%"]
    grows = claims["First-order error (definition matching the paper's scaling) grows to about 10% at 5% distance, "
                   "CartPole"]
    assert scorecard.chapter_of(at1) == "first_order_error"
    both = {"relative_error_pct": {"1": 13.9, "5": 40.0}, "paper_definition_error_pct": {"1": 2.5e-5, "5": 1e-3}}
    # a result stored before the slopes: the authors' definition as before, with a note
    row = scorecard.evaluate_claim(at1, StoredLookup(both))
    assert row["status"] == "reproduced" and "2.5e-05% ≤ 2%" in row["why"] and "13.9%" in row["why"]
    assert "predates the slope fit" in row["why"]
    row = scorecard.evaluate_claim(grows, StoredLookup(both))  # growing is not enough: "about 10%" is [5%, 20%]
    assert row["status"] == "refuted" and "0.001% outside [5%, 20%]" in row["why"] and "40%" in row["why"]
    for far, status in ((55.0, "refuted"), (12.0, "reproduced")):
        row = scorecard.evaluate_claim(grows, StoredLookup({**both, "paper_definition_error_pct": {"5": far}}))
        assert row["status"] == status, far
    # with the slopes: the change-relative definition scales like the paper's table, so it is the one judged
    slopes = {"relative_error_pct": 1.0, "paper_definition_error_pct": 4.0, "paper": 0.95}
    ours = {**both, "scaling_slope": slopes, "matching_definition": "relative_error_pct"}
    row = scorecard.evaluate_claim(at1, StoredLookup(ours))
    assert row["status"] == "refuted" and row["ours"] == "13.9%"
    assert "change-relative definition (‖residual‖/‖change of log π‖) 13.9% > 2%" in row["why"]
    assert "the authors' squared value-relative definition, not judged: 2.5e-05%" in row["why"]
    assert "ours 1.00, the authors' 4.00, the paper's 0.95" in row["why"]
    row = scorecard.evaluate_claim(grows, StoredLookup({**ours, "relative_error_pct": {"5": 14.5}}))
    assert row["status"] == "reproduced" and "14.5% within [5%, 20%]" in row["why"]
    theirs = {**ours, "matching_definition": "paper_definition_error_pct"}
    assert "2.5e-05% ≤ 2%" in scorecard.evaluate_claim(at1, StoredLookup(theirs))["why"]
    old = {"relative_error_pct": {"1": 13.9, "5": 40.0}}
    for claim in (at1, grows):
        row = scorecard.evaluate_claim(claim, StoredLookup(old))
        assert row["status"] == "not yet measured" and "paper_definition_error_pct" in row["why"]


def test_slopes_tell_the_definitions_apart_on_synthetic_power_laws():
    from pgxlib.experiments.first_order_error import matching_definition, scaling_slopes

    rhos = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1)
    keys = [distance_key(r) for r in rhos]
    linear = {k: 300 * r for k, r in zip(keys, rhos)}                     # error ∝ distance
    quartic = {k: 4e6 * r ** 4 for k, r in zip(keys, rhos)}               # error ∝ distance⁴
    quartic["10"] = None                                                  # unmeasured cells are left out
    paper = {0.001: 0.12, 0.005: 0.73, 0.01: 0.98}                        # the paper's CartPole column
    slopes = scaling_slopes(rhos, {"relative_error_pct": linear, "paper_definition_error_pct": quartic}, paper)
    assert slopes["relative_error_pct"] == pytest.approx(1.0)
    assert slopes["paper_definition_error_pct"] == pytest.approx(4.0)
    assert slopes["paper"] == pytest.approx(0.949, abs=1e-3)
    assert matching_definition(slopes) == "relative_error_pct"
    # the fit covers the paper's range only: a bend beyond 1% does not move it
    bent = {**linear, "5": 1e3, "10": 1e4}
    assert scaling_slopes(rhos, {"relative_error_pct": bent}, paper)["relative_error_pct"] == pytest.approx(1.0)
    steep = scaling_slopes(rhos, {"relative_error_pct": linear, "paper_definition_error_pct": quartic},
                           {0.001: 1e-6, 0.01: 1e-2})
    assert steep["paper"] == pytest.approx(4.0) and matching_definition(steep) == "paper_definition_error_pct"
    no_paper = scaling_slopes(rhos, {"relative_error_pct": linear, "paper_definition_error_pct": quartic}, {})
    assert no_paper["paper"] is None and no_paper["relative_error_pct"] == pytest.approx(1.0)
    assert matching_definition(no_paper) is None
    assert matching_definition({"relative_error_pct": None, "paper_definition_error_pct": None, "paper": 1.0}) is None


def test_page_shows_the_slopes_and_judges_with_the_matching_definition():
    from pgxlib.report import first_order_error as report

    m, _ = _fake_result()
    assert report.slopes_table(m, "cartpole") is None
    assert "predates the slope fit" in report.verdict_matching(m, "cartpole")
    assert "authors' definition" in report.verdict_matching(m, "cartpole")
    assert "**within**" in report.verdict_matching(m, "cartpole")  # 0.0015% under theirs, the only one judged
    m = {**m, "scaling_slope": {"relative_error_pct": 1.0, "paper_definition_error_pct": 4.0, "paper": 0.95},
         "matching_definition": "relative_error_pct"}
    html = report.slopes_table(m, "cartpole").to_html()
    for text in (">1<", ">4<", "0.95", "paper (CartPole)", "0.98", "yes"):
        assert text in html, text
    sentence = report.verdict_matching(m, "cartpole")
    assert "judged under our change-relative definition" in sentence and "1.5%" in sentence
    assert "**within**" in sentence and "0.0015% at 1%" in sentence
