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
# # Reproduction scorecard
#
# Every claim of the paper beside the number we measured, the profile and budget that measured it,
# and a plain verdict. Nothing here is computed: the table reads the results stored under
# `results/<profile>/`. A claim without a stored result says *not yet measured* and names the
# command that measures it. How each kind of claim is judged (orderings, error bounds, magnitudes)
# is stated in the *why* column and in `pgxlib.report.scorecard`.

# %% tags=["parameters"]
profile = "default"

# %%
from IPython.display import Markdown, display

from pgxlib import experiments
from pgxlib.report import paper
from pgxlib.report.scorecard import build_scorecard, sections, stale_results, summary

card = build_scorecard(profile, experiments)
counts = summary(card)
display(Markdown(f"Profile `{profile}`: {len(card)} claims; " + ", ".join(f"{n} {s}" for s, n in counts.items()) + "."))
stale = stale_results(card)
if stale:
    display(Markdown("```{warning}\nSome rows use stale results (computed by older code): "
                     + "; ".join(stale) + ". Recompute them with `--force`.\n```"))

# %% [markdown]
# ## Claims

# %%
for caption, rows in sections(card):
    display(Markdown(f"**{caption}**"))
    display(rows.style.hide(axis="index"))

# %% [markdown]
# ## The paper's tables, as transcribed
#
# The reported numbers the scorecard compares against, from `pgxlib.report.paper`.

# %%
for table in paper.TABLES:
    display(Markdown(f"**{table.caption}**"))
    display(table.to_frame())
