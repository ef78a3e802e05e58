"""Figures for the book: learning curves, affinity heat maps, SDP solutions, per-task returns.

Every function takes plain arrays (as stored in a result) and returns a matplotlib Figure.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from pgxlib.analysis.stats import as_nan


def _short(n: int) -> list[str]:
    return [f"S{i}" for i in range(n)]


def learning_curves(steps: np.ndarray, returns: np.ndarray, title: str, labels: Sequence[int] | None = None,
                    ylabel: str = "episodic return") -> plt.Figure:
    """One line per task: returns [I, n] against environment steps per task [I]."""
    steps, returns = as_nan(steps), as_nan(returns)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    cmap = plt.get_cmap("tab10")
    for j in range(returns.shape[1]):
        ok = np.isfinite(returns[:, j])
        color = cmap(labels[j] % 10) if labels is not None else cmap(j % 10)
        ax.plot(steps[ok], returns[ok, j], color=color, lw=1.2, alpha=0.85, label=f"S{j}")
    ax.set_xlabel("environment steps per task")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(ncol=5, fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def matrix_heatmap(M: np.ndarray, title: str, cbar_label: str, labels: Sequence[int] | None = None,
                   cmap: str = "RdBu_r", center: bool = True) -> plt.Figure:
    """An n×n matrix as a heat map; with `labels`, rows/columns are ordered by group."""
    n = len(M)
    order = np.argsort(labels, kind="stable") if labels is not None else np.arange(n)
    A = as_nan(M)[np.ix_(order, order)]
    vmax = np.abs(A).max() if center else None
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    im = ax.imshow(A, cmap=cmap, vmin=-vmax if center else None, vmax=vmax)
    names = [f"S{i}" for i in order]
    ax.set_xticks(range(n), names, fontsize=8, rotation=90)
    ax.set_yticks(range(n), names, fontsize=8)
    if labels is not None:
        sorted_labels = np.asarray(labels)[order]
        for b in np.flatnonzero(np.diff(sorted_labels)) + 0.5:
            ax.axhline(b, color="k", lw=1.5)
            ax.axvline(b, color="k", lw=1.5)
    ax.set_xlabel("co-trained task j")
    ax.set_ylabel("target task i")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar_label)
    fig.tight_layout()
    return fig


def per_task_returns(series: dict[str, np.ndarray], title: str, ylabel: str = "mean episodic return") -> plt.Figure:
    """Grouped bars: one group of bars per task, one bar per named series (each [n])."""
    n = len(next(iter(series.values())))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * n + 2), 3.6))
    for s, (name, vals) in enumerate(series.items()):
        ax.bar(np.arange(n) + (s - (len(series) - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(range(n), _short(n))
    ax.set_xlabel("source task")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def histogram(values: np.ndarray, title: str, xlabel: str, bins: int = 20) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(values, bins=bins, color="tab:blue", alpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("subsets")
    ax.set_title(title)
    fig.tight_layout()
    return fig
