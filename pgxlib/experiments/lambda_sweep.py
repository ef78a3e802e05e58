"""The surrogate's regularisation λ (`surrogate.l2`), swept over a log grid on one θ* and its features.

The surrogate's loss is a mean over the subset's training transitions (`pgxlib.estimate.surrogate`), so λ
means the same whatever the steps per task and the subset size. For every λ of the grid, the m subsets
of the profile are fitted from the same gradient features, and we record:

- the raw step: ‖P ŵ_S‖ / ‖θ*‖ before the rescale rule cuts it to `max_rel_dist`;
- how linear the fitted directions are: the first-order error of log π at the applied step (1% of ‖θ*‖),
  by our definition and by the authors' (`pgxlib.analysis.first_order`), on the subset's held-out data;
- the direction: the cosine of ŵ_S with the subset's summed projected policy gradient Σ_t Â_t g̃_t;
- what the grouping becomes: the affinity, the SDP groups and, where the family has designed groups
  (`pgxlib.tasks.design_groups`), their NMI with those groups and the mean affinity within and across
  them; and the same grouping under the other affinity
  normalisation (ours z-scores rows of the averaged matrix, the authors' code z-scores each task's scores
  over its subsets first), with the NMI between the two.

The default λ is chosen by `RULE` (stated in the method chapter) without looking at any grouping: the
smallest λ of the grid at which the median raw step is at most `STEP_TARGET` of ‖θ*‖, i.e. where the
regularisation alone keeps the fit inside the region where the first-order expansion holds, so that the
rescale rule only trims.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from pgxlib.analysis.first_order import first_order_errors, float64_actor, unit_rows
from pgxlib.analysis.agreement import nmi
from pgxlib.config import ConfigError, check_float, progress_default
from pgxlib.profiles import apply_overrides, pipeline_config
from pgxlib.estimate.affinity import NORMALIZATIONS, compute_affinity
from pgxlib.nets import actor_params
from pgxlib.pipeline import STAGES_BEFORE_SURROGATE, cluster, run_policygradex
from pgxlib.store.cache import StageView
from pgxlib.tasks import design_groups
from pgxlib.transitions import standardize_per_task

PARAMETERS: dict[str, Any] = {"l2s": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]}
EXPECTED_KEYS = ("metrics.by_l2", "metrics.rule.chosen", "metrics.l2s", "arrays.raw_steps", "arrays.labels")
STEP_TARGET = 0.05
"""The rule's bound on the median raw step, as a fraction of ‖θ*‖."""
RULE = (f"the smallest λ of the grid whose median raw step ‖P ŵ_S‖/‖θ*‖ is at most {STEP_TARGET:.0%}: the "
        "regularisation alone keeps the fitted step near θ*, where the first-order expansion holds")
MAX_GRID = 12


def grid(l2s) -> list[float]:
    """The λ values, sorted; `ConfigError` unless a non-empty list of at most `MAX_GRID` distinct positive numbers."""
    if not isinstance(l2s, (list, tuple)) or not 0 < len(l2s) <= MAX_GRID:
        raise ConfigError(f"invalid l2s={l2s!r}: allowed a list of 1..{MAX_GRID} distinct positive numbers")
    values = sorted(check_float("l2s", v, 0, lo_open=True) for v in l2s)
    if len(set(values)) != len(values):
        raise ConfigError(f"invalid l2s={l2s!r}: allowed distinct numbers")
    return values


def check(profile: str, family: str, seed: int, l2s=()) -> None:
    cfg = pipeline_config(profile, family, seed=seed)
    for lam in grid(l2s):
        apply_overrides(cfg, {"l2": lam})


def summed_gradient_cosine(features, members: torch.Tensor, W: torch.Tensor) -> np.ndarray:
    """cos(ŵ_l, Σ_{t ∈ S_l, training} w_t y_t g̃_t) per subset, [m]: the angle between the fit and the subset's
    summed projected policy gradient (w·y = Â for advantages standardised per task)."""
    train = ~features.heldout
    G, wy, tid = features.G[train].double(), (features.w * features.y)[train].double(), features.task_id[train]
    C = members.double()[:, tid]                                        # [m, N_train]
    summed = (C * wy[None, :]) @ G                                      # [m, d]
    Wd = W.double()
    cos = (summed * Wd).sum(1) / (summed.norm(dim=1) * Wd.norm(dim=1)).clamp(min=1e-300)
    return cos.cpu().numpy()


def within_across(affinity: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean off-diagonal affinity between tasks of the same group and of different groups."""
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return float(np.nanmean(affinity[same & off])), float(np.nanmean(affinity[~same]))


def compute(profile: str, family: str, seed: int, cache, l2s=()) -> dict:
    cfg = pipeline_config(profile, family, seed=seed)
    lams = grid(l2s)
    progress = progress_default()
    shared = {stage: stage for stage in STAGES_BEFORE_SURROGATE}  # one θ*, one set of features for every λ
    by_l2: dict[str, dict] = {}
    raw_steps, labels_all, affinities = [], [], []
    planted = None
    stage_times: dict[str, float] = {}
    for lam in lams:
        view = StageView(cache, prefix=f"l2_{lam:g}-", rename=shared)
        res = run_policygradex(apply_overrides(cfg, {"l2": lam}), cache=view, progress=progress,
                               train_groups_too=False)
        stage_times.update({f"l2={lam:g} {k}": v for k, v in res.stage_times.items()})
        if planted is None:
            planted = design_groups(res.family)
        features, rollout, fit, projector = res.features, res.rollout, res.fit, res.projector
        lifted = torch.stack([projector.lift(fit.W[l].double()) for l in range(len(fit.W))])   # [m, p]
        actor64 = float64_actor(res.policy.actor)
        params64 = {k: v.double() for k, v in actor_params(actor64).items()}
        ho = features.heldout
        tid = rollout.task_id[ho]
        masks = fit.members[:, tid]                                   # [m, N_heldout]
        errs = first_order_errors(actor64, params64, rollout.obs[ho], tid, rollout.actions[ho],
                                  standardize_per_task(rollout.advantages[ho], tid), unit_rows(lifted),
                                  [cfg.surrogate.max_rel_dist], masks)
        cos = summed_gradient_cosine(features, fit.members, fit.W)
        row = {
            "raw_step_median": float(np.median(res.rel_dist_raw)),
            "raw_step_max": float(np.max(res.rel_dist_raw)),
            "applied_step_median": float(np.median(res.rel_dist)),
            "first_order_error_pct": float(100 * torch.nanmedian(errs.logp[:, 0])),
            "paper_definition_error_pct": float(100 * torch.nanmedian(errs.paper_definition[:, 0])),
            "gradient_cosine_median": float(np.median(cos)),
            "groups": [list(map(int, np.flatnonzero(res.labels == g))) for g in np.unique(res.labels)],
        }
        other_norm = next(x for x in NORMALIZATIONS if x != cfg.affinity.normalization)
        other = compute_affinity(res.members, res.scores, other_norm)
        other_labels = cluster(other, cfg)[0]
        row["other_normalization"] = {"name": other_norm, "nmi_with_profile_normalization":
                                      nmi(other_labels, res.labels)}
        if planted is not None:
            within, across = within_across(res.affinity.normalized, planted)
            row.update({"planted_nmi": nmi(res.labels, planted), "affinity_within": within,
                        "affinity_across": across})
            row["other_normalization"]["planted_nmi"] = nmi(other_labels, planted)
        by_l2[f"{lam:g}"] = row
        raw_steps.append(res.rel_dist_raw)
        labels_all.append(res.labels)
        affinities.append(res.affinity.normalized)
    chosen = next((lam for lam in lams if by_l2[f"{lam:g}"]["raw_step_median"] <= STEP_TARGET), None)
    metrics = {
        "family": family, "seed": seed, "l2s": lams, "by_l2": by_l2,
        "normalization": cfg.affinity.normalization,
        "rule": {"text": RULE, "step_target": STEP_TARGET, "chosen": chosen,
                 "profile_l2": cfg.surrogate.l2, "max_rel_dist": cfg.surrogate.max_rel_dist},
        "budget": {"n_subsets": cfg.affinity.n_subsets, "subset_size": cfg.affinity.subset_size,
                   "features_steps_per_task": cfg.features.steps_per_task, "proj_dim": cfg.features.proj_dim,
                   "meta_steps_per_task": cfg.meta_ppo.steps_per_task},
    }
    if planted is not None:
        metrics["planted_groups"] = [list(map(int, np.flatnonzero(planted == g))) for g in np.unique(planted)]
    arrays = {"l2s": np.asarray(lams), "raw_steps": np.stack(raw_steps), "labels": np.stack(labels_all),
              "affinity": np.stack(affinities)}
    return {"metrics": _finite(metrics), "arrays": arrays, "stage_times": stage_times, "config": cfg}


def _finite(tree):
    """NaN (e.g. an error where log π did not move) becomes None, as stored results require."""
    if isinstance(tree, dict):
        return {k: _finite(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_finite(v) for v in tree]
    return None if isinstance(tree, float) and not math.isfinite(tree) else tree
