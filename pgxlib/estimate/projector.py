"""Seeded random projections of parameter space to R^d, never materialised as a p×d matrix.

- `Projector`: the dense Gaussian JL matrix P [p, d] (the paper's), `project(G) = G P`, `lift(w) = P w`,
  regenerated from seeded tiles, optionally cached while a `cached()` block runs.
- `SketchProjector`: a structured sketch of Linear layers (`projection="sketch"`); for each layer the
  per-sample gradient is an outer product δ aᵀ, and its features are computed from a and δ alone
  (`pgxlib.estimate.features`); every other parameter goes through a dense `Projector`.

Both keep ``project(G) @ w == G @ lift(w)``.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

TILE_ROWS = 1024
"""Rows of P drawn from one generator. P's value depends only on (seed, d); never on block_rows."""
CACHE_BYTES = 1 << 30
"""Memory budget of `Projector.cached()`: P is kept whole on the device only when p·d·itemsize fits."""


def tile_seed(seed: int, tile: int) -> int:
    """The 32-bit seed of tile `tile` (rows [tile·TILE_ROWS, (tile+1)·TILE_ROWS) of P).

    ``np.random.SeedSequence([seed, tile]).generate_state(1)[0]``: a hash of the pair, because torch's
    CPU generator keeps only the low 32 bits of its seed (so ``seed·2**32 + tile`` would ignore seed).
    """
    return int(np.random.SeedSequence([int(seed), int(tile)]).generate_state(1, dtype=np.uint32)[0])


def projection_tile(seed: int, tile: int, d: int) -> torch.Tensor:
    """Tile `tile` of P, shape [TILE_ROWS, d], float32 on CPU: ``randn(TILE_ROWS, d) / sqrt(d)``
    from ``torch.Generator().manual_seed(tile_seed(seed, tile))``. The last tile is cut to p rows."""
    gen = torch.Generator().manual_seed(tile_seed(seed, tile))
    return torch.randn(TILE_ROWS, d, generator=gen) / math.sqrt(d)


class Projector:
    """A seeded Gaussian JL projection P ∈ R^{p×d}, P_ij ~ N(0, 1/d), never stored whole.

    P is made of tiles of `TILE_ROWS` rows, each drawn on CPU from its own generator (`projection_tile`),
    so P is the same on CPU and CUDA, across calls, and for any `block_rows`. `block_rows` (rounded up to
    a multiple of TILE_ROWS) is only how many rows are generated and moved to the device at a time.
    `project(G) = G @ P` maps parameter space to features; `lift(w) = P @ w` maps back, with the same
    blocks, so ``project(G) @ w == G @ lift(w)``. Inside ``with projector.cached():`` the blocks are
    generated once and reused (the same tensors, so the same numbers) when P fits in the budget.
    """

    def __init__(self, p: int, d: int, seed: int = 0, block_rows: int = 8192):
        for name, value in (("p", p), ("d", d), ("block_rows", block_rows)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"invalid {name}={value!r}: allowed a positive integer")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"invalid seed={seed!r}: allowed a non-negative integer")
        self.p, self.d, self.seed = int(p), int(d), int(seed)
        self.block_rows = -(-int(block_rows) // TILE_ROWS) * TILE_ROWS
        self._cache: dict | None = None

    def __repr__(self) -> str:
        return f"Projector(p={self.p}, d={self.d}, seed={self.seed}, block_rows={self.block_rows})"

    def blocks(self, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield (start, stop, P[start:stop] on `device`) over row blocks of P."""
        key = (str(torch.device(device)), dtype)
        if self._cache is not None and key in self._cache:
            yield from self._cache[key]
            return
        keep = self._cache is not None and self.p * self.d * torch.finfo(dtype).bits // 8 <= self._budget
        kept = []
        for start in range(0, self.p, self.block_rows):
            stop = min(start + self.block_rows, self.p)
            tiles = range(start // TILE_ROWS, -(-stop // TILE_ROWS))
            block = torch.cat([projection_tile(self.seed, t, self.d) for t in tiles])[: stop - start]
            block = block.to(device=device, dtype=dtype)
            if keep:
                kept.append((start, stop, block))
            yield start, stop, block
        if keep:
            self._cache[key] = kept

    @contextlib.contextmanager
    def cached(self, budget_bytes: int = CACHE_BYTES):
        """Within the block, keep P's blocks per (device, dtype) once generated, when p·d·itemsize ≤ budget."""
        if self._cache is not None:
            yield self
            return
        self._cache, self._budget = {}, int(budget_bytes)
        try:
            yield self
        finally:
            self._cache = None

    @torch.no_grad()
    def project(self, G: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """G @ P: [B, p] -> [B, d] (on G's device, in G's dtype); added into `out` [B, d] when given."""
        if G.dim() != 2 or G.shape[1] != self.p:
            raise ValueError(f"project expects G of shape [B, {self.p}], got {tuple(G.shape)}")
        if out is None:
            out = torch.zeros(G.shape[0], self.d, device=G.device, dtype=G.dtype)
        for start, stop, block in self.blocks(G.device, G.dtype):
            out.addmm_(G[:, start:stop], block)
        return out

    @torch.no_grad()
    def lift(self, w: torch.Tensor) -> torch.Tensor:
        """P @ w: [d] -> [p] or [m, d] -> [m, p] (on w's device, in w's dtype)."""
        if w.dim() not in (1, 2) or w.shape[-1] != self.d:
            raise ValueError(f"lift expects w of shape [{self.d}] or [m, {self.d}], got {tuple(w.shape)}")
        W = w.reshape(-1, self.d)
        out = torch.cat([W @ block.T for _, _, block in self.blocks(w.device, w.dtype)], dim=1)
        return out.reshape(*w.shape[:-1], self.p)

    @torch.no_grad()
    def lift_norms(self, W: torch.Tensor) -> torch.Tensor:
        """‖P w_l‖ for each row of W [m, d] -> [m], block by block (no [m, p] matrix)."""
        if W.dim() != 2 or W.shape[1] != self.d:
            raise ValueError(f"lift_norms expects W of shape [m, {self.d}], got {tuple(W.shape)}")
        sq = torch.zeros(W.shape[0], device=W.device, dtype=W.dtype)
        for _, _, block in self.blocks(W.device, W.dtype):
            sq += (block @ W.T).square().sum(0)
        return sq.sqrt()


SKETCH_TAG = 0x5EC7
"""Mixed into the seeds of the sketch's per-layer matrices, apart from every dense tile's seed."""


@dataclass(frozen=True)
class LinearSlot:
    """One Linear layer of the flat parameter vector: its weight [out, in] and optional bias [out]."""

    weight: str
    bias: str | None
    out_dim: int
    in_dim: int


class SketchProjector:
    """A structured JL sketch of Linear layers: feature k of a per-sample gradient g is

        g̃_k = Σ_layers ⟨g_W, q_k p_kᵀ⟩ + ⟨g_b, q_k⟩ p_k,b   (+ the dense projection of every other parameter),

    with p_k ~ N(0, I_{in+1}/d) (the last entry multiplies the bias) and q_k ~ N(0, I_out), drawn per layer
    from a seeded generator. For a Linear layer the per-sample gradient is δ [a, 1]ᵀ (δ the gradient at the
    layer's output, a its input), so g̃_k = Σ_layers ([a, 1]·p_k)(δ·q_k) (`project_layer`) and no per-sample
    gradient is ever formed. E g̃ᵀg̃' = gᵀg' (an unbiased JL-type sketch). `lift(w)` is, per layer,
    Σ_k w_k q_k p_kᵀ (weight) and Σ_k w_k q_k p_k,b (bias), so ``project(G) @ w == G @ lift(w)``.

    `shapes`: every parameter's shape in flat order; `linears`: (weight name, bias name or None) pairs
    of the Linear layers among them. The remaining parameters form a dense `Projector` of the same seed.
    """

    def __init__(self, shapes: dict[str, Sequence[int]], linears: Sequence[tuple[str, str | None]], d: int,
                 seed: int = 0):
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d <= 0:
            raise ValueError(f"invalid d={d!r}: allowed a positive integer")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"invalid seed={seed!r}: allowed a non-negative integer")
        self.shapes = {name: tuple(int(s) for s in shape) for name, shape in shapes.items()}
        self.d, self.seed = int(d), int(seed)
        offsets, start = {}, 0
        for name, shape in self.shapes.items():
            offsets[name] = (start, start + math.prod(shape))
            start += math.prod(shape)
        self.p, self.offsets = start, offsets
        self.slots: list[LinearSlot] = []
        for weight, bias in linears:
            shape = self.shapes.get(weight)
            if shape is None or len(shape) != 2:
                raise ValueError(f"linear weight {weight!r} is not a 2-d parameter")
            if bias is not None and self.shapes.get(bias) != (shape[0],):
                raise ValueError(f"linear bias {bias!r} does not have shape ({shape[0]},)")
            self.slots.append(LinearSlot(weight, bias, shape[0], shape[1]))
        covered = {n for s in self.slots for n in (s.weight, s.bias) if n is not None}
        self.rest = [name for name in self.shapes if name not in covered]
        p_rest = sum(math.prod(self.shapes[n]) for n in self.rest)
        self.dense = Projector(p_rest, self.d, self.seed) if p_rest else None
        self._mats: dict = {}

    def __repr__(self) -> str:
        return (f"SketchProjector(p={self.p}, d={self.d}, seed={self.seed}, linear_layers={len(self.slots)}, "
                f"dense_params={self.dense.p if self.dense else 0})")

    def layer_mats(self, layer: int, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """(P_l [in (+1 with a bias), d], Q_l [out, d]) of Linear layer `layer`, drawn on CPU from its seed."""
        key = (layer, str(torch.device(device)), dtype)
        if key not in self._mats:
            slot = self.slots[layer]
            state = np.random.SeedSequence([self.seed, SKETCH_TAG, layer]).generate_state(1, dtype=np.uint32)[0]
            gen = torch.Generator().manual_seed(int(state))
            P = torch.randn(slot.in_dim + (slot.bias is not None), self.d, generator=gen) / math.sqrt(self.d)
            Q = torch.randn(slot.out_dim, self.d, generator=gen)
            self._mats[key] = (P.to(device=device, dtype=dtype), Q.to(device=device, dtype=dtype))
        return self._mats[key]

    def project_layer(self, layer: int, a: torch.Tensor, delta: torch.Tensor,
                      out: torch.Tensor | None = None) -> torch.Tensor:
        """Features of layer `layer` from its inputs a [B, ..., in] and output gradients δ [B, ..., out]:
        Σ_{...} ([a, 1] P_l) ∘ (δ Q_l) -> [B, d], added into `out` when given."""
        P, Q = self.layer_mats(layer, a.device, a.dtype)
        slot = self.slots[layer]
        B = a.shape[0]
        a2, d2 = a.reshape(-1, slot.in_dim), delta.reshape(-1, slot.out_dim)
        left = torch.addmm(P[slot.in_dim], a2, P[: slot.in_dim]) if slot.bias is not None else a2 @ P
        right = d2 @ Q
        if out is None:
            out = torch.zeros(B, self.d, device=a.device, dtype=a.dtype)
        if a2.shape[0] == B:
            return out.addcmul_(left, right)
        return out.add_((left * right).reshape(B, -1, self.d).sum(1))

    def _columns(self, G: torch.Tensor, name: str) -> torch.Tensor:
        start, stop = self.offsets[name]
        return G[:, start:stop]

    @torch.no_grad()
    def project(self, G: torch.Tensor) -> torch.Tensor:
        """The features of explicit per-sample gradients G [B, p] -> [B, d] (tests; the features stage
        uses `project_layer`)."""
        if G.dim() != 2 or G.shape[1] != self.p:
            raise ValueError(f"project expects G of shape [B, {self.p}], got {tuple(G.shape)}")
        out = torch.zeros(G.shape[0], self.d, device=G.device, dtype=G.dtype)
        for layer, slot in enumerate(self.slots):
            P, Q = self.layer_mats(layer, G.device, G.dtype)
            gW = self._columns(G, slot.weight).reshape(-1, slot.out_dim, slot.in_dim)
            t = gW @ P[: slot.in_dim]                                             # [B, out, d]
            if slot.bias is not None:
                t = t + self._columns(G, slot.bias)[:, :, None] * P[slot.in_dim]
            out += (t * Q).sum(1)
        if self.dense is not None:
            out += self.dense.project(self.dense_columns(G))
        return out

    def dense_columns(self, G: torch.Tensor) -> torch.Tensor:
        """The columns of G [B, p] of the parameters outside the Linear layers, [B, p_rest]."""
        return torch.cat([self._columns(G, n) for n in self.rest], dim=1)

    @torch.no_grad()
    def lift(self, w: torch.Tensor) -> torch.Tensor:
        """[d] -> [p] or [m, d] -> [m, p]: per Linear layer Σ_k w_k q_k p_kᵀ, the dense lift elsewhere."""
        if w.dim() not in (1, 2) or w.shape[-1] != self.d:
            raise ValueError(f"lift expects w of shape [{self.d}] or [m, {self.d}], got {tuple(w.shape)}")
        W = w.reshape(-1, self.d)
        parts: dict[str, torch.Tensor] = {}
        for layer, slot in enumerate(self.slots):
            P, Q = self.layer_mats(layer, W.device, W.dtype)
            QW = Q[None] * W[:, None, :]                                           # [m, out, d]
            parts[slot.weight] = (QW @ P[: slot.in_dim].T).reshape(W.shape[0], -1)
            if slot.bias is not None:
                parts[slot.bias] = QW @ P[slot.in_dim]
        if self.dense is not None:
            rest = self.dense.lift(W)
            i = 0
            for name in self.rest:
                k = math.prod(self.shapes[name])
                parts[name] = rest[:, i:i + k]
                i += k
        out = torch.cat([parts[name] for name in self.shapes], dim=1)
        return out.reshape(*w.shape[:-1], self.p)

    @torch.no_grad()
    def lift_norms(self, W: torch.Tensor) -> torch.Tensor:
        """‖lift(w_l)‖ for each row of W [m, d] -> [m], exactly, without an [m, p] matrix:
        Σ_layers w_lᵀ ((Q_lᵀQ_l) ∘ (P_lᵀP_l)) w_l plus the dense part."""
        if W.dim() != 2 or W.shape[1] != self.d:
            raise ValueError(f"lift_norms expects W of shape [m, {self.d}], got {tuple(W.shape)}")
        sq = torch.zeros(W.shape[0], device=W.device, dtype=W.dtype)
        for layer in range(len(self.slots)):
            P, Q = self.layer_mats(layer, W.device, W.dtype)
            K = (Q.T @ Q) * (P.T @ P)
            sq += ((W @ K) * W).sum(1)
        if self.dense is not None:
            sq += self.dense.lift_norms(W).square()
        return sq.clamp(min=0).sqrt()

    @contextlib.contextmanager
    def cached(self, budget_bytes: int = CACHE_BYTES):
        """The dense part's `Projector.cached`."""
        with (self.dense.cached(budget_bytes) if self.dense is not None else contextlib.nullcontext()):
            yield self
