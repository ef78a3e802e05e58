"""The seeded random projection P [p, d]: `project(G) = G P`, `lift(w) = P w`, P never materialised."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

TILE_ROWS = 1024
"""Rows of P drawn from one generator. P's value depends only on (seed, d); never on block_rows."""


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
    blocks, so ``project(G) @ w == G @ lift(w)``.
    """

    def __init__(self, p: int, d: int, seed: int = 0, block_rows: int = 8192):
        for name, value in (("p", p), ("d", d), ("block_rows", block_rows)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"invalid {name}={value!r}: allowed a positive integer")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"invalid seed={seed!r}: allowed a non-negative integer")
        self.p, self.d, self.seed = int(p), int(d), int(seed)
        self.block_rows = -(-int(block_rows) // TILE_ROWS) * TILE_ROWS

    def __repr__(self) -> str:
        return f"Projector(p={self.p}, d={self.d}, seed={self.seed}, block_rows={self.block_rows})"

    def blocks(self, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield (start, stop, P[start:stop] on `device`) over row blocks of P."""
        for start in range(0, self.p, self.block_rows):
            stop = min(start + self.block_rows, self.p)
            tiles = range(start // TILE_ROWS, -(-stop // TILE_ROWS))
            block = torch.cat([projection_tile(self.seed, t, self.d) for t in tiles])[: stop - start]
            yield start, stop, block.to(device=device, dtype=dtype)

    @torch.no_grad()
    def project(self, G: torch.Tensor) -> torch.Tensor:
        """G @ P: [B, p] -> [B, d] (on G's device, in G's dtype)."""
        if G.dim() != 2 or G.shape[1] != self.p:
            raise ValueError(f"project expects G of shape [B, {self.p}], got {tuple(G.shape)}")
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
