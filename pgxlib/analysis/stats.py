"""Small statistics shared by experiments and reports: seed summaries, finite means, NaN conversion,
rank correlation, and the key under which a relative distance is stored."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def seed_summary(values: Sequence[float | None]) -> dict[str, Any]:
    """{"mean", "std", "seeds"} over per-seed scores; std is the sample std (ddof=1), 0 for one seed;
    all None when any seed is None (a method that was not measured)."""
    vals = list(values)
    if not vals or any(v is None for v in vals):
        return {"mean": None, "std": None, "seeds": [None] * len(vals)}
    arr = np.asarray(vals, dtype=float)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "seeds": [float(v) for v in arr]}


def finite_mean(x) -> float | None:
    """Mean of the finite entries of `x`, None when there is none."""
    arr = np.asarray(x, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else None


def as_nan(x) -> np.ndarray:
    """A float array with masked entries (as stored results load them) turned into NaN."""
    return np.ma.filled(np.ma.asarray(x, dtype=float), np.nan)


def distance_key(rho: float) -> str:
    """The result key of a distance: ρ in percent, shortest form (0.001 -> "0.1", 0.01 -> "1", 0.1 -> "10")."""
    return f"{round(100 * float(rho), 6):g}"


def spearman(x, y) -> float:
    """Spearman's rank correlation of two equal-length samples (scipy, average ranks for ties); NaN when
    there are fewer than two pairs or either side is constant (ρ undefined)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"spearman needs two 1-d samples of one length, got shapes {a.shape} and {b.shape}")
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)
