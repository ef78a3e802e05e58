"""Choosing the default evaluator by a rule scored on every family with structure (the speedup chapter's rows).

Pure functions on rows, one row per (evaluator, family, seed) with the estimate's agreement with its truth
and that truth's noise ceiling. `choose_evaluator(rows)` applies the rule and returns the pick, the table
behind it, the leave-one-family-out reading and the pick per seed.

The rule: among the families whose noise ceiling is ≥ `STRUCTURE_CEILING`, the evaluator with the best
worst case, over those families, of its seed-mean score `agreement_score` (NMI / ceiling); ties (within
`TIE`) by the mean affinity correlation over those families' rows, then by the lower mean cost, then the
first evaluator listed in the rows. An evaluator without rows on one of those families is left out (it has
no worst case).

Worst case over families of the seed mean, not over families and seeds: the rule asks which evaluator
holds up on every family with structure; seed-to-seed variation is reported beside it (`per_seed_picks`,
`flips_with_seed`), so a pick that depends on the seed is said, rather than the worst of three noisy seeds
deciding alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

OLD_FOOTING = "single repeats (from the stored per-repeat NMIs of an older result)"
UNKNOWN_FOOTING = "not recorded (an older result without per-repeat NMIs)"


def agreement_pair(row: Mapping[str, Any]) -> tuple[float, float | None, str]:
    """(the estimate's NMI with the truth, the truth's noise ceiling, their footing) of one evaluator at one depth
    (a ``by_score`` entry, or a depth's headline row), both on the same footing.

    A result stored before the footing was named kept the NMI against the mean of the repeats as ``nmi`` and the
    NMI against each repeat as ``nmi_per_repeat``: the like-with-like NMI is the mean of the latter (without it,
    ``nmi`` as stored, its footing `UNKNOWN_FOOTING`). A result without repeats has no ceiling (None) and only its
    one-run NMI."""
    ceiling = row.get("noise_ceiling_nmi")
    if "footing" in row or ceiling is None:
        return float(row["nmi"]), ceiling, row.get("footing", "one run")
    if "nmi_per_repeat" not in row:
        return float(row["nmi"]), float(ceiling), UNKNOWN_FOOTING
    return float(np.mean(row["nmi_per_repeat"])), float(ceiling), OLD_FOOTING


STRUCTURE_CEILING = 0.8
"""A family has structure to find when its noise ceiling (NMI between repeats of the truth) is at least this."""

TIE = 1e-9
"""Scores closer than this are tied."""

ROW_KEYS = ("evaluator", "family", "seed", "nmi", "ceiling", "affinity_corr", "cost_seconds")


def agreement_score(nmi: float, ceiling: float) -> float:
    """NMI of estimate vs truth over the truth's noise ceiling, the ceiling floored at `STRUCTURE_CEILING`
    and the ratio capped at 1.

    At the ceiling an estimate agrees with the truth as well as the truth agrees with itself, all it can do,
    so 1 is the most. A truth whose ceiling is below `STRUCTURE_CEILING` is not evidence, so agreeing with
    it earns no more than NMI / `STRUCTURE_CEILING` (without the floor, a ceiling near zero would turn any
    agreement into a perfect score)."""
    return float(min(nmi / max(ceiling, STRUCTURE_CEILING), 1.0))


@dataclass(frozen=True)
class EvaluatorScore:
    """One evaluator on the structured families: its seed-mean score per family, the worst of them, and
    its tie-breakers (mean affinity correlation, NaN where none is defined; mean cost in seconds)."""
    evaluator: str
    by_family: dict[str, float]
    worst: float
    affinity_corr: float
    cost_seconds: float


@dataclass(frozen=True)
class EvaluatorChoice:
    """The evaluator rule's outcome.

    Attributes:
        pick: the chosen evaluator, None when no family has structure.
        families: the families with structure (noise ceiling ≥ `STRUCTURE_CEILING`), in order of the rows.
        family_ceilings: every family's noise ceiling (see `choose_evaluator`).
        table: one `EvaluatorScore` per evaluator, best first (the rule's order).
        leave_one_family_out: {family f: {"pick": the rule's pick on f alone, "scores": {other family g:
            that pick's seed-mean score on g}, "best": {g: the best score any evaluator reaches on g}}}.
        per_seed_picks: {seed: the rule's pick on that seed's rows alone (same families)}.
        flips_with_seed: whether the per-seed picks differ.
    """
    pick: str | None
    families: tuple[str, ...]
    family_ceilings: dict[str, float]
    table: tuple[EvaluatorScore, ...]
    leave_one_family_out: dict[str, dict]
    per_seed_picks: dict[int, str]
    flips_with_seed: bool


def _check_rows(rows: Iterable[Mapping]) -> list[dict]:
    out = []
    for i, row in enumerate(rows):
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"row {i} lacks {missing}; each row needs {list(ROW_KEYS)}")
        r = {k: row[k] for k in ROW_KEYS}
        for k in ("nmi", "ceiling", "cost_seconds"):
            r[k] = float(r[k])
            if not np.isfinite(r[k]):
                raise ValueError(f"row {i} has a non-finite {k}={row[k]!r}")
        r["affinity_corr"] = float("nan") if r["affinity_corr"] is None else float(r["affinity_corr"])
        out.append(r)
    keys = [(r["evaluator"], r["family"], r["seed"]) for r in out]
    if len(set(keys)) != len(keys):
        raise ValueError("rows repeat an (evaluator, family, seed)")
    return out


def _ordered(values) -> list:
    return list(dict.fromkeys(values))


def _table(rows: list[dict], families: list[str]) -> list[EvaluatorScore]:
    """Scores of every evaluator present on all of `families`, in the rule's order (best first)."""
    table = []
    for ev in _ordered(r["evaluator"] for r in rows):
        mine = [r for r in rows if r["evaluator"] == ev and r["family"] in families]
        by_family = {f: float(np.mean([agreement_score(r["nmi"], r["ceiling"]) for r in mine if r["family"] == f]))
                     for f in families if any(r["family"] == f for r in mine)}
        if len(by_family) < len(families):
            continue
        corr = [r["affinity_corr"] for r in mine if np.isfinite(r["affinity_corr"])]
        table.append(EvaluatorScore(ev, by_family, min(by_family.values()),
                                    float(np.mean(corr)) if corr else float("nan"),
                                    float(np.mean([r["cost_seconds"] for r in mine]))))
    return _rank(table)


def _rank(table: list[EvaluatorScore]) -> list[EvaluatorScore]:
    """Best worst case first; within `TIE` of it, higher affinity correlation (NaN last), then lower cost;
    then the order given."""
    ranked: list[EvaluatorScore] = []
    rest = list(table)
    while rest:
        top = max(s.worst for s in rest)
        tied = [s for s in rest if s.worst >= top - TIE]
        corr = max((s.affinity_corr for s in tied if np.isfinite(s.affinity_corr)), default=float("nan"))
        if np.isfinite(corr):
            tied = [s for s in tied if np.isfinite(s.affinity_corr) and s.affinity_corr >= corr - TIE]
        cost = min(s.cost_seconds for s in tied)
        best = next(s for s in tied if s.cost_seconds <= cost + TIE)
        ranked.append(best)
        rest.remove(best)
    return ranked


def choose_evaluator(rows: Iterable[Mapping], structure_ceiling: float = STRUCTURE_CEILING) -> EvaluatorChoice:
    """The default evaluator by the rule of this module's docstring.

    A family's noise ceiling is the highest, over its evaluators, of the seed-mean `ceiling` of their rows:
    the family has structure when some truth measured on it reproduces itself (each evaluator's truth has
    its own ceiling; the rollout truth's is the structure chapter's).

    Args:
        rows: mappings with keys evaluator (str), family (str), seed (int), nmi (estimate vs truth, [0, 1]),
            ceiling (the truth's noise ceiling NMI), affinity_corr (estimate vs truth affinities, None or NaN
            where undefined), cost_seconds (the estimate's wall time).
        structure_ceiling: the threshold (default `STRUCTURE_CEILING`).

    Returns:
        `EvaluatorChoice`.
    """
    rows = _check_rows(rows)
    family_ceilings = {}
    for f in _ordered(r["family"] for r in rows):
        mine = [r for r in rows if r["family"] == f]
        family_ceilings[f] = max(float(np.mean([r["ceiling"] for r in mine if r["evaluator"] == ev]))
                                 for ev in _ordered(r["evaluator"] for r in mine))
    families = [f for f, c in family_ceilings.items() if c >= structure_ceiling]
    table = _table(rows, families) if families else []
    pick = table[0].evaluator if table else None

    leave_one_out = {}
    for f in families:
        alone = _table(rows, [f])
        others = [g for g in families if g != f]
        chosen = alone[0].evaluator
        scores, best = {}, {}
        for g in others:
            on_g = _table(rows, [g])
            scores[g] = next((s.by_family[g] for s in on_g if s.evaluator == chosen), float("nan"))
            best[g] = max(s.by_family[g] for s in on_g)
        leave_one_out[f] = {"pick": chosen, "scores": scores, "best": best}

    per_seed = {}
    if families:
        for seed in sorted(_ordered(r["seed"] for r in rows)):
            seed_table = _table([r for r in rows if r["seed"] == seed], families)
            if seed_table:
                per_seed[seed] = seed_table[0].evaluator
    return EvaluatorChoice(pick, tuple(families), family_ceilings, tuple(table), leave_one_out, per_seed,
                           len(set(per_seed.values())) > 1)
