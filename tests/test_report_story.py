"""The main-results picture (paired gaps against multitask) and the θ* story of a grouping page, on hand-made
stored metrics."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from pgxlib.report import payoff as pg
from pgxlib.report.main_results import paper_value
from pgxlib.report.theta_budget import ceiling_at, theta_steps, theta_story


def _entry(seeds):
    return {"mean": float(np.mean(seeds)), "std": float(np.std(seeds)), "seeds": list(seeds), "status": "measured"}


def _metrics(family="cartpole", multitask=(100.0, 120.0, 80.0, 110.0, 90.0)):
    mt = np.array(multitask)
    return {"family": family, "references": ["truth_grouping"],
            "methods": {"multitask": _entry(mt), "policygradex": _entry(mt + [10, 12, 8, 11, 9]),
                        "random_grouping": _entry(mt - 5), "paco": _entry(mt[:3]),  # another seed count: left out
                        "truth_grouping": _entry(mt + 20)}}


def test_paired_gaps_are_per_seed_differences_against_multitask():
    gaps = pg.paired_gaps(_metrics())
    assert list(gaps) == ["random_grouping", "policygradex", "truth_grouping"]
    assert gaps["random_grouping"].gap == pytest.approx(-5) and gaps["random_grouping"].interval == (-5, -5)
    ours = gaps["policygradex"]
    assert ours.gap == pytest.approx(10) and ours.differences == (10, 12, 8, 11, 9)
    assert 8 <= ours.interval[0] < 10 < ours.interval[1] <= 12


def test_success_results_are_read_in_points_and_get_no_paper_mark():
    m = _metrics("metaworld")
    for name, entry in m["methods"].items():
        entry["success"] = {"mean": 0.1, "seeds": [0.1, 0.2, 0.0, 0.1, 0.1] if name != "policygradex"
                            else [0.2, 0.3, 0.1, 0.2, 0.2]}
    m["methods"]["paco"]["success"]["seeds"] = [0.1, 0.2, 0.0]
    assert pg.scored_by_success(m)
    assert pg.paired_gaps(m)["policygradex"].gap == pytest.approx(10.0)  # points of success
    assert pg.paper_gap(m, "policygradex") is None


def test_the_paper_mark_is_its_relative_gain_on_our_multitask_mean():
    m = _metrics()
    theirs, base = paper_value("policygradex", "cartpole"), paper_value("multitask", "cartpole")
    assert pg.paper_gap(m, "policygradex") == pytest.approx((theirs - base) / base * 100.0)
    assert pg.paper_gap(m, "truth_grouping") is None  # the paper has no reference rows
    assert pg.paper_gap(_metrics(multitask=(-10.0, -12.0, -8.0, -11.0, -9.0)), "policygradex") is None
    assert pg.paper_gap(_metrics("nav2d"), "policygradex") is None  # no paper column


def test_the_figure_has_a_row_per_compared_method():
    fig = pg.paired_gap_figure(_metrics())
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["Random grouping", "PolicyGradEx", "Truth grouping (measured affinity)"]
    plt.close(fig)


STRUCTURE = {"chosen_meta_steps": 5000, "plateau_finetune_steps": 16384,
             "finetune_sweep": [{"finetune_steps": 4096, "noise_ceiling_nmi": 0.7},
                                {"finetune_steps": 16384, "noise_ceiling_nmi": 0.95}],
             "meta_sweep": [{"meta_steps": 2000, "finetune_steps": 4096, "noise_ceiling_nmi": 0.4},
                            {"meta_steps": 5000, "finetune_steps": 4096, "noise_ceiling_nmi": 0.7}]}


def test_theta_story_matches_the_ceiling_to_the_page_budget():
    meta = {"config": {"meta_ppo.steps_per_task": 5000}}
    assert theta_steps(meta) == 5000 and theta_steps({}) is None
    assert ceiling_at(STRUCTURE, 5000) == (0.95, 16384)  # the chosen budget: the headline row
    assert ceiling_at(STRUCTURE, 2000) == (0.4, 4096) and ceiling_at(STRUCTURE, 9000) is None
    text = theta_story("cartpole", meta, STRUCTURE)
    assert "5,000 PPO steps per task, the budget the structure chapter's rule picks" in text
    assert "ceiling is 0.95" in text and "16,384 steps" in text and "a stable structure" in text
    low = theta_story("cartpole", {"config": {"meta_ppo.steps_per_task": 2000}}, STRUCTURE)
    assert "not the structure chapter's pick (5,000)" in low and "ceiling is 0.40" in low and "no grouping" in low
    assert "did not measure a ceiling" in theta_story("cartpole", {"config": {"meta_ppo.steps_per_task": 9000}},
                                                      STRUCTURE)
    assert "no stored result for cartpole" in theta_story("cartpole", meta, None)
    assert "does not record" in theta_story("cartpole", {}, STRUCTURE)


def test_an_undecided_mt10_row_names_the_fraction_of_the_paper_budget():
    from types import SimpleNamespace

    from pgxlib.report.scorecard import budget_fraction_note

    used = [SimpleNamespace(meta={"config": {"group_ppo.steps_per_task": 150_000}})]
    assert budget_fraction_note(used) == ("undecided at 1/13 of the paper's training budget (150,000 of 2,000,000 "
                                          "steps per task)")
    assert budget_fraction_note([SimpleNamespace(meta={})]) == "undecided at a fraction of the paper's training budget"


def test_the_stored_structure_is_the_one_the_book_shows():
    from pgxlib.report.theta_budget import stored_structure

    class Registry:
        def find_result(self, name, profile, family, seed=0, **params):
            if params.get("finetune_steps") == [4096]:
                return type("R", (), {"metrics": STRUCTURE})()
            if family == "broken":
                raise ValueError("checksum mismatch")
            return None

    assert stored_structure("default", "cartpole", Registry(), {"cartpole": {"finetune_steps": [4096]}}) is STRUCTURE
    assert stored_structure("default", "cartpole", Registry()) is None
    assert stored_structure("default", "broken", Registry()) is None


def test_adds_little_is_judged_on_the_paired_gain_against_the_smallest_effect():
    from pgxlib.report.orders import AddsLittle
    from pgxlib.report.scorecard import Lookup, Metric

    def registry(k4_minus_k3):
        from doubles import Registry, StoredResult

        k3 = [10.0, 12.0, 8.0, 11.0, 9.0]
        seeds = {"3": k3, "4": [a + d for a, d in zip(k3, k4_minus_k3)]}
        ablation = {"k": {"by_value": {k: {"score": sum(v) / 5, "seeds": v} for k, v in seeds.items()}}}
        main = {"methods": {"multitask": {"mean": 10.0, "std": 2.0, "seeds": [8, 10, 12]}}}  # smallest effect 1.0
        return Registry({(name, "cartpole"): StoredResult(m, False, "abc", "2026-12-01T00:00:00", total_time=1.0)
                         for name, m in (("ablations", ablation), ("main_results", main))})

    def judge(k4_minus_k3):
        more, base = (Metric("ablations", {"family": "cartpole"}, f"metrics.k.by_value.{k}.score") for k in "43")
        multitask = Metric("main_results", {"family": "cartpole"}, "metrics.methods.multitask.mean")
        return AddsLittle(more, base, multitask).judge(0.0, "", Lookup("default", registry(k4_minus_k3)))

    assert judge([0.1, -0.1, 0.0, 0.05, -0.05]).status == "reproduced"   # gain ≈ 0, well inside ± 1.0
    assert judge([3.1, 2.9, 3.0, 3.05, 2.95]).status == "refuted"        # gain ≈ 3, beyond 1.0
    assert judge([-3.1, -2.9, -3.0, -3.05, -2.95]).status == "refuted"   # a loss of 3 is not "about the same"
    open_ = judge([2.0, -1.0, 0.5, 1.5, -0.5])                          # gain 0.5, interval across 1.0
    assert open_.status == "undecided" and open_.order.seeds == 5 and "crosses" in open_.why
    assert open_.order.seeds_to_decide is not None and open_.order.seeds_to_decide > 5
