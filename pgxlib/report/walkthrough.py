"""Computed sentences of the walkthrough chapter, from a stored `walkthrough` (or `group`) result's metrics."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def group_sentence(metrics: Mapping[str, Any]) -> str:
    """How the group policies compare with θ* they were fine-tuned from, task by task, and what that means."""
    group, meta = np.asarray(metrics["group_return"], float), np.asarray(metrics["meta_return"], float)
    below = int((group < meta).sum())
    gap = float(group.mean() - meta.mean())
    text = (f"On average the group policies return {group.mean():.3g} against θ*'s {meta.mean():.3g} "
            f"({gap:+.3g}); they are below θ* on {below} of {len(group)} tasks.")
    if gap < 0:
        text += (" Fine-tuning θ* on a group's own tasks at this budget loses return instead of adding it: here the "
                 "grouping does not pay, and the main-results chapter measures whether it does after meta-training "
                 "and adaptation, against the baselines.")
    else:
        text += " Fine-tuning on a group's own tasks adds return over the multitask policy on this family."
    return text
