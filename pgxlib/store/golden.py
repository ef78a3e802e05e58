"""Golden values: the smoke results' metrics, committed, so that a rebuilt book is a regression test.

`snapshot(profile)` reads every stored result of a profile into one flat table
``{"<experiment>/<result dir>": {"metrics.groups[0][1]": 2, ...}}``; `compare(golden, now)` lists
what changed: labels, strings, integers and booleans must match exactly, floats to `RTOL`/`ATOL`, except
differences of float32 losses and ratios over them, whose rounding is absolute (`tolerance`).
Quantities measured with a clock (wall times, speedups, steps per second) differ from run to run
and are left out (`VOLATILE`).

    pgx golden --check     # compare results/smoke with tests/golden/smoke.json (make test runs it)
    pgx golden --accept    # store the current smoke results as the golden values
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

RTOL = 1e-6
"""Relative tolerance on floats: the same code on the same kind of machine reproduces them bit for bit;
this only absorbs the last digits of float summation order."""
ATOL = 1e-9
FLOAT32_DIFFERENCES = re.compile(r"(^|\.)gap$|(^|\.)generalization_error\[")
"""Metric paths that are differences of two float32 losses near 1 (the Hessian bound's generalization gaps,
test loss minus train loss). Their error is the losses' own rounding, 2**-24 = 6e-8 per unit in the last
place, not a fraction of the small difference; a CPU with other vector kernels sums the losses in another
order (seen: a gap of -2.8488e-4 read -2.8485e-4 on another machine, with both losses within `RTOL`)."""
ATOL_FLOAT32_DIFFERENCE = 1e-6
"""Absolute tolerance on `FLOAT32_DIFFERENCES`: 16 units in the last place of a float32 loss near 1."""
RATIO_OF_FLOAT32_DIFFERENCES = re.compile(r"(^|\.)bound_to_gap_ratio$")
"""Ratios whose denominator is a mean of such differences (mean |gap|, about 1e-4 on smoke)."""
RTOL_RATIO_OF_FLOAT32_DIFFERENCES = 0.02
"""`ATOL_FLOAT32_DIFFERENCE` over a mean |gap| of 5e-5, the smallest a smoke run stores."""
VOLATILE = re.compile(r"time|seconds|speedup|per_second|wall|(^|\.)stages(_cpu)?\.", re.IGNORECASE)
"""Metric paths measured with a clock; they are not compared."""


def golden_path(profile: str = "smoke") -> Path:
    from pgxlib.store.results import repo_root

    return repo_root() / "tests" / "golden" / f"{profile}.json"


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``("metrics.a.b[2]", leaf)`` pairs of a JSON tree; leaves are numbers, strings, bools or None."""
    if isinstance(value, Mapping):
        for key in sorted(value):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def snapshot(profile: str = "smoke") -> dict[str, dict[str, Any]]:
    """The compared metrics of every result stored under ``results/<profile>/``; a corrupt one raises
    `CorruptResult` naming the file, the field or fault, and ``pgx book --profile <profile> --force``."""
    from pgxlib.store.results import RESULT_FILE, CorruptResult, read_result, results_root

    out: dict[str, dict[str, Any]] = {}
    for path in sorted((results_root() / profile).glob(f"*/*/{RESULT_FILE}")):
        try:
            metrics = read_result(path.parent).metrics
        except CorruptResult as err:
            raise err.with_fix(f"recompute the {profile} results with: pgx book --profile {profile} --force") from None
        name = f"{path.parent.parent.name}/{path.parent.name}"
        out[name] = {key: leaf for key, leaf in flatten(metrics) if not VOLATILE.search(key)}
    return out


@dataclass(frozen=True)
class Change:
    """One compared value that differs: `kind` is "changed", "added" or "removed"."""

    result: str
    key: str
    golden: Any
    now: Any
    kind: str


def tolerance(key: str) -> tuple[float, float]:
    """``(rtol, atol)`` of the float at metric path `key`."""
    if FLOAT32_DIFFERENCES.search(key):
        return RTOL, ATOL_FLOAT32_DIFFERENCE
    if RATIO_OF_FLOAT32_DIFFERENCES.search(key):
        return RTOL_RATIO_OF_FLOAT32_DIFFERENCES, ATOL
    return RTOL, ATOL


def _same(a: Any, b: Any, key: str) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a == b and type(a) is type(b)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    rtol, atol = tolerance(key)
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def compare(golden: Mapping[str, Mapping[str, Any]], now: Mapping[str, Mapping[str, Any]]) -> list[Change]:
    """Every difference between two snapshots, for each result of `golden`, key by key (results stored
    now but absent from `golden`, such as a `pgx group` run of one's own, are not compared)."""
    changes = []
    for result in sorted(golden):
        old, new = golden[result], now.get(result)
        if new is None:
            changes.append(Change(result, "*", "stored", None, "removed"))
            continue
        for key in sorted(set(old) | set(new)):
            if key not in old:
                changes.append(Change(result, key, None, new[key], "added"))
            elif key not in new:
                changes.append(Change(result, key, old[key], None, "removed"))
            elif not _same(old[key], new[key], key):
                changes.append(Change(result, key, old[key], new[key], "changed"))
    return changes


def format_changes(changes: list[Change], limit: int = 40) -> str:
    """A plain-text table of the first `limit` changes and a count per result."""
    if not changes:
        return "no change"
    rows = [f"{'result':<42} {'key':<44} {'golden':>14} {'now':>14}"]
    for c in changes[:limit]:
        rows.append(f"{c.result:<42} {c.key:<44} {_short(c.golden):>14} {_short(c.now):>14}")
    if len(changes) > limit:
        rows.append(f"... and {len(changes) - limit} more")
    per: dict[str, int] = {}
    for c in changes:
        per[c.result] = per.get(c.result, 0) + 1
    rows.append("changed values per result: " + ", ".join(f"{r} {n}" for r, n in per.items()))
    return "\n".join(rows)


def _short(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 14 else text[:13] + "…"


def load(profile: str = "smoke") -> dict[str, dict[str, Any]]:
    path = golden_path(profile)
    if not path.exists():
        raise FileNotFoundError(f"no golden values at {path.name}; store them with `pgx golden --accept`")
    return json.loads(path.read_text(encoding="utf-8"))


def accept(profile: str = "smoke") -> Path:
    """Store the current results of `profile` as its golden values."""
    path = golden_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot(profile), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    return path
