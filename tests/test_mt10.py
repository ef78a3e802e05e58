"""Meta-World MT10 under the multi-objective protocol: the family's goals, the main results and the k ablation."""
import numpy as np
import pytest

from pgxlib.config import ConfigError
from pgxlib.profiles import pipeline_config
from pgxlib.experiments import resolve, run_experiment
from pgxlib.methods import GROUP_ARCH, MULTI_OBJECTIVE_METHODS, SINGLE_POLICY_ARCH
from pgxlib.report import mt10 as report

pytestmark = pytest.mark.metaworld


@pytest.fixture(scope="module")
def mt10_store(tmp_path_factory):
    """One temporary store for the MT10 smoke runs, so that they share one θ* (half a minute to train)."""
    root = tmp_path_factory.mktemp("mt10")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PGX_RESULTS", str(root / "results"))
        patch.setenv("PGX_RUNS", str(root / "runs"))
        patch.setenv("PGX_PROGRESS", "0")
        yield root


def _tasks_of(env):
    while not hasattr(env, "tasks"):
        env = env.env
    return env.tasks


def test_source_envs_have_the_goals_of_the_mt10_benchmark_seed():
    import gymnasium as gym
    import metaworld  # noqa: F401

    from pgxlib.tasks import make_family

    family = make_family("metaworld", 10, seed=3)
    reference = gym.make_vec("Meta-World/MT10", vector_strategy="sync", seed=3)
    for index in (1, 7):
        ours, theirs = _tasks_of(family.make_env(family.source[index])), _tasks_of(reference.envs[index])
        assert [t.env_name for t in ours] == [t.env_name for t in theirs] and len(ours) == 50
        assert [t.data for t in ours] == [t.data for t in theirs]
    env = family.make_env(family.source[1])
    first = [env.reset(seed=s)[0] for s in (4, 4, 5)]
    assert np.array_equal(first[0], first[1]) and not np.array_equal(first[0], first[2])  # reset(seed) is honoured


@pytest.mark.slow
def test_smoke_main_results_on_mt10_is_the_multi_objective_protocol(mt10_store):
    res = run_experiment("main_results", "smoke", "metaworld", seeds=[0])
    m, a = res.metrics, res.arrays
    assert list(m["methods"]) == list(MULTI_OBJECTIVE_METHODS) and "multi-objective" in m["protocol"]
    n = len(m["tasks"])
    for method, entry in m["methods"].items():
        assert entry["arch"] == SINGLE_POLICY_ARCH.get(method, GROUP_ARCH)
        assert 0.0 <= entry["success"]["mean"] <= 1.0 and entry["mean"] == entry["success"]["mean"]
        assert a[f"success_{method}"].shape == (1, n)
        assert np.isclose(np.ma.mean(a[f"success_{method}"]), entry["success"]["mean"])
        assert a[f"curve_success_{method}"].shape == (1, len(a["curve_steps"]), n)
        groups = m["groups"][method][0]
        assert sorted(i for g in groups for i in g) == list(range(n))
        assert len(groups) == (1 if method in SINGLE_POLICY_ARCH else 2)
    cfg = pipeline_config("smoke", "metaworld")
    assert a["curve_steps"].tolist() == [500.0, 1000.0] == [500.0 * (i + 1) for i in range(cfg.group_ppo.iterations)]
    env = m["env"]
    assert (env["reward_function_version"], env["max_episode_steps"], env["use_one_hot"]) == ("v2", 500, False)
    assert env["benchmark_seed"] == 0 and env["mt10_names"][0] == "reach-v3"
    assert m["throughput"]["stepping"]["env_steps_per_second"] > 0
    assert all(t["ppo_env_steps_per_second"] > 0 for t in m["throughput"]["ppo"].values())

    abl = run_experiment("ablations", "smoke", "metaworld")
    knob = abl.metrics["k"]
    assert knob["values"] == [1, 2, 3, 4] and [len(g) for g in knob["groups"]] == [1, 2, 3, 4]
    # k = 1 is the Soft Modularization baseline and the profile's k is PolicyGradEx: the same trained policies
    assert knob["rows"][0]["per_task_success"] == list(a["success_soft_modularization"][0])
    assert knob["rows"][1]["per_task_success"] == list(a["success_policygradex"][0])

    table = report.main_table(m)
    assert list(table.index) == list(report.LABELS.values())
    assert table.loc["PolicyGradEx", "paper: success %"] == "94.0%" and table.loc["CARE", "paper: success %"] == "84.0%"
    assert len(report.throughput_table(m)) == 1 + len(MULTI_OBJECTIVE_METHODS)
    assert report.per_task_table(m, a).shape == (n, 1 + len(MULTI_OBJECTIVE_METHODS))
    assert list(report.k_table(abl.metrics)["paper: success %"]) == ["71.0%", "89.5%", "94.0%", "95.1%"]
    assert "PolicyGradEx's mean success is" in report.main_sentence(m)


def test_mt10_ablation_rejects_a_k_beyond_the_tasks(store):
    with pytest.raises(ConfigError, match="ks"):
        resolve("ablations", "smoke", "metaworld", 0, ks=[1, 5])


@pytest.mark.slow
def test_smoke_first_order_error_and_speedup_run_on_mt10(mt10_store):
    """Issue 13's first-order and speedup measurements on MT10 go through the generic experiments, scored
    by success as well as return (the family reports success)."""
    fo = run_experiment("first_order_error", "smoke", "metaworld", n_directions=2, distances=[0.001, 0.01])
    err, paper_err = fo.metrics["relative_error_pct"], fo.metrics["paper_definition_error_pct"]
    assert len(err) == len(paper_err) == 2 and set(fo.metrics["logp"]) == {"surrogate", "random"}
    assert all(np.isfinite(x) and x >= 0 for x in (*err.values(), *paper_err.values()))

    sp = run_experiment("speedup", "smoke", "metaworld", depths=[2], n_subsets=4, finetune_steps=500,
                        repeats=2, n_jobs=1)
    m = sp.metrics
    assert set(m["by_score"]) == {"rollout", "ppo", "success", "logistic"}
    assert m["budget"]["finetune_steps_per_task"] == 500 and m["budget"]["repeats"] == 2
    assert sp.arrays["members"].shape == (m["budget"]["n_subsets"], pipeline_config("smoke", "metaworld").n_tasks)
    assert -1.0 <= m["noise_ceiling_nmi"] <= 1.0 and m["speedup"] > 0
    assert report.structure_sentence(m).startswith("Is there a structure to find?")


def _success(seeds):
    std = float(np.std(seeds, ddof=1)) if len(seeds) > 1 else 0.0
    return {"success": {"mean": float(np.mean(seeds)), "std": std, "seeds": list(seeds)}}


def test_main_sentence_reads_each_baseline_on_the_paired_interval_and_orders_only_distinct_means():
    tied = {"methods": {key: _success([0.0, 0.0, 0.0]) for key in report.LABELS}}
    sentence = report.main_sentence(tied)
    assert "3 seeds" in sentence and "not told apart from Multi-task training (+0 points [+0, +0], 0/3 seeds ahead)" in sentence
    assert "no order" in sentence and "below" not in sentence and "seed std" not in sentence

    seeds = {"care": [0.5, 0.7, 0.6], "paco": [0.0, 0.0, 0.0], "policygradex": [0.2, 0.4, 0.3]}
    behind = {"methods": {key: _success(seeds.get(key, [0.1, 0.1, 0.1])) for key in report.LABELS}}
    sentence = report.main_sentence(behind)
    assert "below CARE (-30 points [-30, -30], 0/3 seeds ahead)" in sentence  # the same gap on every seed
    assert "above Multi-task training (+20 points [" in sentence and "3/3 seeds ahead)" in sentence
    assert "is below a baseline at this budget" in sentence and "Our order (best first): CARE, PolicyGradEx" in sentence
    one = report.main_sentence({"methods": {key: _success([0.3]) for key in report.LABELS}})
    assert "(1 seed;" in one and "no interval from 1 seed)" in one


def test_k_sentence_names_the_best_k_or_the_ks_that_tie():
    def knob(successes):
        return {"k": {"values": [1, 2, 3, 4], "rows": [{"success": s} for s in successes]}}

    assert report.k_sentence(knob([0.5, 0.8, 0.9, 0.85])).startswith("Our best k is 3 (90.0% success, one seed).")
    assert "From k=1 to k=3 success rises (50.0% → 90.0%)" in report.k_sentence(knob([0.5, 0.8, 0.9, 0.85]))
    tied = report.k_sentence(knob([0.0, 0.0, 0.0, 0.0]))
    assert tied.startswith("k = 1, 2, 3 and 4 tie for best (0.0% success") and "does not rise" in tied


def test_k_table_and_sentence_read_the_mean_over_paired_seeds():
    per_seed = {"1": [0.5, 0.3, 0.4], "2": [0.8, 0.2, 0.2], "3": [0.6, 0.6, 0.9], "4": [0.5, 0.5, 0.5]}
    metrics = {"seed": 0, "paired_seeds": [0, 1, 2],
               "k": {"values": [1, 2, 3, 4],
                     "rows": [{"success": v[0], "groups": [[0, 1]]} for v in per_seed.values()],
                     "by_value": {k: {"score": float(np.mean(v)), "seeds": v} for k, v in per_seed.items()}}}
    sentence = report.k_sentence(metrics)
    assert sentence.startswith("Our best k is 3 (70.0% success, mean over 3 seeds).")
    table = report.k_table(metrics)
    assert list(table["ours: success % (seed 0)"]) == ["50.0", "80.0", "60.0", "50.0"]
    assert table.loc[2, "ours: mean over 3 seeds"] == "40.0" and table.loc[2, "ours: per seed"] == "80.0, 20.0, 20.0"


def test_budget_sentence_says_when_success_cannot_show_and_compares_returns_as_ratios():
    def entry(success, returns):
        return {**_success(success), "returns": {"mean": float(np.mean(returns)), "std": float(np.std(returns, ddof=1)),
                                                 "seeds": list(returns)}}

    methods = {key: entry([0.1, 0.1], [400.0, 600.0]) for key in report.LABELS}
    methods["policygradex"] = entry([0.2, 0.0], [900.0, 1100.0])
    low = report.budget_sentence({"methods": methods, "budget": {"group_steps_per_task": 150_000}})
    assert "150,000 environment steps per task" in low and "2,000,000 (13× ours)" in low
    assert "best mean success here is 10.0%" in low and "from 58.2% to 94.0%" in low
    assert "neither confirm nor refute" in low
    assert "Multi-task training 2.00× (+500 return (no interval from 2 seeds), 2/2 seeds ahead)" in low

    methods = {key: entry([0.6, 0.8], [0.0, 0.0]) for key in report.LABELS}
    high = report.budget_sentence({"methods": methods, "budget": {"group_steps_per_task": 2_000_000}})
    assert "(1× ours)" in high and "neither confirm" not in high and "CARE (mean return 0)" in high
    methods = {key: entry([0.0, 0.0], [1.0, 2.0]) for key in report.LABELS}
    none = report.budget_sentence({"methods": methods, "budget": {"group_steps_per_task": 1000}})
    assert "No method succeeds in any evaluation episode here" in none and "neither confirm" in none


def test_repeated_groups_sentence_compares_a_group_trained_with_another_seed_only():
    rows = [{"groups": [[0, 1, 2]], "per_task_success": [0.1, 0.0, 1.0]},
            {"groups": [[0], [1, 2]], "per_task_success": [0.1, 0.0, 1.0]},
            {"groups": [[0], [2], [1]], "per_task_success": [0.1, 0.0, 0.0]}]
    metrics = {"k": {"values": [1, 2, 3], "rows": rows}}
    text = report.repeated_groups_sentence(metrics, ["reach", "push", "drawer-close"])
    assert "tasks push, drawer-close" not in text  # trained once
    assert "tasks reach at k=2 and k=3" not in text  # the same index, hence the same seed
    four = [{"groups": [[0, 3], [1, 2]], "per_task_success": [0.1, 0.0, 1.0, 0.0]},
            {"groups": [[0], [3], [1, 2]], "per_task_success": [0.1, 0.0, 0.0, 0.0]}]
    repeated = {"k": {"values": [2, 3], "rows": four}}
    text = report.repeated_groups_sentence(repeated, ["reach", "push", "drawer-close", "x"])
    assert "tasks push, drawer-close at k=2 and k=3: drawer-close 100% vs 0%" in text
    assert report.repeated_groups_sentence(metrics).startswith("No group of tasks")


def _speedup_metrics(ceilings: dict[str, float], floor: float = 0.28, sd: float = 0.1) -> dict:
    """The parts of a stored speedup result that `structure_sentence` reads: per depth, the rollout truth's noise
    ceiling beside the random floor."""
    by_layers = {d: {"noise_ceiling_nmi": c, "by_score": {"rollout": {"nmi": 0.2, "noise_ceiling_nmi": c,
                                                                      "random_nmi": floor, "random_nmi_std": sd}}}
                 for d, c in ceilings.items()}
    return {"by_layers": by_layers, "default_score": "rollout", "repeats": 3,
            "budget": {"finetune_steps_per_task": 4096}}


def test_structure_sentence_tells_no_structure_from_weak_and_real_structure():
    none = report.structure_sentence(_speedup_metrics({"2": 0.35, "4": 0.11}))
    assert "no affinity structure" in none and "repeats agree at NMI 0.35" in none and "4,096" in none
    weak = report.structure_sentence(_speedup_metrics({"2": 0.41, "4": 0.11}))
    assert "weak at best" in weak and "1.3 random-partition stds" in weak
    real = report.structure_sentence(_speedup_metrics({"2": 0.41, "4": 0.9}))
    assert "has an affinity structure" in real and "6.2" in real
    old = {"by_layers": {"2": {"nmi": 0.3}}}
    assert "--force" in report.structure_sentence(old)
