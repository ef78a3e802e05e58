"""The evaluators of f̂_i(S): how a candidate θ̂_l = θ* + Δ_l is scored on each task of its subset S_l.

`EVALUATORS` maps a name of `config.SCORES` to a function ``(ScoreContext) -> scores [m, n]`` (NaN off the
subsets, higher is better), used alike by `pgx group` (`pipeline.estimate_scores`) and by the speedup chapter
(on the estimated side and on the truth):

- ``"logistic"``: minus the surrogate's held-out logistic loss (`surrogate.heldout_logistic_scores`);
- ``"ppo"``: PPO's clipped objective of θ̂_l on held-out transitions of θ* (`ppo_objective_scores`), a forward
  pass instead of new rollouts;
- ``"rollout"``: the mean undiscounted return of θ̂_l's episodes (subset l: seed ``seed + 1 + l``);
- ``"success"``: the success rate of the same episodes, where the family reports success.

This is the maths layer: the episodes of "rollout" and "success" come from `ScoreContext.evaluate`, a callable
the caller builds (`pipeline.score_context`), so nothing here touches an environment. The names are declared
in `config.SCORES` (the lowest layer, which validates a configuration); the function of a name is
``<name>_scores`` below. A new evaluator: a function of a `ScoreContext`, its name added to `config.SCORES`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from pgxlib.config import SCORES
from pgxlib.estimate.features import GradFeatures
from pgxlib.estimate.surrogate import SurrogateFit, heldout_logistic_scores
from pgxlib.nets import ActorCritic, actor_log_prob, actor_params, flat_params, unflatten_like
from pgxlib.transitions import Rollout, standardize_per_task

Evaluator = Callable[["ScoreContext"], np.ndarray]


@dataclass
class ScoreContext:
    """What an evaluator may read about m candidates θ̂_l = θ* + delta_of(l) on n source tasks.

    members [m, n] bool, the subsets; delta_of(l) [p] the actor step of candidate l; policy: θ*; rollout and
    heldout [N] bool: transitions of θ* and which of them are held out (the "ppo" evaluator's data); features
    and fit: the surrogate's (the "logistic" evaluator's); evaluate(delta [p], task_indices, seed): episodes of
    θ* + delta on those source tasks, returning an object with ``mean_return`` [k] and ``success`` [k] (None
    where the family reports none); subset l's episodes are seeded ``seed + 1 + l``. Unused fields may be None.
    """

    members: np.ndarray
    delta_of: Callable[[int], torch.Tensor]
    policy: ActorCritic | None = None
    rollout: Rollout | None = None
    heldout: torch.Tensor | None = None
    features: GradFeatures | None = None
    fit: SurrogateFit | None = None
    evaluate: Callable[[torch.Tensor, list[int], int], Any] | None = None
    seed: int = 0
    _episodes: dict[int, Any] = field(default_factory=dict, init=False, repr=False)

    def need(self, evaluator: str, *names: str) -> None:
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise ValueError(f"the {evaluator!r} evaluator needs {', '.join(missing)} in its ScoreContext")

    def episodes(self, l: int):
        """The episodes of candidate l on the tasks of S_l (run once, shared by "rollout" and "success")."""
        if l not in self._episodes:
            tasks = [int(i) for i in np.flatnonzero(self.members[l])]
            self._episodes[l] = self.evaluate(self.delta_of(l), tasks, self.seed + 1 + l)
        return self._episodes[l]


@torch.no_grad()
def ppo_objective_scores(policy: ActorCritic, rollout: Rollout, heldout: torch.Tensor,
                         delta_of: Callable[[int], torch.Tensor], members: np.ndarray, clip: float = 0.2) -> np.ndarray:
    """Off-policy estimate of each θ̂_l = θ* + delta_of(l) on each task, shape [m, n] (NaN if i ∉ S_l).

    score_l(i) = mean over held-out transitions t of task i of min(r_t·Â_t, clip(r_t, 1±clip)·Â_t) with
    r_t = π_θ̂(a_t|s_t) / π_θ*(a_t|s_t), Â standardised per task: PPO's clipped surrogate objective, a
    pessimistic estimate of the improvement of the new policy over θ* on data θ* collected.
    """
    m, n = members.shape
    params = actor_params(policy.actor)
    theta = flat_params(params)
    obs, act, tid = rollout.obs[heldout], rollout.actions[heldout], rollout.task_id[heldout]
    adv = standardize_per_task(rollout.advantages[heldout], tid)
    base_logp = actor_log_prob(policy.actor, params, obs, tid, act)
    scores = np.full((m, n), np.nan)
    for l in range(m):
        new_params = unflatten_like(theta + delta_of(l).to(theta.device), params)
        ratio = (actor_log_prob(policy.actor, new_params, obs, tid, act) - base_logp).exp()
        gain = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
        for i in np.flatnonzero(members[l]):
            sel = tid == i
            scores[l, i] = float(gain[sel].mean())
    return scores


def logistic_scores(ctx: ScoreContext) -> np.ndarray:
    """Minus the held-out logistic loss of each fit on each task of its subset, [m, n]."""
    ctx.need("logistic", "features", "fit")
    return heldout_logistic_scores(ctx.features, ctx.fit).cpu().numpy().astype(float)


def ppo_scores(ctx: ScoreContext) -> np.ndarray:
    """PPO's clipped objective of each candidate on the held-out transitions of θ*, [m, n]."""
    ctx.need("ppo", "policy", "rollout", "heldout")
    return ppo_objective_scores(ctx.policy, ctx.rollout, ctx.heldout, ctx.delta_of, ctx.members)


def rollout_scores(ctx: ScoreContext) -> np.ndarray:
    """Mean return of each candidate's episodes on each task of its subset, [m, n]."""
    ctx.need("rollout", "evaluate")
    scores = np.full(ctx.members.shape, np.nan)
    for l in range(len(ctx.members)):
        scores[l, np.flatnonzero(ctx.members[l])] = ctx.episodes(l).mean_return
    return scores


def success_scores(ctx: ScoreContext) -> np.ndarray:
    """Success rate of the same episodes as "rollout", [m, n]; `ValueError` where the family reports none."""
    ctx.need("success", "evaluate")
    scores = np.full(ctx.members.shape, np.nan)
    for l in range(len(ctx.members)):
        success = ctx.episodes(l).success
        if success is None:
            raise ValueError("the 'success' evaluator needs a task family that reports success")
        scores[l, np.flatnonzero(ctx.members[l])] = success
    return scores


EVALUATORS: dict[str, Evaluator] = {name: globals()[f"{name}_scores"] for name in SCORES}
"""Name (`config.SCORES`) -> evaluator."""
