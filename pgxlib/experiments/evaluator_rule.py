"""The default evaluator's rule, stored: `analysis.selection.choose_evaluator` over the speedup chapter's results.

A reading experiment: it fine-tunes, rolls out and clusters nothing. It reads every stored `speedup` result of
its profile (every family, every seed found), takes each one's headline depth, and builds one row per
(evaluator, family, seed) from its ``by_score``: the estimate's NMI with the truth and the truth's noise
ceiling on one footing (single repeats, `analysis.selection.agreement_pair`), the affinity correlation, the
estimate's wall time and the speedup. The rule's pick, the families it used, the per-family table, the
leave-one-family-out reading and the pick per seed are stored as ``metrics.evaluator_rule``.

Where several stored results share a family and seed (other depths or budgets), the current one is read before a
stale one, then the newest. A stale result (older code), one stored before the truth was repeated, and every
expected seed without a result are named, one line each (``notes``); the rule is computed over what is stored.

The store keys every result by a family: this one is filed under the family it is run with, which selects
nothing (the book runs it on ``planted``). Its code fingerprint covers this module and the rule, not the
speedup results it read: it stores which results it read (``sources``, each with its timestamp), and
`inputs_changed` tells the store it is stale when the speedup results it would read now differ, so
`pgx refresh` and the book recompute it then (it costs a fraction of a second) and only then.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from pgxlib import store
from pgxlib.analysis.selection import STRUCTURE_CEILING, agreement_pair, choose_evaluator
from pgxlib.config import DEFAULT_SCORE, FAMILIES, MAX_SEED, check_int_list

PARAMETERS: dict[str, Any] = {"seeds": [0, 1, 2]}
EXPECTED_KEYS = ("metrics.evaluator_rule", "metrics.evaluator_rule.rows", "metrics.evaluator_rule.sources")

SOURCE = "speedup"
"""The experiment whose stored results the rule reads."""


def check(profile: str, family: str, seed: int, seeds=(0, 1, 2)) -> None:
    check_int_list("seeds", seeds, 0, MAX_SEED)


def _stored(profile: str) -> list[store.Result]:
    """Every stored speedup result of `profile`, each flagged stale against the current code of its family."""
    from pgxlib.experiments import _fingerprint, get

    module = get(SOURCE)
    fingerprints: dict[str, str] = {}
    found = []
    for path in store.stored_results(profile, SOURCE):
        result = store.read_result(path)
        family = result.meta.get("parameters", {}).get("family")
        if family not in FAMILIES:
            continue
        if family not in fingerprints:
            fingerprints[family] = _fingerprint(module, profile, family)["sha256"]
        stored = (result.meta.get("fingerprint") or {}).get("sha256")
        found.append(replace(result, stale=stored != fingerprints[family]))
    return found


def _preferred(results: list[store.Result]) -> store.Result:
    """A current result before a stale one, then the newest."""
    return max(results, key=lambda r: (not r.stale, str(r.meta.get("timestamp", ""))))


def rule_inputs(profile: str, seeds=(0, 1, 2)) -> dict[str, Any]:
    """The rows of `choose_evaluator` from the stored speedup results of `profile`, which results they came from,
    and one line per missing (an expected seed of a family that has results), stale or unusable result.

    Returns:
        {"rows": [{evaluator, family, seed, nmi, ceiling, affinity_corr, cost_seconds, speedup, depth}],
        "sources": [{family, seed, depth, stale, result_dir, timestamp}], "notes": [str]}.
    """
    by_run: dict[tuple[str, int], list[store.Result]] = {}
    for result in _stored(profile):
        given = result.meta["parameters"]
        by_run.setdefault((given["family"], int(given["seed"])), []).append(result)
    rows, sources, notes = [], [], []
    for family in (f for f in FAMILIES if any(f == g for g, _ in by_run)):
        for seed in sorted({*seeds, *(s for g, s in by_run if g == family)}):
            if (family, seed) not in by_run:
                notes.append(f"{family} seed {seed}: no stored speedup result; the rule is computed without it")
                continue
            result = _preferred(by_run[(family, seed)])
            depth = str(result.metrics["headline_depth"])
            head = result.metrics["by_layers"][depth]
            if "by_score" not in head or "noise_ceiling_nmi" not in head:
                notes.append(f"{family} seed {seed}: the stored speedup result predates the repeated truth; left out")
                continue
            if result.stale:
                notes.append(f"{family} seed {seed}: the stored speedup result is stale (older code); used as stored")
            sources.append({"family": family, "seed": seed, "depth": int(depth), "stale": bool(result.stale),
                            "result_dir": result.path.name, "timestamp": result.meta.get("timestamp")})
            for name, s in head["by_score"].items():
                x, ceiling, _ = agreement_pair(s)
                rows.append({"evaluator": name, "family": family, "seed": seed, "depth": int(depth), "nmi": x,
                             "ceiling": ceiling, "affinity_corr": s.get("affinity_corr"),
                             "cost_seconds": s["seconds"]["estimated"], "speedup": s["speedup"]})
    return {"rows": rows, "sources": sources, "notes": notes}


def inputs_changed(result: store.Result, profile: str) -> bool:
    """Whether the speedup results `rule_inputs` would read now differ from those `result` read (another result,
    another timestamp, another staleness): then `result` is stale although its code is current."""
    seeds = result.meta.get("parameters", {}).get("params", {}).get("seeds", PARAMETERS["seeds"])
    stored = result.metrics.get("evaluator_rule", {}).get("sources", [])
    return stored != rule_inputs(profile, [int(s) for s in seeds])["sources"]


def _finite_or_none(value: Any) -> Any:
    """`value` with every NaN or inf float replaced by None (the store refuses them), recursively."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary(inputs: dict[str, Any]) -> dict[str, Any]:
    """``metrics.evaluator_rule``: `choose_evaluator` over `inputs` (`rule_inputs`), with the rows and sources;
    NaN (an evaluator absent from a family, an undefined correlation) stored as None."""
    choice = choose_evaluator(inputs["rows"]) if inputs["rows"] else None
    out = {"default_score": DEFAULT_SCORE, "structure_ceiling": STRUCTURE_CEILING,
           "rows": inputs["rows"], "sources": inputs["sources"], "notes": inputs["notes"],
           "seeds": {f: sorted({s["seed"] for s in inputs["sources"] if s["family"] == f})
                     for f in dict.fromkeys(s["family"] for s in inputs["sources"])}}
    if choice is None:
        return {**out, "pick": None, "families": [], "family_ceilings": {}, "table": [],
                "leave_one_family_out": {}, "per_seed_picks": {}, "flips_with_seed": False}
    return _finite_or_none({**out, "pick": choice.pick, "families": list(choice.families),
            "family_ceilings": choice.family_ceilings,
            "table": [{"evaluator": s.evaluator, "by_family": s.by_family, "worst": s.worst,
                       "affinity_corr": s.affinity_corr, "cost_seconds": s.cost_seconds} for s in choice.table],
            "leave_one_family_out": choice.leave_one_family_out,
            "per_seed_picks": {str(seed): pick for seed, pick in choice.per_seed_picks.items()},
            "flips_with_seed": choice.flips_with_seed})


def compute(profile: str, family: str, seed: int, cache, seeds=(0, 1, 2)) -> dict:
    """Reads the stored speedup results of `profile` and applies the rule; `family` and `seed` select nothing."""
    inputs = rule_inputs(profile, [int(s) for s in seeds])  # a corrupt speedup result raises store.CorruptResult
    return {"metrics": {"evaluator_rule": summary(inputs)}, "arrays": {}, "stage_times": {},
            "config": {"experiment": {"reads": SOURCE, "seeds": [int(s) for s in seeds]}}}
