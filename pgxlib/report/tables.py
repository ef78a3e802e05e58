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


def cold_seconds(stage_times: Mapping[str, float]) -> float:
    """The wall time a cold run would take: the sum of the stage times, as measured when each stage was computed,
    over the stages that contain no other (``seed0`` contains ``seed0-features``: only the latter counts)."""
    names = list(stage_times)
    leaves = [k for k in names if not any(o != k and o.startswith(k + "-") for o in names)]
    return float(sum(float(stage_times[k]) for k in leaves))


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


MISSING = "–"
"""How a missing value (None, NaN) is shown in a table; `tidy` adds a footnote saying why."""


def significant(value, digits: int = 3) -> str:
    """`value` with `digits` significant digits, thousands separated from 1,000 on, in scientific notation
    below 0.001; `MISSING` for None or NaN. Strings and bools are returned as they are."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, str)):
        return str(value)
    x = float(value)
    if x != x:
        return MISSING
    if x == 0:
        return "0"
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    if abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def tidy(frame, caption: str = "", missing_why: str = "not measured for this row", digits: int = 3):
    """A table that fits the page: numbers with `digits` significant digits that never wrap, columns that are
    the same on every row moved into the caption, missing values shown as "–" with a footnote saying
    `missing_why`. Returns a pandas Styler (displays as HTML in a notebook)."""
    import pandas as pd

    frame = frame.copy()
    constant = [c for c in frame.columns if len(frame) > 1 and frame[c].astype(str).nunique(dropna=False) == 1]
    notes = [f"{c} = {significant(frame[c].iloc[0], digits)}" for c in constant]
    frame = frame.drop(columns=constant)
    has_missing = bool(frame.isna().to_numpy().any())
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    shown = frame.astype(object).where(frame.notna(), None)
    text = shown.apply(lambda col: col.map(lambda v: significant(v, digits)))
    text = text.rename(columns=str)
    parts = [caption] if caption else []
    parts += ["; ".join(notes)] if notes else []
    parts += [f"{MISSING}: {missing_why}."] if has_missing else []
    styler = text.style.set_table_attributes('class="dataframe pgx-table"')
    classes = pd.DataFrame([["pgx-num" if c in numeric else "" for c in frame.columns]] * len(frame),
                           index=text.index, columns=text.columns)
    styler = styler.set_td_classes(classes)
    if parts:
        styler = styler.set_caption(" ".join(p if p.endswith(".") else p + "." for p in parts))
    return styler


def markdown_table(frame) -> str:
    """`frame` (its index the first column) as a Markdown pipe table, for a page written as Markdown; a ``|`` in a
    cell is escaped."""
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = [frame.index.name or "", *map(str, frame.columns)]
    rows = [[cell(i), *map(cell, row)] for i, row in zip(frame.index, frame.itertuples(index=False))]
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"
