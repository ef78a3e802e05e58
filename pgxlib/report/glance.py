"""Results at a glance, for the intro and the README: the answer per family (structure? · does the estimate
find it? · does grouping pay? · does PolicyGradEx get it?), one table of methods × families and five computed
sentences.

Everything is read from stored `main_results`, `structure` and `evaluator_rule` results through a registry (pass
`pgxlib.experiments`); a family without a stored result says so, a stale result is labelled stale. No number here
is typed: the paper's come from `pgxlib.paper`.

Verdict per family (`family_verdict`): PolicyGradEx "leads" when the paired 95% interval over seeds of
PolicyGradEx − baseline lies above 0 for every measured baseline (CARE included where it is measured), "trails"
when it lies below 0 for some baseline, and is "undecided" otherwise. Gaps are in return, or in points of success
on Meta-World.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from pgxlib.analysis.selection import agreement_score
from pgxlib.analysis.verdicts import PairedInterval
from pgxlib.config import DEFAULT_SCORE, FAMILIES
from pgxlib import paper
from pgxlib.report.main_results import LABELS, interval_text, versus
from pgxlib.report.payoff import grouping_payoff

OURS = "policygradex"
ROWS = (*LABELS, "care")
"""Table rows: our method keys (`main_results`), then CARE, which only the paper reports (Meta-World)."""
ROW_LABELS = {**LABELS, "care": paper.METHODS["care"]}
_PAPER_KEYS = {"random_grouping": "random", "gradient_similarity_grouping": "gradient_similarity"}


@dataclass(frozen=True)
class Stored:
    """What the store holds for one family: `result` (None when not stored) and the command computing it."""

    family: str
    result: Any
    command: str
    problem: str = ""

    @property
    def methods(self) -> Mapping[str, Any]:
        return {} if self.result is None else self.result.metrics.get("methods", {})

    def entry(self, method: str) -> Mapping[str, Any] | None:
        """``{"mean", "std", "seeds"}`` of a measured method (Meta-World: success in percent), else None."""
        e = self.methods.get(method)
        if not e or e.get("mean") is None:
            return None
        if _percent(self.family) and (e.get("success") or {}).get("mean") is not None:
            s = e["success"]
            return {"mean": 100 * s["mean"], "std": 100 * s.get("std", 0.0), "seeds": [100 * v for v in s["seeds"]]}
        return e

    @property
    def provenance(self) -> str:
        """``2026-11-24 1a2b3c4`` (the date and commit of the run), with ``STALE`` for a result older than its code."""
        if self.result is None:
            return "not stored"
        r = self.result
        return f"{(r.timestamp or '?')[:10]} {(r.commit or 'unknown')[:7]}" + (" STALE" if r.stale else "")


def _percent(family: str) -> bool:
    """Whether the paper scores `family` by success rate in percent (Meta-World), not by return."""
    column = paper.FAMILY_COLUMNS.get(family)
    return column is not None and paper.MAIN_RESULTS.unit(column) == "%"


def _num(v: float) -> str:
    """Three significant figures, without an exponent: 412, -48.4, 9.99."""
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def _std(v: float) -> str:
    """Two significant figures: 82, 4.0, 0.43."""
    return f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}" if abs(v) >= 1 else f"{v:.2g}"


def collect(profile: str, registry, experiment: str = "main_results", families: Sequence[str] = FAMILIES,
            params: Mapping[str, Mapping[str, Any]] | None = None) -> list[Stored]:
    """One `Stored` per family of `families` (every family of `pgxlib.config.FAMILIES` by default); `params`
    maps a family to the experiment parameters its result was computed with (the defaults otherwise)."""
    out = []
    for family in families:
        extra = dict((params or {}).get(family, {}))
        seed = extra.pop("seed", 0)
        try:
            result = registry.find_result(experiment, profile, family, seed, **extra)
            command = registry.run_command(experiment, profile, family, seed, **extra)
        except ValueError as err:  # ConfigError, ResultError: an unreadable result is shown, not hidden
            detail = getattr(err, "detail", None)  # a corrupt stored result: the file, the fault, the fix
            if detail is not None:
                fix = registry.run_command(experiment, profile, family, seed, **extra)
                out.append(Stored(family, None, fix + ("" if fix.endswith("--force") else " --force"),
                                  f"{err.path}/{detail}"))
                continue
            result, command = None, f"pgx run {experiment} --profile {profile} -p family {family} ({err})"
        out.append(Stored(family, result, command))
    return out


def paper_value(method: str, family: str) -> float | None:
    """The paper's main-table number for our method key on `family`, None where it reports none."""
    column = paper.FAMILY_COLUMNS.get(family)
    if column is None:
        return None
    value = paper.MAIN_RESULTS.value(paper.METHODS[_PAPER_KEYS.get(method, method)], column)
    return value if isinstance(value, (int, float)) else None


def _cell(stored: Stored, method: str) -> str:
    e = stored.entry(method)
    ours = "–" if e is None else f"{_num(e['mean'])} ± {_std(e['std'])}"
    theirs = paper_value(method, stored.family)
    if theirs is None:
        return ours
    unit = paper.MAIN_RESULTS.unit(paper.FAMILY_COLUMNS[stored.family])
    return f"{ours} ({paper.format_value(theirs, unit)})"


def glance_table(rows: Sequence[Stored]):
    """Methods × stored families: ours (mean ± std over seeds) with the paper's number in brackets; a last row
    says where each column comes from (date and commit, STALE). Families without a stored result have no
    column (`missing_note` names them); a method with no number in any column has no row."""
    import pandas as pd

    cols = [s for s in rows if s.result is not None]
    body = {s.family: [_cell(s, m) for m in ROWS] for s in cols}
    frame = pd.DataFrame(body, index=pd.Index([ROW_LABELS[m] for m in ROWS], name="method"), columns=list(body))
    frame = frame[[any(c != "–" for c in row) for row in frame.itertuples(index=False)]] if len(body) else frame
    frame.loc["computed (commit)"] = [s.provenance for s in cols]
    return frame


def missing_note(rows: Sequence[Stored]) -> str:
    """One line naming the families without a stored result, with the paper's PolicyGradEx number where it has
    one and the command that computes ours ("" when every family is stored)."""
    missing = [s for s in rows if s.result is None and not s.problem]
    corrupt = "".join(f"Corrupt, so not in the table: {s.family} ({s.problem}); recompute it with `{s.command}`. "
                      for s in rows if s.problem)
    if not missing:
        return corrupt.strip()
    parts = []
    for s in missing:
        theirs = paper_value(OURS, s.family)
        unit = paper.MAIN_RESULTS.unit(paper.FAMILY_COLUMNS[s.family]) if theirs is not None else ""
        parts.append(f"{s.family}" + (f" (paper: PolicyGradEx {paper.format_value(theirs, unit)})"
                                      if theirs is not None else "") + f", `{s.command}`")
    return corrupt + "Not stored, so not in the table: " + "; ".join(parts) + "."


@dataclass(frozen=True)
class FamilyVerdict:
    """PolicyGradEx against the measured baselines on one family, paired over seeds.

    kind: "leads" when the paired interval of PolicyGradEx − baseline lies above 0 for every baseline,
    "trails" when it lies below 0 for some baseline, else "undecided"; best: the baseline with the highest mean;
    versus_best: PolicyGradEx − best (in return; in points of success on Meta-World) with its 95% interval;
    behind: the baselines PolicyGradEx is below with an interval clear of 0."""

    family: str
    kind: str
    best: str
    versus_best: PairedInterval
    behind: tuple[str, ...]
    stale: bool

    @property
    def seeds(self) -> int:
        return self.versus_best.seeds


def family_verdict(stored: Stored) -> FamilyVerdict | None:
    """How PolicyGradEx compares with every measured baseline on a stored family, by the paired interval of
    the per-seed difference (`analysis.verdicts.paired_interval`); None if not measured."""
    ours = stored.entry(OURS)
    bases = {k: stored.entry(k) for k in ROWS if k != OURS and stored.entry(k) is not None}
    if ours is None or not bases:
        return None
    pairs = {k: versus(ours["seeds"], e["seeds"]) for k, e in bases.items() if len(e["seeds"]) == len(ours["seeds"])}
    if not pairs:
        return None
    best = max(pairs, key=lambda k: bases[k]["mean"])
    behind = tuple(k for k, p in pairs.items() if p.interval[1] < 0)
    ahead = all(p.interval[0] > 0 for p in pairs.values())
    kind = "trails" if behind else "leads" if ahead else "undecided"
    return FamilyVerdict(stored.family, kind, best, pairs[best], behind, bool(stored.result.stale))


def _names(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _stale(v: FamilyVerdict) -> str:
    return ", stale result" if v.stale else ""


def _gap_unit(family: str) -> str:
    """What a gap between two methods' means is measured in on `family`."""
    return "points of success" if _percent(family) else "return"


def _seed_span(verdicts: Sequence[FamilyVerdict]) -> str:
    counts = sorted({v.seeds for v in verdicts})
    return f"{counts[0]} seeds" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} seeds"


def sentences(rows: Sequence[Stored], status: bool = True, structures: Sequence[Stored] = ()) -> list[str]:
    """Five plain sentences: where PolicyGradEx is above every baseline, where it is below one, how that compares
    with the paper, why as far as the stored results tell (does the best reference grouping pay over multitask,
    and how much of it PolicyGradEx recovers: `report.payoff.grouping_payoff`), and how current the results
    are (`status_sentence`). Orders are read on paired 95% intervals over seeds (`family_verdict`)."""
    verdicts = [v for v in (family_verdict(s) for s in rows) if v is not None]
    if not verdicts:
        return ["No main result is stored yet, so this book cannot say whether PolicyGradEx works: "
                "compute them with the commands below the table.",
                "Where it does not work: not measured.", "Against the paper: not measured.",
                "Why: not measured.", status_sentence(rows, status)]
    lead = [v for v in verdicts if v.kind == "leads"]
    open_ = [v for v in verdicts if v.kind == "undecided"]
    trail = [v for v in verdicts if v.kind == "trails"]

    def item(v: FamilyVerdict) -> str:
        return (f"{v.family} ({interval_text(v.versus_best)} {_gap_unit(v.family)} against {ROW_LABELS[v.best]}"
                f"{_stale(v)})")

    out = [("PolicyGradEx is above every measured baseline, each paired 95% interval over seeds clear of 0, on "
            + _names([item(v) for v in lead]) + ".") if lead else
           "On no measured family is PolicyGradEx above every baseline with every paired 95% interval clear of 0."]
    text = ("It is below, interval clear of 0, " + "; ".join(
        f"{_names([ROW_LABELS[b] for b in v.behind])} on {item(v)}" for v in trail)) if trail else \
        "No baseline is above it with an interval clear of 0"
    if open_:
        text += "; undecided (an interval covers 0) on " + _names([item(v) for v in open_])
    out.append(text + ".")
    compared = [v for v in verdicts if v.family in paper.FAMILY_COLUMNS]
    out.append(f"The paper has PolicyGradEx first on all {len(paper.FAMILY_COLUMNS)} of its columns; we find it first "
               f"with intervals clear of 0 on {len(lead)} of {len(verdicts)} families "
               f"({sum(v.kind == 'leads' for v in compared)} of the {len(compared)} the paper also reports), with "
               f"{_seed_span(verdicts)} at our budgets and task ranges, so values are not comparable, only orders.")
    out.append(payoff_sentence(rows, structures))
    out.append(status_sentence(rows, status))
    return out


def payoff_sentence(rows: Sequence[Stored], structures: Sequence[Stored] = ()) -> str:
    """Why, as far as the stored results tell: where the best reference grouping beats multitask with an interval
    clear of 0 (grouping can pay) and the share of that gain PolicyGradEx recovers, beside which families have an
    affinity structure (`structure_clause`)."""
    lead = structure_clause(structures)
    pays, loses, not_told = [], [], []
    for s in rows:
        pay = None if s.result is None else grouping_payoff(s.result.metrics)
        if pay is None:
            continue
        lo, hi = pay.over_multitask.interval
        if np.isfinite(lo) and lo > 0:
            share = "" if pay.recovered is None else f", PolicyGradEx recovers {100 * pay.recovered:.0f}% of it"
            pays.append(f"{s.family} ({interval_text(pay.over_multitask)}{share})")
        elif np.isfinite(hi) and hi < 0:
            loses.append(f"{s.family} ({interval_text(pay.over_multitask)})")
        else:
            not_told.append(f"{s.family} ({interval_text(pay.over_multitask)})")
    if not (pays or loses or not_told):
        return ("Why, as far as we can tell: grouping can only help where the right groups beat multitask. " + lead
                + "No stored main result has a reference grouping yet, so whether grouping can pay is not measured.")
    parts = ([f"the best reference grouping beats multitask with an interval clear of 0 on {_names(pays)}"]
             if pays else []) + ([f"even the best reference grouping is below multitask, interval clear of 0, on "
                                  f"{_names(loses)}"] if loses else []) \
        + ([f"its gain is not told apart from 0 on {_names(not_told)}"] if not_told else [])
    return ("Why, as far as we can tell: grouping can only help where the right groups beat multitask. " + lead
            + "Against the reference groupings (paired over seeds, in return): " + "; ".join(parts) + ".")


def status_sentence(rows: Sequence[Stored], status: bool = True) -> str:
    """Which results are stale or missing; without `status`, when the stored ones were computed."""
    missing = [s.family for s in rows if s.result is None]
    absent = f"no main result is stored for {_names(missing)}" if missing else ""
    if not status:
        when = sorted({(s.result.timestamp or "?")[:10] for s in rows if s.result is not None})
        span = f"on {when[0]}" if len(when) == 1 else f"between {when[0]} and {when[-1]}"
        text = (f"These numbers were computed {span}; the book marks any result whose code has changed since as "
                "stale" if when else "Nothing is stored yet")
        return text + (f"; {absent}." if absent else ".")
    stale = [s.family for s in rows if s.result is not None and s.result.stale]
    parts = ([f"the results of {_names(stale)} are stale (computed by older code) and are shown until "
              "recomputed"] if stale else []) + ([absent] if absent else [])
    if not parts:
        return "Every family's main result is stored and current."
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def structure_clause(structures: Sequence[Stored]) -> str:
    """Which families have a stable affinity structure at their budget, from stored structure results."""
    from pgxlib.report.structure import headline, verdict

    stable, none = [], []
    for s in structures:
        if s.result is None:
            continue
        c = headline(s.result.metrics)
        text = f"{s.family} (ceiling {c['noise_ceiling_nmi']:.2f}{', stale' if s.result.stale else ''})"
        (stable if verdict(s.result.metrics) == "stable" else none).append(text)
    parts = ([f"a stable affinity structure at our budget on {_names(stable)}"] if stable else []) + \
            ([f"none on {_names(none)}"] if none else [])
    return ("The structure chapter finds " + "; ".join(parts) + ". ") if parts else ""


# ---------------------------------------------------------------------------------------------
# The answer, one line per family
# ---------------------------------------------------------------------------------------------

ANSWER_COLUMNS = ("structure? (ceiling)", f"estimate finds it? (NMI / ceiling, {DEFAULT_SCORE})",
                  "grouping pays? (reference − multitask)", "PolicyGradEx gets it? (− multitask)")
"""The four questions the glance answers per family, in order."""

RULE_FAMILY = "planted"
"""The family the `evaluator_rule` result is filed under (it reads every family's speedup results)."""


def _flag(stored: Stored) -> str:
    return " (stale)" if stored.result.stale else ""


def structure_cell(stored: Stored | None, rule: Stored | None = None, family: str = "") -> str:
    """"yes (0.93)" or "no (0.11)": the structure chapter's noise ceiling at the family's budget
    (`report.structure.headline`) against `report.structure.STABLE_CEILING`; where the family has no structure
    result, the speedup chapter's ceiling at its truth's budget (seed 0 of the evaluator rule's rows)."""
    from pgxlib.report.structure import STABLE_CEILING, headline, verdict

    if stored is None or stored.result is None:
        rows = _rule_rows(rule, family)
        if not rows:
            return "not stored"
        ceiling = min(rows, key=lambda r: r["seed"])["ceiling"]
        return f"{'yes' if ceiling >= STABLE_CEILING else 'no'} ({ceiling:.2f}, speedup chapter){_flag(rule)}"
    ceiling = headline(stored.result.metrics)["noise_ceiling_nmi"]
    answer = "yes" if verdict(stored.result.metrics) == "stable" else "no"
    return f"{answer} ({ceiling:.2f}){_flag(stored)}"


def _rule_rows(rule: Stored | None, family: str, evaluator: str = DEFAULT_SCORE) -> list[Mapping[str, Any]]:
    """The evaluator rule's rows (one per seed) of `family` by `evaluator` that have a ceiling."""
    if rule is None or rule.result is None:
        return []
    return [r for r in rule.result.metrics["evaluator_rule"]["rows"]
            if r["family"] == family and r["evaluator"] == evaluator and r.get("ceiling")]


def estimate_cell(rule: Stored | None, family: str, evaluator: str = DEFAULT_SCORE) -> str:
    """The estimate's agreement with the truth at the headline depth, by `evaluator`, from the rows of the stored
    evaluator rule (one per family × seed × evaluator, single-repeat footing): "0.81 / 1.00" for one seed, the
    worst seed's by `analysis.selection.agreement_score` and the seed count for several."""
    if rule is None or rule.result is None:
        return "not stored"
    rows = [r for r in _rule_rows(rule, family, evaluator) if r["nmi"] is not None]
    if not rows:
        return "not measured"
    worst = min(rows, key=lambda r: agreement_score(r["nmi"], r["ceiling"]))
    text = f"{worst['nmi']:.2f} / {worst['ceiling']:.2f}"
    return (text if len(rows) == 1 else f"{text} (worst of {len(rows)} seeds)") + _flag(rule)


def payoff_cells(stored: Stored) -> tuple[str, str]:
    """The best reference grouping's paired gain over multitask, and PolicyGradEx's with the share of that gain it
    recovers (`report.payoff.grouping_payoff`); "no reference" where the result has none (MT10)."""
    if stored.result is None:
        return "not stored", "not stored"
    pay = grouping_payoff(stored.result.metrics)
    if pay is None:
        return "no reference grouping", _ours_over_multitask(stored)
    name = "designed" if pay.best == "design_grouping" else "measured"
    share = "" if pay.recovered is None else f", {100 * pay.recovered:.0f}% of it"
    return (f"{interval_text(pay.over_multitask)} ({name}){_flag(stored)}",
            f"{interval_text(pay.policygradex_over_multitask)}{share}")


def _ours_over_multitask(stored: Stored) -> str:
    ours, multitask = stored.entry(OURS), stored.entry("multitask")
    if ours is None or multitask is None:
        return "–"
    return interval_text(versus(ours["seeds"], multitask["seeds"]))


def answer_frame(rows: Sequence[Stored], structures: Sequence[Stored], rule: Stored | None):
    """One row per family (`ANSWER_COLUMNS`): structure? · does the estimate find it? · does grouping pay? · does
    PolicyGradEx get it? Gaps are paired over seeds, mean [95% interval], in return (points of success on
    Meta-World)."""
    import pandas as pd

    by_family = {s.family: s for s in structures}
    body = []
    for s in rows:
        pays, gets = payoff_cells(s)
        body.append([structure_cell(by_family.get(s.family), rule, s.family), estimate_cell(rule, s.family), pays,
                     gets])
    return pd.DataFrame(body, index=pd.Index([s.family for s in rows], name="family"), columns=list(ANSWER_COLUMNS))


ANSWER_LEGEND = ("**The answer, per family.** *Structure*: the truth's noise ceiling (NMI between two repeats of "
                 "fine-tuning) in the structure chapter, seed 0; \"yes\" from 0.8. *Estimate*: the speedup chapter's "
                 "NMI of the estimate's groups with the truth's, beside that run's own ceiling (single repeats; worst "
                 "seed). *Grouping pays*: the best reference grouping (measured or designed) minus multitask. "
                 "*PolicyGradEx*: its gain over multitask, and its share of the reference's. Gaps in return, paired "
                 "over seeds (same θ*, same targets): mean [95% bootstrap interval; 97.5% for the best of two "
                 "references, Bonferroni].")


def glance_markdown(profile: str, registry, status: bool = True,
                    params: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> str:
    """The glance section as markdown: the answer per family, the methods table with its legend and the five
    sentences. With ``status=False`` the stale labels are left out (for the README, which names each result's
    commit instead; stale-ness depends on the code checked out). `params` maps an experiment to `collect`'s
    per-family parameters."""
    params = params or {}
    rows = collect(profile, registry, params=params.get("main_results"))
    struct = collect(profile, registry, "structure", params=params.get("structure"))
    rule = collect(profile, registry, "evaluator_rule", families=[RULE_FAMILY],
                   params=params.get("evaluator_rule"))[0]
    if not status:
        rows, struct, (rule,) = ([Stored(s.family, _Unflagged(s.result) if s.result is not None else None, s.command,
                                         s.problem)
                                  for s in group] for group in (rows, struct, [rule]))
    answers = answer_frame(rows, struct, rule)
    table = glance_table(rows)
    legend = (f"Mean target return after adaptation, mean ± std over seeds (Meta-World: success %), profile "
              f"`{profile}`; the paper's number in brackets. Only the order of the methods is comparable: task "
              "ranges, budgets and networks are ours.")
    lines = "\n".join(f"{i}. {s}" for i, s in enumerate(sentences(rows, status, struct), start=1))
    note = missing_note(rows)
    body = f"{legend}\n\n{markdown_table(table)}\n\n" if len(table.columns) else ""
    return (f"{ANSWER_LEGEND}\n\n{markdown_table(answers)}\n\n" + body + (f"{note}\n\n" if note else "")
            + f"{lines}\n")


def markdown_table(frame) -> str:
    """A DataFrame as a GitHub/MyST pipe table, its index as the first column."""
    head = [frame.index.name or "", *map(str, frame.columns)]
    rows = [[str(i), *map(str, r)] for i, r in zip(frame.index, frame.itertuples(index=False))]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows])


@dataclass(frozen=True)
class _Unflagged:
    """A stored result seen without its stale flag (the README does not depend on the checked-out code)."""

    inner: Any

    def __getattr__(self, name):
        return False if name == "stale" else getattr(self.inner, name)


README_START = "<!-- glance: written by `pgx glance --readme` from results/default; do not edit by hand -->"
README_END = "<!-- /glance -->"


def with_readme_block(readme: str, block: str) -> str:
    """`readme` with the text between `README_START` and `README_END` replaced by `block`."""
    head, found, rest = readme.partition(README_START)
    if not found:
        raise ValueError(f"README has no line {README_START!r}")
    _, found, tail = rest.partition(README_END)
    if not found:
        raise ValueError(f"README has no line {README_END!r}")
    return f"{head}{README_START}\n{block.strip()}\n{README_END}{tail}"
