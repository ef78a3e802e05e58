"""The scorecard's registry: every claim, in the scorecard's order. Each chapter's report module holds its own
claims (a `claims()` beside its tables and figures); the headline claims, which read several chapters, are here.
A new chapter adds its `claims()` to `CLAIMS`; the engine that judges them is `pgxlib.report.scorecard`."""
from __future__ import annotations

from pgxlib.config import FAMILIES
from pgxlib import paper
from pgxlib.report import ablations, first_order_error, hessian_bound, main_results, mt10, speedup
from pgxlib.report.first_order_error import DISTANCES, MatchingError
from pgxlib.report.main_results import MEASURED_BASELINES, method_score
from pgxlib.report.scorecard import Aggregate, Claim, Gain, Metric, OnEveryFamily, band
from pgxlib.report.speedup import GuardedSpeedup


def headline_claims() -> list[Claim]:
    """Average gains, the largest speedup and the first-order bound. A headline claim holds only if it holds on
    every family measured (`OnEveryFamily`): the value shown is over the families measured, each family's own
    value is judged. Relative gains are taken only where returns are positive (`Gain`); the speedup only where
    it was bought with an agreement that clears the noise ceiling (`GuardedSpeedup`)."""
    def gains(family: str, methods) -> Aggregate:
        ours = method_score(family, "policygradex")
        return Aggregate("mean", tuple(Gain(ours, method_score(family, m)) for m in methods))

    def run(family: str) -> list[str]:
        """The baselines run on `family`: CARE only under the multi-objective protocol, as in the paper."""
        return [m for m in MEASURED_BASELINES if paper.protocol(family) == "multi_objective" or m != "care"]

    every = tuple(FAMILIES)
    all_gains = tuple((f, gains(f, run(f))) for f in every)
    grouping = tuple((f, gains(f, ("random", "gradient_similarity"))) for f in every)
    worst = tuple((f, Aggregate("max", tuple(MatchingError(f, at) for at in DISTANCES.values()), partial=True))
                  for f in every)
    depths = tuple(d for d, _ in paper.SURROGATE.rows)
    cells = tuple((f, d) for f in every for d in depths)
    speedups = GuardedSpeedup(cells, *band(26.0), "within a factor of 2 of the paper's 26×")
    gain_19 = paper.GROUPING_STRATEGY.value("average gain over the two", "Meta-World")

    def across(per_family) -> Aggregate:
        return Aggregate("mean", tuple(src for _, src in per_family), partial=True)

    return [
        Claim("Average gain over all baselines (mean relative gain of PolicyGradEx over the baselines we run, per "
              "family, where returns are positive; the paper's table gives 19.9% by this definition)", 16.0, "%",
              across(all_gains), OnEveryFamily(all_gains, *band(16.0), "within a factor of 2 of the paper's +16%"),
              paper.HEADLINE.name, "Headline: +16% over baselines", "all"),
        Claim("Average gain over random and gradient-similarity grouping (mean relative gain per family, where "
              "returns are positive; 19.4% from the paper's table)", gain_19, "%", across(grouping),
              OnEveryFamily(grouping, *band(gain_19), "within a factor of 2 of the paper's gain"),
              paper.GROUPING_STRATEGY.name, f"Headline: +{gain_19:g}% over other groupings", "all"),
        Claim("Speedup over full training: up to 26× (largest speedup measured; it counts only where bought with an "
              "agreement at the truth's noise ceiling)", 26.0, "×", speedups, speedups, paper.HEADLINE.name,
              "Headline: up to 26× faster", "all"),
        Claim("First-order error within 2% up to 1% distance (largest cell per family, definition "
              "matching the paper's scaling)", 2.04,
              "%", Aggregate("max", tuple(src for _, src in worst), partial=True),
              OnEveryFamily(worst, 0.0, 2.04, "the paper's largest cell, 2.04%"), paper.HEADLINE.name,
              "Headline: first-order error within 2%", "all"),
    ]


CLAIMS: tuple[Claim, ...] = (*main_results.claims(), *first_order_error.claims(), *speedup.claims(),
                             *ablations.claims(), *mt10.claims(), *headline_claims(), *hessian_bound.claims())


def claims_for(experiment: str) -> list[Claim]:
    """The claims whose numbers come (at least partly) from `experiment`."""
    def uses(source) -> bool:
        if isinstance(source, Metric):
            return source.experiment == experiment
        if isinstance(source, Gain):
            return uses(source.better) or uses(source.base)
        return any(uses(p) for p in getattr(source, "parts", ()))
    return [c for c in CLAIMS if uses(c.source)]
