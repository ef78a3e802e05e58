"""Gradient features (PAPER.md, Algorithm step 2): projected per-sample policy gradients.

For every transition t of a rollout of π_θ*, g_t = ∇_θ log π_θ(a_t|s_t) at θ* (actor parameters only,
flattened in `actor_params` order, length p). Each g_t is projected to g̃_t = Pᵀ g_t ∈ R^d with a seeded
Gaussian Johnson–Lindenstrauss matrix P ∈ R^{p×d}, P_ij ~ N(0, 1/d), so that E‖g̃‖² = ‖g‖². Only the
[N, d] features are kept: per-sample gradients live one chunk at a time and P is never materialized,
it is regenerated tile by tile from seeds (`Projector`), and kept whole during the stage when it fits in
`projector.CACHE_BYTES`.

The per-sample gradients of a chunk come from one batched forward and backward (`linear_signals`): hooks keep
each Linear layer's input a_t and output gradient δ_t, whose outer product δ_t a_tᵀ is the layer's per-sample
gradient; the log-std vector's come from a [B, ...] copy of it (`BROADCAST_PARAMS`); only the remaining
parameters (the module banks of Soft Modularization, PaCo and CARE) go through `vmap` (`per_sample_grads`,
also the reference the tests compare with).

`projection="sketch"` (`SketchProjector`) replaces P on the Linear layers by a structured sketch computed from
a_t and δ_t alone, so no per-sample gradient of a Linear layer is formed; the other parameters keep the dense
projection of their per-sample gradients.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

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


SKETCH_CHUNK_ROWS = 512
"""The fewest transitions the sketch takes at once. It holds no per-sample gradient of a Linear layer, only the
actor's activations (a few KiB per transition), so its chunks can be larger than the dense path's; 512 is the
largest that kept its peak memory within twice the batched backward's plus the output on both of `pgx bench`'s
actors (1,024 rows: 9.1 MiB on the cartpole actor against a bound of 8.9), and it was faster than 256 rows
(4.5× against 4.8× the batched backward on the cartpole actor)."""

BROADCAST_PARAMS = ("log_std",)
"""Parameters that `Actor.log_prob` uses only broadcast against the batch (``log_std.expand_as(mean)``): given a
``[B, *shape]`` copy in their place, the batched backward yields their per-sample gradients."""


def linear_signals(actor: Actor, obs: torch.Tensor, task_id: torch.Tensor, actions: torch.Tensor,
                   broadcast: Sequence[str] = ()) -> tuple[list[tuple[str, torch.Tensor, torch.Tensor | None]],
                                                         dict[str, torch.Tensor]]:
    """One batched forward and backward of Σ_t log π(a_t|s_t) through the actor.

    Returns ``(calls, grads)``: for each call of an `nn.Linear` module, (module name, its input a [B, ..., in],
    the gradient at its output δ [B, ..., out] or None when the output does not reach log π), where
    δ_t = ∂ log π(a_t|s_t)/∂z_t since transitions do not interact in the actor; and for each parameter named
    in `broadcast` (a subset of `BROADCAST_PARAMS`), its per-sample gradients ``[B, *shape]``.
    """
    unknown = set(broadcast) - set(BROADCAST_PARAMS)
    if unknown:
        raise ValueError(f"parameters {sorted(unknown)} are not used by broadcasting; allowed {BROADCAST_PARAMS}")
    calls: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    handles = [actor.get_submodule(name).register_forward_hook(
        lambda mod, inp, out, name=name: calls.append((name, inp[0].detach(), out)))
        for name in linear_layers(actor)]
    named = dict(actor.named_parameters())
    copies = {name: named[name].detach().expand(obs.shape[0], *named[name].shape).clone().requires_grad_(True)
              for name in broadcast}
    frozen = [prm for prm in actor.parameters() if not prm.requires_grad]
    try:
        for prm in frozen:                       # δ needs a graph through the layers' outputs
            prm.requires_grad_(True)
        with torch.enable_grad():
            logp = actor_log_prob(actor, copies, obs, task_id, actions) if copies else \
                actor.log_prob(obs, task_id, actions)
            wrt = [out for _, _, out in calls] + list(copies.values())
            grads = torch.autograd.grad(logp.sum(), wrt, allow_unused=True) if wrt else ()
    finally:
        for h in handles:
            h.remove()
        for prm in frozen:
            prm.requires_grad_(False)
    signals = [(name, a, delta) for (name, a, _), delta in zip(calls, grads)]
    per_sample = {name: (g if g is not None else torch.zeros_like(copies[name]))
                  for name, g in zip(copies, grads[len(calls):])}
    return signals, per_sample


def _rest_grads(actor: Actor, params: dict[str, torch.Tensor], obs: torch.Tensor, task_id: torch.Tensor,
                actions: torch.Tensor, names: Sequence[str], from_backward: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-sample gradients [B, Σ sizes] of the parameters `names`, in that order: those in `from_backward`
    (``[B, *shape]`` each) as given, the others (module banks) by `per_sample_grads`."""
    others = [n for n in names if n not in from_backward]
    vm = per_sample_grads(actor, params, obs, task_id, actions, only=others) if others else None
    parts, i = [], 0
    for name in names:
        if name in from_backward:
            parts.append(from_backward[name].reshape(obs.shape[0], -1))
        else:
            k = params[name].numel()
            parts.append(vm[:, i:i + k])
            i += k
    return torch.cat(parts, dim=1)


def hooked_per_sample_grads(actor: Actor, params: dict[str, torch.Tensor], obs: torch.Tensor,
                            task_id: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """`per_sample_grads` [B, p] (to float rounding) from one batched forward and backward (`linear_signals`):
    a Linear layer's per-sample gradient is δ_t a_tᵀ (weight) and δ_t (bias), summed over its calls; a
    parameter of `BROADCAST_PARAMS` comes from its [B, ...] copy; only the others (module banks) go through
    `vmap`. Written into one [B, p] buffer, in `params` order."""
    B = obs.shape[0]
    broadcast = [n for n in params if n in BROADCAST_PARAMS]
    signals, from_backward = linear_signals(actor, obs, task_id, actions, broadcast)
    offsets, start = {}, 0
    for name, value in params.items():
        offsets[name] = (start, start + value.numel())
        start += value.numel()
    G = torch.zeros(B, start, device=obs.device, dtype=torch.float32)
    modules = linear_layers(actor)
    for module, a, delta in signals:
        if delta is None:
            continue
        weight, bias = modules[module]
        out_dim, in_dim = params[weight].shape
        a3, d3 = a.reshape(B, -1, in_dim).float(), delta.reshape(B, -1, out_dim).float()
        w_cols = G[:, slice(*offsets[weight])].view(B, out_dim, in_dim)
        if a3.shape[1] == 1:
            w_cols.addcmul_(d3.transpose(1, 2), a3)
        else:
            w_cols.add_(torch.einsum("bko,bki->boi", d3, a3))
        if bias is not None:
            G[:, slice(*offsets[bias])] += d3.sum(1)
    covered = {n for module, _, _ in signals for n in modules[module] if n is not None}
    rest = [n for n in params if n not in covered]
    if rest:
        g = _rest_grads(actor, params, obs, task_id, actions, rest, from_backward)
        i = 0
        for name in rest:
            k = params[name].numel()
            G[:, slice(*offsets[name])] = g[:, i:i + k]
            i += k
    return G


def sketch_features(actor: Actor, params: dict[str, torch.Tensor], projector: SketchProjector, obs: torch.Tensor,
                    task_id: torch.Tensor, actions: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Sketched features of B transitions, [B, d], from one batched forward and backward (`linear_signals`):
    `SketchProjector.project_layer` turns each Linear call's (a, δ) into features (a layer called more than
    once adds up its calls). Parameters outside Linear layers add the dense projection of their per-sample
    gradients (from the same backward for `BROADCAST_PARAMS`, by `vmap` otherwise). Written into `out`
    ([B, d] float32) when given."""
    index = {s.weight: i for i, s in enumerate(projector.slots)}
    modules = linear_layers(actor)
    broadcast = [n for n in projector.rest if n in BROADCAST_PARAMS]
    signals, from_backward = linear_signals(actor, obs, task_id, actions, broadcast)
    if out is None:
        out = torch.empty(obs.shape[0], projector.d, device=obs.device, dtype=torch.float32)
    out.zero_()
    for module, a, delta in signals:
        layer = index.get(modules[module][0])
        if delta is not None and layer is not None:
            projector.project_layer(layer, a.float(), delta.float(), out=out)
    if projector.dense is not None:
        g = _rest_grads(actor, params, obs, task_id, actions, projector.rest, from_backward)
        projector.dense.project(g.float(), out=out)
    return out


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

    Per-sample gradients are taken `chunk_size` transitions at a time (`hooked_per_sample_grads`) and
    projected at once; only the [chunk, d] result is kept (with a `SketchProjector`, `sketch_features` per
    chunk of at least `SKETCH_CHUNK_ROWS`, since it forms no per-sample gradient of a Linear layer). Runs on the actor's
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
    step = max(chunk_size, SKETCH_CHUNK_ROWS) if sketch else chunk_size
    with projector.cached(cache_bytes):
        for start in tqdm(range(0, N, step), desc="gradient features", unit="chunk", disable=not progress):
            sl = slice(start, min(start + step, N))
            obs, act = rollout.obs[sl].to(device), rollout.actions[sl].to(device)
            if sketch:
                sketch_features(actor, params, projector, obs, task_id[sl], act, out=G[sl])
            else:
                G[sl] = 0.0
                projector.project(hooked_per_sample_grads(actor, params, obs, task_id[sl], act), out=G[sl])
            if not torch.isfinite(G[sl]).all():
                raise ValueError(f"per-sample gradients contain NaN or inf (transitions {sl.start}..{sl.stop - 1})")
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
