"""The numbers PolicyGradEx (arXiv 2511.12779) reports, transcribed from the project's PAPER.md.

Every table of "Reported numbers" is a `PaperTable`; `None` stands for the paper's "–" (not
reported). Units are the paper's: percent for Meta-World success and relative errors, mean return
after adaptation for the control families, NMI in [0, 1], speedup as a factor. The free-text
numbers (number of groups, grouping strategy, headline claims) are tables too, so that every number
the scorecard shows has exactly one home.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FAMILY_COLUMNS = {"metaworld": "Meta-World", "cartpole": "CartPole", "highway": "Highway",
                  "lunarlander": "LunarLander"}

METHODS = {
    "multitask": "Multi-task training",
    "soft_modularization": "Soft Modularization",
    "paco": "PaCo",
    "care": "CARE",
    "random": "Random grouping",
    "gradient_similarity": "Gradient-similarity grouping",
    "policygradex": "PolicyGradEx",
}


@dataclass(frozen=True)
class PaperTable:
    """A table of the paper: `rows` maps a row label to one value per column (None: not reported)."""

    name: str
    caption: str
    row_label: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float | str | None, ...]], ...]
    units: tuple[str, ...]

    def value(self, row: str, column: str) -> float | str | None:
        """The number in row `row`, column `column`."""
        return dict(self.rows)[row][self.columns.index(column)]

    def unit(self, column: str) -> str:
        return self.units[self.columns.index(column)]

    def to_frame(self):
        """The table as a pandas DataFrame, formatted as in the paper ("–" where not reported)."""
        import pandas as pd

        body = [[format_value(v, self.unit(c)) for v, c in zip(values, self.columns)] for _, values in self.rows]
        return pd.DataFrame(body, index=pd.Index([r for r, _ in self.rows], name=self.row_label),
                            columns=list(self.columns))


def format_value(value: Any, unit: str) -> str:
    """``94.0%``, ``159.2``, ``0.76``, ``21×``, a signed gap ``+3.1 return`` / ``-2.5 points``; "–" for None; text as
    is."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if unit == "%":
        if 0 < abs(value) < 0.01:
            return f"{value:.2g}%"
        return f"{value:.2f}%" if abs(value) < 10 else f"{value:.1f}%"
    if unit == "×":
        return f"{value:g}×" if float(value).is_integer() else f"{value:.1f}×"
    if unit == "NMI":
        return f"{value:.2f}"
    if unit in ("return gap", "points"):
        return f"{value:+.3g} {unit.split()[0]}"
    return f"{value:.1f}"


MAIN_RESULTS = PaperTable(
    name="main_results",
    caption="Main results (Meta-World: MT10 success; others: mean return after adaptation)",
    row_label="method",
    columns=("Meta-World", "CartPole", "Highway", "LunarLander"),
    units=("%", "return", "return", "return"),
    rows=(
        ("Multi-task training", (71.3, 145.9, 140.0, 53.8)),
        ("Soft Modularization", (82.0, 139.3, 141.3, 66.1)),
        ("PaCo", (73.1, 144.5, 136.6, 62.6)),
        ("CARE", (84.0, None, None, None)),
        ("Random grouping", (58.2, 144.1, 143.4, 73.1)),
        ("Gradient-similarity grouping", (69.6, 142.0, 135.6, 80.8)),
        ("PolicyGradEx", (94.0, 159.2, 153.5, 82.8)),
    ),
)

PROTOCOLS = {MAIN_RESULTS.name: {"Meta-World": "multi_objective", "CartPole": "meta_rl", "Highway": "meta_rl",
                                  "LunarLander": "meta_rl"}}
"""table → column → the protocol the paper reports it under: "multi_objective" (policies trained per group on the
source tasks, scored by success rate) or "meta_rl" (meta-trained per group, scored on unseen target tasks after
adaptation)."""


MULTI_OBJECTIVE_PAPER_STEPS = 2_000_000
"""Environment steps per task behind the published MT10 success rates (`PAPER.md`: the CARE paper's table, which
the paper's multi-objective numbers follow): the training budget our MT10 runs are a fraction of."""


def protocol(family: str, table: str = MAIN_RESULTS.name) -> str:
    """The protocol under which the paper reports `family` (`FAMILY_COLUMNS`) in `table`; "meta_rl", the protocol
    of our own control families, for a family the paper does not report."""
    return PROTOCOLS[table].get(FAMILY_COLUMNS.get(family, ""), "meta_rl")


FIRST_ORDER = PaperTable(
    name="first_order_error",
    caption="First-order approximation: relative error of the estimate at relative distance ‖Δθ‖/‖θ*‖",
    row_label="distance",
    columns=("MT10", "CartPole", "Highway", "LunarLander"),
    units=("%", "%", "%", "%"),
    rows=(
        ("0.1%", (0.01, 0.12, 0.02, 0.06)),
        ("0.5%", (0.43, 0.73, 0.11, 0.03)),
        ("1.0%", (0.32, 0.98, 2.04, 0.48)),
    ),
)

FIRST_ORDER_COLUMNS = {"metaworld": "MT10", "cartpole": "CartPole", "highway": "Highway", "lunarlander": "LunarLander"}
"""The column of `FIRST_ORDER` for each family (the other families have none)."""


def first_order_points(family: str) -> dict[float, float]:
    """The paper's first-order errors (percent) for `family`, keyed by relative distance (0.01 = 1%); {} if none."""
    column = FIRST_ORDER_COLUMNS.get(family)
    if column is None:
        return {}
    values = ((float(label.rstrip("%")) / 100, FIRST_ORDER.value(label, column)) for label, _ in FIRST_ORDER.rows)
    return {rho: float(value) for rho, value in values if value is not None}


FIRST_ORDER_FAR = PaperTable(
    name="first_order_far",
    caption="First-order approximation far from θ*: beyond 5% distance the error grows to about 10%",
    row_label="distance",
    columns=("all settings",),
    units=("%",),
    rows=(("5%", (10.0,)),),
)

SURROGATE = PaperTable(
    name="surrogate_accuracy",
    caption=("Surrogate accuracy and cost: NMI between clusters of the estimated affinity and of the affinity "
             "measured by fine-tuning on every sampled subset (random clustering: NMI ≈ 0.2); speedup over "
             "full training"),
    row_label="policy MLP layers",
    columns=("Meta-World NMI", "LunarLander NMI", "speedup over full training"),
    units=("NMI", "NMI", "×"),
    rows=(
        ("2", (0.76, 0.73, 21.0)),
        ("4", (0.76, 0.73, 24.0)),
        ("8", (0.76, 0.73, 26.0)),
    ),
)

RANDOM_NMI = 0.2

N_GROUPS = PaperTable(
    name="n_groups",
    caption="Number of groups on Meta-World (MT10 success; k=3 is used; k=1 is given as ≈71%)",
    row_label="k",
    columns=("Meta-World",),
    units=("%",),
    rows=(("1", (71.0,)), ("2", (89.5,)), ("3", (94.0,)), ("4", (95.1,))),
)

PROJECTION_DIM = PaperTable(
    name="projection_dim",
    caption="Projection dimension d from 200 to 1000",
    row_label="d",
    columns=("effect",),
    units=("text",),
    rows=(("200–1000", ("flat beyond 400",)),),
)

GROUPING_STRATEGY = PaperTable(
    name="grouping_strategy",
    caption="Grouping strategy on Meta-World (MT10 success); 19% average gain over the two alternatives",
    row_label="strategy",
    columns=("Meta-World",),
    units=("%",),
    rows=(
        ("loss-based (PolicyGradEx)", (94.0,)),
        ("gradient similarity", (69.6,)),
        ("random", (58.2,)),
        ("average gain over the two", (19.0,)),
    ),
)

HEADLINE = PaperTable(
    name="headline",
    caption="Headline claims",
    row_label="claim",
    columns=("value",),
    units=("text",),
    rows=(
        ("average improvement over baselines", ("+16%",)),
        ("speedup over full training", ("up to 26×",)),
        ("first-order approximation error", ("within 2%",)),
    ),
)

TABLES = (MAIN_RESULTS, FIRST_ORDER, FIRST_ORDER_FAR, SURROGATE, N_GROUPS, PROJECTION_DIM, GROUPING_STRATEGY,
          HEADLINE)
