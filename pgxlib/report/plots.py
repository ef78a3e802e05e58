"""Figures for the book: learning curves, affinity heat maps, SDP solutions, per-task returns.

Every function takes plain arrays (as stored in a result) and returns a matplotlib Figure.
"""
from __future__ import annotations

import functools
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.text import Text

from pgxlib.analysis.stats import as_nan

PAGE_WIDTH_IN = 7.0
"""The width, in inches at the figures' 100 dpi, that a book page shows a figure at (wider ones are shrunk)."""
MIN_PT = 9.0
"""The smallest text size, in points at the page width, of any label of a figure."""
STYLE = {"figure.constrained_layout.use": True, "figure.dpi": 100, "axes.grid": False, "legend.fontsize": MIN_PT,
         "legend.framealpha": 0.85, "axes.titlesize": 11, "axes.labelsize": 10, "mathtext.fontset": "dejavusans"}
"""The one figure style of the book: constrained layout (labels of neighbouring panels never overlap) and
legends no smaller than `MIN_PT`. Applied when this module is imported, which every figure of the book does."""
plt.rcParams.update(STYLE)


def task_label(i: int) -> str:
    """Source task i as a mathtext label, $S_{i}$."""
    return f"$S_{{{i}}}$"


def fit_fonts(fig: plt.Figure, page_width: float = PAGE_WIDTH_IN, min_pt: float = MIN_PT) -> plt.Figure:
    """Enlarge every text of `fig` (tick labels, titles, legends, annotations) so that it is at least `min_pt`
    once the figure is shrunk to `page_width`; returns `fig`."""
    floor = min_pt / min(1.0, page_width / fig.get_figwidth())
    for ax in fig.axes:
        for axis, labels in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
            size = max((t.get_fontsize() for t in labels), default=floor)
            ax.tick_params(axis=axis, which="both", labelsize=max(size, floor))
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < floor:
            text.set_fontsize(floor)
    if fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")
    return fig


def readable(make):
    """Decorator for a function returning a Figure: the figure comes back with `fit_fonts` applied."""
    @functools.wraps(make)
    def wrapper(*args, **kwargs):
        fig = make(*args, **kwargs)
        return fit_fonts(fig) if isinstance(fig, plt.Figure) else fig
    return wrapper


def _short(n: int) -> list[str]:
    return [task_label(i) for i in range(n)]


@readable
def learning_curves(steps: np.ndarray, returns: np.ndarray, title: str, labels: Sequence[int] | None = None,
                    ylabel: str = "episodic return") -> plt.Figure:
    """One line per task: returns [I, n] against environment steps per task [I]; with `labels` [n] the lines are
    coloured by group and the legend keys each task to its group."""
    steps, returns = as_nan(steps), as_nan(returns)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    cmap = plt.get_cmap("tab10")
    for j in range(returns.shape[1]):
        ok = np.isfinite(returns[:, j])
        color = cmap(labels[j] % 10) if labels is not None else cmap(j % 10)
        key = f"{task_label(j)} (group {labels[j]})" if labels is not None else task_label(j)
        ax.plot(steps[ok], returns[ok, j], color=color, lw=1.2, alpha=0.85, label=key)
    ax.set_xlabel("environment steps per task")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(ncol=2 if labels is not None else 5, loc="lower right")
    return fig


@readable
def matrix_heatmap(M: np.ndarray, title: str, cbar_label: str, labels: Sequence[int] | None = None,
                   cmap: str = "RdBu_r", center: bool = True) -> plt.Figure:
    """An n×n matrix as a heat map; with `labels`, rows/columns are ordered by group."""
    n = len(M)
    order = np.argsort(labels, kind="stable") if labels is not None else np.arange(n)
    A = as_nan(M)[np.ix_(order, order)]
    vmax = np.abs(A).max() if center else None
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    im = ax.imshow(A, cmap=cmap, vmin=-vmax if center else None, vmax=vmax)
    names = [task_label(i) for i in order]
    ax.set_xticks(range(n), names, rotation=90)
    ax.set_yticks(range(n), names)
    if labels is not None:
        sorted_labels = np.asarray(labels)[order]
        for b in np.flatnonzero(np.diff(sorted_labels)) + 0.5:
            ax.axhline(b, color="k", lw=1.5)
            ax.axvline(b, color="k", lw=1.5)
    ax.set_xlabel("co-trained task j")
    ax.set_ylabel("target task i")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar_label)
    return fig


@readable
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
    ax.legend()
    return fig


@readable
def histogram(values: np.ndarray, title: str, xlabel: str, bins: int = 20) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(values, bins=bins, color="tab:blue", alpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("subsets")
    ax.set_title(title)
    return fig


@readable
def task_map(source: np.ndarray, target: np.ndarray, names: Sequence[str], title: str) -> plt.Figure:
    """A family's tasks in its first two parameters: source tasks (stars, S0…) and unseen target tasks (dots).

    source [n, p], target [T, p]; with one parameter the second axis is empty."""
    source, target = np.atleast_2d(source), np.atleast_2d(target)
    if source.shape[1] == 1:
        source, target = np.c_[source, np.zeros(len(source))], np.c_[target, np.zeros(len(target))]
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.scatter(target[:, 0], target[:, 1], s=18, color="tab:gray", alpha=0.5, label="target tasks (unseen)")
    ax.scatter(source[:, 0], source[:, 1], s=160, marker="*", color="tab:red", edgecolors="k", label="source tasks")
    for i, (x, y) in enumerate(source[:, :2]):
        ax.annotate(task_label(i), (x, y), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1] if len(names) > 1 else "")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return fig
