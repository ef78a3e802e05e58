"""How good is the first-order expansion the surrogate rests on (PAPER.md, "First-order approximation")?

The surrogate (`pgxlib.estimate.surrogate`) replaces log π_θ*+Δ(a|s) − log π_θ*(a|s) by gᵀΔ with g = ∇_θ log π_θ*(a|s).
This module measures the error of that replacement on held-out transitions t = 1..N, along unit directions u in
the actor's parameter space (length p) at relative distances ρ = ‖Δ‖/‖θ*‖, i.e. Δ = ρ‖θ*‖·u:

- log-probabilities: true_t = log π_θ*+Δ(a_t|s_t) − log π_θ*(a_t|s_t), estimate_t = g_tᵀΔ, and

      err_logπ(u, ρ) = ‖true − estimate‖₂ / ‖true‖₂      (over the N transitions);

- the authors' definition (read from their public code; PAPER.md, "How the authors measure"), per transition
  with f_t = log π(a_t|s_t): e_t = (|f_t(θ*) + g_tᵀΔ − f_t(θ*+Δ)| / max(|f_t(θ*+Δ)|, |f_t(θ*)|))², averaged
  over t (`paper_definition_error`). It divides by the size of log π itself, not by its change, and squares:
  far smaller than err_logπ, and it grows like ρ⁴ rather than ρ;

- the PPO surrogate objective J(θ) = mean_t r_t Â_t with r_t = π_θ(a_t|s_t)/π_θ*(a_t|s_t) and Â standardised
  per task: true ΔJ = J(θ*+Δ) − J(θ*) = mean_t Â_t (exp(true_t) − 1), its first-order estimate
  mean_t Â_t g_tᵀΔ, and err_J(u, ρ) = |ΔJ_true − ΔJ_est| / |ΔJ_true|.

g_tᵀu for all t at once is one forward-mode Jacobian-vector product (`torch.func.jvp`) of the batched log-prob
function along u; gᵀΔ = ρ‖θ*‖·gᵀu, so one JVP per direction serves every distance. Since the first-order
remainder is O(ρ²) while the change itself is O(ρ), both errors grow like ρ near θ* (slope 1 in log-log).

Float64 (`float64_actor`) keeps the differences of log-probabilities at ρ = 0.1% clear of float32 rounding.
Everything here is pure maths on tensors.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jvp

from pgxlib.analysis.stats import distance_key
from pgxlib.nets import Actor, actor_log_prob, flat_params, unflatten_like

DISTANCES = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1)
"""Relative distances ρ = ‖Δ‖/‖θ*‖ (0.1% … 10%)."""


def float64_actor(actor: Actor) -> Actor:
    """A float64 copy of `actor` (same parameter names); its trunk casts the float32 network input up."""
    out = copy.deepcopy(actor).double()
    out.body.register_forward_pre_hook(lambda module, args: (args[0].to(torch.float64), *args[1:]))
    return out


def unit_rows(V: torch.Tensor) -> torch.Tensor:
    """Rows of V [D, p] scaled to unit norm; rows of norm 0 are dropped."""
    norms = V.norm(dim=1)
    keep = norms > 0
    return V[keep] / norms[keep, None]


def random_directions(p: int, n: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n Gaussian directions in R^p, normalised, [n, p], drawn on CPU from `seed` (uniform on the sphere)."""
    gen = torch.Generator().manual_seed(int(seed))
    return unit_rows(torch.randn(n, p, generator=gen, dtype=torch.float64)).to(dtype)


def logp_and_directional(actor: Actor, params: dict[str, torch.Tensor], obs: torch.Tensor, task_id: torch.Tensor,
                         actions: torch.Tensor, direction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π_θ(a_t|s_t) [N], g_tᵀu [N]) for a direction u [p], by one JVP of the batched log-prob along u."""
    tangent = unflatten_like(direction.to(next(iter(params.values())).dtype), params)
    return jvp(lambda prm: actor_log_prob(actor, prm, obs, task_id, actions), (params,), (tangent,))


@torch.no_grad()
def logp_shifted(actor: Actor, params: dict[str, torch.Tensor], delta: torch.Tensor, obs: torch.Tensor,
                 task_id: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log π_θ+Δ(a_t|s_t) [N] for a parameter step Δ [p] (flattened in `params` order)."""
    theta = flat_params(params)
    return actor_log_prob(actor, unflatten_like(theta + delta.to(theta.dtype), params), obs, task_id, actions)


def relative_error(true: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """‖true − estimate‖₂ / ‖true‖₂ over the last axis (NaN where ‖true‖ = 0)."""
    num, den = (true - estimate).norm(dim=-1), true.norm(dim=-1)
    return torch.where(den > 0, num / den.clamp(min=torch.finfo(den.dtype).tiny), torch.nan)


def paper_definition_error(base, linear, true) -> float:
    """The authors' first-order error (their public code; PAPER.md, "How the authors measure"), a fraction.

    For N transitions with f_t = log π(a_t|s_t): `base` [N] = f_t(θ*), `linear` [N] = f_t(θ*) + g_tᵀΔ (the
    first-order prediction) and `true` [N] = f_t(θ*+Δ) (tensors or arrays, any real dtype), it returns

        mean_t ( |linear_t − true_t| / max(|true_t|, |base_t|) )²

    over the transitions where max(|true_t|, |base_t|) > 0 (the authors drop samples where f = 0); NaN when
    none is left. Multiply by 100 for the authors' "percent". Unlike `relative_error` (our definition:
    ‖residual‖/‖change of log π‖) it divides by the value of log π, not by its change, and squares the ratio.
    """
    base, linear, true = (torch.as_tensor(x).detach().to(torch.float64).cpu() for x in (base, linear, true))
    if not (base.shape == linear.shape == true.shape) or base.dim() != 1:
        raise ValueError(f"base, linear and true must be [N] of one length, got {tuple(base.shape)}, "
                         f"{tuple(linear.shape)}, {tuple(true.shape)}")
    scale = torch.maximum(true.abs(), base.abs())
    keep = scale > 0
    if not keep.any():
        return float("nan")
    return float((((linear - true).abs()[keep] / scale[keep]) ** 2).mean())


def objective_change(dlogp: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """J(θ) − J(θ*) = mean_t Â_t (exp(Δlog π_t) − 1) for Δlog π [..., N] and Â [N]."""
    return (adv * torch.expm1(dlogp)).mean(-1)


@dataclass(frozen=True)
class FirstOrderErrors:
    """Errors along D directions at R distances (fractions, not percent).

    distances [R]; logp [D, R] err_logπ; objective [D, R] err_J; objective_true / objective_est [D, R] the true
    and first-order changes of J; logp_change_norm [D, R] ‖true‖₂/√N (how far log π moved, RMS over t);
    paper_definition [D, R] the authors' error (`paper_definition_error`) on the same transitions and steps.
    NaN where the true change is exactly 0 (paper_definition: where every |log π| is 0).
    """

    distances: torch.Tensor
    logp: torch.Tensor
    objective: torch.Tensor
    objective_true: torch.Tensor
    objective_est: torch.Tensor
    logp_change_norm: torch.Tensor
    paper_definition: torch.Tensor


@torch.no_grad()
def first_order_errors(actor: Actor, params: dict[str, torch.Tensor], obs: torch.Tensor, task_id: torch.Tensor,
                       actions: torch.Tensor, adv: torch.Tensor, directions: torch.Tensor,
                       distances=DISTANCES, masks: torch.Tensor | None = None) -> FirstOrderErrors:
    """err_logπ, err_J and the authors' error (module docstring) for every unit direction u_i [D, p] and
    distance ρ_j [R].

    Δ_ij = ρ_j‖θ*‖·u_i with θ* = `params`; transitions obs [N, ...], task_id [N], actions [N, ...], Â [N]
    (standardised per task). `masks` [D, N] bool, if given, restricts direction i to the transitions where
    masks[i] holds (e.g. the tasks of the subset S_i that produced it). Computed in `params`' dtype (pass a
    `float64_actor` and its parameters).
    """
    theta = flat_params(params)
    dtype = theta.dtype
    rho = torch.as_tensor(distances, dtype=dtype, device=theta.device)
    if rho.dim() != 1 or not len(rho) or not (rho > 0).all():
        raise ValueError(f"invalid distances={distances!r}: allowed a non-empty list of positive numbers")
    if directions.dim() != 2 or directions.shape[1] != theta.numel():
        raise ValueError(f"directions must be [D, {theta.numel()}], got {tuple(directions.shape)}")
    U = directions.to(device=theta.device, dtype=dtype)
    if masks is not None and tuple(masks.shape) != (U.shape[0], len(obs)):
        raise ValueError(f"masks must be [{U.shape[0]}, {len(obs)}], got {tuple(masks.shape)}")
    adv = adv.to(device=theta.device, dtype=dtype)
    steps = rho * theta.norm()
    D, R = U.shape[0], len(rho)
    out = {k: torch.full((D, R), torch.nan, dtype=dtype)
           for k in ("logp", "obj", "obj_true", "obj_est", "rms", "paper")}
    for i in range(D):
        sel = slice(None) if masks is None else masks[i].to(obs.device)
        o, t, a, A = obs[sel], task_id[sel], actions[sel], adv[sel]
        if not len(o):
            continue
        with torch.enable_grad():
            logp0, gu = logp_and_directional(actor, params, o, t, a, U[i])
        for j in range(R):
            logp1 = logp_shifted(actor, params, steps[j] * U[i], o, t, a)
            true = logp1 - logp0
            est = steps[j] * gu
            out["paper"][i, j] = paper_definition_error(logp0, logp0 + est, logp1)
            j_true, j_est = objective_change(true, A), (A * est).mean()
            out["logp"][i, j] = relative_error(true, est)
            out["obj_true"][i, j], out["obj_est"][i, j] = j_true, j_est
            out["obj"][i, j] = relative_error(j_true.reshape(1), j_est.reshape(1))
            out["rms"][i, j] = true.norm() / max(true.numel(), 1) ** 0.5
    return FirstOrderErrors(distances=rho.cpu(), logp=out["logp"], objective=out["obj"],
                            objective_true=out["obj_true"], objective_est=out["obj_est"],
                            logp_change_norm=out["rms"], paper_definition=out["paper"])


def summarise(errors: np.ndarray, distances) -> dict[str, dict[str, float | None]]:
    """Per distance key (`distance_key`), the median, quartiles and count over directions of errors [D, R],
    in percent; NaN entries are left out (None when none is left)."""
    errors = np.asarray(errors, dtype=float)
    out = {}
    for j, rho in enumerate(distances):
        col = errors[:, j][np.isfinite(errors[:, j])] * 100
        stats = {"median": None, "q25": None, "q75": None}
        if col.size:
            stats = {"median": float(np.median(col)), "q25": float(np.quantile(col, 0.25)),
                     "q75": float(np.quantile(col, 0.75))}
        out[distance_key(rho)] = {**stats, "n": int(col.size)}
    return out

