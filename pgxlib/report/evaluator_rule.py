"""Tables and sentences of the evaluator rule's page, from a stored `evaluator_rule` result
(``metrics.evaluator_rule``).

Nothing here applies the rule: the experiment stored the pick, the table behind it, the leave-one-family-out
reading and the pick per seed (`analysis.selection.choose_evaluator`); this module shows them.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from pgxlib.analysis.selection import agreement_score
from pgxlib.report.tables import tidy

NO_RESULTS = "no stored speedup result with a repeated truth: run the speedup chapter first"


def _mean(values) -> float | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def family_frame(rule: Mapping[str, Any]):
    """One row per evaluator × family, seed means: NMI of estimate vs truth and the truth's noise ceiling (one
    footing: single repeats), the rule's score (NMI / ceiling, `agreement_score`), the affinity correlation, the
    speedup and how many seeds; "in the rule" says whether the family has structure (it counts)."""
    import pandas as pd

    rows = rule["rows"]
    out = []
    for name in dict.fromkeys(r["evaluator"] for r in rows):
        for family in dict.fromkeys(r["family"] for r in rows):
            mine = [r for r in rows if r["evaluator"] == name and r["family"] == family]
            if not mine:
                continue
            out.append({"evaluator": name, "family": family, "NMI estimate vs truth": _mean(r["nmi"] for r in mine),
                         "noise ceiling NMI": _mean(r["ceiling"] for r in mine),
                         "NMI / ceiling": _mean(agreement_score(r["nmi"], r["ceiling"]) for r in mine),
                         "affinity r": _mean(r["affinity_corr"] for r in mine),
                         "speedup": _mean(r["speedup"] for r in mine), "seeds": len(mine),
                         "in the rule": family in rule["families"]})
    if not out:
        return pd.DataFrame(columns=["evaluator", "family"]).set_index(["evaluator", "family"])
    return pd.DataFrame(out).set_index(["evaluator", "family"])


def family_table(rule: Mapping[str, Any]):
    """`family_frame` as a page table (`tables.tidy`)."""
    return tidy(family_frame(rule), "Every evaluator on every family with a stored speedup result, seed means at "
                                    "the headline depth, NMI and ceiling against single repeats",
                missing_why="undefined (one side constant)")


def seed_frame(rule: Mapping[str, Any]):
    """The rule's pick on each seed's rows alone, beside the pick over all seeds."""
    import pandas as pd

    picks = rule["per_seed_picks"]
    return pd.DataFrame({"pick": list(picks.values())}, index=pd.Index([int(s) for s in picks], name="seed"))


def leave_one_out_frame(rule: Mapping[str, Any]):
    """Chosen on one family, scored on another: the pick on the family alone, its score (NMI / ceiling) on each other
    family, and the best score any evaluator reaches there."""
    import pandas as pd

    rows = [{"chosen on": f, "pick": v["pick"], "scored on": g, "its NMI / ceiling": v["scores"][g],
             "best NMI / ceiling there": v["best"][g]}
            for f, v in rule["leave_one_family_out"].items() for g in v["scores"]]
    return pd.DataFrame(rows)


def rule_text(rule: Mapping[str, Any]) -> str:
    """Markdown: the pick and whether it is the configured default, which families and seeds it was scored on,
    whether it flips with the seed, and one line per result that was stale, or missing from a family that counts."""
    seeds = "; ".join(f"{f}: seeds {', '.join(map(str, s))}" for f, s in rule["seeds"].items())
    if not rule["rows"]:
        return NO_RESULTS + "."
    if rule["pick"] is None:
        head = (f"No family has structure (a noise ceiling of at least {rule['structure_ceiling']:g}) among the stored "
                f"results ({seeds}): the rule picks nothing, and the configured default `{rule['default_score']}` "
                f"is not backed by it.")
    else:
        same = ("the configured default" if rule["pick"] == rule["default_score"]
                else f"not the configured default `{rule['default_score']}`")
        head = (f"The rule picks `{rule['pick']}`, {same}: the best worst case of NMI / ceiling over the families with "
                f"structure ({', '.join(rule['families'])}; stored seeds {seeds}).")
        head += (" The pick flips with the seed (" + ", ".join(f"seed {s}: `{p}`" for s, p in
                                                            rule["per_seed_picks"].items()) + ")."
                 if rule["flips_with_seed"] else " Every seed alone picks the same.")
    counted = [line for line in rule["notes"] if line.split(" ")[0] in rule["families"] or "no stored" not in line]
    notes = "".join(f"\n- {line}" for line in counted)
    return head + (f"\n\nWhat the rule could not read as current (a seed missing from a family without structure, "
                   f"which does not count, is not listed):{notes}" if notes else "")


def rule_markdown(rule: Mapping[str, Any] | None, command: str | None = None) -> str:
    """Markdown for the method chapter: `rule_text`, then the evaluator × family table of the families with structure
    (seed means) and the leave-one-family-out reading, as pipe tables; what to run when nothing is stored."""
    from pgxlib.report.tables import markdown_table

    if rule is None:
        return f"The rule's result is not stored yet: `{command}` computes it from the speedup chapter's results.\n"
    text = rule_text(rule)
    if not rule["rows"] or rule["pick"] is None:
        return text + "\n"
    frame = family_frame(rule)
    inside = frame[frame["in the rule"]].drop(columns="in the rule").round(3).fillna("–")
    text += ("\n\nEvery evaluator on the families with structure, seed means at the headline depth (NMI and ceiling "
             "against single repeats):\n\n" + markdown_table(inside.reset_index().set_index("evaluator")))
    lofo = leave_one_out_frame(rule)
    if not lofo.empty:
        text += ("\nChosen on one family, scored on the other (NMI / ceiling):\n\n"
                 + markdown_table(lofo.round(3).set_index("chosen on")))
    return text + "\n"
