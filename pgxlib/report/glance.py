"""Results at a glance: one table of methods × families and five computed sentences, for the intro and
the README.

Everything is read from stored `main_results` and `speedup` results through a registry (pass
`pgxlib.experiments`); a family without a stored result is a column that says so, a stale result is
labelled stale. No number here is typed: the paper's come from `pgxlib.report.paper`.

Verdict per family (`family_verdict`): PolicyGradEx "leads" when its mean over seeds is above every
measured baseline (CARE included where it is measured) by more than the larger of the two seed stds, "trails"
when some baseline is above it by more than that, and "ties" otherwise (within seed noise). Gaps are in return,
or in points of success on Meta-World.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pgxlib.config import FAMILIES
from pgxlib.report import paper
from pgxlib.report.main_results import LABELS

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
    """PolicyGradEx on one family: ``kind`` is "leads", "ties" or "trails"; `best` the strongest baseline,
    `gap` ours − best (in return; in points of success on Meta-World), `noise` the larger seed std of the two,
    `seeds` the number of seeds."""

    family: str
    kind: str
    best: str
    gap: float
    noise: float
    seeds: int
    stale: bool


def family_verdict(stored: Stored) -> FamilyVerdict | None:
    """How PolicyGradEx compares with the best measured baseline on a stored family (None if not measured)."""
    ours = stored.entry(OURS)
    bases = {k: stored.entry(k) for k in ROWS if k != OURS and stored.entry(k) is not None}
    if ours is None or not bases:
        return None
    best = max(bases, key=lambda k: bases[k]["mean"])
    gap = ours["mean"] - bases[best]["mean"]
    if gap > 0:  # beat the best: the closest one is the one that matters for noise
        closest = max(bases, key=lambda k: bases[k]["mean"])
        noise = max(ours["std"], bases[closest]["std"])
        kind = "leads" if gap > noise else "ties"
    else:
        noise = max(ours["std"], bases[best]["std"])
        kind = "trails" if -gap > noise else "ties"
    return FamilyVerdict(stored.family, kind, best, gap, noise, len(ours["seeds"]), bool(stored.result.stale))


def _names(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _stale(v: FamilyVerdict) -> str:
    return ", stale result" if v.stale else ""


def _gap_unit(family: str) -> str:
    """What a gap between two methods' means is measured in on `family`."""
    return "points of success" if _percent(family) else "return"


def _in_stds(v: FamilyVerdict) -> str:
    return f"{abs(v.gap) / v.noise:.1f} seed stds" if v.noise > 0 else "with no seed spread"


def sentences(rows: Sequence[Stored], speedups: Sequence[Stored] = (), status: bool = True,
              structures: Sequence[Stored] = ()) -> list[str]:
    """Five plain sentences: where PolicyGradEx works, where it does not, how that compares with the
    paper, why as far as the stored results tell (the ground truth's noise ceiling), and how current
    the results are (`status_sentence`). Computed from `rows` (main_results) and `speedups` (speedup results)."""
    verdicts = [v for v in (family_verdict(s) for s in rows) if v is not None]
    lead = [v for v in verdicts if v.kind == "leads"]
    tie = [v for v in verdicts if v.kind == "ties"]
    trail = [v for v in verdicts if v.kind == "trails"]
    if not verdicts:
        return ["No main result is stored yet, so this book cannot say whether PolicyGradEx works: "
                "compute them with the commands in the table's last row.",
                "Where it does not work: not measured.", "Against the paper: not measured.",
                "Why: not measured.", "Every main result is missing."]
    up = [v for v in tie if v.gap > 0]
    down = [v for v in tie if v.gap <= 0]

    def item(v: FamilyVerdict) -> str:
        return (f"{v.family} ({v.gap:+.3g} {_gap_unit(v.family)} against {ROW_LABELS[v.best]}, "
                f"{_in_stds(v)}{_stale(v)})")

    out = []
    if lead:
        out.append("PolicyGradEx works, in the sense that it is above every measured baseline by more than the "
                   "seed spread, on " + _names([item(v) for v in lead]) + ".")
    else:
        out.append("On no measured family is PolicyGradEx above every baseline by more than the seed spread"
                   + (f"; its mean is the highest, within seed noise, on {_names([item(v) for v in up])}" if up else "")
                   + ".")
    if trail:
        out.append("It does not work on " + _names([item(v) for v in trail]) + ", where a baseline is ahead by more "
                   "than the seed spread" + (f"; on {_names([item(v) for v in down])} a baseline's mean is higher "
                                             "within seed noise" if down else "") + ".")
    else:
        out.append("No baseline is ahead of it by more than the seed spread either"
                   + (f": on {_names([item(v) for v in down])} a baseline's mean is higher, within seed noise"
                      if down else "") + ".")
    compared = [v for v in verdicts if v.family in paper.FAMILY_COLUMNS]
    out.append(f"The paper has PolicyGradEx first on all {len(paper.FAMILY_COLUMNS)} of its columns; we measure it "
               f"first beyond seed noise on {len(lead)} of {len(verdicts)} families "
               f"({sum(v.kind == 'leads' for v in compared)} of the {len(compared)} the paper also reports), with "
               f"{verdicts[0].seeds} seeds at our budgets and task ranges, so values are not comparable, only orders.")
    out.append(why_sentence(speedups, structures))
    out.append(status_sentence(rows, status))
    return out


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


def why_sentence(speedups: Sequence[Stored], structures: Sequence[Stored] = ()) -> str:
    """Why, as far as the stored results tell: which families have a stable affinity structure (structure
    results), is the fine-tuning ground truth reproducible (its noise ceiling, NMI between repeats), and does the
    estimate agree with it, at the headline depth (speedup results)."""
    lead = structure_clause(structures)
    measured, unmeasured = [], []
    missing = [s.family for s in speedups if s.result is None]
    for s in speedups:
        if s.result is None:
            continue
        m = s.result.metrics
        row = (m.get("by_layers") or {}).get(str(m.get("headline_depth")), {})
        if "noise_ceiling_nmi" in row:
            measured.append(f"{s.family} (truth vs itself NMI {row['noise_ceiling_nmi']:.2f}, estimate vs truth "
                            f"{row['nmi']:.2f}, random {row['random_nmi']:.2f}{' , stale' if s.result.stale else ''})")
        else:
            unmeasured.append(s.family)
    if not measured:
        return ("Why, as far as we can tell: grouping can only help where tasks have a stable affinity structure. "
                + lead + "The estimate has not been checked against a repeated ground truth in any stored speedup "
                "result yet.")
    text = ("Why, as far as we can tell: grouping can only help where tasks have a stable affinity structure. " + lead
            + "Against the repeated fine-tuning truth: " + "; ".join(measured))
    if unmeasured:
        text += f"; on {_names(unmeasured)} the stored speedup result predates the repeated truth"
    if missing:
        text += f"; on {_names(missing)} no speedup result is stored for the current parameters"
    return text + "."


def glance_markdown(profile: str, registry, status: bool = True,
                    params: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> str:
    """The glance section as markdown: the table, its legend and the five sentences. With ``status=False``
    the STALE labels are left out (for the README, which names each result's commit instead; stale-ness
    depends on the code checked out). `params` maps an experiment to `collect`'s per-family parameters."""
    params = params or {}
    rows = collect(profile, registry, params=params.get("main_results"))
    speed = collect(profile, registry, "speedup", params=params.get("speedup"))
    struct = collect(profile, registry, "structure", params=params.get("structure"))
    if not status:
        rows, speed, struct = ([Stored(s.family, _Unflagged(s.result) if s.result is not None else None, s.command,
                                       s.problem)
                                for s in group] for group in (rows, speed, struct))
    table = glance_table(rows)
    legend = (f"Mean target return after adaptation, mean ± std over seeds (Meta-World: success %), profile "
              f"`{profile}`; the paper's number in brackets. Only the order of the methods is comparable: task "
              "ranges, budgets and networks are ours.")
    lines = "\n".join(f"{i}. {s}" for i, s in enumerate(sentences(rows, speed, status, struct), start=1))
    note = missing_note(rows)
    body = f"{legend}\n\n{markdown_table(table)}\n\n" if len(table.columns) else ""
    return body + (f"{note}\n\n" if note else "") + f"{lines}\n"


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
