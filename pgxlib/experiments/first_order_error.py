"""First-order error: how far from θ* does log π_θ*+Δ − log π_θ* ≈ gᵀΔ hold (PAPER.md, "First-order approximation")?

Stages: the shared meta-policy θ* (`pipeline.shared_meta_policy`); its rollout and gradient features, exactly as
the pipeline computes them (same seeds); the surrogate fits of the pipeline's first `n_directions` subsets, whose
steps Δθ_S, normalised, are the "surrogate" directions; as many Gaussian "random" directions as a control; then
`pgxlib.analysis.first_order.first_order_errors` at every distance, under our definition (``relative_error_pct``,
‖residual‖/‖change of log π‖) and the authors' (``paper_definition_error_pct``, their squared residual relative to
|log π|) on the same transitions and steps. Direction i (surrogate or random) is evaluated on the
held-out transitions (the features' held-out part, never used by the surrogate fits) of the tasks of subset S_i,
the transitions the pipeline scores θ̂_S on; random direction i is paired with S_i so both sets see the same data.

Which definition matches the paper's (`metrics.scaling_slope`, `metrics.matching_definition`): for each definition
(by its stored name, `DEFINITIONS`) the least-squares log-log slope of its median error along the surrogate's
directions against the distance, fitted over the distances the paper's table covers (0.1% to 1%), and
"paper": the same fit to the paper's own column for the family (None where the paper has none). The matching
definition is `analysis.verdicts.closest_definition`: the smallest |slope − paper's slope|, a tie going to our
stricter change-relative definition; None where the paper has no column or no slope could be fitted.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pgxlib.analysis.first_order import (
    DISTANCES,
    first_order_errors,
    float64_actor,
    logp_and_directional,
    logp_shifted,
    random_directions,
    summarise,
    unit_rows,
)
from pgxlib.analysis.scaling import log_log_slope
from pgxlib.analysis.stats import distance_key
from pgxlib.analysis.verdicts import closest_definition
from pgxlib.config import ConfigError, check_float, check_int, progress_default
from pgxlib.profiles import pipeline_config
from pgxlib.paper import first_order_points
from pgxlib.nets import actor_log_prob, actor_params, flat_params, get_device
from pgxlib.pipeline import features_stage, projector_of, shared_meta_policy, subsets_of, surrogate_fits
from pgxlib.tasks import make_family
from pgxlib.timing import StageClock

PARAMETERS: dict[str, Any] = {"n_directions": 8, "distances": None}
EXPECTED_KEYS = ("metrics.relative_error_pct", "metrics.logp.surrogate", "metrics.logp.random",
                 "metrics.objective.surrogate", "metrics.objective.random", "metrics.slope",
                 "metrics.paper_definition_error_pct", "metrics.paper_definition.surrogate",
                 "metrics.paper_definition.random", "metrics.logp_abs_median", "metrics.scaling_slope",
                 "metrics.matching_definition",
                 "arrays.distances", "arrays.logp_surrogate", "arrays.logp_random",
                 "arrays.objective_surrogate", "arrays.objective_random",
                 "arrays.paper_definition_surrogate", "arrays.paper_definition_random")
DEFINITIONS = ("relative_error_pct", "paper_definition_error_pct")
"""The stored names of the two definitions of the log π error: ours (‖residual‖/‖change of log π‖) and the
authors' (mean squared residual relative to |log π|), the stricter first (it wins a tie of slopes)."""
MAX_DIRECTIONS = 256
SCATTER_POINTS = 2000


def distances_of(distances) -> tuple[float, ...]:
    """The distances to measure: `DISTANCES` for None, else the given ones, sorted."""
    return DISTANCES if distances is None else tuple(sorted(float(r) for r in distances))


def scaling_slopes(distances, errors: dict[str, dict[str, float | None]], paper: dict[float, float]) -> dict:
    """{each definition: its log-log slope, "paper": the paper's} over the paper's range of distances.

    Args:
        distances: the relative distances measured [D] (0.01 = 1%).
        errors: {definition name: {distance key (`distance_key`): median error in %, or None}}.
        paper: {relative distance: the paper's error in %} (`paper.first_order_points`); {} for none.

    Returns:
        {name: slope or None for each of `errors`, "paper": slope or None}; the fits use the distances within
        [min, max] of the paper's (0.1%…1% when `paper` is {}).
    """
    lo, hi = (min(paper), max(paper)) if paper else (0.001, 0.01)
    inside = [r for r in distances if lo - 1e-12 <= r <= hi + 1e-12]
    slopes = {}
    for name, by_key in errors.items():
        values = [by_key.get(distance_key(r)) for r in inside]
        slopes[name] = log_log_slope(inside, [np.nan if v is None else v for v in values])
    slopes["paper"] = log_log_slope(list(paper), list(paper.values())) if paper else None
    return slopes


def matching_definition(slopes: dict) -> str | None:
    """The definition (of `DEFINITIONS`) whose slope is closest to the paper's; None without a paper's slope or
    without any definition's."""
    ours = {name: slopes.get(name) for name in DEFINITIONS}
    if slopes.get("paper") is None or all(v is None for v in ours.values()):
        return None
    return closest_definition(ours, slopes["paper"])


def check(profile: str, family: str, seed: int, n_directions: int = 8, distances=None) -> None:
    pipeline_config(profile, family, seed=seed)
    check_int("n_directions", n_directions, 1, MAX_DIRECTIONS)
    if distances is not None:
        if not isinstance(distances, (list, tuple)) or not distances:
            raise ConfigError(f"invalid distances={distances!r}: allowed None or a non-empty list of numbers in "
                              "(0, 1] (relative distances, 0.01 = 1%)")
        for r in distances:
            check_float("distances", r, 0, 1, lo_open=True)
        keys = [distance_key(r) for r in distances]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"invalid distances={distances!r}: allowed distinct numbers (to 6 decimals in %)")


def compute(profile: str, family: str, seed: int, cache, n_directions: int = 8, distances=None) -> dict:
    cfg = pipeline_config(profile, family, seed=seed)
    rhos = distances_of(distances)
    device = get_device(cfg.device)
    progress = progress_default()
    fam = make_family(cfg.family, cfg.n_tasks, cfg.seed)
    clock = StageClock()
    policy, _, meta_seconds = shared_meta_policy(fam, cfg, device, progress)
    theta = flat_params(actor_params(policy.actor))
    projector = projector_of(policy, cfg)
    rollout, features = features_stage(cache, policy, fam, projector, cfg, device, progress)

    def _directions():
        members = subsets_of(fam.n_tasks, cfg, max(cfg.affinity.n_subsets, n_directions))[:n_directions]
        fit = surrogate_fits(policy, features, members, projector, cfg)
        steps = torch.stack([fit.delta(l, projector) for l in range(len(members))]).double()
        keep = (steps.norm(dim=1) > 0).cpu()
        return {"surrogate": unit_rows(steps), "members": torch.as_tensor(members)[keep],
                "rel_dist_raw": fit.rel_dist_raw.double(), "rel_dist": fit.rel_dist.double()}
    dirs = cache.get_or_compute("directions", _directions)

    actor = float64_actor(policy.actor)
    params = actor_params(actor)
    ho = features.heldout.to(rollout.obs.device)
    obs, tid, act = rollout.obs[ho].to(device), rollout.task_id[ho].to(device), rollout.actions[ho].to(device)
    adv = features.adv[features.heldout].to(device)
    members = dirs["members"].to(device)
    masks = members[:, tid]
    sets = {"surrogate": dirs["surrogate"], "random": random_directions(theta.numel(), len(members), seed + 1)}
    errs = clock.run("errors", lambda: {name: first_order_errors(actor, params, obs, tid, act, adv, U.to(device), rhos,
                                                                 masks) for name, U in sets.items()})
    with torch.no_grad():
        logp_abs = actor_log_prob(actor, params, obs, tid, act).abs()

    j1 = int(np.argmin(np.abs(np.asarray(rhos) - 0.01)))
    u, sel = sets["surrogate"][0].to(device), masks[0]
    logp0, gu = logp_and_directional(actor, params, obs[sel], tid[sel], act[sel], u)
    step = rhos[j1] * float(flat_params(params).norm())
    true = (logp_shifted(actor, params, step * u, obs[sel], tid[sel], act[sel]) - logp0).detach().cpu().numpy()
    est = (step * gu).detach().cpu().numpy()
    pick = np.random.default_rng(seed).permutation(len(true))[:SCATTER_POINTS]

    metrics = {
        "relative_error_pct": {k: v["median"] for k, v in summarise(errs["surrogate"].logp.numpy(), rhos).items()},
        "logp": {name: summarise(e.logp.numpy(), rhos) for name, e in errs.items()},
        "objective": {name: summarise(e.objective.numpy(), rhos) for name, e in errs.items()},
        "slope": {f"{what}_{name}": log_log_slope(rhos, np.nanmedian(getattr(e, what).numpy(), axis=0))
                  for what in ("logp", "objective") for name, e in errs.items()},
        "paper_definition_error_pct": {k: v["median"] for k, v in
                                       summarise(errs["surrogate"].paper_definition.numpy(), rhos).items()},
        "paper_definition": {name: summarise(e.paper_definition.numpy(), rhos) for name, e in errs.items()},
        "paper_definition_slope": {name: log_log_slope(rhos, np.nanmedian(e.paper_definition.numpy(), axis=0))
                                   for name, e in errs.items()},
        "logp_abs_median": float(logp_abs.median()),
        "distances_pct": [100 * r for r in rhos],
        "n_directions": {name: int(U.shape[0]) for name, U in sets.items()},
        "n_heldout": int(len(obs)),
        "n_heldout_per_direction": float(masks.sum(1).float().mean()),
        "n_params": int(theta.numel()),
        "theta_norm": float(theta.norm()),
        "surrogate_step_pct": {"max_rel_dist": 100 * cfg.surrogate.max_rel_dist,
                               "raw_median": float(100 * dirs["rel_dist_raw"].median()),
                               "used_median": float(100 * dirs["rel_dist"].median())},
        "scatter_distance_pct": 100 * rhos[j1],
    }
    metrics["scaling_slope"] = scaling_slopes(rhos, {name: metrics[name] for name in DEFINITIONS},
                                              first_order_points(family))
    metrics["matching_definition"] = matching_definition(metrics["scaling_slope"])
    arrays = {"distances": np.asarray(rhos), "subsets": dirs["members"].numpy(),
              "scatter_true": true[pick], "scatter_est": est[pick]}
    for name, e in errs.items():
        arrays[f"logp_{name}"] = np.ma.masked_invalid(e.logp.numpy())
        arrays[f"objective_{name}"] = np.ma.masked_invalid(e.objective.numpy())
        arrays[f"objective_true_{name}"] = np.ma.masked_invalid(e.objective_true.numpy())
        arrays[f"objective_est_{name}"] = np.ma.masked_invalid(e.objective_est.numpy())
        arrays[f"logp_rms_change_{name}"] = np.ma.masked_invalid(e.logp_change_norm.numpy())
        arrays[f"paper_definition_{name}"] = np.ma.masked_invalid(e.paper_definition.numpy())
    return {"metrics": metrics, "arrays": arrays, "stage_times": {"meta_train": meta_seconds, **clock.wall},
            "config": cfg}
