"""Gradient features (PAPER.md, Algorithm step 2): projected per-sample policy gradients.

For every transition t of a rollout of π_θ*, g_t = ∇_θ log π_θ(a_t|s_t) at θ* (actor parameters only,
flattened in `actor_params` order, length p). Each g_t is projected to g̃_t = Pᵀ g_t ∈ R^d with a seeded
Gaussian Johnson–Lindenstrauss matrix P ∈ R^{p×d}, P_ij ~ N(0, 1/d), so that E‖g̃‖² = ‖g‖². Only the
[N, d] features are kept: per-sample gradients live one chunk at a time and P is never materialized,
it is regenerated tile by tile from seeds (`Projector`), and kept whole during the stage when it fits in
`projector.CACHE_BYTES`.

`projection="sketch"` (`SketchProjector`) replaces P on the Linear layers by a structured sketch computed from
each layer's input activations and output gradients, taken by hooks during one batched forward and backward:
no per-sample gradient is formed there. Parameters outside Linear layers (a log-std vector, the module banks of
Soft Modularization and PaCo) keep per-sample gradients and the dense projection.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.func import grad, vmap
from tqdm import tqdm

from pgxlib.config import PROJECTIONS, check_choice, check_int
from pgxlib.estimate.projector import CACHE_BYTES, Projector, SketchProjector
from pgxlib.nets import Actor, actor_log_prob, actor_params
from pgxlib.transitions import Rollout, standardize_per_task


def per_sample_grads(actor: Actor, params: dict[str, torch.Tensor], obs: torch.Tensor, task_id: torch.Tensor,
                     actions: torch.Tensor, only: list[str] | None = None) -> torch.Tensor:
    """∇_θ log π_θ(a_t|s_t) for each of B transitions, [B, p], flattened in `params` order.

    `torch.func.vmap(torch.func.grad(...))` over the batch of the pure `actor_log_prob`; with `only`, the
    gradient with respect to those parameters alone, [B, Σ their sizes] in `only`'s order.
    """
    fixed = {k: v for k, v in params.items() if only is not None and k not in only}
    free = params if only is None else {k: params[k] for k in only}

    def logp_one(prm, o, t, a):
        return actor_log_prob(actor, {**fixed, **prm}, o.unsqueeze(0), t.unsqueeze(0), a.unsqueeze(0))[0]

    grads = vmap(grad(logp_one), in_dims=(None, 0, 0, 0))(free, obs, task_id, actions)
    return torch.cat([grads[name].reshape(obs.shape[0], -1) for name in free], dim=1)


def linear_layers(actor: nn.Module) -> dict[str, tuple[str, str | None]]:
    """The actor's `nn.Linear` modules: module name -> (weight name, bias name or None) in `actor_params` names."""
    return {name: (f"{name}.weight", f"{name}.bias" if mod.bias is not None else None)
            for name, mod in actor.named_modules() if isinstance(mod, nn.Linear)}


def make_projector(actor: Actor, d: int, seed: int, projection: str = "gaussian") -> Projector | SketchProjector:
    """The projector of the actor's parameters for `projection` (one of `PROJECTIONS`)."""
    check_choice("projection", projection, PROJECTIONS)
    params = actor_params(actor)
    if projection == "gaussian":
        return Projector(sum(v.numel() for v in params.values()), d, seed=seed)
    return SketchProjector({k: tuple(v.shape) for k, v in params.items()}, list(linear_layers(actor).values()),
                           d, seed=seed)


def sketch_features(actor: Actor, params: dict[str, torch.Tensor], projector: SketchProjector, obs: torch.Tensor,
                    task_id: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Sketched features of B transitions, [B, d], from one batched forward and backward.

    Forward hooks keep each Linear layer's input a and output z; ``autograd.grad(Σ_t log π(a_t|s_t), z)`` gives
    every δ_t = ∂ log π(a_t|s_t)/∂z_t at once (transitions do not interact in the actor), and
    `SketchProjector.project_layer` turns (a, δ) into features. A layer called more than once adds up its calls.
    Parameters outside Linear layers add the dense projection of their per-sample gradients.
    """
    index = {s.weight: i for i, s in enumerate(projector.slots)}
    calls: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    handles = []
    for name, (weight, _) in linear_layers(actor).items():
        if weight in index:
            layer = index[weight]
            handles.append(actor.get_submodule(name).register_forward_hook(
                lambda mod, inp, out, layer=layer: calls.append((layer, inp[0].detach(), out))))
    frozen = [prm for prm in actor.parameters() if not prm.requires_grad]
    try:
        for prm in frozen:                       # δ needs a graph through the layers' outputs
            prm.requires_grad_(True)
        with torch.enable_grad():
            logp = actor.log_prob(obs, task_id, actions)
            outs = [out for _, _, out in calls]
            deltas = torch.autograd.grad(logp.sum(), outs, allow_unused=True) if outs else []
    finally:
        for h in handles:
            h.remove()
        for prm in frozen:
            prm.requires_grad_(False)
    feats = torch.zeros(obs.shape[0], projector.d, device=obs.device, dtype=torch.float32)
    for (layer, a, _), delta in zip(calls, deltas):
        if delta is not None:
            projector.project_layer(layer, a.float(), delta.float(), out=feats)
    if projector.dense is not None:
        g = per_sample_grads(actor, params, obs, task_id, actions, only=projector.rest)
        if not torch.isfinite(g).all():
            raise ValueError("per-sample gradients contain NaN or inf")
        feats += projector.dense.project(g.float())
    if not torch.isfinite(feats).all():
        raise ValueError("sketched per-sample gradients contain NaN or inf")
    return feats


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


def compute_features(actor: Actor, rollout: Rollout, projector: Projector | SketchProjector, chunk_size: int = 256,
                     heldout_frac: float = 0.25, seed: int = 0, progress: bool = True,
                     cache_bytes: int = CACHE_BYTES) -> GradFeatures:
    """Gradient features of every transition of `rollout` under the actor's current parameters θ*.

    Per-sample gradients are taken `chunk_size` transitions at a time and projected at once; only the
    [chunk, d] result is kept (with a `SketchProjector`, `sketch_features` per chunk). Runs on the actor's
    device. The dense projection is generated once when it fits in `cache_bytes` (0: per chunk, as before;
    the numbers are the same). Raises ValueError on NaN/inf advantages or gradients, or when the projector's
    p is not the actor's parameter count.
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
    sketch = isinstance(projector, SketchProjector)
    with projector.cached(cache_bytes):
        for start in tqdm(range(0, N, chunk_size), desc="gradient features", unit="chunk", disable=not progress):
            sl = slice(start, min(start + chunk_size, N))
            obs, act = rollout.obs[sl].to(device), rollout.actions[sl].to(device)
            if sketch:
                try:
                    G[sl] = sketch_features(actor, params, projector, obs, task_id[sl], act)
                except ValueError as err:
                    raise ValueError(f"{err} (transitions {sl.start}..{sl.stop - 1})") from None
                continue
            g = per_sample_grads(actor, params, obs, task_id[sl], act)
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
