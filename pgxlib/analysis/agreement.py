"""How far two groupings of the same n tasks agree."""
from __future__ import annotations

import numpy as np


def nmi(labels_a, labels_b) -> float:
    """Normalized mutual information of two labelings of the same n tasks (1 = same partition)."""
    from sklearn.metrics import normalized_mutual_info_score

    a, b = np.asarray(labels_a), np.asarray(labels_b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"labelings must be 1-d of the same length, got shapes {a.shape} and {b.shape}")
    return float(normalized_mutual_info_score(a, b))
