"""Hessian traces and the PAC-Bayes generalization bound of PAPER.md, "Generalization analysis" (Theorem 1).

Pure maths: tensors in, tensors (or floats) out; no environment, file or print.

- `bounded_policy_loss`: the loss ℓ the bound is stated for, bounded in [0, C] and smooth in θ;
- `hutchinson_trace`: per-layer Hutchinson estimates of Tr[∇²_{W_i} L] with Rademacher probes and
  Hessian-vector products (forward-over-reverse, ``torch.func.jvp`` of ``torch.func.grad``);
- `max_batch_trace`: the maximum over mini-batches of those per-layer traces (the paper's "max over data");
- `hessian_bound`: Σ_i sqrt(C · T_i · D_i / N), the implemented form of the bound (ε omitted).

A *layer* groups the parameter tensors that share a module prefix: ``body.net.0.weight`` and
``body.net.0.bias`` form layer ``body.net.0``; a tensor without a ``.weight``/``.bias`` suffix (the
Gaussian actor's ``log_std``) is a layer of its own. W_i is the concatenation of a layer's tensors, so
Tr[∇²_{W_i}] is the trace of the Hessian's diagonal block of that layer and ‖W_i − W_i^(0)‖²_F sums over
its tensors.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import torch
from torch.func import grad, jvp, vmap

Params = Mapping[str, torch.Tensor]


def layer_of(name: str) -> str:
    """The layer a parameter belongs to: the name without a trailing ``.weight``/``.bias``."""
    head, _, tail = name.rpartition(".")
    return head if head and tail in ("weight", "bias") else name


def layer_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """Layer name -> its parameter names, in first-appearance order (weight and bias of a Linear together)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(layer_of(name), []).append(name)
    return groups


def bounded_policy_loss(logp: torch.Tensor, cap: float) -> torch.Tensor:
    """ℓ = C · (1 − exp(−softplus(−log π(a|s)) / C)) per transition, shape [B] -> [B], values in (0, C).

    softplus of the negative log-likelihood keeps the argument positive also for continuous actions
    (a Gaussian density can exceed 1, so −log π can be negative); C(1 − e^{−x/C}) maps [0, ∞) onto
    [0, C) smoothly and is ≈ x for x ≪ C. Twice differentiable in θ, as Theorem 1 requires.
    """
    return cap * (1.0 - torch.exp(-torch.nn.functional.softplus(-logp) / cap))


def rademacher_like(params: Params, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A probe v with independent ±1 entries, shaped like `params` (drawn on CPU, moved to each tensor's device)."""
    out = {}
    for name, p in params.items():
        bits = torch.randint(0, 2, p.shape, generator=generator, dtype=torch.int64)
        out[name] = (2 * bits - 1).to(device=p.device, dtype=p.dtype)
    return out


def hutchinson_trace(loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], params: Params, n_probes: int,
                     generator: torch.Generator, chunk: int = 64) -> dict[str, torch.Tensor]:
    """Per-layer Hutchinson estimates of Tr[∇²_{W_i} loss_fn], layer -> 0-dim tensor (mean over probes).

    Each probe v is a Rademacher vector over *all* parameters; one Hessian-vector product Hv
    (``jvp(grad(loss_fn), (params,), (v,))``) serves every layer: v_iᵀ(Hv)_i has expectation
    Tr H_ii because the cross terms v_iᵀ H_ij v_j (j ≠ i) have mean zero. Probes are vectorised with
    vmap in chunks of `chunk`. Deterministic given `generator`'s state.
    """
    if n_probes < 1:
        raise ValueError(f"n_probes must be a positive integer, got {n_probes!r}")
    params = {k: v.detach() for k, v in params.items()}
    groups = layer_groups(list(params))
    grad_fn = grad(loss_fn)

    def quad(v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hv = jvp(grad_fn, (params,), (v,))[1]
        return {layer: sum((v[n] * hv[n]).sum() for n in names) for layer, names in groups.items()}

    totals = {layer: torch.zeros((), dtype=next(iter(params.values())).dtype) for layer in groups}
    done = 0
    while done < n_probes:
        m = min(chunk, n_probes - done)
        probes = [rademacher_like(params, generator) for _ in range(m)]
        stacked = {k: torch.stack([p[k] for p in probes]) for k in params}
        q = vmap(quad)(stacked)
        for layer in groups:
            totals[layer] = totals[layer] + q[layer].sum().detach().cpu()
        done += m
    return {layer: t / n_probes for layer, t in totals.items()}


def max_batch_trace(loss_of_batch: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor], params: Params,
                    n_data: int, batch_size: int, n_batches: int, n_probes: int,
                    generator: torch.Generator) -> tuple[dict[str, float], torch.Tensor]:
    """The maximum over mini-batches of the per-layer Hutchinson traces of the batch-mean loss.

    `loss_of_batch(params, index)` is the mean loss over the data rows `index` (a LongTensor).
    `n_batches` disjoint mini-batches of `batch_size` rows are drawn from a permutation of the
    `n_data` rows (fewer when the data run out). Returns (layer -> max trace, per-batch traces
    [n_batches_used, L] in layer order).
    """
    if n_data < 1 or batch_size < 1 or n_batches < 1:
        raise ValueError("n_data, batch_size and n_batches must be positive")
    perm = torch.randperm(n_data, generator=generator)
    size = min(batch_size, n_data)
    rows = []
    for b in range(min(n_batches, max(1, n_data // size))):
        index = perm[b * size:(b + 1) * size]
        traces = hutchinson_trace(lambda p, idx=index: loss_of_batch(p, idx), params, n_probes, generator)
        rows.append(torch.stack(list(traces.values())))
    per_batch = torch.stack(rows)
    layers = list(layer_groups(list(params)))
    best = per_batch.max(0).values
    return {layer: float(best[i]) for i, layer in enumerate(layers)}, per_batch


def layer_dist_sq(params: Params, init: Params) -> dict[str, float]:
    """‖W_i − W_i^(0)‖²_F per layer (weight and bias of a layer summed)."""
    out: dict[str, float] = {}
    for layer, names in layer_groups(list(params)).items():
        out[layer] = float(sum(((params[n].detach() - init[n].detach()) ** 2).sum() for n in names))
    return out


def bound_terms(traces: Sequence[float], dists_sq: Sequence[float], n: int, cap: float) -> list[float]:
    """Per-layer terms sqrt(C · max(T_i, 0) · D_i / N); a negative trace estimate counts as zero curvature."""
    if len(traces) != len(dists_sq):
        raise ValueError(f"{len(traces)} traces but {len(dists_sq)} distances")
    if n < 1 or cap <= 0:
        raise ValueError(f"N must be positive and C > 0, got N={n!r}, C={cap!r}")
    return [math.sqrt(cap * max(float(t), 0.0) * float(d) / n) for t, d in zip(traces, dists_sq)]


def hessian_bound(traces: Sequence[float], dists_sq: Sequence[float], n: int, cap: float) -> float:
    """The implemented bound Σ_i sqrt(C · T_i · D_i / N) on test − train loss (Theorem 1 without ε).

    traces [L]: T_i = max over data (here: mini-batches) of Tr[∇²_{W_i} ℓ]; dists_sq [L]:
    D_i = ‖W_i − W_i^(0)‖²_F; n: N training samples; cap: C, the loss bound. The theorem's error
    term ε = O(N^{-3/4} log(1/δ)) and its constants are not known here and are left out.
    """
    return float(sum(bound_terms(traces, dists_sq, n, cap)))
