"""Gradient features (PAPER.md, Algorithm step 2): projected per-sample policy gradients.

For every transition t of a rollout of π_θ*, g_t = ∇_θ log π_θ(a_t|s_t) at θ* (actor parameters only,
flattened in `actor_params` order, length p). Each g_t is projected to g̃_t = Pᵀ g_t ∈ R^d with a seeded
Gaussian Johnson–Lindenstrauss matrix P ∈ R^{p×d}, P_ij ~ N(0, 1/d), so that E‖g̃‖² = ‖g‖². Only the
[N, d] features are kept: per-sample gradients live one chunk at a time and P is never materialized,
it is regenerated tile by tile from seeds whenever it is needed (`Projector`).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch.func import grad, vmap
from tqdm import tqdm

from pgxlib.config import check_int
from pgxlib.estimate.projector import Projector
from pgxlib.nets import Actor, actor_log_prob, actor_params
from pgxlib.transitions import Rollout, standardize_per_task


def per_sample_grads(actor: Actor, params: dict[str, torch.Tensor], obs: torch.Tensor, task_id: torch.Tensor,
                     actions: torch.Tensor) -> torch.Tensor:
    """∇_θ log π_θ(a_t|s_t) for each of B transitions, [B, p], flattened in `params` order.

    `torch.func.vmap(torch.func.grad(...))` over the batch of the pure `actor_log_prob`.
    """

    def logp_one(prm, o, t, a):
        return actor_log_prob(actor, prm, o.unsqueeze(0), t.unsqueeze(0), a.unsqueeze(0))[0]

    grads = vmap(grad(logp_one), in_dims=(None, 0, 0, 0))(params, obs, task_id, actions)
    return torch.cat([grads[name].reshape(obs.shape[0], -1) for name in params], dim=1)


@dataclass
class GradFeatures:
    """Projected gradient features of N transitions (d = proj_dim, p = n_params).

    - G [N, d] float32: g̃_t = Pᵀ ∇_θ log π_θ*(a_t|s_t).
    - adv [N]: advantages standardised *per task* (zero mean, unit population std within each
      task), so that every task weighs alike in a subset's surrogate whatever its reward scale.
    - y [N] in {−1, +1}: sign(adv), 0 counted as +1; w [N] = abs(adv), the logistic-regression weights.
    - task_id [N] int64; heldout [N] bool: a seeded random `heldout_frac` of each task's
      transitions, left out of the surrogate fits and used only for scoring.
    """

    G: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    adv: torch.Tensor
    task_id: torch.Tensor
    heldout: torch.Tensor
    proj_dim: int
    n_params: int

    def __len__(self) -> int:
        return int(self.G.shape[0])

    @property
    def n_tasks(self) -> int:
        """1 + the largest task id present."""
        return int(self.task_id.max()) + 1 if len(self) else 0

    def to(self, device: torch.device | str) -> "GradFeatures":
        return GradFeatures(**{f.name: (v.to(device) if torch.is_tensor(v := getattr(self, f.name)) else v)
                               for f in fields(self)})


def heldout_mask(task_id: torch.Tensor, heldout_frac: float, seed: int = 0) -> torch.Tensor:
    """Bool [N]: round(heldout_frac · n_i) random transitions of each task i (at least one, and at least one
    left for training, when the task has two or more), drawn on CPU from `seed`."""
    if not 0 < heldout_frac < 1:
        raise ValueError(f"invalid heldout_frac={heldout_frac!r}: allowed a number in (0, 1)")
    tid = task_id.cpu()
    mask = torch.zeros(tid.shape[0], dtype=torch.bool)
    gen = torch.Generator().manual_seed(int(seed))
    for t in torch.unique(tid).tolist():
        idx = torch.nonzero(tid == t).squeeze(1)
        n = idx.numel()
        k = min(max(round(heldout_frac * n), 1), n - 1) if n >= 2 else 0
        mask[idx[torch.randperm(n, generator=gen)[:k]]] = True
    return mask.to(task_id.device)


def compute_features(actor: Actor, rollout: Rollout, projector: Projector, chunk_size: int = 256,
                     heldout_frac: float = 0.25, seed: int = 0, progress: bool = True) -> GradFeatures:
    """Gradient features of every transition of `rollout` under the actor's current parameters θ*.

    Per-sample gradients are taken `chunk_size` transitions at a time and projected at once; only the
    [chunk, d] result is kept. Runs on the actor's device. Raises ValueError on NaN/inf advantages or
    gradients, or when the projector's p is not the actor's parameter count.
    """
    check_int("chunk_size", chunk_size, 1)
    params = actor_params(actor)
    n_params = sum(v.numel() for v in params.values())
    if projector.p != n_params:
        raise ValueError(f"projector has p={projector.p} but the actor has {n_params} parameters")
    device = next(iter(params.values())).device
    if not torch.isfinite(rollout.advantages).all():
        raise ValueError("advantages contain NaN or inf; cannot compute gradient features")
    task_id = rollout.task_id.to(device=device, dtype=torch.int64)
    adv = standardize_per_task(rollout.advantages.to(device), task_id)
    N = len(rollout)
    G = torch.empty(N, projector.d, device=device, dtype=torch.float32)
    for start in tqdm(range(0, N, chunk_size), desc="gradient features", unit="chunk", disable=not progress):
        sl = slice(start, min(start + chunk_size, N))
        g = per_sample_grads(actor, params, rollout.obs[sl].to(device), task_id[sl], rollout.actions[sl].to(device))
        if not torch.isfinite(g).all():
            raise ValueError(f"per-sample gradients contain NaN or inf (transitions {sl.start}..{sl.stop - 1})")
        G[sl] = projector.project(g.float())
        del g
    return GradFeatures(
        G=G,
        y=torch.where(adv >= 0, 1.0, -1.0).to(torch.float32),
        w=adv.abs(),
        adv=adv,
        task_id=task_id,
        heldout=heldout_mask(task_id, heldout_frac, seed),
        proj_dim=projector.d,
        n_params=n_params,
    )
