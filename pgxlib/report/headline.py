"""A stored result's headline figures in a few plain lines, for the command line (`pgx run`, `pgx group`).

Reads only the metrics dict a result stores; the main-results and speedup shapes get their own
lines, so does the evaluator rule's, any other result its top-level numbers.
"""
from __future__ import annotations

from typing import Any, Mapping

from pgxlib.report.main_results import LABELS, REFERENCE_LABELS


def _num(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:.3g}"


def _methods(methods: Mapping[str, Any], references=()) -> list[str]:
    """The methods ranked best first, then the references (not ranked: they bound, not compete)."""
    measured = {k: e for k, e in methods.items() if isinstance(e, Mapping) and e.get("mean") is not None}
    order = sorted((k for k in measured if k not in references), key=lambda k: -measured[k]["mean"])
    return ([f"{LABELS.get(k, k)}: {_num(measured[k]['mean'])} ± {_num(measured[k].get('std', 0.0))}"
             + (" (best)" if i == 0 else "") for i, k in enumerate(order)]
            + [f"reference, {REFERENCE_LABELS.get(k, k)}: {_num(measured[k]['mean'])} ± "
               f"{_num(measured[k].get('std', 0.0))}" for k in references if k in measured])


def _by_layers(metrics: Mapping[str, Any]) -> list[str]:
    lines = []
    for depth, r in metrics["by_layers"].items():
        ceiling = r.get("noise_ceiling_nmi")
        lines.append(f"{depth} layers: NMI {_num(r.get('nmi'))}"
                     + (f" (truth vs itself {_num(ceiling)})" if ceiling is not None else "")
                     + f", rank correlation {_num(r.get('rank_correlation'))}, speedup {_num(r.get('speedup'))}×")
    return lines


def _errors(metrics: Mapping[str, Any]) -> list[str]:
    authors = metrics.get("paper_definition_error_pct") or {}
    lines = [f"first-order error at {d}% distance: {_num(v)}% (ours)"
             + (f", {_num(authors[d])}% (authors' definition)" if d in authors else "")
             for d, v in metrics["relative_error_pct"].items()]
    slopes, chosen = metrics.get("scaling_slope"), metrics.get("matching_definition")
    if isinstance(slopes, Mapping):
        names = {"relative_error_pct": "ours", "paper_definition_error_pct": "authors'"}
        fitted = ", ".join(f"{names.get(k, k)} {_num(v)}" for k, v in slopes.items())
        lines.append(f"log-log slope over 0.1–1%: {fitted}"
                     + (f"; scaling like the paper's: {names[chosen]}" if chosen in names else ""))
    return lines


def _sweeps(metrics: Mapping[str, Any]) -> list[str]:
    return [f"score by {name}: " + ", ".join(f"{v} {_num(r.get('score'))}" for v, r in knob["by_value"].items())
            for name, knob in metrics.items() if isinstance(knob, Mapping) and isinstance(knob.get("by_value"), Mapping)]


def _rule(rule: Mapping[str, Any]) -> list[str]:
    seeds = "; ".join(f"{f} seeds {', '.join(map(str, v))}" for f, v in rule["seeds"].items()) or "no stored results"
    return [f"evaluator rule's pick: {rule['pick']} (configured default {rule['default_score']}); families with "
            f"structure: {', '.join(rule['families']) or 'none'}; read: {seeds}"
            + ("; the pick flips with the seed" if rule["flips_with_seed"] else ""), *rule["notes"]]


def _flat(tree: Mapping[str, Any], prefix: str = "", depth: int = 2) -> list[tuple[str, Any]]:
    out = []
    for k, v in tree.items():
        if isinstance(v, Mapping) and depth > 1:
            out += _flat(v, f"{prefix}{k}.", depth - 1)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seed":
            out.append((prefix + k, v))
    return out


def headline(metrics: Mapping[str, Any], limit: int = 8) -> list[str]:
    """A few lines with the figures a reader looks for first in `metrics` (a stored result's metrics)."""
    if isinstance(metrics.get("methods"), Mapping):
        return _methods(metrics["methods"], tuple(metrics.get("references", ())))
    if isinstance(metrics.get("by_layers"), Mapping):
        return _by_layers(metrics)
    if isinstance(metrics.get("evaluator_rule"), Mapping):
        return _rule(metrics["evaluator_rule"])
    if isinstance(metrics.get("relative_error_pct"), Mapping):
        return _errors(metrics)
    lines = _sweeps(metrics)
    return lines or [f"{k}: {_num(v)}" for k, v in _flat(metrics)[:limit]]
