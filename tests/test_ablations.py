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


def test_ablation_overview_on_one_scale_and_told_apart_on_paired_seeds():
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
    assert summary.loc["number of groups k", "best value above the reference (paired interval)"] == \
        "one seed: no interval"
    # results of older code lack the projection knob: left out, not an error
    assert report.knob_effects(results, stds, "projection") == {}
    assert report.ablation_overview(results, stds, "projection").empty
    assert summary.loc["gradient projection", "best value above the reference (paired interval)"] == \
        "one seed: no interval"
    paired = {"a": {**results["a"], "k": {"values": [1, 2], "scores": [12.0, 10.0], "reference": 2, "by_value": {
        "1": {"score": 12.0, "seeds": [12.0, 12.5, 11.5, 12.2, 11.8]},
        "2": {"score": 10.0, "seeds": [10.0, 10.4, 9.6, 10.1, 9.9]}}}}}
    assert report.told_apart(paired["a"], "k") is True
    got = report.ablation_summary(paired, stds)
    assert got.loc["number of groups k", "best value above the reference (paired interval)"] == "1 of 1 families"


def test_chapter_runs():
    from pgxlib.book import chapter_runs

    assert {p["family"] for p in chapter_runs("ablations", "default")} == {"cartpole", "lunarlander", "highway",
                                                                          "nav2d", "planted"}
    with pytest.raises(KeyError, match="no chapter"):
        chapter_runs("nope", "default")


@pytest.mark.slow
def test_k_and_strategy_run_on_paired_seeds_and_reuse_the_shared_trainings(store):
    from pgxlib.store.results import runs_root

    cheap = dict(ks=[1, 2], proj_dims=[32], projections=["gaussian"], n_subsets=[8], subset_sizes=[2], depths=[2],
                 train_sweeps=False)
    main = run_experiment("main_results", "smoke", "cartpole", seeds=[0, 1]).metrics["per_seed"][1]["after"]
    shared = runs_root() / "metarl_policies" / "cartpole"

    def seed1_trainings() -> dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in shared.rglob("*.pt") if "cartpole-seed1-" in p.name}

    by_main = seed1_trainings()
    res = run_experiment("ablations", "smoke", "cartpole", paired_seeds=[0, 1], **cheap)
    m = res.metrics
    # where the main results trained the same thing on seed 1 (same θ*, same groups), it is read, not retrained
    assert {n: t for n, t in seed1_trainings().items() if n in by_main} == by_main
    for knob, value, method in (("k", "1", "multitask"), ("strategy", "sdp", "policygradex"),
                                ("strategy", "random", "random_grouping"),
                                ("strategy", "gradient_similarity", "gradient_similarity_grouping")):
        assert m[knob]["by_value"][value]["seeds"][1] == pytest.approx(main[method]), (knob, value)
    assert m["paired_seeds"] == [0, 1]
    for knob in ("k", "strategy"):
        for v, entry in m[knob]["by_value"].items():
            seeds = entry["seeds"]
            assert len(seeds) == 2 and all(isinstance(x, float) for x in seeds), (knob, v)
            assert entry["score"] == pytest.approx(sum(seeds) / 2)
        assert m[knob]["scores"] == [m[knob]["by_value"][str(v)]["score"] for v in m[knob]["values"]]
    # seed 0 is the seed of the rows; the SDP strategy is the reference k on every seed
    assert m["strategy"]["by_value"]["sdp"]["seeds"][0] == m["reference"]["score"]
    assert m["strategy"]["by_value"]["sdp"]["seeds"] == m["k"]["by_value"]["2"]["seeds"]
    assert m["k"]["by_value"]["1"]["seeds"][1] is not None and "seed1" in res.meta["stage_times"]
    # the other knobs stay on seed 0
    assert "seeds" not in m["proj_dim"]["by_value"]["32"] and "seeds" not in m["depth"]["by_value"]["2"]
    # every meta-RL training of seed 1 is in the shared store: another run trains nothing new on it
    before = seed1_trainings()
    again = run_experiment("ablations", "smoke", "cartpole", paired_seeds=[0, 1], **{**cheap, "depths": [3]})
    assert seed1_trainings() == before
    assert again.metrics["k"]["by_value"]["1"]["seeds"] == m["k"]["by_value"]["1"]["seeds"]


def test_paired_seeds_default_and_checks():
    from pgxlib.experiments.ablations import DEFAULT_PAIRED_SEEDS, resolve_paired_seeds
    from pgxlib.experiments.main_results import PARAMETERS as MAIN

    assert resolve_paired_seeds("smoke") == [0]
    assert resolve_paired_seeds("default") == DEFAULT_PAIRED_SEEDS == MAIN["seeds"]
    assert resolve_paired_seeds("default", [3, 0, 1]) == [0, 1, 3]
    for bad in ([1, 2], [0, 0], [], [-1, 0]):
        with pytest.raises(ConfigError, match="paired_seeds"):
            resolve_paired_seeds("default", bad)


def test_knob_table_and_sentence_show_the_paired_seeds():
    from pgxlib.report import ablations as report

    rows = [{"groups": [[0, 1, 2, 3]], "nmi": 0.0, "score": 10.0, "success": None},
            {"groups": [[0, 2], [1, 3]], "nmi": 1.0, "score": 12.0, "success": None}]
    metrics = {"seed": 0, "paired_seeds": [0, 1],
               "k": {"values": [1, 2], "rows": rows, "success": [None, None], "nmi": [0.0, 1.0], "reference": 2,
                     "scores": [11.0, 9.0], "by_value": {"1": {"score": 11.0, "seeds": [10.0, 12.0]},
                                                         "2": {"score": 9.0, "seeds": [12.0, 6.0]}}}}
    table = report.knob_table(metrics, "k")
    assert list(table["target return after adaptation, seed 0"]) == ["10.0", "12.0"]
    assert list(table["mean over 2 seeds"]) == ["11.0", "9.000"] and table.iloc[1]["per seed"] == "12.0, 6.000"
    assert report.knob_sentence(metrics, "k").startswith("Best target return after adaptation at k=1 (11.0)")
    assert report.seed_scores(metrics, "k", 2) == [12.0, 6.0]
    old = {"seed": 0, "k": {**metrics["k"], "by_value": {"1": {"score": 10.0}, "2": {"score": 12.0}}}}
    assert report.paired_seeds(old) == [0] and report.seed_scores(old, "k", 1) == [10.0]
    assert "target return after adaptation" in report.knob_table(old, "k").columns


def test_knob_summary_is_one_row_per_knob_with_its_best_value_against_the_reference():
    from pgxlib.report import ablations as report

    def knob(values, scores, reference, nmis):
        return {"values": values, "reference": reference, "nmi": nmis,
                "by_value": {str(v): {"score": s} for v, s in zip(values, scores)}}

    metrics = {"k": knob([1, 2, 3], [12.0, 10.0, None], 2, [0.0, 1.0, 0.5]),
               "strategy": knob(["sdp", "random"], [10.0, 9.0], "sdp", [1.0, 0.2]),
               "depth": knob([2, 4], [None, None], 4, [0.3, 1.0])}
    summary = report.knob_summary(metrics, std=0.5)
    assert list(summary.index) == ["number of groups k", "policy depth (hidden layers)", "grouping strategy"]
    assert summary.shape == (3, 6)
    k = summary.loc["number of groups k"]
    assert (k["reference"], k["best value"], k["best − reference"]) == ("2", "1", "2.000 (+4.0σ, 1 seed)")
    assert k["NMI vs reference"] == "0.00–1.00"
    assert summary.loc["grouping strategy", "best value"] == "loss-based SDP"  # the reference itself is best
    assert summary.loc["policy depth (hidden layers)", "best − reference"] == "–"  # nothing trained
    assert report.knob_summary(metrics)["best − reference"].iloc[0] == "2.000 (1 seed)"
    text = report.knob_summary_sentence(metrics, std=0.5)
    assert text.startswith("The largest gain over the reference configuration comes from the number of groups k at 1")
    assert "number of groups k, grouping strategy ran on one seed, so their gains have no interval (σ = 0.5" in text
    # the k knob on five paired seeds: its gap is read on the paired interval, not in seed stds
    metrics["k"]["by_value"] = {"1": {"score": 12.0, "seeds": [12.0, 13.0, 11.0, 12.5, 11.5]},
                                "2": {"score": 10.0, "seeds": [10.0, 11.2, 8.8, 10.4, 9.6]},
                                "3": {"score": None, "seeds": [None] * 5}}
    paired = report.knob_summary(metrics, std=0.5).loc["number of groups k", "best − reference"]
    assert paired.startswith("+2 [") and paired.endswith(", 5 seeds") and "σ" not in paired
    text = report.knob_summary_sentence(metrics, std=0.5)
    assert "on paired seeds, number of groups k gains with an interval clear of 0" in text
    assert "grouping strategy ran on one seed, so its gain has no interval" in text


def _selected_metrics(values, best_gap):
    """A k knob on 10 paired seeds: value 1 is best, `best_gap` + a fixed noise above the reference 3 per seed, the
    other values of `values` one below it."""
    noise = [1.0, -1.0, 0.5, -0.5, 0.8, -0.8, 0.3, -0.3, 0.0, 0.0]
    ref = [10.0, 10.4, 9.6, 10.1, 9.9, 10.2, 9.8, 10.3, 9.7, 10.0]
    seeds = {1: [r + best_gap + e for r, e in zip(ref, noise)], 3: ref}
    by_value = {str(v): {"score": sum(s) / len(s), "seeds": s}
                for v in values for s in [seeds.get(v, [r - 1.0 for r in ref])]}
    k = {"values": list(values), "reference": 3, "nmi": [1.0] * len(values),
         "scores": [by_value[str(v)]["score"] for v in values], "by_value": by_value}
    return {"reference": {"score": by_value["3"]["score"]}, "paired_seeds": list(range(10)), "k": k}


def test_the_best_of_several_knob_values_is_read_on_a_bonferroni_interval():
    from pgxlib.report import ablations as report
    from pgxlib.report.main_results import versus

    # best of 4 values (1, 2, 4, 5 against the reference 3): its unadjusted 95% interval clears 0, the 98.75% does not
    metrics = _selected_metrics([1, 2, 3, 4, 5], 0.42)
    assert report.candidates(metrics, "k") == 4
    k = metrics["k"]["by_value"]
    unadjusted = versus(k["1"]["seeds"], k["3"]["seeds"])
    assert unadjusted.confidence == 0.95 and unadjusted.interval[0] > 0
    gap = report.knob_gap(metrics, "k", "1")
    assert gap.confidence == pytest.approx(0.9875) and gap.interval[0] < 0 < gap.interval[1]
    assert gap.gap == pytest.approx(unadjusted.gap)
    assert report.told_apart(metrics, "k") is False
    summary = report.ablation_summary({"a": metrics}, {"a": 1.0})
    assert summary.loc["number of groups k", "best value above the reference (paired interval)"] == \
        "0 of 1 families (best of 4 values; 98.75% interval, Bonferroni)"
    cell = report.knob_summary(metrics).loc["number of groups k", "best − reference"]
    assert cell.endswith(", 10 seeds (best of 4 values; 98.75% interval, Bonferroni)")
    assert "the best value's interval at 1 − 0.05/m" in report.knob_summary_sentence(metrics)
    assert "no knob (number of groups k) gains" in report.knob_summary_sentence(metrics)
    # one candidate: nothing is selected, the 95% interval is unchanged and tells the gap apart
    single = _selected_metrics([1, 3], 0.42)
    assert report.candidates(single, "k") == 1
    gap = report.knob_gap(single, "k", "1")
    assert gap.confidence == 0.95 and gap.interval == unadjusted.interval
    assert report.told_apart(single, "k") is True
    assert report.ablation_summary({"a": single}, {"a": 1.0}).loc[
        "number of groups k", "best value above the reference (paired interval)"] == "1 of 1 families"
    cell = report.knob_summary(single).loc["number of groups k", "best − reference"]
    assert cell.endswith(", 10 seeds") and "Bonferroni" not in cell
    assert "1 − 0.05/m" not in report.knob_summary_sentence(single)


def test_selected_confidence_keeps_the_family_wise_level():
    from pgxlib.report.main_results import selected_confidence, selection_text

    assert selected_confidence(1) == 0.95 and selected_confidence(4) == pytest.approx(0.9875)
    assert selection_text(1) == "95% interval"
    assert selection_text(4) == "best of 4 values; 98.75% interval, Bonferroni"
    assert selection_text(2, "references") == "best of 2 references; 97.5% interval, Bonferroni"
    with pytest.raises(ValueError, match="candidates"):
        selected_confidence(0)


def test_seeds_where_every_value_scores_the_same_are_named():
    from pgxlib.report import ablations as report

    def knob(values, per_value):
        return {"values": values, "by_value": {str(v): {"score": sum(s) / len(s), "seeds": s}
                                               for v, s in zip(values, per_value)}}

    metrics = {"seed": 0, "paired_seeds": [0, 1, 2],
               "k": knob([1, 2], [[10.0, 9.5, 7.0], [11.0, 9.5, 7.0]]),
               "strategy": knob(["sdp", "random"], [[11.0, 9.5, 7.0], [10.5, 9.5, 7.5]])}
    assert report.uninformative_seeds(metrics) == [1]
    metrics["k"]["by_value"]["2"]["seeds"][1] = None  # an untrained value does not break a tie
    assert report.uninformative_seeds(metrics) == [1]
    assert report.uninformative_seeds({"seed": 0, "k": knob([1, 2], [[3.0], [3.0]])}) == []  # one seed: nothing paired
