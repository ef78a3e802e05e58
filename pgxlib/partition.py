"""Partitions of n tasks as label arrays [n]: the group lists and the stage key of a partition.

Kept apart from `pgxlib.cluster` (which imports the estimator) so that the training code that only
needs a partition's groups is fingerprinted without the estimator (`pgxlib.training`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def groups_from_labels(labels) -> list[list[int]]:
    """Task indices of each group, groups in increasing label order, indices ascending."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-d array [n], got shape {labels.shape}")
    return [[int(i) for i in np.flatnonzero(labels == lab)] for lab in np.unique(labels)]


def labels_key(labels: Sequence[int]) -> str:
    """A stage-name-safe key of a partition: ``"0-0-1-2-1"`` (labels numbered by first appearance)."""
    return "-".join(str(int(x)) for x in labels)
