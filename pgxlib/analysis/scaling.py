"""How a cost grows with the number of tasks n: the slope of log cost against log n."""
from __future__ import annotations

import numpy as np


def log_log_slope(ns, costs) -> float | None:
    """Least-squares slope of log(cost) against log(n) (1 = linear in n, 2 = quadratic); None with fewer than two
    positive costs at distinct n. `ns`, `costs`: [G]."""
    x, y = np.asarray(ns, dtype=float), np.asarray(costs, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return None
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
