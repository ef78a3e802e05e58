"""How one quantity grows with another: the slope of a straight line on log-log axes (a cost against the number of
tasks n; a first-order error against the distance from θ*)."""
from __future__ import annotations

import numpy as np


def log_log_slope(xs, ys) -> float | None:
    """Least-squares slope of log(y) against log(x) (1 = linear in x, 2 = quadratic) over the pairs with x > 0 and
    a finite y > 0; None with fewer than two such pairs at distinct x. `xs`, `ys`: [G]."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return None
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
