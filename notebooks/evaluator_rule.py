# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Which evaluator? The rule over every family with structure
#
# PolicyGradEx scores each surrogate θ̂_S by an evaluator (`config.SCORES`); every grouping chapter uses the
# default, `config.DEFAULT_SCORE`. This page chooses it by a rule scored on every family whose truth reproduces
# itself (noise ceiling ≥ 0.8), not on one: the evaluator with the best worst case, over those families, of the
# estimate's NMI with the truth divided by the truth's noise ceiling (both against single repeats of full
# training); ties by affinity correlation, then by cost (`analysis.selection.choose_evaluator`). It reads the
# speedup chapter's stored results at their headline depth, every seed found, and computes nothing else.
# Re-run with `pgx run evaluator_rule --profile smoke -p family planted`.

# %% tags=["parameters"]
profile = "default"
family = "planted"
seed = 0
force = False
seeds = (0, 1, 2)

# %%
import ast

from IPython.display import Markdown, display

from pgxlib.experiments import find_result, run_experiment
from pgxlib.report import evaluator_rule as report
from pgxlib.store.provenance import provenance_markdown

seeds = ast.literal_eval(seeds) if isinstance(seeds, str) else seeds  # papermill passes a tuple as its text
# It only reads: recomputed when its code or the speedup results it reads changed (then the stored one is stale).
stored = find_result("evaluator_rule", profile, family, seed, seeds=list(seeds))
res = run_experiment("evaluator_rule", profile, family, seed=seed, force=force or bool(stored and stored.stale),
                     seeds=list(seeds))
rule = res.metrics["evaluator_rule"]
display(Markdown(provenance_markdown(res)))
display(Markdown(report.rule_text(rule)))

# %% [markdown]
# ## Every evaluator on every family
# Seed means at each family's headline depth. "NMI / ceiling" is the rule's score (the ceiling floored at 0.8,
# the ratio capped at 1); only the families "in the rule" (with structure) count towards the pick.

# %%
report.family_table(rule)

# %% [markdown]
# ## Chosen on one family, scored on the other
# A rule fitted to one family is only a rule if it holds on another: the pick on each family alone, and how it
# scores on the others beside the best any evaluator reaches there.

# %%
lofo = report.leave_one_out_frame(rule)
lofo if len(lofo) else Markdown("Fewer than two families have structure: there is nothing to leave out.")

# %% [markdown]
# ## The pick per seed

# %%
report.seed_frame(rule)
