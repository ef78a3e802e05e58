"""The evaluator rule's stored summary: read from stored speedup results (synthetic ones in a temporary store), and
the configured default evaluator checked against the rule over the committed `default` speedup results."""
import pytest

from pgxlib import experiments, store
from pgxlib.analysis.selection import choose_evaluator
from pgxlib.book.chapters import chapter_runs, headline_depth
from pgxlib.config import DEFAULT_SCORE
from pgxlib.experiments import evaluator_rule as exp
from pgxlib.experiments import run_experiment
from pgxlib.experiments import speedup as speedup_exp

STRUCTURED = ("planted", "cartpole")
SEEDS = (0, 1, 2)


def _entry(x, ceiling, corr=0.5, seconds=1.0, footing=True):
    entry = {"nmi": x, "nmi_per_repeat": [x, x], "noise_ceiling_nmi": ceiling, "affinity_corr": corr,
             "random_nmi": 0.2, "random_nmi_std": 0.05, "rank_correlation": 0.5, "speedup": 10.0 / seconds,
             "seconds": {"estimated": seconds, "measured": 10.0}}
    return {**entry, "footing": "single repeats"} if footing else entry


def _write_speedup(profile, family, seed, by_score, depth=4, stale=False, params=None):
    """A stored speedup result (only what the rule reads) under the key a real run would have."""
    module = experiments.get("speedup")
    full = {**module.PARAMETERS, "depths": [depth], **(params or {})}
    key = experiments.result_key(module, family, seed, full)
    current = experiments._fingerprint(module, profile, family)["sha256"]
    meta = {"experiment": "speedup", "key": key, "timestamp": f"2026-12-0{seed + 1}T00:00:00+00:00",
            "parameters": {"profile": profile, "family": family, "seed": seed, "params": store.canonical(full)},
            "fingerprint": {"sha256": "older code" if stale else current}}
    metrics = {"family": family, "headline_depth": depth,
               "by_layers": {str(depth): {"nmi": 0.0, "noise_ceiling_nmi": 1.0, "by_score": by_score}}}
    store.write_result(store.result_dir(profile, "speedup", key), metrics, {}, meta)


def test_the_rule_is_read_from_stored_speedup_results(store):
    # planted: rollout at its ceiling, logistic a little below; cartpole: rollout at chance, logistic at the ceiling
    for seed in SEEDS:
        _write_speedup("smoke", "planted", seed, {"rollout": _entry(1.0, 1.0), "logistic": _entry(0.8, 1.0, 0.8, 0.1),
                                                  "success": _entry(1.0, 1.0)})
    for seed in (0, 1):
        _write_speedup("smoke", "cartpole", seed, {"rollout": _entry(0.3, 1.0, 0.2),
                                                   "logistic": _entry(1.0, 1.0, 0.9, 0.1)})
    _write_speedup("smoke", "cartpole", 2, {"rollout": _entry(1.0, 1.0), "logistic": _entry(0.3, 1.0)}, stale=True)
    _write_speedup("smoke", "nav2d", 0, {"rollout": _entry(0.9, 0.3), "logistic": _entry(0.1, 0.3)})

    res = run_experiment("evaluator_rule", "smoke", "planted")
    rule = res.get("metrics.evaluator_rule")
    assert rule["families"] == ["cartpole", "planted"]  # nav2d's ceiling 0.3: no structure, read but not counted
    assert rule["pick"] == "logistic"  # worst case: logistic 0.8 (planted), rollout 0.3... on cartpole
    assert rule["seeds"] == {"cartpole": [0, 1, 2], "planted": [0, 1, 2], "nav2d": [0]}
    assert rule["per_seed_picks"] == {"0": "logistic", "1": "logistic", "2": "rollout"} and rule["flips_with_seed"]
    assert rule["leave_one_family_out"]["planted"]["pick"] == "rollout"  # chosen on planted alone...
    assert rule["leave_one_family_out"]["planted"]["scores"]["cartpole"] == pytest.approx(0.3 * 2 / 3 + 1.0 / 3)
    assert "success" not in {row["evaluator"] for row in rule["table"]}  # cartpole has no success: no worst case
    assert any(s["family"] == "cartpole" and s["seed"] == 2 and s["stale"] for s in rule["sources"])
    assert "cartpole seed 2: the stored speedup result is stale (older code); used as stored" in rule["notes"]
    assert "nav2d seed 1: no stored speedup result; the rule is computed without it" in rule["notes"]
    again = choose_evaluator(exp.rule_inputs("smoke")["rows"])
    assert (again.pick, again.families) == (rule["pick"], tuple(rule["families"]))

    from pgxlib.report import evaluator_rule as report
    frame = report.family_frame(rule)
    assert frame.loc[("rollout", "cartpole"), "NMI / ceiling"] == pytest.approx((0.3 + 0.3 + 1.0) / 3)
    assert frame.loc[("rollout", "nav2d"), "in the rule"] == False  # noqa: E712
    text = report.rule_text(rule)
    assert "picks `logistic`, the configured default" in text and "flips with the seed" in text
    other = report.rule_text({**rule, "default_score": "rollout"})
    assert "picks `logistic`, not the configured default `rollout`" in other
    assert "nav2d seed 2" not in text and "cartpole seed 2: the stored speedup result is stale" in text  # nav2d: no structure
    summary = report.rule_markdown(rule)
    assert summary.startswith(text) and "| logistic | cartpole |" in summary and "| rollout | planted |" in summary
    assert "| nav2d |" not in summary.split("Chosen on one family")[0]  # only the families in the rule
    assert "| planted | rollout | cartpole |" in summary  # chosen on planted, scored on cartpole

    from pgxlib.book.pages import EVALUATOR_RULE_PAGE, write_evaluator_rule
    write_evaluator_rule("smoke", store)  # the smoke chapter's run (seeds [0]) is not stored yet
    assert "is not stored yet: `pgx run evaluator_rule --profile smoke" in (store / EVALUATOR_RULE_PAGE).read_text()
    smoke = run_experiment("evaluator_rule", "smoke", "planted", seeds=[0])
    write_evaluator_rule("smoke", store)
    assert (store / EVALUATOR_RULE_PAGE).read_text() == report.rule_markdown(smoke.metrics["evaluator_rule"])
    assert "`pgx run evaluator_rule" in report.rule_markdown(None, "pgx run evaluator_rule --profile smoke")


def test_an_older_result_is_read_on_the_ceilings_footing_and_nothing_stored_picks_nothing(store):
    res = run_experiment("evaluator_rule", "smoke", "planted", seeds=[0])
    assert res.get("metrics.evaluator_rule.pick") is None and res.get("metrics.evaluator_rule.rows") == []
    old = _entry(0.9, 1.0, footing=False)
    old["nmi_per_repeat"] = [0.5, 0.7]  # nmi 0.9 was against the mean of the repeats
    _write_speedup("smoke", "planted", 0, {"rollout": old})
    rows = exp.rule_inputs("smoke", [0])["rows"]
    assert [(r["evaluator"], r["nmi"]) for r in rows] == [("rollout", pytest.approx(0.6))]


def test_the_stored_rule_is_stale_once_a_speedup_result_it_reads_changes(store):
    """Its code fingerprint does not cover the speedup results it reads: their sources do."""
    _write_speedup("smoke", "planted", 0, {"rollout": _entry(1.0, 1.0), "logistic": _entry(0.8, 1.0)})
    first = run_experiment("evaluator_rule", "smoke", "planted", seeds=[0])
    assert first.fresh and not experiments.find_result("evaluator_rule", "smoke", "planted", seeds=[0]).stale
    assert not run_experiment("evaluator_rule", "smoke", "planted", seeds=[0]).fresh  # unchanged inputs: loaded

    _write_speedup("smoke", "cartpole", 0, {"rollout": _entry(0.3, 1.0), "logistic": _entry(1.0, 1.0)})
    assert experiments.find_result("evaluator_rule", "smoke", "planted", seeds=[0]).stale
    assert experiments.drop_stale("evaluator_rule", "smoke", "planted", seeds=[0]) is not None
    again = run_experiment("evaluator_rule", "smoke", "planted", seeds=[0])
    assert again.fresh and [s["family"] for s in again.get("metrics.evaluator_rule.sources")] == ["cartpole", "planted"]
    assert not experiments.find_result("evaluator_rule", "smoke", "planted", seeds=[0]).stale


def test_the_chapter_runs_the_structured_families_at_three_seeds_at_the_headline_depth():
    runs = chapter_runs("speedup", "default")
    for family in STRUCTURED:
        mine = [r for r in runs if r["family"] == family]
        assert [r.get("seed", 0) for r in mine] == list(SEEDS)
        assert "depths" not in mine[0]  # seed 0 keeps every depth
        depth = speedup_exp.headline_depth("default", family, speedup_exp.PARAMETERS["depths"])
        assert headline_depth("default", family, speedup_exp.PARAMETERS["depths"]) == depth
        assert all(r["depths"] == [depth] for r in mine[1:])
    assert chapter_runs("evaluator_rule", "default") == ({"family": "planted"},)
    assert [r.get("seed", 0) for r in chapter_runs("speedup", "smoke")] == [0]  # smoke stays cheap


def test_the_configured_default_is_the_rules_pick_on_the_stored_default_results():
    """Recomputes the rule from the committed `default` speedup results (current code only)."""
    needed = [r for r in chapter_runs("speedup", "default") if r["family"] in STRUCTURED]
    absent = []
    for run in needed:
        rest = {k: v for k, v in run.items() if k not in ("family", "seed")}
        stored = experiments.find_result("speedup", "default", run["family"], run.get("seed", 0), **rest)
        if stored is None or stored.stale:
            absent.append(experiments.run_command("speedup", "default", run["family"], run.get("seed", 0), **rest))
    if absent:
        pytest.skip(f"{len(absent)} of the {len(needed)} default speedup results of planted and cartpole (seeds 0-2) "
                    f"are missing or stale; compute them with: {'; '.join(absent)}")
    inputs = exp.rule_inputs("default", SEEDS)
    assert not [n for n in inputs["notes"] if n.split()[0] in STRUCTURED], inputs["notes"]
    choice = choose_evaluator(inputs["rows"])
    assert choice.pick == DEFAULT_SCORE, (f"the rule picks {choice.pick!r} over {choice.families}, "
                                          f"config.DEFAULT_SCORE is {DEFAULT_SCORE!r}")
