"""The structure experiment: the noise ceiling of a family's truth against θ*'s and fine-tuning's budgets."""
import numpy as np
import pytest

from pgxlib.config import ConfigError
from pgxlib.profiles import pipeline_config
from pgxlib.estimate.affinity import sample_subsets
from pgxlib.experiments import run_experiment
from pgxlib.experiments import structure as exp
from pgxlib.report import structure as report


def _members(n=9, m=40, size=3, seed=0):
    return sample_subsets(n, m, size, seed)


def _repeat(members, groups, noise, seed, signal=1.0):
    """Scores with a planted structure: a task gains `signal` per member of its own group, loses it per
    member of another; plus Gaussian noise of std `noise`."""
    rng = np.random.default_rng(seed)
    same = (groups[:, None] == groups[None, :]).astype(float) * 2 - 1
    scores = np.where(members, (members @ same) * signal + rng.normal(0, noise, members.shape), np.nan)
    return scores


def test_ceiling_row_on_planted_and_on_pure_noise():
    cfg = pipeline_config("smoke", "planted", k=3)
    groups = np.repeat(np.arange(3), 3)
    members = _members()
    theta = np.zeros(9)
    clean = exp.ceiling_row(members, [_repeat(members, groups, 0.1, s) for s in range(3)], theta, cfg, groups)
    assert clean["noise_ceiling_nmi"] == pytest.approx(1.0) and clean["design_nmi"] == pytest.approx(1.0)
    assert clean["noise_ceiling_affinity_corr"] > 0.9 and len(clean["pairs_nmi"]) == 3
    noise = exp.ceiling_row(members, [_repeat(members, groups, 1.0, s, signal=0.0) for s in range(3)], theta, cfg,
                            groups)
    assert noise["noise_ceiling_nmi"] < 0.6 and abs(noise["noise_ceiling_affinity_corr"]) < 0.3
    gain = exp.ceiling_row(members, [_repeat(members, groups, 0.0, 0) + 2.0] * 2, theta - 1.0, cfg, None)
    assert "design_nmi" not in gain
    expected = np.nanmean(_repeat(members, groups, 0.0, 0) + 3.0, axis=0)
    np.testing.assert_allclose(gain["finetune_gain_per_task"], expected)


@pytest.mark.parametrize("params, names", [
    ({"repeats": 1}, ["repeats", "2..10"]),
    ({"meta_steps": []}, ["meta_steps"]),
    ({"meta_steps": [256, 256]}, ["meta_steps", "distinct"]),
    ({"finetune_steps": [1]}, ["finetune_steps", "128"]),
    ({"n_subsets": 1}, ["n_subsets"]),
])
def test_check_rejects_bad_parameters(store, params, names):
    with pytest.raises(ConfigError) as err:
        run_experiment("structure", "smoke", "planted", **params)
    msg = str(err.value)
    assert len(msg.splitlines()) == 1
    for name in names:
        assert name in msg, msg


@pytest.mark.slow
def test_smoke_run_sweeps_both_budgets(store):
    res = run_experiment("structure", "smoke", "planted", repeats=2)
    for key in exp.EXPECTED_KEYS:
        assert res.has(key), key
    m = res.metrics
    assert [r["meta_steps"] for r in m["meta_sweep"]] == sorted(exp.META_GRID["smoke"])
    assert m["chosen_meta_steps"] == exp.best_meta_row(m["meta_sweep"])["meta_steps"]
    assert [r["finetune_steps"] for r in m["finetune_sweep"]] == list(exp.FINETUNE_GRID["smoke"])
    assert m["meta_sweep"][-1]["theta_return_normalised"] == pytest.approx(1.0)
    assert m["has_design_groups"] and "design_nmi" in m["ceiling"]
    assert m["plateau_finetune_steps"] in exp.FINETUNE_GRID["smoke"]
    runs = 2 * (len(m["meta_sweep"]) + len(m["finetune_sweep"]) - 1)  # the shared budget cell is measured once
    assert len(sorted((store / "runs" / "finetunes" / "planted").glob("planted-*-r*.pt"))) == runs
    assert all(r["meta_steps"] == m["chosen_meta_steps"] for r in m["finetune_sweep"])
    assert report.verdict(m) in ("stable", "none at this budget")
    assert m["family"] in report.label_sentence(m)
    report.sweep_figure(m)


def _sweep(family, rows, chosen=None):
    rows = [{"meta_steps": b, "noise_ceiling_nmi": c, "noise_ceiling_affinity_corr": 0.5, "theta_return": 1.0,
             "theta_return_normalised": r} for b, c, r in rows]
    return {"family": family, "meta_sweep": rows,
            "chosen_meta_steps": exp.best_meta_row(rows)["meta_steps"] if chosen is None else chosen}


def test_theta_stops_at_the_highest_ceiling_and_the_profile_is_checked():
    rows = [(5_000, 0.6, 0.5), (15_000, 1.0, 0.66), (50_000, 0.4, 1.0)]
    assert _sweep("planted", rows)["chosen_meta_steps"] == 15_000
    tie = [(5_000, 0.8, 0.5), (15_000, 0.8, 0.66)]
    assert _sweep("cartpole", tie)["chosen_meta_steps"] == 5_000
    assert "the profile uses it" in report.rule_sentence(_sweep("planted", rows), 15_000)
    assert "profile uses 50,000" in report.rule_sentence(_sweep("planted", rows), 50_000)


def test_overview_table_labels_every_family():
    planted = _sweep("planted", [(5_000, 0.6, 0.5), (15_000, 1.0, 0.66), (50_000, 0.4, 1.0)])
    planted.update({"finetune_sweep": [{"finetune_steps": 4096, "noise_ceiling_nmi": 1.0,
                                        "noise_ceiling_affinity_corr": 0.8}], "random_nmi": 0.3,
                    "random_nmi_std": 0.1, "plateau_finetune_steps": 4096})
    table = report.overview_table({"planted": planted, "cartpole": None}, {"planted": 15_000, "cartpole": 5_000})
    assert table.loc["planted", "label"] == "stable" and table.loc["cartpole", "label"] == "not computed"
    assert table.loc["planted", "θ* steps per task (rule)"] == "15,000"


def test_speedup_truth_is_fine_tuned_where_the_ceiling_stops_rising():
    """The method chapter's rule: the speedup chapter fine-tunes each family's truth for the budget where its
    stored `default` structure result's ceiling stops rising (the speedup's own budget where none is stored)."""
    from pgxlib.book import chapter_params
    from pgxlib.experiments import find_result
    from pgxlib.finetunes import FINETUNE_BUDGET

    runs = chapter_params("default")
    own = FINETUNE_BUDGET["default"]["finetune_steps"]
    checked = 0
    for family, params in runs["speedup"].items():
        stored = find_result("structure", "default", family, **runs["structure"][family]) \
            if family in runs["structure"] else None
        expected = own if stored is None else stored.metrics["plateau_finetune_steps"]
        assert params.get("finetune_steps", own) == expected, family
        checked += stored is not None
    assert checked == len(runs["structure"])  # every family with a structure result has a speedup page


def test_a_family_is_labelled_by_its_ceiling_where_it_stops_rising():
    sweep = [{"meta_steps": 5, "finetune_steps": f, "noise_ceiling_nmi": c, "noise_ceiling_affinity_corr": 0.5}
             for f, c in ((2, 0.6), (4, 0.7), (8, 0.9))]
    metrics = {"family": "x", "finetune_sweep": sweep, "plateau_finetune_steps": 8, "plateau_tol": 0.05,
               "meta_sweep": sweep[1:2], "repeats": 3, "random_nmi": 0.2, "random_nmi_std": 0.1}
    assert report.headline(metrics)["finetune_steps"] == 8 and report.verdict(metrics) == "stable"
    assert "fine-tuning 8 steps per task, the largest swept, where the ceiling is still rising" \
        in report.label_sentence(metrics)
    assert "where the ceiling stops rising" in report.label_sentence({**metrics, "plateau_finetune_steps": 4})
    assert "still rising at the largest" in report.plateau_sentence(metrics)
    assert report.verdict({**metrics, "plateau_finetune_steps": 4}) == "none at this budget"
    top = {**metrics, "finetune_sweep": [*sweep[:2], {**sweep[2], "noise_ceiling_nmi": 1.0}]}
    assert "reaches its maximum" in report.plateau_sentence(top)


def test_the_grid_is_doubled_while_the_ceiling_rises():
    sweep = [{"meta_steps": 5, "finetune_steps": f, "noise_ceiling_nmi": n, "noise_ceiling_affinity_corr": c}
             for f, n, c in ((2048, 0.53, 0.21), (4096, 0.37, 0.44), (8192, 0.20, 0.57))]
    metrics = {"family": "x", "finetune_sweep": sweep, "plateau_finetune_steps": 2048, "plateau_tol": 0.05}
    assert report.rising_at_largest(metrics) == ["affinity correlation"]
    flat = [*sweep[:2], {**sweep[2], "noise_ceiling_affinity_corr": 0.47}]
    assert report.rising_at_largest({**metrics, "finetune_sweep": flat}) == []
    solved = [*sweep[:2], {**sweep[2], "noise_ceiling_nmi": 1.0, "noise_ceiling_affinity_corr": 0.9}]
    assert report.rising_at_largest({**metrics, "finetune_sweep": solved}) == []
    capped = [{**r, "finetune_steps": r["finetune_steps"] * 2} for r in sweep]
    text = report.plateau_sentence({**metrics, "finetune_sweep": capped, "plateau_finetune_steps": 4096})
    assert "the grid's cap, its affinity correlation still rises" in text
    assert "cap" not in report.plateau_sentence(metrics)
    at_cap = [{**r, "finetune_steps": r["finetune_steps"] * 2, "noise_ceiling_nmi": n}
              for r, n in zip(sweep, (0.29, 0.53, 0.59))]
    rising = report.plateau_sentence({**metrics, "finetune_sweep": at_cap, "plateau_finetune_steps": 16384})
    assert rising.endswith("where it stops is not measured, as the grid stops at its cap.")
    highway = [{**r, "finetune_steps": f} for r, f in zip(sweep, (512, 1024, 2048))]
    capped = report.plateau_sentence({**metrics, "family": "highway", "finetune_sweep": highway,
                                      "plateau_finetune_steps": 512})
    assert "At 2,048 steps per task, the grid's cap for this family, its affinity correlation still rises" in capped
    assert report.grid_cap("highway") == 2048 and report.grid_cap("cartpole") == report.GRID_CAP


def test_a_single_theta_budget_says_the_rule_was_not_applied():
    one = _sweep("highway", [(8_000, 0.3, 1.0)])
    assert "only one budget was swept, 8,000 steps per task" in report.rule_sentence(one, 8_000)
    assert "the rule was not applied: the profile's own budget" in report.rule_sentence(one, 8_000)
    sweep = [{"meta_steps": 8_000, "finetune_steps": 1024, "noise_ceiling_nmi": 0.3,
              "noise_ceiling_affinity_corr": 0.2}]
    metrics = {**one, "finetune_sweep": sweep, "plateau_finetune_steps": 1024, "plateau_tol": 0.05, "repeats": 3,
               "random_nmi": 0.28, "random_nmi_std": 0.1}
    assert "θ* 8,000 steps per task, the only budget swept;" in report.label_sentence(metrics)


def test_every_structure_grid_follows_the_doubling_rule():
    """The method chapter's rule, on the stored `default` results the book shows: a grid whose ceiling still
    rises at its largest fine-tuning budget is doubled, up to the cap."""
    from pgxlib.book import chapter_params
    from pgxlib.experiments import find_result

    for family, params in chapter_params("default")["structure"].items():
        stored = find_result("structure", "default", family, **params)
        if stored is None:
            continue
        budgets = [r["finetune_steps"] for r in stored.metrics["finetune_sweep"]]
        assert not report.rising_at_largest(stored.metrics) or max(budgets) >= report.grid_cap(family), family
