"""Golden comparison: exact for labels and integers, `RTOL` for floats, absolute for differences of float32 losses."""
from pgxlib.store.golden import ATOL_FLOAT32_DIFFERENCE, RTOL, compare, tolerance

RESULT = "hessian_bound/cartpole-seed0"


def _changed(key, golden, now):
    return [(c.key, c.kind) for c in compare({RESULT: {key: golden}}, {RESULT: {key: now}})]


def test_a_gap_keeps_the_rounding_of_its_float32_losses_not_a_fraction_of_itself():
    assert _changed("by_group_size.2.gap", -2.848803997039795e-4, -2.84851e-4) == []
    assert _changed("generalization_error[0]", -6.568431854248047e-05, -6.56e-05) == []
    assert _changed("by_group_size.2.gap", -2.8488e-4, -2.8488e-4 + 3 * ATOL_FLOAT32_DIFFERENCE) == [
        ("by_group_size.2.gap", "changed")]


def test_other_floats_stay_at_the_relative_tolerance_down_to_atol():
    assert _changed("paper_definition_error_pct.1", 7.496891698133073e-06, 7.496891698133073e-06 * (1 + RTOL / 2)) == []
    assert _changed("paper_definition_error_pct.1", 7.496891698133073e-06, 7.5e-06) == [
        ("paper_definition_error_pct.1", "changed")]
    assert _changed("by_group_size.2.train_loss", 0.6668634414672852, 0.6668634414672852 + 3e-8) == []
    assert _changed("by_group_size.2.train_loss", 0.6668634414672852, 0.6668644) == [
        ("by_group_size.2.train_loss", "changed")]
    assert tolerance("gap_penalty") == tolerance("mean_return")


def test_the_ratio_over_gaps_is_relative_to_its_denominators_rounding():
    assert _changed("bound_to_gap_ratio", 0.6865547736563175, 0.69) == []
    assert _changed("bound_to_gap_ratio", 0.6865547736563175, 0.75) == [("bound_to_gap_ratio", "changed")]


def test_labels_and_integers_match_exactly_and_keys_added_or_removed_are_named():
    assert _changed("by_group_size.2.n_test_tasks[0]", 10, 11) == [("by_group_size.2.n_test_tasks[0]", "changed")]
    assert _changed("converged", True, 1) == [("converged", "changed")]
    assert _changed("family", "cartpole", "cartpole") == []
    changes = compare({RESULT: {"a": 1.0}}, {RESULT: {"b": 1.0}})
    assert sorted((c.key, c.kind) for c in changes) == [("a", "removed"), ("b", "added")]
    assert [c.kind for c in compare({RESULT: {"a": 1.0}}, {})] == ["removed"]
