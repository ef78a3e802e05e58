"""Tables that stay readable on a page: long ones folded, stage timings summarised by kind of stage."""
from __future__ import annotations

import html
import re
from typing import Mapping

FOLD_ROWS = 12
"""A table with more rows than this is folded under a one-line summary."""


def folded(frame, summary: str, limit: int = FOLD_ROWS) -> str:
    """HTML of `frame`, folded (a <details> block opened by `summary`) when it has more than `limit` rows."""
    table = frame.to_html(border=0)
    if len(frame) <= limit:
        return table
    return f"<details><summary>{html.escape(summary)} ({len(frame)} rows)</summary>{table}</details>"


def stage_kind(key: str) -> str:
    """``metarl-mlp`` for ``seed0-metarl-mlp-0-0-1-0-2-2-2-0-1-2``: the stage name without seeds, partitions,
    repeats or sizes."""
    parts = [p for p in re.split(r"[-_]", key) if not re.fullmatch(r"(seed|r|d|m|s)?\d+", p)]
    return "-".join(parts) or key


def stage_summary(stage_times: Mapping[str, float]):
    """Wall time per kind of stage (`stage_kind`): how many runs, their total and the largest, in seconds.
    Some stages contain others (a seed's total, a shared θ*), so the rows do not add up to the run's time."""
    import pandas as pd

    rows: dict[str, list[float]] = {}
    for key, seconds in stage_times.items():
        rows.setdefault(stage_kind(key), []).append(float(seconds))
    return pd.DataFrame({"runs": [len(v) for v in rows.values()], "total s": [sum(v) for v in rows.values()],
                         "largest s": [max(v) for v in rows.values()]},
                        index=pd.Index(list(rows), name="stage")).round(1)
