"""Surrogate fine-tuning of θ* on a subset of tasks (PAPER.md, Algorithm step 3), from gradient features alone.

For a subset S of tasks, the first-order expansion log π_θ*+Δ − log π_θ* ≈ gᵀΔ turns the PPO objective into a
weighted logistic regression without intercept on S's training (non-heldout) transitions:

    L_S(w) = (1/N_S) Σ_{t∈S} |Â_t| · log(1 + exp(−y_t · g̃_tᵀ w)) + (λ/2)‖w‖²,    y_t = sign(Â_t),  λ = `l2`,

with N_S the number of S's training transitions: a mean, not a sum, so that λ means the same whatever the
steps per task and the subset size (as a sum over about 6,000 transitions, λ = 1 barely regularised).

and the estimate of the policy fine-tuned on S is θ̂_S = θ* + Δθ_S with Δθ_S = scale_S · P ŵ_S.

Rescale rule (this project's documented choice): the first-order identity only holds near θ*
(about 1% relative parameter distance, PAPER.md), so the step is shrunk to stay inside that region:

    scale_S = min(1, max_rel_dist · ‖θ*‖ / ‖P ŵ_S‖),

i.e. Δθ_S = P ŵ_S when it is already within `max_rel_dist`·‖θ*‖ of θ*, else it is P ŵ_S rescaled to that
distance (same direction). λ is left as configured; only the length of the step is controlled.

Solver (`fit_subsets`): the m subset problems are separable, so they are solved together as batched
truncated-Newton (Newton-CG) problems, in blocks of subsets whose d×d preconditioner factors fit in
`PRECOND_BYTES`: every Hessian-vector product is, per task, two [N_t, d]×[d, m_t] matmuls over the m_t subsets
of the block that hold the task (a subset touches only its own tasks' rows), and the preconditioner
¼ GᵀC_l G + λI (the exact Hessian at w = 0) is a sum of per-task Gram matrices, built once for N·d² flops.
Exact batched Newton needs the m Hessians G_lᵀ D_l G_l at every step (m·N_l·d² flops); Newton-CG converges
in the same 6–8 Newton steps with a few CG iterations each. n = 100 tasks, m = 4,959 subsets of 4, N = 20,000,
d = 400: 68 s and 2.1 GB peak on one thread of a shared 2-core machine (`pgx bench` measures it). It agrees
with scikit-learn's `LogisticRegression(fit_intercept=False, C=1/λ)` to about 1e-6 (relative).

Everything here is pure maths on tensors, on the features' device.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pgxlib.config import SurrogateConfig
from pgxlib.estimate.features import GradFeatures
from pgxlib.estimate.projector import Projector

# ---------------------------------------------------------------------------------------------
# Batched solver
# ---------------------------------------------------------------------------------------------

PRECOND_BYTES = 1 << 30
"""Memory budget of the preconditioners' Cholesky factors (m·d²·8 bytes): subsets are solved in blocks that fit."""


@dataclass
class _Piece:
    """The training rows of one task and the subset problems that use them.

    G [N_t, d] float64 (G32 its float32 copy), y [N_t] ±1, C [N_t, m_t] the rows' weight in each of the m_t
    problems `cols` [m_t] (indices into the block's problems)."""

    G: torch.Tensor
    G32: torch.Tensor
    y: torch.Tensor
    C: torch.Tensor
    cols: torch.Tensor


def _objective(pieces: list[_Piece], margins: list[torch.Tensor], W: torch.Tensor, l2: float) -> torch.Tensor:
    """Per-problem L(w_l) [m]; margins[i] [N_t, m_t] = G_t W[cols]ᵀ."""
    out = 0.5 * l2 * W.square().sum(1)
    for pc, z in zip(pieces, margins):
        out.index_add_(0, pc.cols, (pc.C * F.softplus(-pc.y[:, None] * z)).sum(0))
    return out


def _cholesky(A: torch.Tensor) -> torch.Tensor:
    """Cholesky factors of symmetric positive definite matrices [..., d, d]."""
    return torch.linalg.cholesky(A)


def _pcg(hvp, b: torch.Tensor, chol: torch.Tensor, tol: torch.Tensor, active: torch.Tensor,
         max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Preconditioned conjugate gradients for m systems H_l s_l = b_l at once ([m, d]), preconditioner
    M_l = chol_l chol_lᵀ; problem l stops when ‖r_l‖ ≤ tol_l. Returns the solutions [m, d] and the
    iterations each used [m]."""
    tiny = torch.finfo(b.dtype).tiny

    def precondition(r):  # (L Lᵀ)⁻¹ r by two triangular solves (several times faster than cholesky_solve here)
        half = torch.linalg.solve_triangular(chol, r.unsqueeze(-1), upper=False)
        return torch.linalg.solve_triangular(chol.transpose(-2, -1), half, upper=True).squeeze(-1)

    S = torch.zeros_like(b)
    r = b.clone()
    z = precondition(r)
    p = z.clone()
    rz = (r * z).sum(1)
    running = active & (r.norm(dim=1) > tol)
    iters = torch.zeros(b.shape[0], dtype=torch.int64, device=b.device)
    for _ in range(max_iter):
        if not running.any():
            break
        iters += running
        Hp = hvp(p)
        pHp = (p * Hp).sum(1)
        alpha = torch.where(running & (pHp > 0), rz / pHp.clamp(min=tiny), 0.0)
        S += alpha[:, None] * p
        r -= alpha[:, None] * Hp
        running &= (r.norm(dim=1) > tol) & (pHp > 0)
        z = precondition(r)
        rz_new = (r * z).sum(1)
        p = z + torch.where(running, rz_new / rz.clamp(min=tiny), 0.0)[:, None] * p
        rz = rz_new
    return S, iters


def _newton_cg(pieces: list[_Piece], l2: float, chol: torch.Tensor, max_iter: int, tol: float = 1e-8,
               max_cg: int = 50, refresh_after: int = 10) -> torch.Tensor:
    """Minimise m independent L2-regularised weighted logistic losses at once; returns W [m, d].

    Problem l is L_l(w) = Σ_t C_tl log(1 + exp(−y_t g̃_tᵀw)) + (λ/2)‖w‖² over the rows of the `pieces` whose
    `cols` contain l (float64). Truncated Newton: each Newton direction solves H_l s_l = −∇L_l by preconditioned
    conjugate gradients whose Hessian-vector products Σ_pieces G_tᵀ(C σ'(z) ∘ G_t S_tᵀ) + λS are batched over
    the problems (float32 products since they only shape the direction; gradients and objectives are
    float64). The preconditioner starts as the Cholesky factor `chol` [m, d, d] of ¼ G_lᵀC_l G_l + λI, the exact
    Hessian at w = 0 and an upper bound of it everywhere (σ' ≤ ¼); a problem whose CG needed more than
    `refresh_after` iterations (large margins, e.g. nearly separable data) gets its exact Hessian at the
    current point as the next preconditioner. The CG tolerance min(0.5, sqrt(‖∇L‖/‖∇L(0)‖))·‖∇L‖ gives
    superlinear convergence; a backtracking Armijo line search per problem guarantees descent. Stops when
    every ‖∇L_l‖ ≤ tol·max(1, ‖∇L_l(0)‖) or after `max_iter` Newton steps. The problems never interact, so a
    problem's iterates do not depend on which others are solved with it. `chol` is overwritten by refreshes.
    """
    m, d = chol.shape[0], chol.shape[-1]
    dtype, device = chol.dtype, chol.device
    eye = torch.eye(d, dtype=dtype, device=device)
    where: dict[int, list[tuple[int, int]]] = {}
    for i, pc in enumerate(pieces):
        for j, l in enumerate(pc.cols.tolist()):
            where.setdefault(l, []).append((i, j))
    W = torch.zeros(m, d, device=device, dtype=dtype)
    margins = [torch.zeros_like(pc.C) for pc in pieces]
    f = _objective(pieces, margins, W, l2)
    refresh = torch.zeros(m, dtype=torch.bool, device=device)
    gnorm0 = None
    for _ in range(max_iter):
        zs = [pc.y[:, None] * z for pc, z in zip(pieces, margins)]
        grad = l2 * W
        for pc, z in zip(pieces, zs):
            grad.index_add_(0, pc.cols, -(pc.G.T @ (pc.C * pc.y[:, None] * torch.sigmoid(-z))).T)
        gnorm = grad.norm(dim=1)
        if gnorm0 is None:
            gnorm0 = gnorm.clamp(min=1.0)
        active = gnorm > tol * gnorm0
        if not active.any():
            break
        D = [pc.C * torch.sigmoid(z) * torch.sigmoid(-z) for pc, z in zip(pieces, zs)]
        for l in torch.nonzero(refresh & active).flatten().tolist():
            H = l2 * eye
            for i, j in where.get(l, []):
                H = H + pieces[i].G.T @ (D[i][:, j, None] * pieces[i].G)
            chol[l] = _cholesky(H)
        D32 = [x.float() for x in D]

        def hvp(S):
            out = l2 * S
            S32 = S.float()
            for pc, dd in zip(pieces, D32):
                out.index_add_(0, pc.cols, (pc.G32.T @ (dd * (pc.G32 @ S32[pc.cols].T))).T.to(dtype))
            return out

        cg_tol = torch.clamp((gnorm / gnorm0).sqrt(), max=0.5) * gnorm
        S, cg_iters = _pcg(hvp, -grad, chol, cg_tol, active, max_cg)
        refresh = cg_iters > refresh_after

        slope = (grad * S).sum(1)
        step = active.to(dtype)
        GS = [pc.G @ S[pc.cols].T for pc in pieces]
        for _ in range(30):
            f_new = _objective(pieces, [z + step[pc.cols] * gs for pc, z, gs in zip(pieces, margins, GS)],
                               W + step[:, None] * S, l2)
            ok = (f_new <= f + 1e-4 * step * slope + 1e-12 * f.abs()) | (step == 0)
            if ok.all():
                break
            step = torch.where(ok, step, 0.5 * step)
        step = torch.where(ok, step, 0.0)
        W = W + step[:, None] * S
        margins = [z + step[pc.cols] * gs for pc, z, gs in zip(pieces, margins, GS)]
        f = torch.where(ok, f_new, f)
    return W


def _piece(G: torch.Tensor, y: torch.Tensor, C: torch.Tensor, cols: torch.Tensor) -> _Piece:
    return _Piece(G=G, G32=G.float(), y=y, C=C, cols=cols)


@torch.no_grad()
def fit_logistic(G: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, l2: float, max_iter: int = 100) -> torch.Tensor:
    """ŵ = argmin_w Σ_t weight_t log(1 + exp(−y_t g̃_tᵀw)) + (l2/2)‖w‖² for G [N, d], y [N] ±1, weight [N] ≥ 0.

    Returns [d] in G's dtype (solved in float64). `max_iter` caps the Newton steps (see `_newton_cg`).
    """
    _check_l2(l2)
    G64, y64, C = G.double(), y.double(), weight.double()[:, None]
    precond = 0.25 * (G64.T @ (C * G64)) + l2 * torch.eye(G.shape[1], dtype=torch.float64, device=G.device)
    pieces = [_piece(G64, y64, C, torch.zeros(1, dtype=torch.int64, device=G.device))]
    return _newton_cg(pieces, l2, _cholesky(precond).unsqueeze(0), max_iter)[0].to(G.dtype)


def _as_members(members, device) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(members) if not torch.is_tensor(members) else members)
    if m.dim() != 2:
        raise ValueError(f"members must be a bool matrix [m, n_tasks], got shape {tuple(m.shape)}")
    return m.to(device=device, dtype=torch.bool)


def _check_l2(l2: float) -> None:
    if not l2 > 0:
        raise ValueError(f"invalid l2={l2!r}: allowed a positive number")


def subset_block_size(d: int, budget_bytes: int = PRECOND_BYTES) -> int:
    """Subsets solved together: as many d×d float64 Cholesky factors as fit in `budget_bytes` (at least 1)."""
    return max(1, int(budget_bytes) // (8 * d * d))


@torch.no_grad()
def fit_subsets(features: GradFeatures, members, l2: float, max_iter: int = 100,
                budget_bytes: int = PRECOND_BYTES) -> torch.Tensor:
    """ŵ_l for every subset l at once: W [m, d] (features' dtype and device).

    `members` [m, n_tasks] bool: row l marks the tasks of subset S_l. Subset l's problem uses the
    non-heldout transitions of its tasks with weights w_t / N_S (N_S its number of such transitions).
    The m objectives are separable, so they are solved as batched truncated-Newton problems (`_newton_cg`,
    float64) in blocks of `subset_block_size(d, budget_bytes)` subsets; a task's rows are stored once per block
    and multiplied by the coefficients of every subset of the block that holds it. The preconditioners
    ¼ GᵀC_l G + λI are sums of per-task Gram matrices (N·d² once, then s·d² per subset of s tasks). Memory:
    the block's factors (≤ `budget_bytes`) plus O(Σ_l N_S(l)) per block, never [N, m] or [m, d, d] whole.
    """
    _check_l2(l2)
    mem = _as_members(members, features.G.device)
    n_tasks = mem.shape[1]
    if features.task_id.numel() and int(features.task_id.max()) >= n_tasks:
        raise ValueError(f"members has {n_tasks} task columns but features have task ids up to "
                         f"{int(features.task_id.max())}")
    train = ~features.heldout
    G = features.G[train].double()
    y = features.y[train].double()
    tid = features.task_id[train]
    wt = features.w[train].double()
    d = G.shape[1]
    counts = torch.bincount(tid, minlength=n_tasks)
    n_rows = (mem.double() @ counts.double()).clamp(min=1)           # N_S of each subset [m]
    rows = [torch.nonzero(tid == t).squeeze(1) for t in range(n_tasks)]
    tasks = [t for t in range(n_tasks) if rows[t].numel()]
    grams = torch.zeros(n_tasks + 1, d, d, dtype=torch.float64, device=G.device)   # the last one stays 0 (padding)
    for t in tasks:
        grams[t] = G[rows[t]].T @ (wt[rows[t], None] * G[rows[t]])
    data = {t: (G[rows[t]], G[rows[t]].float(), y[rows[t]], wt[rows[t]]) for t in tasks}
    eye = torch.eye(d, dtype=torch.float64, device=G.device)
    W = torch.zeros(mem.shape[0], d, dtype=torch.float64, device=G.device)
    block = subset_block_size(d, budget_bytes)
    for lo in range(0, mem.shape[0], block):
        hi = min(lo + block, mem.shape[0])
        inv_rows = 1.0 / n_rows[lo:hi]
        chol = torch.empty(hi - lo, d, d, dtype=torch.float64, device=G.device)
        for c in range(0, hi - lo, 64):                              # ¼ Σ_{t∈S} grams_t / N_S + λI, 64 at a time
            sub = mem[lo + c:lo + min(c + 64, hi - lo)]
            order = torch.argsort((~sub).to(torch.int8), dim=1, stable=True)[:, :max(int(sub.sum(1).max()), 1)]
            idx = torch.where(sub.gather(1, order), order, n_tasks)
            precond = grams[idx].sum(1) * (0.25 * inv_rows[c:c + sub.shape[0], None, None]) + l2 * eye
            chol[c:c + sub.shape[0]] = _cholesky(precond)
        pieces = []
        for t in tasks:
            cols = torch.nonzero(mem[lo:hi, t]).squeeze(1)
            if cols.numel():
                Gt, Gt32, yt, wtt = data[t]
                pieces.append(_Piece(G=Gt, G32=Gt32, y=yt, C=wtt[:, None] * inv_rows[cols][None, :], cols=cols))
        W[lo:hi] = _newton_cg(pieces, l2, chol, max_iter)
        del chol, pieces
    return W.to(features.G.dtype)


# ---------------------------------------------------------------------------------------------
# Fits with the rescale rule, and scores
# ---------------------------------------------------------------------------------------------

@dataclass
class SurrogateFit:
    """Surrogate fits of m subsets.

    W [m, d] fitted coefficients ŵ_l; members [m, n_tasks] bool; scale [m] step factors (rescale rule in the
    module docstring); rel_dist_raw [m] = ‖P ŵ_l‖/‖θ*‖; rel_dist [m] = scale_l · rel_dist_raw_l.
    The estimate for subset l is θ̂_l = θ* + `delta(l, projector)`.
    """

    W: torch.Tensor
    members: torch.Tensor
    scale: torch.Tensor
    rel_dist_raw: torch.Tensor
    rel_dist: torch.Tensor

    def delta(self, l: int, projector: Projector) -> torch.Tensor:
        """Δθ_l = scale_l · P ŵ_l, [p]."""
        return self.scale[l] * projector.lift(self.W[l])

    @property
    def W_scaled(self) -> torch.Tensor:
        """scale_l · ŵ_l, [m, d]: the feature-space step whose lift is Δθ_l."""
        return self.scale[:, None] * self.W


@torch.no_grad()
def surrogate_fit(features: GradFeatures, members, projector: Projector, theta_norm: float,
                  cfg: SurrogateConfig) -> SurrogateFit:
    """Fit every subset (`fit_subsets`) and apply the rescale rule; `theta_norm` = ‖θ*‖ (actor only)."""
    theta_norm = float(theta_norm)
    if not theta_norm > 0:
        raise ValueError(f"invalid theta_norm={theta_norm!r}: allowed a positive number")
    if projector.d != features.proj_dim or projector.p != features.n_params:
        raise ValueError(f"projector (p={projector.p}, d={projector.d}) does not match the features "
                         f"(n_params={features.n_params}, proj_dim={features.proj_dim})")
    mem = _as_members(members, features.G.device)
    W = fit_subsets(features, mem, cfg.l2, cfg.max_iter)
    norms = projector.lift_norms(W.double())
    rel_raw = norms / theta_norm
    scale = torch.where(norms > 0, (cfg.max_rel_dist * theta_norm / norms.clamp(min=1e-300)).clamp(max=1.0), 1.0)
    return SurrogateFit(W=W, members=mem, scale=scale.to(W.dtype), rel_dist_raw=rel_raw.to(W.dtype),
                        rel_dist=(scale * rel_raw).to(W.dtype))


@torch.no_grad()
def heldout_logistic_scores(features: GradFeatures, fit: SurrogateFit) -> torch.Tensor:
    """Score of θ̂_l on task i, [m, n_tasks]: minus the |Â|-weighted mean logistic loss of task i's held-out
    transitions under scale_l·ŵ_l (higher is better); NaN where task i ∉ S_l or i has no held-out data.

    Since g̃ᵀ(scale·ŵ) ≈ gᵀΔθ, this is the held-out surrogate loss of the fine-tuned policy, without a rollout.
    A task whose held-out weights are all zero falls back to the unweighted mean.
    """
    n_tasks = fit.members.shape[1]
    ho = features.heldout
    G, y, w, tid = features.G[ho].double(), features.y[ho].double(), features.w[ho].double(), features.task_id[ho]
    loss = F.softplus(-y[:, None] * (G @ fit.W_scaled.double().T))  # [N_h, m]
    onehot = (tid[:, None] == torch.arange(n_tasks, device=tid.device)).double()  # [N_h, n_tasks]
    wsum, count = w @ onehot, onehot.sum(0)
    weighted = loss.T @ (w[:, None] * onehot) / wsum.clamp(min=1e-300)
    plain = loss.T @ onehot / count.clamp(min=1)
    score = -torch.where(wsum > 0, weighted, plain)
    score = torch.where(fit.members & (count > 0), score, torch.nan)
    return score.to(features.G.dtype)


def first_order_logp_change(features_or_G: GradFeatures | torch.Tensor, delta_w: torch.Tensor) -> torch.Tensor:
    """g̃_tᵀw, the first-order estimate of log π_θ*+Pw(a_t|s_t) − log π_θ*(a_t|s_t): [N] for w [d], [N, m] for [m, d]."""
    G = features_or_G.G if isinstance(features_or_G, GradFeatures) else features_or_G
    return G @ delta_w.to(G.dtype).T if delta_w.dim() == 2 else G @ delta_w.to(G.dtype)
