"""The speedup chapter's evaluator tables: every evaluator against the truth per depth on a family's page
(`agreement_table`), and per family on the chapter's index page (`evaluator_family_cells`), from stored speedup
results; the configured default and the evaluator rule's pick are marked.
"""
from __future__ import annotations

from typing import Any, Mapping

from pgxlib.analysis.selection import STRUCTURE_CEILING, agreement_score
from pgxlib.analysis.speedup import reaches_ceiling
from pgxlib.config import DEFAULT_SCORE
from pgxlib.analysis.selection import agreement_pair
from pgxlib.report.speedup import NOT_MEASURED, default_score, footing_of, has_ceiling, nmi_pair_text

AT_CEILING = "✓"
"""Marks a cell whose estimate agrees with the truth at least as well as the truth agrees with itself."""

FLOOR_ROW = "random partition (floor)"


def evaluator_name(name: str, default: str = DEFAULT_SCORE, pick: str | None = None) -> str:
    """`name` as a row or column label, marked when it is the configured default or the evaluator rule's pick."""
    marks = [m for m, on in (("default", name == default), ("rule's pick", name == pick)) if on]
    return f"{name} ({', '.join(marks)})" if marks else name


def _by_score(metrics: Mapping[str, Any], row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A depth's evaluators; an older result without ``by_score`` has only its headline evaluator."""
    return row.get("by_score") or {default_score(metrics): row}


def _floor(row: Mapping[str, Any], by_score: Mapping[str, Any]) -> str:
    """The random-partition NMI of a depth: one value, or the range over the evaluators' truths."""
    floors = sorted({round(float(s.get("random_nmi", row["random_nmi"])), 2) for s in by_score.values()})
    return f"{floors[0]:.2f}" if len(floors) == 1 else f"{floors[0]:.2f}–{floors[-1]:.2f}"


def agreement_cells(metrics: Mapping[str, Any], default: str = DEFAULT_SCORE):
    """The page's one table: rows evaluators (the configured `default` marked) then the random floor once,
    columns depths; each cell "NMI / ceiling" of the estimate against the truth (`agreement_pair`), `AT_CEILING`
    where it reaches the ceiling, "–" where the result has no ceiling or lacks the evaluator. Shape
    [evaluators + 1, depths]."""
    import pandas as pd

    depths = list(metrics["by_layers"])
    names = list(dict.fromkeys(n for r in metrics["by_layers"].values() for n in _by_score(metrics, r)))
    cells: dict[str, dict[str, str]] = {}
    for depth in depths:
        row = metrics["by_layers"][depth]
        by_score = _by_score(metrics, row)
        column = cells.setdefault(f"{depth} layers", {})
        for name in names:
            if name not in by_score:
                column[evaluator_name(name, default)] = "–"
                continue
            x, ceiling, _ = agreement_pair(by_score[name])
            column[evaluator_name(name, default)] = (f"{x:.2f} / –" if ceiling is None else
                                                     " / ".join(nmi_pair_text(x, ceiling))
                                                     + (f" {AT_CEILING}" if reaches_ceiling(x, ceiling) else ""))
        column[FLOOR_ROW] = _floor(row, by_score)
    frame = pd.DataFrame(cells)
    frame.index.name = "evaluator"
    return frame


def agreement_table(metrics: Mapping[str, Any], default: str = DEFAULT_SCORE):
    """`agreement_cells` as a page table, its caption saying what a cell is and its footing."""
    caption = (f"NMI of the estimate's groups with the truth's / the truth's noise ceiling (NMI between repeats of "
               f"full training), footing: {footing_of(metrics)}; {AT_CEILING}: at or above the ceiling; last row: "
               f"the NMI of random partitions into k groups")
    if not has_ceiling(metrics):
        caption += f"; noise ceiling {NOT_MEASURED}"
    frame = agreement_cells(metrics, default)
    styler = frame.style.set_table_attributes('class="dataframe pgx-table"').set_caption(caption + ".")
    return styler.set_td_classes(frame.map(lambda _: "pgx-num"))


def agreement_sentences(metrics: Mapping[str, Any], default: str = DEFAULT_SCORE) -> str:
    """Two sentences under `agreement_table`: which evaluators reach the truth's noise ceiling at the headline
    depth, and where the configured `default` stands."""
    if not has_ceiling(metrics):
        return (f"Noise ceiling of the truth: {NOT_MEASURED}; this result fine-tuned every subset once and cannot say "
                f"whether its truth reproduces itself. The configured default is `{default}`.")
    head = str(metrics["headline_depth"])
    by_score = metrics["by_layers"][head]["by_score"]
    pairs = {name: agreement_pair(s)[:2] for name, s in by_score.items()}
    reach = [f"`{n}`" for n, (x, c) in pairs.items() if reaches_ceiling(x, c)]
    first = (f"At the headline depth, {head} layers, {len(reach)} of {len(pairs)} evaluators group the tasks as well "
             f"as the truth reproduces itself" + (f" ({', '.join(reach)})." if reach else "."))
    if default not in pairs:
        return f"{first} The configured default `{default}` was not scored in this result."
    x, c = pairs[default]
    where = "reaches" if reaches_ceiling(x, c) else "stays below"
    return f"{first} The configured default `{default}` {where} its ceiling ({' / '.join(nmi_pair_text(x, c))})."


def headline_scores(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Evaluator -> the evaluator rule's score (`agreement_score`: NMI / ceiling, ceiling floored, capped at 1) at
    the result's headline depth; None where the result has no ceiling."""
    head = metrics["by_layers"][str(metrics["headline_depth"])]
    out = {}
    for name, s in _by_score(metrics, head).items():
        x, ceiling, _ = agreement_pair(s)
        out[name] = None if ceiling is None else agreement_score(x, ceiling)
    return out


def _worst_and_range(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{min(values):.2f} ({min(values):.2f}–{max(values):.2f})"


NOT_STORED = "not stored"


def evaluator_family_cells(stored: Mapping[str, Mapping[int, Mapping[str, Any]] | str], default: str = DEFAULT_SCORE,
                           pick: str | None = None, stale: Mapping[str, set[int]] | None = None):
    """The speedup chapter's index table: one row per family, one column per evaluator (the configured `default`
    and the rule's `pick` marked), each cell the worst over the family's stored seeds of `headline_scores`, with
    the range over seeds in brackets where there are several. `stored` maps a family to {seed: metrics} or, for a
    family without a stored result, to the command that computes it (a row saying `NOT_STORED`); the seeds in
    `stale` (family -> seeds computed by older code) are marked. Shape [families, 2 + evaluators]."""
    import pandas as pd

    scores = {f: {seed: headline_scores(m) for seed, m in runs.items()} for f, runs in stored.items()
              if not isinstance(runs, str) and runs}
    names = list(dict.fromkeys(n for runs in scores.values() for by in runs.values() for n in by))
    rows = {}
    for family, runs in stored.items():
        if isinstance(runs, str) or not runs:
            rows[family] = {"seeds": f"{NOT_STORED}: `{runs}`" if runs else NOT_STORED, "layers": "–",
                            **{evaluator_name(n, default, pick): "–" for n in names}}
            continue
        depths = sorted({str(m["headline_depth"]) for m in runs.values()}, key=int)
        old = (stale or {}).get(family, set())
        rows[family] = {"seeds": ", ".join(f"{s} (stale)" if s in old else str(s) for s in sorted(runs)),
                        "layers": ", ".join(depths),
                        **{evaluator_name(n, default, pick): _worst_and_range(
                            [v for by in scores[family].values() if (v := by.get(n)) is not None]) for n in names}}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "family"
    return frame


def evaluator_family_text(stored: Mapping[str, Mapping[int, Mapping[str, Any]] | str], default: str = DEFAULT_SCORE,
                          pick: str | None = None, rule_command: str | None = None) -> str:
    """The sentences under `evaluator_family_cells`: what a cell is, over how many seeds, and whose the marks are."""
    many = {f: len(runs) for f, runs in stored.items() if not isinstance(runs, str) and len(runs) > 1}
    counts = sorted(set(many.values()))
    seeds = (f" On {' and '.join(many)} the cell is the worst case over {' or '.join(map(str, counts))} seeds, the "
             f"range over them in brackets." if many else "")
    rule = (f"the evaluator rule's stored pick is `{pick}`" if pick else
            "the evaluator rule's pick is not stored" + (f" (`{rule_command}`)" if rule_command else ""))
    return (f"Each cell: the estimate's NMI with the truth over the truth's noise ceiling (single repeats) at the "
            f"family's headline depth, the ceiling floored at {STRUCTURE_CEILING:g} and the ratio capped at 1 (the "
            f"evaluator rule's score), so 1 means the estimate groups the tasks as well as full training reproduces "
            f"itself.{seeds} The configured default is `{default}`; {rule}.")
