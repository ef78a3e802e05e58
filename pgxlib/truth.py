"""The truth each evaluator is read against: which measured score an estimated score is compared with, and the
"ppo" evaluator applied to really fine-tuned policies.

Shared by the speedup chapter (estimate against truth) and the main results (``truth_grouping``: the groups of the
measured affinity), so that both read the same truth and neither fingerprints the other.
"""
from __future__ import annotations

import numpy as np
import torch

from pgxlib.estimate.scores import EVALUATORS, ScoreContext
from pgxlib.nets import actor_params, flat_params
from pgxlib.transitions import Rollout

COMPARISONS = {
    "ppo": ("ppo", "ppo", "held-out PPO objective, both sides"),
    "rollout": ("rollout", "rollout", "rollout return, both sides"),
    "success": ("success", "success", "rollout success rate, both sides"),
    "logistic": ("logistic", "rollout", "surrogate's logistic loss (estimate) vs rollout return (truth)"),
}
"""Comparison name -> (estimated side's score, truth's score, label). "success" only where the family reports
success. The logistic loss has no measured counterpart (a fine-tuned policy has no surrogate), so its truth is the
rollout return: the quantity the loss is meant to rank."""


def ppo_truth_scores(policy, heldout: Rollout, finetuned: torch.Tensor, members: np.ndarray) -> np.ndarray:
    """The "ppo" evaluator on fine-tuned policies, [m, n] (NaN off the subsets): `finetuned` [m, p] holds the flat
    actor parameters of θ_{S_l} (``flat_params(actor_params(actor))``), scored with Δ = θ_{S_l} − θ* on `heldout`,
    the held-out transitions of θ*'s rollout (`Rollout.select` of the estimate's held-out mask), exactly as an
    estimate with that Δ."""
    theta = flat_params(actor_params(policy.actor))
    finetuned = torch.as_tensor(finetuned)
    if finetuned.shape != (len(members), theta.numel()):
        raise ValueError(f"finetuned must be [m, p] = [{len(members)}, {theta.numel()}], got {tuple(finetuned.shape)}")
    everything = torch.ones(len(heldout), dtype=torch.bool, device=heldout.obs.device)
    return EVALUATORS["ppo"](ScoreContext(members, lambda l: finetuned[l].to(theta.device, theta.dtype) - theta,
                                          policy=policy, rollout=heldout, heldout=everything))
