"""The gradient-similarity baseline: tasks grouped by the cosine similarity of their mean policy gradients at θ*.

The same clustering as PolicyGradEx (SDP with k groups, `cluster.sdp_cluster`) on another affinity: the cosine
similarity [n, n] of the per-task mean projected policy gradients [n, d] (`task_mean_gradients`) instead of
the surrogate affinity U.
"""
from __future__ import annotations

import numpy as np
import torch

from pgxlib.cluster import sdp_cluster


def gradient_similarity(task_grads: np.ndarray) -> np.ndarray:
    """Gradient-similarity baseline affinity: cosine similarity of per-task mean gradients.

    Args:
        task_grads: float [n, d], row i = mean (projected) policy gradient of task i.

    Returns:
        float [n, n], symmetric, entries in [−1, 1], diagonal 0; a zero gradient has similarity 0
        with every task.
    """
    g = np.asarray(task_grads, dtype=float)
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
        raise ValueError(f"task_grads must be [n, d] with n, d >= 1, got shape {g.shape}")
    if not np.isfinite(g).all():
        raise ValueError("task_grads contains NaN or inf")
    norms = np.linalg.norm(g, axis=1)
    unit = np.divide(g, norms[:, None], out=np.zeros_like(g), where=norms[:, None] > 0)
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 0.0)
    return sim


def task_mean_gradients(G: torch.Tensor, y: torch.Tensor, w: torch.Tensor, task_id: torch.Tensor,
                        mask: torch.Tensor, n_tasks: int) -> torch.Tensor:
    """Per-task mean projected policy gradient at θ*, [n_tasks, d].

    Row i is the mean of w_t·y_t·g̃_t over the transitions t of task i selected by `mask` (the
    training, i.e. non-held-out, transitions). Since w·y = |Â|·sign(Â) = Â (advantages standardised per
    task), this is Pᵀ of the policy-gradient estimate (1/N_i) Σ_t Â_t ∇_θ log π_θ*(a_t|s_t) of task i:
    the direction in which task i alone would move θ*. A task without selected transitions gets 0.

    Args: G [N, d]; y, w [N]; task_id [N] int; mask [N] bool.
    """
    if G.dim() != 2 or not (y.shape == w.shape == task_id.shape == mask.shape == (G.shape[0],)):
        raise ValueError(f"expected G [N, d] and y, w, task_id, mask [N]; got {tuple(G.shape)}, {tuple(y.shape)}, "
                         f"{tuple(w.shape)}, {tuple(task_id.shape)}, {tuple(mask.shape)}")
    sel = mask.bool()
    weights = (w * y).double()[sel]
    onehot = (task_id[sel, None] == torch.arange(n_tasks, device=task_id.device)).double()  # [N_s, n]
    sums = onehot.T @ (weights[:, None] * G[sel].double())
    counts = onehot.sum(0).clamp(min=1.0)
    return sums / counts[:, None]


def gradient_similarity_labels(task_grads: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels [n], similarity [n, n]): the gradient-similarity baseline, SDP with k groups on the
    cosine similarity of the per-task mean gradients (the same clustering as PolicyGradEx, other U)."""
    sim = gradient_similarity(np.asarray(task_grads, dtype=float))
    return sdp_cluster(sim, k), sim
