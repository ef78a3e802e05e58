"""main_results: smoke run, parameter checks, the gradient-similarity features and helpers."""
import numpy as np
import pytest
import torch

from pgxlib.analysis.stats import seed_summary
from pgxlib.cluster import labels_key
from pgxlib.config import ConfigError
from pgxlib.estimate.gradient_similarity import gradient_similarity_labels, task_mean_gradients
from pgxlib.experiments import get, resolve, run_experiment
from pgxlib.methods import METHOD_NAMES, REFERENCE_METHODS
from pgxlib.store.cache import MemoryCache, StageView
from pgxlib.tasks import design_groups, make_family


@pytest.mark.slow
def test_smoke_run_has_every_method(store):
    res = run_experiment("main_results", "smoke", "cartpole", seeds=[0, 1])
    mod = get("main_results")
    assert all(res.has(k) for k in mod.EXPECTED_KEYS)
    methods = res.metrics["methods"]
    assert set(methods) == {*METHOD_NAMES, *REFERENCE_METHODS}
    assert res.metrics["references"] == list(REFERENCE_METHODS)
    n_targets = res.metrics["budget"]["n_targets"]
    for name in (*METHOD_NAMES, *REFERENCE_METHODS):
        entry = methods[name]
        assert entry["status"] == "measured"
        assert len(entry["seeds"]) == 2 and np.isclose(entry["mean"], np.mean(entry["seeds"]))
        assert np.isclose(entry["std"], np.std(entry["seeds"], ddof=1))
        after, before = res.arrays[f"after_{name}"], res.arrays[f"before_{name}"]
        assert after.shape == before.shape == (2, n_targets)
        assert np.allclose(np.ma.mean(after, axis=1), entry["seeds"])
        assert np.allclose(np.ma.mean(before, axis=1), entry["before"]["seeds"])
        assert res.arrays[f"curve_post_{name}"].shape[::2] == (2, 4)
    assert res.metrics["seeds"] == [0, 1]
    for name in ("multitask", "soft_modularization", "paco"):
        assert all(g == [[0, 1, 2, 3]] for g in res.metrics["groups"][name])
    family = make_family("cartpole", 4, 0)
    assert res.arrays["assigned"][0].tolist() == [family.nearest_source(t) for t in family.target[:n_targets]]
    assert all(len(g) == 2 for g in res.metrics["groups"]["policygradex"])
    assert "meta-RL" in res.metrics["protocol"]
    for s in (0, 1):
        assert res.arrays["labels_design_grouping"][s].tolist() == design_groups(make_family("cartpole", 4, s)).tolist()
    assert res.metrics["design_nmi"]["design_grouping"] == [1.0, 1.0]
    assert all(len(g) == 2 for g in res.metrics["groups"]["truth_grouping"])
    assert res.arrays["affinity_measured"].shape == (2, 4, 4)
    assert res.metrics["truth"]["score"] == "rollout" and res.metrics["truth"]["n_subsets"] == 8
    assert "truth_grouping" in res.metrics["design_nmi"]


@pytest.mark.parametrize("params, names", [
    ({"seeds": []}, ["seeds", "non-empty"]),
    ({"seeds": [0, 0]}, ["seeds", "distinct"]),
    ({"seeds": [-1]}, ["seeds"]),
    ({"seeds": "0"}, ["seeds"]),
    ({"k": 0}, ["k=0", "positive"]),
    ({"k": 5}, ["k=5", "1..4"]),
])
def test_check_rejects_bad_params(store, params, names):
    with pytest.raises(ConfigError) as err:
        resolve("main_results", "smoke", "cartpole", 0, **params)
    for name in names:
        assert name in str(err.value)
    assert not any(p.is_file() for p in store.rglob("*"))


def test_task_mean_gradients_by_hand():
    G = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [1.0, -1.0], [5.0, 5.0]])
    y = torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0])
    w = torch.tensor([2.0, 1.0, 0.5, 1.0, 3.0])
    tid = torch.tensor([0, 0, 1, 1, 1])
    mask = torch.tensor([True, True, True, True, False])  # the last one is held out
    out = task_mean_gradients(G, y, w, tid, mask, 3)
    expected = torch.tensor([[(2.0 * 1 + 0.0) / 2, (0.0 - 1.0) / 2],
                             [(1.0 + 1.0) / 2, (1.0 - 1.0) / 2],
                             [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(out, expected)


def test_gradient_similarity_groups_aligned_tasks():
    grads = np.array([[1.0, 0.0, 0.1], [0.9, 0.1, 0.0], [0.0, 1.0, 0.1], [0.1, 0.9, 0.0]])
    labels, sim = gradient_similarity_labels(grads, 2)
    assert labels.tolist() == [0, 0, 1, 1]
    assert np.allclose(np.diag(sim), 0) and np.allclose(sim, sim.T)


def test_helpers():
    assert seed_summary([1.0, 3.0]) == {"mean": 2.0, "std": pytest.approx(np.sqrt(2)), "seeds": [1.0, 3.0]}
    assert seed_summary([2.0])["std"] == 0.0
    assert seed_summary([1.0, None])["mean"] is None
    assert labels_key(np.array([0, 1, 0, 2])) == "0-1-0-2"
    parent = MemoryCache()
    view = StageView(parent, prefix="seed3-", rename={"shared": "shared"})
    assert view.get_or_compute("features", lambda: {"x": 1}) == {"x": 1}
    assert view.get_or_compute("shared", lambda: {"y": 2}) == {"y": 2}
    assert set(parent.values) == {"seed3-features", "shared"}
    assert set(view.times) == {"features", "shared"}


def test_tie_fractions_and_sentence():
    from pgxlib.report import main_results as report

    groups = {"multitask": [], "policygradex": []}
    after_a = np.ma.array([[1.0, 2.0, 3.0, 4.0]], mask=[[0, 0, 0, 1]])
    arrays = {"after_multitask": after_a, "before_multitask": after_a.copy(),
              "after_policygradex": np.array([[1.0, 2.0, 5.0, 9.0]]),
              "before_policygradex": np.array([[0.0, 2.0, 5.0, 9.0]])}
    ties = report.tie_fractions({"groups": groups}, arrays)
    assert ties["all_methods_equal"] == pytest.approx(2 / 3)
    assert ties["unchanged_by_adaptation"] == pytest.approx(6 / 7)
    assert "little information" in report.tie_sentence({"groups": groups}, arrays)
    arrays["after_policygradex"] = np.array([[7.0, 8.0, 5.0, 9.0]])
    text = report.tie_sentence({"groups": groups}, arrays)
    assert "little information" not in text and text.startswith("On 0% of")


def test_design_sentence_only_where_the_family_has_designed_groups():
    from pgxlib.report.main_results import design_sentence

    assert design_sentence({"family": "highway", "design_nmi": None}) == ""
    assert design_sentence({"family": "cartpole"}) == ""
    text = design_sentence({"family": "planted", "design_nmi": {"random_grouping": [0.25], "policygradex": [1.0]}})
    assert "PolicyGradEx 1.00" in text and "Random grouping 0.25" in text


def _synthetic_metrics(per_seed: dict[str, list[float]], family: str = "planted") -> dict:
    """A main result's metrics from per-seed scores; every method not given scores like multitask."""
    from pgxlib.analysis.stats import seed_summary

    base = per_seed["multitask"]
    names = (*METHOD_NAMES, *(m for m in ("truth_grouping", "design_grouping") if m in per_seed))
    methods = {m: {**seed_summary(per_seed.get(m, base)), "before": seed_summary(per_seed.get(m, base))}
               for m in names}
    return {"family": family, "methods": methods, "seeds": list(range(len(base))),
            "references": [m for m in ("truth_grouping", "design_grouping") if m in per_seed]}


def test_payoff_of_a_grouping_that_pays_and_the_share_policygradex_recovers():
    from pgxlib.report import payoff

    multitask = [-18.7, -18.3, -17.5, -18.0, -19.1, -17.9]
    design = [m + 8.0 + d for m, d in zip(multitask, (0.3, -0.2, 0.1, -0.4, 0.2, 0.0))]
    truth = [m + 5.0 for m in multitask]
    random = [m + 3.0 + d for m, d in zip(multitask, (0.5, -0.5, 0.2, -0.2, 0.1, -0.1))]
    ours = [m + 4.0 for m in multitask]
    metrics = _synthetic_metrics({"multitask": multitask, "random_grouping": random, "policygradex": ours,
                                  "truth_grouping": truth, "design_grouping": design})
    pay = payoff.grouping_payoff(metrics)
    assert pay.best == "design_grouping"
    assert pay.over_multitask.gap == pytest.approx(8.0) and pay.over_multitask.interval[0] > 7.5
    assert pay.over_random.gap == pytest.approx(5.0)
    assert pay.recovered == pytest.approx(0.5) and pay.note == ""
    text = payoff.payoff_sentence(metrics)
    assert "designed groups" in text and "50% of the best grouping's gain" in text
    table = payoff.payoff_table(metrics)
    assert list(table.index) == ["Designed groups − multitask", "Designed groups − random grouping",
                                 "PolicyGradEx − multitask"]
    assert table["seeds"].tolist() == [6, 6, 6]


def test_policygradex_against_each_baseline_is_read_on_the_paired_interval():
    from pgxlib.report import main_results as report

    multitask = [-18.7, -18.3, -17.5, -18.0, -19.1, -17.9]
    ours = [m + 3.0 + d for m, d in zip(multitask, (0.2, -0.1, 0.3, -0.2, 0.1, 0.0))]
    random = [o + d for o, d in zip(ours, (1.0, -1.0, 0.5, -0.5, 0.8, -0.8))]  # the same mean, seed by seed
    gradient = [o + 5.0 for o in ours]
    metrics = _synthetic_metrics({"multitask": multitask, "policygradex": ours, "random_grouping": random,
                                  "gradient_similarity_grouping": gradient, "soft_modularization": multitask,
                                  "paco": multitask})
    table = report.improvements(metrics)
    assert table.loc["Multi-task training", "reading"] == "above the baseline"
    assert table.loc["Random grouping", "reading"] == "not told apart from the baseline"
    assert table.loc["Gradient-similarity grouping", "reading"] == "below the baseline"
    assert table.loc["Gradient-similarity grouping", "PolicyGradEx − baseline [95% interval]"] == \
        "-5 [-5, -5], 0/6 seeds ahead"
    sentence = report.main_sentence(metrics)
    assert "above Multi-task training (+3.05 return [" in sentence and "6/6 seeds ahead" in sentence
    assert "below Gradient-similarity grouping (-5 return [-5, -5], 0/6 seeds ahead)" in sentence
    assert "not told apart from Random grouping" in sentence and "seed std" not in sentence


def test_payoff_notes_a_gain_that_covers_zero_and_results_without_references():
    from pgxlib.report import payoff

    multitask = [10.0, 12.0, 9.0, 11.0, 10.5]
    truth = [12.0, 10.0, 11.5, 9.0, 11.0]
    metrics = _synthetic_metrics({"multitask": multitask, "truth_grouping": truth,
                                  "policygradex": [10.5, 12.0, 9.5, 11.0, 10.0]}, family="highway")
    pay = payoff.grouping_payoff(metrics)
    assert pay.best == "truth_grouping" and pay.over_multitask.interval[0] < 0 < pay.over_multitask.interval[1]
    assert "not told apart from 0" in pay.note and "Note:" in payoff.payoff_sentence(metrics)
    worse = _synthetic_metrics({"multitask": multitask, "truth_grouping": [m - 1.0 for m in multitask],
                                "policygradex": [m - 2.0 for m in multitask]}, family="highway")
    pay = payoff.grouping_payoff(worse)
    assert pay.recovered is None and "no gain to recover" in pay.note and "% of the best" not in \
        payoff.payoff_sentence(worse)
    two = _synthetic_metrics({"multitask": [1.0, 2.0], "truth_grouping": [3.0, 5.0], "policygradex": [2.0, 3.5]})
    pay = payoff.grouping_payoff(two)
    assert pay.recovered == pytest.approx(0.5) and "2 seeds give no interval" in pay.note
    old = _synthetic_metrics({"multitask": multitask})
    assert payoff.grouping_payoff(old) is None and payoff.payoff_sentence(old) == "" and payoff.payoff_table(old) is None


def test_reference_rows_stand_apart_in_the_table_and_chart():
    import matplotlib.pyplot as plt

    from pgxlib.report import main_results as report

    multitask = [1.0, 2.0, 3.0]
    metrics = _synthetic_metrics({"multitask": multitask, "truth_grouping": [2.0, 3.0, 4.5],
                                  "design_grouping": [3.0, 4.0, 5.0]}, family="nav2d")
    table = report.main_table(metrics)
    assert list(table.index[-2:]) == ["reference: Truth grouping (measured affinity)", "reference: Designed groups"]
    assert list(table.index[:-2]) == list(report.LABELS.values())
    html = report.styled_table(table, metrics).to_html()
    css = html.split("</style>")[0]
    assert "color: grey" in css and "border-top: 2px solid grey" in css and "nth-child(7)" in css
    assert "_row6_col0" in css and "_row7_col0" in css and "_row5_col0" not in css
    fig = report.main_bar_chart(metrics)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[-2:] == ["Truth grouping (measured affinity)\n(reference)", "Designed groups\n(reference)"]
    plt.close(fig)


@pytest.mark.slow
def test_a_new_seed_reuses_the_trainings_of_the_old_ones(store):
    first = run_experiment("main_results", "smoke", "cartpole", seeds=[0])
    second = run_experiment("main_results", "smoke", "cartpole", seeds=[0, 1])
    old, new = first.meta["stage_times"], second.meta["stage_times"]
    reused = [k for k in old if k.startswith(("seed0-finetune", "seed0-metarl-", "seed0-meta_train-"))]
    assert any(k.startswith("seed0-finetune") for k in reused) and len(reused) >= 6
    assert all(new[k] == old[k] for k in reused)  # loaded from the shared stores with the time of their computing
    assert second.metrics["per_seed"][0] == first.metrics["per_seed"][0]


def test_the_truth_of_every_chapter_is_fine_tuned_for_the_family_s_structure_budget():
    """One θ* story: the main results' truth_grouping and the speedup chapter's truth fine-tune θ* for the same
    per-family budget (`finetunes.FAMILY_FINETUNE_STEPS`), the one the structure chapter chose."""
    from pgxlib.book import chapter_params
    from pgxlib.experiments.main_results import finetune_steps
    from pgxlib.finetunes import FAMILY_FINETUNE_STEPS
    from pgxlib.profiles import pipeline_config

    speedup = chapter_params("default")["speedup"]
    for family, steps in FAMILY_FINETUNE_STEPS["default"].items():
        assert finetune_steps("default", pipeline_config("default", family)) == steps
        assert speedup[family]["finetune_steps"] == steps, family


def test_the_best_of_two_references_is_read_on_a_bonferroni_interval():
    from pgxlib.analysis.verdicts import paired_interval
    from pgxlib.report import payoff

    noise = [1.0, -1.0, 0.5, -0.5, 0.8, -0.8, 0.3, -0.3, 0.0, 0.0]
    multitask = [10.0, 10.4, 9.6, 10.1, 9.9, 10.2, 9.8, 10.3, 9.7, 10.0]
    design = [m + 0.42 + e for m, e in zip(multitask, noise)]
    truth = [m - 1.0 for m in multitask]
    ours = [m + 0.2 for m in multitask]
    unadjusted = paired_interval(design, multitask)
    assert unadjusted.interval[0] > 0  # what the selected best's 95% interval would claim
    both = _synthetic_metrics({"multitask": multitask, "policygradex": ours, "truth_grouping": truth,
                               "design_grouping": design})
    pay = payoff.grouping_payoff(both)
    assert pay.best == "design_grouping" and pay.over_multitask.confidence == pytest.approx(0.975)
    assert pay.over_multitask.interval[0] < 0 < pay.over_multitask.interval[1]
    assert pay.over_random.confidence == pytest.approx(0.975) and pay.policygradex_over_multitask.confidence == 0.95
    assert "not told apart from 0" in pay.note and "best of 2 references; 97.5% interval, Bonferroni" in pay.note
    text = payoff.payoff_sentence(both)
    assert "(paired over seeds: mean [interval]; best of 2 references; 97.5% interval, Bonferroni)" in text
    table = payoff.payoff_table(both)
    assert table["interval"].tolist() == ["best of 2 references; 97.5% interval, Bonferroni"] * 2 + ["95% interval"]
    # one reference: nothing is selected, its 95% interval is unchanged and tells the gain apart from 0
    one = _synthetic_metrics({"multitask": multitask, "policygradex": ours, "design_grouping": design})
    pay = payoff.grouping_payoff(one)
    assert pay.over_multitask.confidence == 0.95 and pay.over_multitask.interval == unadjusted.interval
    assert pay.note == "" and "Bonferroni" not in payoff.payoff_sentence(one)
    assert payoff.payoff_table(one)["interval"].tolist() == ["95% interval"] * 3


def test_the_papers_relative_gain_is_not_taken_on_a_negative_return(monkeypatch):
    from pgxlib.report import main_results as report

    multitask = [-18.7, -18.3, -17.5, -18.0, -19.1, -17.9]
    metrics = _synthetic_metrics({"multitask": multitask, "policygradex": [m + 3.0 for m in multitask]},
                                 family="cartpole")
    paper = {"policygradex": 10.0, "multitask": -20.0, "paco": 8.0}
    monkeypatch.setattr(report, "paper_value", lambda method, family: paper.get(method))
    table = report.improvements(metrics)
    assert table.loc["Multi-task training", "paper's relative gain %"] == "–"  # (10 − (−20)) / |−20| was +150%
    assert table.loc["PaCo", "paper's relative gain %"] == "+25.0"
    assert table.loc["Random grouping", "paper's relative gain %"] == "–"  # no paper number


def test_the_start_is_marked_where_the_task_parameters_are_a_goal():
    import matplotlib.pyplot as plt

    from pgxlib.report import main_results as report

    arrays = {"source_params": np.array([[0.5, 0.5], [-0.5, 0.2], [0.1, -0.7]]),
              "target_params": np.array([[0.4, 0.6], [-0.3, -0.2]]),
              "labels_policygradex": np.array([[0, 1, 1]]), "target_group_policygradex": np.array([[0, 1]]),
              "after_policygradex": np.array([[-3.0, -4.0]])}

    def legend(metrics):
        fig = report.target_scatter(metrics, arrays)
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        plt.close(fig)
        return labels

    goals = {"family": "anything", "seeds": [0], "param_names": ["goal_x", "goal_y", "rotation_deg"]}
    assert "start" in legend(goals)
    physics = {"family": "nav2d", "seeds": [0], "param_names": ["gravity", "masscart"]}  # the name decides nothing
    assert "start" not in legend(physics)
