"""The evaluator registry (`pgxlib.estimate.scores`): its names, what rollout and success share, and a toy
evaluator of a test's own run through `pgx group`."""
import json

import numpy as np
import pytest
import torch

from pgxlib import cli, config
from pgxlib.analysis.agreement import nmi
from pgxlib.estimate import scores


def test_every_name_of_the_config_has_an_evaluator():
    assert tuple(scores.EVALUATORS) == config.SCORES
    assert config.DEFAULT_SCORE in scores.EVALUATORS
    assert config.AffinityConfig().score == config.DEFAULT_SCORE


def test_rollout_and_success_share_one_set_of_episodes_per_subset():
    members = np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)
    calls = []

    def evaluate(delta, tasks, seed):
        calls.append((float(delta.sum()), tuple(tasks), seed))
        k = len(tasks)
        return type("Episodes", (), {"mean_return": np.full(k, 10.0 * seed), "success": np.full(k, 0.5)})()

    ctx = scores.ScoreContext(members, lambda l: torch.full((3,), float(l)), evaluate=evaluate, seed=7)
    returns, success = scores.EVALUATORS["rollout"](ctx), scores.EVALUATORS["success"](ctx)
    assert calls == [(0.0, (0, 1), 8), (3.0, (1, 2), 9)]  # subset l: seed + 1 + l, once
    np.testing.assert_array_equal(returns, [[80.0, 80.0, np.nan], [np.nan, 90.0, 90.0]])
    np.testing.assert_array_equal(success[members], 0.5)
    assert np.isnan(success[~members]).all()


def test_an_evaluator_names_what_its_context_lacks():
    ctx = scores.ScoreContext(np.ones((1, 2), dtype=bool), lambda l: torch.zeros(3))
    with pytest.raises(ValueError, match="'ppo' evaluator needs policy, rollout, heldout"):
        scores.EVALUATORS["ppo"](ctx)


@pytest.mark.slow
def test_a_toy_evaluator_runs_through_pgx_group(store, capsys, monkeypatch):
    """f̂_i(S) = how many tasks of S share task i's parity: the groups are the even and the odd tasks."""
    def parity(ctx):
        idx = np.arange(ctx.members.shape[1])
        same = (idx[:, None] % 2 == idx[None, :] % 2).astype(float) @ ctx.members.T.astype(float)  # [n, m]
        return np.where(ctx.members, same.T, np.nan)

    monkeypatch.setitem(scores.EVALUATORS, "parity", parity)
    monkeypatch.setattr(config, "SCORES", (*config.SCORES, "parity"))
    assert cli.main(["group", "--family", "cartpole", "--profile", "smoke", "--k", "2", "-p", "score", "parity"]) == 0
    assert "PolicyGradEx on cartpole: 2 groups" in capsys.readouterr().out
    stored, = (store / "results" / "smoke" / "group").glob("cartpole-seed0*/result.json")
    result = json.loads(stored.read_text())
    assert result["meta"]["config"]["affinity.score"] == "parity"
    assert result["meta"]["protocol"] == "meta_rl"
    labels = np.asarray(result["metrics"]["labels"])
    assert nmi(labels, np.arange(len(labels)) % 2) == pytest.approx(1.0)
