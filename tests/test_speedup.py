"""The speedup experiment: smoke run, bad parameters, the random-NMI floor, the noise ceiling of the truth,
one evaluator on both sides, determinism of the measured side, the report and scorecard on new and old results."""
from itertools import product

import numpy as np
import pytest
import torch

from pgxlib.analysis.agreement import nmi
from pgxlib.analysis.selection import OLD_FOOTING, agreement_pair
from pgxlib.analysis.speedup import (
    centre_per_task,
    noise_ceiling,
    offdiag_corr,
    pairwise_nmi,
    random_nmi_floor,
    rank_correlation,
    reaches_ceiling,
    speedup,
)
from pgxlib.config import ConfigError
from pgxlib.profiles import pipeline_config
from pgxlib.estimate.scores import EVALUATORS, ScoreContext
from pgxlib.experiments import run_experiment
from pgxlib.experiments import speedup as exp
from pgxlib.truth import ppo_truth_scores
from pgxlib.nets import new_policy
from pgxlib.tasks import make_family

from doubles import StoredLookup


@pytest.mark.slow
@pytest.mark.parametrize("family", ["cartpole", "nav2d"])
def test_smoke_run_has_expected_keys(store, family):
    res = run_experiment("speedup", "smoke", family, depths=[2], repeats=2)
    for key in exp.EXPECTED_KEYS:
        assert res.has(key), key
    row = res.get("metrics.by_layers.2")
    for key in ("nmi", "speedup", "rank_correlation", "random_nmi", "speedup_with_meta", "noise_ceiling_nmi",
                "noise_ceiling_affinity_corr", "above_ceiling", "nmi_per_repeat", "by_score"):
        assert key in row, key
    success = make_family(family, 4, 0).has_success  # nav2d reports success, cartpole does not
    assert set(row["by_score"]) == {"rollout", "ppo", "logistic", *(["success"] if success else [])}
    for name, entry in row["by_score"].items():
        assert 0.0 <= entry["nmi"] <= 1.0 and 0.0 <= entry["noise_ceiling_nmi"] <= 1.0, name
        assert entry["above_ceiling"] == (entry["nmi"] >= entry["noise_ceiling_nmi"] - 1e-9)
        assert len(entry["nmi_per_repeat"]) == 2 and entry["speedup"] > 0
        assert entry["footing"] == exp.FOOTING == "single repeats"  # like with like: the ceiling's own footing
        assert entry["nmi"] == pytest.approx(np.mean(entry["nmi_per_repeat"]))
        truth = entry["truth"]
        assert entry["nmi_vs_mean_of_repeats"] == pytest.approx(nmi(entry["labels_estimated"],
                                                                    res.arrays[f"labels_measured_{truth}_d2"]))
    assert row["by_score"]["logistic"]["truth"] == "rollout" and row["by_score"]["ppo"]["truth"] == "ppo"
    assert res.get("metrics.by_score") == row["by_score"]
    assert res.get("metrics.nmi") == row["by_score"][exp.DEFAULT_SCORE]["nmi"] == row["nmi"]
    assert res.get("metrics.noise_ceiling_nmi") == row["by_score"][exp.DEFAULT_SCORE]["noise_ceiling_nmi"]
    assert res.get("metrics.speedup") > 0
    n = pipeline_config("smoke", family).n_tasks
    assert res.arrays["affinity_estimated_d2"].shape == res.arrays["affinity_measured_d2"].shape == (n, n)
    assert res.arrays["scores_measured_d2"].shape == res.arrays["members"].shape
    assert res.get("metrics.budget.n_subsets") == len(res.arrays["members"])
    assert res.get("metrics.budget.repeats") == 2
    stages = sorted(p.name for p in store.rglob("measured-d2-r*.pt"))
    assert stages == ["measured-d2-r0.pt", "measured-d2-r1.pt"]
    mean = np.mean([res.arrays[f"scores_measured_rollout_d2_r{r}"].filled(np.nan) for r in range(2)], axis=0)
    np.testing.assert_allclose(res.arrays["scores_measured_d2"].filled(np.nan), mean)


@pytest.mark.parametrize("params, names", [
    ({"depths": [0]}, ["depths", "1..16"]),
    ({"depths": []}, ["depths"]),
    ({"depths": [2, 2]}, ["depths", "distinct"]),
    ({"n_jobs": 0}, ["n_jobs", "1..64"]),
    ({"n_subsets": 0}, ["n_subsets", "positive"]),
    ({"finetune_steps": 1}, ["finetune_steps", "128"]),
    ({"repeats": 1}, ["repeats", "2..10"]),
    ({"repeats": 11}, ["repeats", "2..10"]),
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


def test_noise_ceiling_on_hand_made_repeats():
    same, relabelled, crossed = np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]), np.array([0, 1, 0, 1])
    assert pairwise_nmi([same, relabelled, crossed]) == pytest.approx([1.0, 0.0, 0.0], abs=1e-12)
    # off-diagonal entries (1, 2, 1, 3, 2, 3); the diagonal never counts
    a = np.array([[9.0, 1, 2], [1, 9, 3], [2, 3, 9]])
    b = np.array([[-5.0, 2, 4], [2, 0, 6], [4, 6, 7]])  # 2 × a off the diagonal
    c = np.array([[0.0, 3, 2], [3, 0, 1], [2, 1, 0]])  # (3, 2, 3, 1, 2, 1): 4 − a off the diagonal
    assert offdiag_corr(a, b) == pytest.approx(1.0)
    assert offdiag_corr(a, c) == pytest.approx(-1.0)
    d = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, 0]])  # (1, 0, 1, 0, 0, 0)
    x, y = np.array([1, 2, 1, 3, 2, 3.0]), np.array([1, 0, 1, 0, 0, 0.0])
    expected = ((x - x.mean()) @ (y - y.mean())) / np.sqrt(((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())
    assert offdiag_corr(a, d) == pytest.approx(expected)
    assert np.isnan(offdiag_corr(a, np.eye(3)))  # constant off the diagonal: undefined
    ceiling = noise_ceiling([same, relabelled, crossed], [a, b, c])
    assert ceiling["noise_ceiling_nmi"] == pytest.approx(1 / 3)
    assert ceiling["noise_ceiling_affinity_corr"] == pytest.approx((1 - 1 - 1) / 3)
    ceiling = noise_ceiling([same, same], [a, np.eye(3)])  # the only pair undefined
    assert ceiling["noise_ceiling_nmi"] == 1.0 and np.isnan(ceiling["noise_ceiling_affinity_corr"])
    with pytest.raises(ValueError, match="two"):
        noise_ceiling([same], [a])


def test_ppo_evaluator_is_the_same_function_on_both_sides():
    from pgxlib.estimate.features import heldout_mask
    from pgxlib.nets import actor_params, flat_params
    from pgxlib.rollout import collect_rollout

    cfg = pipeline_config("smoke", "cartpole", seed=1)
    fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
    policy = new_policy(fam, cfg, cfg.seed, "cpu")
    rollout = collect_rollout(policy, fam, list(range(fam.n_tasks)), 64, 2, 0.99, 0.95, 5, "cpu")
    mask = heldout_mask(rollout.task_id, 0.25, 0)
    heldout = rollout.select(mask)
    members = np.array([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 0, 1]], dtype=bool)
    theta = flat_params(actor_params(policy.actor))
    def estimated(delta_of):
        ctx = ScoreContext(members, delta_of, policy=policy, rollout=rollout, heldout=mask)
        return EVALUATORS["ppo"](ctx)
    zero = estimated(lambda l: torch.zeros_like(theta))
    np.testing.assert_allclose(zero[members], 0.0, atol=1e-6)
    assert np.isnan(zero[~members]).all()
    unchanged = ppo_truth_scores(policy, heldout, theta.repeat(len(members), 1), members)
    np.testing.assert_allclose(unchanged[members], 0.0, atol=1e-6)
    deltas = 0.05 * torch.randn(len(members), theta.numel(), generator=torch.Generator().manual_seed(0))
    moved = estimated(lambda l: deltas[l])
    truth = ppo_truth_scores(policy, heldout, theta + deltas, members)
    assert np.abs(moved[members]).max() > 1e-3  # a real change, not a trivial zero
    np.testing.assert_allclose(truth[members], moved[members], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="finetuned"):
        ppo_truth_scores(policy, heldout, theta[None], members)


@pytest.mark.slow
def test_repeat_zero_reproduces_the_single_run_of_earlier_versions(store):
    """Repeat 0 fine-tunes and evaluates with the seeds the measured side always used."""
    from pgxlib.evaluate import evaluate_policy
    from pgxlib.nets import actor_params, flat_params
    from pgxlib.rl.ppo import train_ppo

    cfg = pipeline_config("smoke", "cartpole", seed=3)
    fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
    state = new_policy(fam, cfg, cfg.seed, "cpu").state_dict()
    members = np.array([[1, 1, 0, 0], [0, 1, 0, 1]], dtype=bool)
    ppo = exp.finetune_config(cfg, cfg.group_ppo.steps_per_iteration)
    out = exp.finetune_subsets(fam, cfg, state, members, ppo, n_jobs=1, repeat=0)
    for l, row in enumerate(members):
        tasks = [int(i) for i in np.flatnonzero(row)]
        policy = new_policy(fam, cfg, cfg.seed, "cpu")
        policy.load_state_dict(state)
        train_ppo(policy, fam, tasks, ppo, cfg.seed + 1000 + l, "cpu", progress=False)
        ev = evaluate_policy(policy, fam, [fam.source[i] for i in tasks], tasks, cfg.evaluation.episodes,
                             cfg.seed + 1 + l, cfg.evaluation.deterministic, "cpu")
        np.testing.assert_array_equal(out["returns"][l, tasks], ev.mean_return)
        np.testing.assert_array_equal(out["actors"][l].numpy(), flat_params(actor_params(policy.actor)).numpy())
    scores, _, _ = exp.measured_scores(fam, cfg, state, members, ppo, n_jobs=1)
    np.testing.assert_array_equal(scores, out["returns"])


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


def _comparison(nmi_value, ceiling, label, estimate, truth):
    return {"estimate": estimate, "truth": truth, "label": label, "footing": "single repeats", "nmi": nmi_value,
            "nmi_vs_mean_of_repeats": min(1.0, nmi_value + 0.1),
            "nmi_per_repeat": [nmi_value, nmi_value], "rank_correlation": 0.4, "rank_correlation_centred": None,
            "affinity_corr": 0.3, "noise_ceiling_nmi": ceiling, "noise_ceiling_affinity_corr": 0.5,
            "noise_ceiling_pairs_nmi": [ceiling], "above_ceiling": nmi_value >= ceiling, "random_nmi": 0.2,
            "random_nmi_std": 0.05, "speedup": 12.0, "speedup_cpu": 11.0, "speedup_with_meta": 3.0,
            "seconds": {"estimated": 1.0, "measured": 12.0, "estimated_cpu": 1.0, "measured_cpu": 11.0},
            "labels_estimated": [0, 0, 1, 1], "labels_measured": [0, 0, 1, 1]}


def _fake_metrics(new: bool = True) -> dict:
    """What the experiment stores for two depths (2: above the ceiling; 4: below a reproducible one, and a PPO
    truth at chance), or (`new=False`) what it stored before the truth was repeated."""
    by_layers = {}
    for depth, (x, c) in {"2": (0.8, 0.6), "4": (0.3, 0.7)}.items():
        by_score = {"rollout": _comparison(x, c, "rollout return, both sides", "rollout", "rollout"),
                    "ppo": _comparison(0.1, 0.22, "held-out PPO objective, both sides", "ppo", "ppo"),
                    "logistic": _comparison(0.0, c, "logistic vs rollout", "logistic", "rollout")}
        top = by_score["rollout"]
        row = {**{k: top[k] for k in ("nmi", "rank_correlation", "rank_correlation_centred", "speedup", "speedup_cpu",
                                      "speedup_with_meta", "random_nmi", "random_nmi_std", "labels_estimated",
                                      "labels_measured")},
               "seconds": {**top["seconds"], "meta_train": 5.0},
               "stages": {"estimated": {"features": 0.5, "scores": 0.5}, "measured": {"finetune_eval": 12.0}},
               "rel_dist_mean": 0.01}
        if new:
            row.update({k: top[k] for k in ("footing", "nmi_per_repeat", "noise_ceiling_nmi", "noise_ceiling_affinity_corr",
                                            "above_ceiling", "affinity_corr")}, by_score=by_score, repeats=2)
        by_layers[depth] = row
    budget = {"n_subsets": 10, "subset_size": 2, "n_tasks": 4, "k": 2, "finetune_steps_per_task": 128,
              "finetune_iterations": 1, "group_ppo_steps_per_task": 128, "n_jobs": 2, "eval_episodes": 1,
              "torch_threads_estimated": 1, "score": "rollout" if new else "logistic"}
    metrics = {"family": "lunarlander", "headline_depth": 2, "depths": [2, 4], "by_layers": by_layers,
               "budget": budget, **{k: by_layers["2"][k] for k in ("nmi", "speedup", "rank_correlation",
                                                                    "rank_correlation_centred", "random_nmi")}}
    if new:
        budget.update(repeats=2, scores=["rollout", "ppo", "logistic"])
        metrics.update(default_score="rollout", repeats=2, by_score=by_layers["2"]["by_score"],
                       noise_ceiling_nmi=0.6, noise_ceiling_affinity_corr=0.5)
    return metrics


def test_report_shows_the_noise_ceiling_and_survives_old_results():
    import matplotlib.pyplot as plt

    from pgxlib.report import evaluator_tables as tables, speedup as report

    m = _fake_metrics()
    frame = report.evaluator_frame(m)
    assert len(frame) == 6 and frame.loc[("rollout", 2), "at ceiling"] == True  # noqa: E712
    assert frame.loc[("rollout", 4), "noise ceiling NMI"] == 0.7
    assert frame.loc[("rollout", 4), "at ceiling"] == False  # noqa: E712
    assert frame.loc[("ppo", 2), "NMI estimate vs truth"] == 0.1 and frame.loc[("ppo", 2), "speedup"] == 12.0
    assert "footing: single repeats" in report.evaluator_table(m).caption
    assert report.depth_table(m).loc[4, "at ceiling"] == False  # noqa: E712
    two, four = report.verdicts(m).split("**4 layers**")
    assert "undecided, within noise of the truth: NMI 0.30 is below the truth's noise ceiling 0.70" in four
    assert "reproduc" not in four and "refuted" not in four
    assert "NMI 0.80 reaches the truth's noise ceiling 0.60: reproduced" in two and "within noise" not in two
    assert "Speedup 12.0×: reproduced, within a factor of 2 of the paper's 21×." in two
    assert "repeated 2 times" in report.budget_text(m) and "undefined" in report.correlation_text(m)
    cost = report.cost_text(m)
    assert "spends 50% of its 1 s scoring" in cost and "`ppo` 12× (NMI 0.10, ceiling 0.22)" in cost
    for fig in (report.ceiling_figure(m), report.stage_bars(m)):
        plt.close(fig)

    unnamed = _fake_metrics()  # stored before the footing was named: nmi was against the mean of the repeats
    for s in unnamed["by_layers"]["2"]["by_score"].values():
        del s["footing"]
        s["nmi"], s["nmi_per_repeat"] = 0.95, [0.5, 0.6]
    assert agreement_pair(unnamed["by_layers"]["2"]["by_score"]["rollout"]) == (0.55, 0.6, OLD_FOOTING)
    assert report.evaluator_frame(unnamed).loc[("rollout", 2), "at ceiling"] == False  # noqa: E712

    old = _fake_metrics(new=False)
    assert not report.has_ceiling(old)
    assert report.evaluator_frame(old)["noise ceiling NMI"].isna().all()
    assert (report.depth_table(old)["at ceiling"] == report.NOT_MEASURED).all()
    assert report.NOT_MEASURED in tables.agreement_sentences(old) and "--force" in report.verdicts(old)
    assert tables.agreement_cells(old).iloc[0, 0] == "0.80 / –"  # its one evaluator, without a ceiling
    assert "--force" in report.budget_text(old)
    report.correlation_text(old)
    assert report.NOT_MEASURED in report.cost_text(old)
    for fig in (report.ceiling_figure(old), report.stage_bars(old)):
        plt.close(fig)


def test_scorecard_judges_nmi_and_speedup_only_at_the_noise_ceiling():
    from pgxlib.report import scorecard, speedup

    claims = {c.name: c for c in speedup.claims()}
    new, old = StoredLookup(_fake_metrics()), StoredLookup(_fake_metrics(new=False))
    speed2, speed4 = (claims[f"Speedup over full training, {d}-layer policy (LunarLander)"] for d in (2, 4))
    row = scorecard.evaluate_claim(speed2, new)  # 12× ≥ 10.5×, NMI 0.8 above the ceiling 0.6
    assert row["status"] == "reproduced" and "NMI 0.80 (truth's noise ceiling 0.60)" in row["why"]
    assert "rank correlation 0.40: the agreement clears the ceiling" in row["why"]
    row = scorecard.evaluate_claim(speed4, new)  # NMI 0.3 below the ceiling 0.7
    assert row["status"] == "undecided" and "within noise of the truth" in row["why"]
    row = scorecard.evaluate_claim(speed2, old)
    assert row["status"] == "not yet measured" and "noise_ceiling_nmi" in row["why"] and "--force" in row["why"]
    nmi2, nmi4 = (claims[f"Surrogate LunarLander NMI, {d}-layer policy"] for d in (2, 4))
    row = scorecard.evaluate_claim(nmi2, new)
    assert (row["ours"], row["status"]) == ("0.80", "reproduced") and "noise ceiling" in row["why"]
    assert "0.60" in row["why"]
    row = scorecard.evaluate_claim(nmi4, new)  # below the ceiling: evidence neither way, one reason
    assert row["status"] == "undecided" and row["why"].startswith("within noise of the truth: ours 0.30 is below the "
                                                                  "truth's noise ceiling 0.70")
    assert "outside" not in row["why"]
    row = scorecard.evaluate_claim(nmi2, old)
    assert row["status"] == "reproduced" and "not measured" in row["why"] and "--force" in row["why"]


def _set_agreement(metrics, depth, nmi_value, ceiling):
    """The headline evaluator's NMI and noise ceiling at `depth`, in its row and its ``by_score`` entry."""
    for row in (metrics["by_layers"][depth], metrics["by_layers"][depth]["by_score"]["rollout"]):
        row.update(nmi=nmi_value, nmi_per_repeat=[nmi_value, nmi_value], noise_ceiling_nmi=ceiling,
                   above_ceiling=reaches_ceiling(nmi_value, ceiling))
    return metrics


def test_an_nmi_just_below_the_ceiling_is_undecided_and_shows_the_digits_that_tell():
    """0.598 and 0.602 (0.698 and 0.702, within the paper's 0.73 ± 0.1) both read 0.60 (0.70) at two decimals."""
    from pgxlib.report import evaluator_tables as tables, scorecard, speedup as report

    m = _set_agreement(_set_agreement(_fake_metrics(), "2", 0.598, 0.602), "4", 0.698, 0.702)
    assert report.nmi_pair_text(0.598, 0.602) == ("0.598", "0.602")
    assert report.nmi_pair_text(0.6, 0.6) == ("0.600", "0.600") and report.nmi_pair_text(0.8, 0.6) == ("0.80", "0.60")
    assert report.nmi_pair_text(0.60001, 0.60002) == ("0.60001", "0.60002")
    two, four = report.verdicts(m).split("**4 layers**")
    assert "NMI 0.598 is below the truth's noise ceiling 0.602" in two and "undecided" in two
    assert "NMI 0.698 is below the truth's noise ceiling 0.702" in four and "undecided" in four
    for text in (two, four):
        assert "reproduc" not in text and "refuted" not in text and "0.60 " not in text and "0.70 " not in text
    claims = {c.name: c for c in report.claims()}
    for depth, (x, c) in {"2": ("0.598", "0.602"), "4": ("0.698", "0.702")}.items():
        for name in (f"Surrogate LunarLander NMI, {depth}-layer policy",
                     f"Speedup over full training, {depth}-layer policy (LunarLander)"):
            row = scorecard.evaluate_claim(claims[name], StoredLookup(m))
            assert row["status"] == "undecided", (name, row["why"])
            assert f"{x}" in row["why"] and f"below the truth's noise ceiling {c}" in row["why"]
            assert "reproduc" not in row["why"] and " within [" not in row["why"], row["why"]
    cells = tables.agreement_cells(m)
    assert (cells.loc["rollout", "2 layers"], cells.loc["rollout", "4 layers"]) == ("0.598 / 0.602", "0.698 / 0.702")
    assert "stays below its ceiling (0.598 / 0.602)" in tables.agreement_sentences(m, default="rollout")
    assert "`rollout` 12× (NMI 0.598, ceiling 0.602)" in report.cost_text(m)


def test_an_estimate_at_a_perfect_ceiling_counts():
    """With a truth that reproduces itself exactly (ceiling 1), agreeing with it exactly is all an estimate can do:
    the claims, the verdicts and the tables all say it reaches the ceiling."""
    from pgxlib.report import evaluator_tables as tables, scorecard, speedup as report

    assert reaches_ceiling(1.0, 1.0) and reaches_ceiling(0.8, 0.7) and not reaches_ceiling(0.6, 0.7)
    m = _set_agreement(_fake_metrics(), "2", 1.0, 1.0)
    claims = {c.name: c for c in report.claims()}
    row = scorecard.evaluate_claim(claims["Surrogate LunarLander NMI, 2-layer policy"], StoredLookup(m))
    assert row["status"] == "refuted" and "outside [0.63, 0.83] (above)" in row["why"]  # judged on its own test
    assert "reaches the truth's noise ceiling 1.00" in row["why"] and "not above" not in row["why"]
    row = scorecard.evaluate_claim(claims["Speedup over full training, 2-layer policy (LunarLander)"], StoredLookup(m))
    assert row["status"] == "reproduced" and "NMI 1.00 (truth's noise ceiling 1.00)" in row["why"]
    assert "NMI 1.00 reaches the truth's noise ceiling 1.00: refuted" in report.verdicts(m).split("**4 layers**")[0]
    assert tables.agreement_cells(m).loc["rollout", "2 layers"] == f"1.00 / 1.00 {tables.AT_CEILING}"
    assert report.evaluator_frame(m).loc[("rollout", 2), "at ceiling"] == True  # noqa: E712
    assert report.depth_table(m).loc[2, "at ceiling"] == True  # noqa: E712
    m = _set_agreement(_fake_metrics(), "2", 0.7, 0.7)  # at the ceiling and within the paper's 0.73 ± 0.1
    row = scorecard.evaluate_claim(claims["Surrogate LunarLander NMI, 2-layer policy"], StoredLookup(m))
    assert row["status"] == "reproduced" and "ours 0.700 reaches the truth's noise ceiling 0.700" in row["why"]


def test_the_largest_speedup_is_undecided_when_no_depth_counts():
    """As for one depth: a speedup bought with an agreement below the guard is evidence neither way."""
    from pgxlib.report import scorecard, speedup as report

    guarded = report.GuardedSpeedup((("lunarlander", "2"), ("lunarlander", "4")), 13.0, 52.0, "a factor of 2")
    claim = scorecard.Claim("largest speedup", 26.0, "×", guarded, guarded)
    m = _fake_metrics()
    m["by_layers"]["2"]["rank_correlation"] = 0.02  # at the ceiling, ranks agree by chance; 4 layers below it
    row = scorecard.evaluate_claim(claim, StoredLookup(m))
    assert (row["ours"], row["status"]) == ("12×", "undecided") and "no measured speedup counts" in row["why"]
    assert "lunarlander 2 layers 12.0×, lunarlander 4 layers 12.0×" in row["why"]
    m["by_layers"]["2"]["rank_correlation"] = 0.4  # 2 layers counts: judged on the band
    assert scorecard.evaluate_claim(claim, StoredLookup(m))["status"] == "refuted"  # 12× outside [13×, 52×]
    row = scorecard.evaluate_claim(claim, StoredLookup(_fake_metrics(new=False)))
    assert row["status"] == "not yet measured" and "--force" in row["why"]


def test_a_speedup_bought_with_no_rank_agreement_does_not_count():
    """NMI at the ceiling is not enough: the same run's rank correlation must be clearly positive."""
    from pgxlib.report import scorecard, speedup

    claims = {c.name: c for c in speedup.claims()}
    speed2 = claims["Speedup over full training, 2-layer policy (LunarLander)"]
    metrics = _fake_metrics()
    metrics["by_layers"]["2"]["rank_correlation"] = 0.02
    row = scorecard.evaluate_claim(speed2, StoredLookup(metrics))
    assert row["status"] == "undecided" and "rank correlation 0.02" in row["why"]
    metrics["by_layers"]["2"].update(rank_correlation=0.9, speedup=100.0)  # far above the paper's 21×: outside
    row = scorecard.evaluate_claim(speed2, StoredLookup(metrics))
    assert row["status"] == "refuted" and "outside [10.5×, 42×] (above)" in row["why"]
    nmi2 = claims["Surrogate LunarLander NMI, 2-layer policy"]
    metrics["by_layers"]["2"]["nmi"] = 0.95  # paper 0.73 ± 0.1: above the band is not a reproduction of 0.73
    assert scorecard.evaluate_claim(nmi2, StoredLookup(metrics))["status"] == "refuted"


def test_agreement_table_is_one_row_per_evaluator_and_one_column_per_depth():
    from pgxlib.report import evaluator_tables as tables

    m = _fake_metrics()
    cells = tables.agreement_cells(m, default="logistic")
    assert cells.shape == (4, 2) and list(cells.columns) == ["2 layers", "4 layers"]
    assert list(cells.index) == ["rollout", "ppo", "logistic (default)", tables.FLOOR_ROW]
    assert cells.loc["rollout", "2 layers"] == f"0.80 / 0.60 {tables.AT_CEILING}"
    assert cells.loc["rollout", "4 layers"] == "0.30 / 0.70"  # below a reproducible truth: no mark
    assert cells.loc[tables.FLOOR_ROW, "2 layers"] == "0.20"
    m["by_layers"]["4"]["by_score"]["ppo"]["random_nmi"] = 0.3  # the evaluators' truths differ: their range
    assert tables.agreement_cells(m).loc[tables.FLOOR_ROW, "4 layers"] == "0.20–0.30"
    del m["by_layers"]["4"]["by_score"]["ppo"]
    assert tables.agreement_cells(m).loc["ppo", "4 layers"] == "–"
    assert "rollout (default)" in tables.agreement_cells(m, default="rollout").index
    text = tables.agreement_sentences(_fake_metrics(), default="logistic")
    assert text.count(". ") == 1 and "1 of 3 evaluators" in text and "(`rollout`)" in text
    assert "`logistic` stays below its ceiling (0.00 / 0.60)" in text
    assert "reaches its ceiling (0.80 / 0.60)" in tables.agreement_sentences(_fake_metrics(), default="rollout")
    assert "footing: single repeats" in tables.agreement_table(_fake_metrics()).caption


def test_evaluator_family_table_takes_the_worst_seed_and_names_what_is_missing():
    from pgxlib.report import evaluator_tables as tables

    seeds = {seed: _fake_metrics() for seed in (0, 1, 2)}
    seeds[1]["by_layers"]["2"]["by_score"]["rollout"]["nmi"] = 0.4  # 0.4 / max(0.6, 0.8) = 0.5 on seed 1
    seeds[1]["by_layers"]["2"]["by_score"]["rollout"]["nmi_per_repeat"] = [0.4, 0.4]
    stored = {"planted": seeds, "cartpole": {0: _fake_metrics()}, "nav2d": "pgx run speedup -p family nav2d"}
    cells = tables.evaluator_family_cells(stored, default="logistic", pick="rollout")
    assert cells.shape == (3, 5) and list(cells.index) == ["planted", "cartpole", "nav2d"]
    assert list(cells.columns) == ["seeds", "layers", "rollout (rule's pick)", "ppo", "logistic (default)"]
    assert cells.loc["planted", "rollout (rule's pick)"] == "0.50 (0.50–1.00)"  # 0.8 / 0.8 capped at 1 elsewhere
    assert cells.loc["cartpole", "rollout (rule's pick)"] == "1.00" and cells.loc["planted", "seeds"] == "0, 1, 2"
    assert cells.loc["planted", "layers"] == "2"
    marked = tables.evaluator_family_cells(stored, stale={"planted": {1}})
    assert marked.loc["planted", "seeds"] == "0, 1 (stale), 2"
    assert cells.loc["nav2d", "seeds"] == "not stored: `pgx run speedup -p family nav2d`"
    assert (cells.loc["nav2d"].iloc[2:] == "–").all()
    text = tables.evaluator_family_text(stored, default="logistic", pick=None, rule_command="pgx run evaluator_rule")
    assert "On planted the cell is the worst case over 3 seeds" in text and "`logistic`" in text
    assert "not stored (`pgx run evaluator_rule`)" in text and text.count(". ") == 2
    assert "stored pick is `rollout`" in tables.evaluator_family_text(stored, pick="rollout")
    old = tables.evaluator_family_cells({"lunarlander": {0: _fake_metrics(new=False)}})
    assert old.loc["lunarlander", "logistic (default)"] == "–"  # no ceiling: no score
