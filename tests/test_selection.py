"""The evaluator rule on synthetic speedup rows: the pick, its ties, leave-one-family-out and seed flips."""
import pytest

from pgxlib.analysis.selection import STRUCTURE_CEILING, agreement_score, choose_evaluator

# (evaluator, family) -> per-seed (nmi, ceiling, affinity_corr, cost); shaped like the stored speedup results
STORED_LIKE = {
    ("rollout", "planted"): [(1.0, 1.0, 0.85, 60), (1.0, 1.0, 0.80, 60), (1.0, 1.0, 0.83, 60)],
    ("ppo", "planted"): [(0.19, 0.50, 0.03, 50), (0.30, 0.45, 0.10, 50), (0.25, 0.50, 0.05, 50)],
    ("logistic", "planted"): [(0.81, 1.0, 0.84, 40), (0.90, 1.0, 0.80, 40), (0.85, 1.0, 0.82, 40)],
    ("success", "planted"): [(0.35, 0.40, 0.18, 60), (0.30, 0.40, 0.20, 60), (0.33, 0.40, 0.10, 60)],
    ("rollout", "cartpole"): [(0.27, 1.0, 0.06, 70), (1.0, 1.0, 0.90, 70), (0.10, 1.0, 0.05, 70)],
    ("ppo", "cartpole"): [(0.15, 0.70, -0.65, 36), (0.20, 0.70, -0.40, 36), (0.10, 0.70, -0.50, 36)],
    ("logistic", "cartpole"): [(1.0, 1.0, 0.93, 28), (0.95, 1.0, 0.90, 28), (1.0, 1.0, 0.92, 28)],
    ("rollout", "lunarlander"): [(0.01, 0.59, -0.19, 90), (0.05, 0.60, -0.1, 90), (0.02, 0.58, 0.0, 90)],
    ("logistic", "lunarlander"): [(0.79, 0.59, 0.20, 20), (0.70, 0.60, 0.1, 20), (0.75, 0.58, 0.2, 20)],
}


def rows_of(table):
    return [{"evaluator": ev, "family": fam, "seed": s, "nmi": nmi, "ceiling": c, "affinity_corr": corr,
             "cost_seconds": cost}
            for (ev, fam), per_seed in table.items() for s, (nmi, c, corr, cost) in enumerate(per_seed)]


def test_agreement_score():
    assert agreement_score(0.5, 1.0) == 0.5
    assert agreement_score(0.9, 0.9) == 1.0
    assert agreement_score(1.0, 0.9) == 1.0                       # capped at the ceiling
    assert agreement_score(0.4, 0.1) == pytest.approx(0.4 / STRUCTURE_CEILING)   # a noisy truth earns little


def test_pick_is_the_best_worst_case_over_structured_families():
    choice = choose_evaluator(rows_of(STORED_LIKE))
    assert choice.families == ("planted", "cartpole")            # lunarlander's ceiling 0.59 is below 0.8
    assert choice.family_ceilings["lunarlander"] == pytest.approx(0.59)
    assert choice.pick == "logistic"
    top = choice.table[0]
    assert top.worst == pytest.approx((0.81 + 0.90 + 0.85) / 3)  # planted, its worst family
    assert [s.evaluator for s in choice.table] == ["logistic", "rollout", "ppo"]   # success lacks cartpole
    assert choice.table[1].worst == pytest.approx((0.27 + 1.0 + 0.10) / 3)


def test_leave_one_family_out_and_seed_flips():
    choice = choose_evaluator(rows_of(STORED_LIKE))
    on_planted = choice.leave_one_family_out["planted"]
    assert on_planted["pick"] == "rollout"                       # chosen on planted alone ...
    assert on_planted["scores"]["cartpole"] == pytest.approx((0.27 + 1.0 + 0.10) / 3)   # ... fails on cartpole
    assert on_planted["best"]["cartpole"] == pytest.approx((1.0 + 0.95 + 1.0) / 3)
    on_cartpole = choice.leave_one_family_out["cartpole"]
    assert on_cartpole["pick"] == "logistic"
    assert on_cartpole["scores"]["planted"] == pytest.approx((0.81 + 0.90 + 0.85) / 3)
    assert choice.per_seed_picks == {0: "logistic", 1: "rollout", 2: "logistic"}   # rollout perfect on seed 1
    assert choice.flips_with_seed


def test_ties_go_to_affinity_correlation_then_cost():
    same = {("a", "f"): [(1.0, 1.0, 0.5, 10)], ("b", "f"): [(1.0, 1.0, 0.9, 30)], ("c", "f"): [(0.9, 1.0, 1.0, 1)]}
    assert choose_evaluator(rows_of(same)).pick == "b"
    same[("b", "f")] = [(1.0, 1.0, 0.5, 30)]
    assert choose_evaluator(rows_of(same)).pick == "a"           # equal correlation: the cheaper
    same[("b", "f")] = [(1.0, 1.0, 0.5, 10)]
    assert choose_evaluator(rows_of(same)).pick == "a"           # equal cost too: the first listed
    nan_corr = {("a", "f"): [(1.0, 1.0, None, 10)], ("b", "f"): [(1.0, 1.0, 0.1, 30)]}
    assert choose_evaluator(rows_of(nan_corr)).pick == "b"       # an undefined correlation ranks last


def test_no_structure_and_bad_rows():
    flat = {("a", "f"): [(0.3, 0.5, 0.1, 1)], ("b", "f"): [(0.4, 0.6, 0.1, 1)]}
    choice = choose_evaluator(rows_of(flat))
    assert choice.pick is None and choice.families == () and choice.table == ()
    assert not choice.flips_with_seed
    assert choose_evaluator(rows_of(flat), structure_ceiling=0.55).pick == "b"
    rows = rows_of(flat)
    with pytest.raises(ValueError, match="lacks"):
        choose_evaluator([{k: v for k, v in rows[0].items() if k != "ceiling"}])
    with pytest.raises(ValueError, match="repeat"):
        choose_evaluator(rows + rows[:1])
    with pytest.raises(ValueError, match="non-finite nmi"):
        choose_evaluator([{**rows[0], "nmi": float("nan")}])
