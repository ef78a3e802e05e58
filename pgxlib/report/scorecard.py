"""The reproduction scorecard: every claim of the paper beside our stored measurement.

`pgxlib.report.claims.CLAIMS` is the registry: the `claims()` of each chapter's report module
(`report.main_results`, `report.first_order_error`, `report.speedup`, `report.ablations`, `report.mt10`,
`report.hessian_bound`) and the headline claims over all of them. This module is the engine: a `Claim`
names the paper's number (from `pgxlib.paper`), where our
number comes from (a `Metric` of a stored result, a relative `Gain`, or an `Aggregate` of several)
and how the two are compared. `build_scorecard(profile)` reads whatever results are stored under
``results/<profile>/`` and never computes or invents a number: a claim without a stored result is
"not yet measured", with the command that measures it.

How a claim counts as reproduced (stated in each row's "why"); no rule flatters:
- every number has a tolerance stated on both sides: magnitudes (gains, speedups, "about 10%") within a
  factor of 2 of the paper's (`band`), NMI within ± 0.1, error bounds in [0, bound]; "adds little" when the
  paired interval of the gain lies inside ± the smallest effect of interest (`AddsLittle`, an equivalence);
- orderings (PolicyGradEx above a baseline, k=3 above k=2) are judged on paired differences, seed by seed (same
  seed, same θ*, same targets), with a 95% bootstrap interval (`pgxlib.analysis.verdicts.paired_interval`,
  scipy): *reproduced* when the interval lies on the paper's side of zero, *refuted* when it excludes the
  smallest effect of interest on the paper's side (`smallest_effect`: the paper's own relative gain where
  returns are positive, else `SEED_STD_FRACTION` of the family's multitask seed std), *undecided* otherwise,
  with the seeds that would decide at the observed paired std (`analysis.verdicts.verdict`). Every order row
  stores its gap, interval, probability of improvement and seeds. Returns can be negative, so the ablations'
  orders show their gap in the score's units (`Difference`) and a relative `Gain` is only taken where every
  return involved is positive; an order of generalization gaps by group size, stored on one seed, is undecided
  (`report.hessian_bound.GapOrder`: the seeds that would decide it taken at the spread between random subsets
  of one size);
- a number judged against a tolerance (not an order) is reproduced inside it and refuted outside;
- a speedup counts only where the agreement it was bought with clears the guard (`agreement_clears`: NMI at
  the truth's noise ceiling and rank correlation ≥ `RANK_FLOOR`);
- a headline claim holds only if it holds on every family measured (`OnEveryFamily`), and is measured on
  the families that measure it, naming the others.

Metric keys each experiment is expected to store (edit the registry when an experiment differs):

- ``main_results`` (per family): ``metrics.methods.<method>.mean`` (mean over seeds of the mean return over
  the unseen target tasks after adaptation; ``.success.mean``, a fraction, on Meta-World) for our method
  keys (`MAIN_KEYS` maps the paper's); the meta-RL protocol of the paper with our task ranges and budgets,
  so only orderings are judged;
- ``first_order_error`` (per family): ``metrics.paper_definition_error_pct.<d>`` for d in "0.1", "0.5", "1",
  "5" (the relative distance in percent; a key with a dot, so the `Metric` key is the tuple of parts), the
  authors' first-order error in percent at that distance, which the claims are judged by; our stricter
  ``metrics.relative_error_pct.<d>`` is shown beside it;
- ``speedup`` (per family): ``metrics.by_layers.<2|4|8>.nmi``, ``.noise_ceiling_nmi``, ``.rank_correlation``
  and ``.speedup``, ``metrics.random_nmi``;
- ``ablations`` (per family of `ABLATION_FAMILIES`; the paper's ablations are on Meta-World):
  ``metrics.k.by_value.<k>.score``,
  ``metrics.strategy.by_value.<sdp|gradient_similarity|random>.score`` (mean return) and
  ``metrics.proj_dim.min_nmi_above_reference`` (NMI of the clusters at d > 400 against d = 400);
- ``hessian_bound`` (per family): ``metrics.bound_to_gap_ratio`` (mean bound / mean |gap| over training) and
  ``metrics.by_group_size.<1|10>.gap`` (test − train loss by number of training tasks).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from pgxlib.config import ConfigError
from pgxlib import paper
from pgxlib.store.results import Result, ResultError

STATUSES = ("reproduced", "refuted", "undecided", "not yet measured")
COLUMNS = ("table", "claim", "paper", "ours", "profile & budget", "status", "why", "gap", "interval",
           "P(improvement)", "seeds", "seeds to decide", "result", "label", "family", "chapter")
ORDER_COLUMNS = ("gap", "interval", "P(improvement)", "seeds", "seeds to decide")
"""What an order row stores of its paired comparison ("–" on other rows)."""


# ---------------------------------------------------------------------------------------------
# Looking results up
# ---------------------------------------------------------------------------------------------

class Registry(Protocol):
    """What the scorecard needs of the experiment registry (`pgxlib.experiments` is one): it finds
    stored results and names the commands that compute them, without importing any compute code here."""

    def implemented(self, name: str) -> bool: ...

    def find_result(self, name: str, profile: str, family: str, seed: int = 0, **params: Any) -> Result | None: ...

    def run_command(self, name: str, profile: str, family: str, seed: int = 0, **params: Any) -> str: ...


@dataclass
class Lookup:
    """Stored results of one profile, read once each; records why a result is unavailable."""

    profile: str
    registry: Registry
    chapter_params: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    """experiment → family → the parameters its book chapter runs it with (`pgxlib.book.chapter_params`): a claim
    reads the result the chapter shows (its own parameters win)."""
    _seen: dict[str, tuple[Result | None, str | None]] = field(default_factory=dict)

    def result(self, experiment: str, params: Mapping[str, Any]) -> tuple[Result | None, str | None]:
        """(the stored result, None) or (None, why it is not there, naming the command)."""
        key = f"{experiment}:{sorted(params.items())!r}"
        if key not in self._seen:
            self._seen[key] = self._find(experiment, dict(params))
        return self._seen[key]

    def _find(self, experiment: str, params: dict[str, Any]) -> tuple[Result | None, str | None]:
        family = params.pop("family", "cartpole")
        params = {**self.chapter_params.get(experiment, {}).get(family, {}), **params}
        seed = params.pop("seed", 0)
        command = self._command(experiment, family, seed, params)
        if not self.registry.implemented(experiment):
            return None, f"experiment {experiment} is not implemented yet; once it is: `{command}`"
        try:
            found = self.registry.find_result(experiment, self.profile, family, seed, **params)
        except (ConfigError, ResultError) as err:
            return None, f"the registry's parameters do not fit {experiment}: {err}"
        if found is None:
            return None, f"no stored {self.profile} result; compute it with `{command}`"
        return found, None

    def _command(self, experiment: str, family: str, seed: int, params: Mapping[str, Any]) -> str:
        try:
            return self.registry.run_command(experiment, self.profile, family, seed, **params)
        except ConfigError:
            extra = "".join(f" -p {k} {v}" for k, v in params.items()) + (f" -p seed {seed}" if seed else "")
            return f"pgx run {experiment} --profile {self.profile} -p family {family}{extra}"


@dataclass(frozen=True)
class Measurement:
    """A measured value with the results it came from, or the reasons it could not be measured."""

    value: float | None
    results: tuple[Result, ...] = ()
    problems: tuple[str, ...] = ()


def _combine(parts: Sequence[Measurement], value: float | None) -> Measurement:
    results = tuple({id(r): r for p in parts for r in p.results}.values())
    problems = tuple(dict.fromkeys(q for p in parts for q in p.problems))
    return Measurement(None if problems else value, results, problems)


# ---------------------------------------------------------------------------------------------
# Sources of our numbers
# ---------------------------------------------------------------------------------------------

class Source(Protocol):
    """Where a claim's number comes from: a `Metric`, `Gain`, `Difference` or `Aggregate` here, or a chapter's own
    source (`report.hessian_bound.SubsetSpread`, `report.speedup.GuardedSpeedup`)."""

    def measure(self, lookup: Lookup) -> Measurement: ...


@dataclass(frozen=True)
class Metric:
    """One number of one stored result: `key` of `experiment` run with `params`, times `scale`.

    `key` is dotted (``"metrics.nmi"``) or a tuple of parts when a part contains a dot
    (``("metrics", "relative_error_pct", "0.1")``)."""

    experiment: str
    params: Mapping[str, Any]
    key: str | tuple[str, ...]
    scale: float = 1.0

    @property
    def key_text(self) -> str:
        return self.key if isinstance(self.key, str) else ".".join(self.key)

    def measure(self, lookup: Lookup) -> Measurement:
        result, problem = lookup.result(self.experiment, self.params)
        if result is None:
            return Measurement(None, (), (problem or "no result",))
        value = result.get(self.key, None)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            why = "lacks" if value is None else "has no number at"
            return Measurement(None, (result,), (f"the stored {self.experiment} result {why} `{self.key_text}`",))
        return Measurement(float(value) * self.scale, (result,))

    def describe(self) -> str:
        return f"{self.experiment} {_params_text(self.params)}: {self.key_text}"


@dataclass(frozen=True)
class Gain:
    """Relative gain in percent of `better` over `base`: ``100 · (better − base) / base``, defined only where
    both are positive, and for a mean over seeds only where every seed's value is (a relative gain on returns
    that can be negative or zero means nothing: −40 over −50 is not a 20% gain)."""

    better: Metric
    base: Metric

    def measure(self, lookup: Lookup) -> Measurement:
        a, b = self.better.measure(lookup), self.base.measure(lookup)
        both = _combine([a, b], 0.0)
        if both.problems:
            return both
        values = [a.value, b.value, *_seed_values(self.better, lookup), *_seed_values(self.base, lookup)]
        if min(values) <= 0:
            return Measurement(None, both.results, (f"a relative gain is not defined here: returns that are zero or "
                                                    f"negative ({min(values):.3g}); see the paired gaps",))
        return Measurement(100 * (a.value - b.value) / b.value, both.results)


def _seed_values(metric: Metric, lookup: Lookup) -> list[float]:
    """The per-seed values stored beside a metric over seeds (``….mean`` or ``….score`` → ``….seeds``), in the
    result's seed order, [] when there are none."""
    if not metric.key_text.endswith((".mean", ".score")):
        return []
    result, _ = lookup.result(metric.experiment, metric.params)
    seeds = None if result is None else result.get(metric.key_text.rsplit(".", 1)[0] + ".seeds", None)
    if not isinstance(seeds, list):
        return []
    return [float(v) * metric.scale if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")
            for v in seeds]


@dataclass(frozen=True)
class Difference:
    """``better − base`` in the score's units, times `scale` (100 for success fractions shown in points): an
    order's gap on any scale, negative returns included. With per-seed values stored beside both on the same
    seeds it is the mean paired difference, the gap the order's interval is about."""

    better: Metric
    base: Metric
    scale: float = 1.0

    def measure(self, lookup: Lookup) -> Measurement:
        got = [m.measure(lookup) for m in (self.better, self.base)]
        if any(g.value is None for g in got):
            return _combine(got, None)
        return _combine(got, self.scale * (got[0].value - got[1].value))


@dataclass(frozen=True)
class Aggregate:
    """The mean, max or min of several sources; measured only when every part is, or with `partial` over the
    parts that are (at least one)."""

    how: str
    parts: tuple[Any, ...]
    partial: bool = False

    def measure(self, lookup: Lookup) -> Measurement:
        got = [p.measure(lookup) for p in self.parts]
        values = [m.value for m in got if m.value is not None]
        if not values or (len(values) < len(got) and not self.partial):
            return _combine(got, None)
        value = {"max": max, "min": min}.get(self.how, statistics.fmean)(values)
        return Measurement(value, _combine([m for m in got if m.value is not None], 0.0).results)


# ---------------------------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderEvidence:
    """The paired comparison behind an order row: the mean over seeds of a − b (`gap`), its 95% bootstrap
    `interval`, the probability that a seed improves, the number of seeds, the seeds that would decide an
    undecided row at the observed paired std (None: no number would, or no std yet), the smallest effect."""

    gap: float
    interval: tuple[float, float]
    probability_of_improvement: float
    seeds: int
    seeds_to_decide: int | None
    smallest_effect: float


@dataclass(frozen=True)
class Verdict:
    """The outcome of a comparison: True/False, or None when something is not measured; `status` (one of
    `STATUSES`) when the comparison decides it itself, as a paired order does, with its `order` evidence."""

    ok: bool | None
    why: str
    extra: Measurement = Measurement(None)
    noise: str = ""
    status: str | None = None
    order: OrderEvidence | None = None


NO_SEEDS = "no per-seed values are stored beside the means, so no paired interval (at least 3 seeds needed)"
"""Why an order without per-seed values (a result of one seed, or stored before they were) is undecided."""


@dataclass(frozen=True)
class Between:
    """Reproduced when `low` ≤ ours ≤ `high`."""

    low: float
    high: float
    rule: str

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        ok = self.low <= ours <= self.high
        side = "" if ok else " (below)" if ours < self.low else " (above)"
        return Verdict(ok, f"ours {_fmt(ours, unit)} {'within' if ok else 'outside'} [{_fmt(self.low, unit)}, "
                           f"{_fmt(self.high, unit)}]{side} ({self.rule})")


def band(paper_value: float, factor: float = 2.0) -> tuple[float, float]:
    """The tolerance of a magnitude claim: from 1/`factor` to `factor` times the paper's number."""
    return paper_value / factor, paper_value * factor


# ---------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """One claim of the paper: its number, where ours comes from and how they are compared."""

    name: str
    paper: float | str | None
    unit: str
    source: Any
    compare: Any
    table: str = ""
    label: str = ""
    """A short name for the grid (the same for the same claim on every family)."""
    family: str = ""
    """The family column of the grid ("all" for a headline claim over every family)."""


def _fmt(value: float | str | None, unit: str) -> str:
    return paper.format_value(value, unit)


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _budget(result: Result) -> str:
    """``smoke: meta-train 256, groups 128 steps/task; 41 s``."""
    meta = result.meta
    config = meta.get("config") or {}
    profile = (meta.get("parameters") or {}).get("profile", "?")
    parts = [f"{label} {config[key]:,}" for key, label in (("meta_ppo.steps_per_task", "meta-train"),
                                                            ("group_ppo.steps_per_task", "groups"))
             if isinstance(config.get(key), int)]
    budget = f"; {', '.join(parts)} steps/task" if parts else ""
    return f"{profile}{budget}; {meta.get('total_time', 0.0):.0f} s"


def _provenance(result: Result) -> str:
    commit = (result.commit or "unknown")[:10]
    return f"{commit} {result.timestamp or ''}" + (" STALE" if result.stale else "")


def evaluate_claim(claim: Claim, lookup: Lookup) -> dict[str, str]:
    """One scorecard row for `claim`."""
    row = {"table": claim.table, "claim": claim.name, "paper": _fmt(claim.paper, claim.unit), "ours": "–",
           "profile & budget": "–", "status": "not yet measured", "why": "", **dict.fromkeys(ORDER_COLUMNS, "–"),
           "result": "–", "label": claim.label or claim.name, "family": claim.family, "chapter": chapter_of(claim)}
    measured = claim.source.measure(lookup)
    verdict = Verdict(None, "")
    if measured.value is not None:
        verdict = claim.compare.judge(measured.value, claim.unit, lookup)
    used = _combine([measured, verdict.extra], 0.0).results
    if used:
        row["profile & budget"] = "; ".join(dict.fromkeys(_budget(r) for r in used))
        row["result"] = "; ".join(dict.fromkeys(_provenance(r) for r in used))
    if measured.value is not None:
        row["ours"] = _fmt(measured.value, claim.unit)
    problems = measured.problems or verdict.extra.problems
    if verdict.ok is None:
        row["why"] = "; ".join(problems) or "not measured"
        return row
    row["status"] = verdict.status or ("undecided" if verdict.noise else "reproduced" if verdict.ok else "refuted")
    notes = [verdict.why, *([verdict.noise] if verdict.noise else [])]
    if row["status"] == "undecided" and paper.protocol(claim.family) == "multi_objective":
        notes.insert(0, budget_fraction_note(used))
    if verdict.order is not None:
        row.update(order_cells(verdict.order))
    if any(r.stale for r in used):
        row["status"] += " (stale)"
        notes.append("computed by older code: recompute with --force")
    if any((r.meta.get("parameters") or {}).get("profile") == "smoke" for r in used):
        notes.append("smoke budget: this checks the code path, not the claim")
    row["why"] = "; ".join(notes)
    return row


def budget_fraction_note(used: Sequence[Result]) -> str:
    """"undecided at 1/13 of the paper's training budget": our group-training steps per task (the results'
    ``group_ppo.steps_per_task``) against `paper.MULTI_OBJECTIVE_PAPER_STEPS`."""
    steps = [(r.meta.get("config") or {}).get("group_ppo.steps_per_task") for r in used]
    steps = [int(s) for s in steps if s]
    if not steps:
        return "undecided at a fraction of the paper's training budget"
    ratio = paper.MULTI_OBJECTIVE_PAPER_STEPS / max(steps)
    return (f"undecided at 1/{ratio:.0f} of the paper's training budget ({max(steps):,} of "
            f"{paper.MULTI_OBJECTIVE_PAPER_STEPS:,} steps per task)")


def order_cells(order: OrderEvidence) -> dict[str, str]:
    """The order columns of a row (`ORDER_COLUMNS`), as text."""
    lo, hi = order.interval
    return {"gap": f"{order.gap:+.3g}",
            "interval": f"[{lo:+.3g}, {hi:+.3g}]" if np.isfinite(lo) and np.isfinite(hi) else "–",
            "P(improvement)": f"{order.probability_of_improvement:.2f}", "seeds": str(order.seeds),
            "seeds to decide": "–" if order.seeds_to_decide is None else str(order.seeds_to_decide)}


def build_scorecard(profile: str, registry: Registry, claims: Sequence[Claim] | None = None,
                    chapter_params: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None):
    """The scorecard of `profile` as a pandas DataFrame with columns `COLUMNS`, one row per claim;
    `registry` finds the stored results (pass `pgxlib.experiments`); `chapter_params` (experiment → family →
    parameters, `pgxlib.book.chapter_params(profile)`) makes each claim read the result its chapter shows,
    e.g. a speedup whose truth fine-tunes at the family's own budget. `claims` defaults to every claim
    (`pgxlib.report.claims.CLAIMS`).

    ``table`` names the paper table (`pgxlib.paper`) a claim comes from; ``result`` gives the commit
    and time stamp of the stored result(s) used, with STALE where the code has changed since.
    """
    import pandas as pd

    lookup = Lookup(profile, registry, chapter_params or {})
    if claims is None:
        from pgxlib.report.claims import CLAIMS  # the chapters' claims import this engine: read them when called
        claims = CLAIMS
    rows = [evaluate_claim(c, lookup) for c in claims]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary(card) -> dict[str, int]:
    """How many claims have each status (stale ones counted with their status)."""
    base = card["status"].str.replace(" (stale)", "", regex=False)
    return {s: int((base == s).sum()) for s in STATUSES}


def undecided_share(card, leave_out: tuple[str, ...] = ("metaworld",)) -> float | None:
    """The share of undecided claims among the measured claims outside the families `leave_out` (MT10 is run at a
    fraction of the paper's budget); None when none is measured."""
    base = card["status"].str.replace(" (stale)", "", regex=False)
    measured = (base != "not yet measured") & ~card["family"].isin(leave_out)
    return float((base[measured] == "undecided").mean()) if measured.any() else None


def sections(card):
    """(caption, rows without the table column) per paper table, in the order the claims appear."""
    captions = {t.name: t.caption for t in paper.TABLES}
    captions["hessian_bound"] = "Generalization analysis (Theorem 1, Figure 2)"
    for name in dict.fromkeys(card["table"]):
        yield captions.get(name, name), card[card["table"] == name].drop(columns="table")


def stale_results(card) -> list[str]:
    """Provenance strings of the stale results the scorecard uses."""
    found = [part for cell in card["result"] for part in cell.split("; ") if part.endswith("STALE")]
    return list(dict.fromkeys(found))


def _experiments(source) -> list[str]:
    if isinstance(source, Metric):
        return [source.experiment]
    parts = [getattr(source, k) for k in ("better", "base") if hasattr(source, k)] + list(getattr(source, "parts", ()))
    return list(dict.fromkeys(e for p in parts for e in _experiments(p)))


def chapter_of(claim: Claim) -> str:
    """The experiment whose chapter shows a claim's numbers (the first its source reads)."""
    found = _experiments(claim.source)
    return found[0] if found else ""



@dataclass(frozen=True)
class OnEveryFamily:
    """A headline claim: reproduced only when it holds on every family measured, that is when each family's own
    value (`per_family`, family → source) lies in [`low`, `high`]; the families not measured are named."""

    per_family: tuple[tuple[str, Any], ...]
    low: float
    high: float
    rule: str

    def judge(self, ours: float, unit: str, lookup: Lookup) -> Verdict:
        got = [(family, source.measure(lookup)) for family, source in self.per_family]
        measured = [(f, m.value) for f, m in got if m.value is not None]
        missing = [f for f, m in got if m.value is None]
        outside = [f"{f} {_fmt(v, unit)}" for f, v in measured if not self.low <= v <= self.high]
        inside = [f"{f} {_fmt(v, unit)}" for f, v in measured if self.low <= v <= self.high]
        why = (f"per family, in [{_fmt(self.low, unit)}, {_fmt(self.high, unit)}] ({self.rule}): "
               + (f"holds on {', '.join(inside)}" if inside else "holds on none")
               + (f"; fails on {', '.join(outside)}" if outside else "")
               + (f"; not measured on {', '.join(missing)}" if missing else ""))
        results = _combine([m for _, m in got if m.value is not None], 0.0).results
        return Verdict(bool(measured) and not outside, why, Measurement(None, results))
