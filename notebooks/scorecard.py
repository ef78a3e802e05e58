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
# Every claim of the paper, family by family, beside the number we measured: each cell links to the chapter
# run that measured it (hover for the reason). Nothing here is computed; how a claim is judged is below the grid.

# %% tags=["parameters"]
profile = "default"

# %% tags=["remove-input"]
from IPython.display import HTML, Markdown, display

from pgxlib import experiments
from pgxlib.book import chapter_params, page_links
from pgxlib import paper
from pgxlib.report.scorecard import build_scorecard, stale_results, undecided_share
from pgxlib.report.scorecard_view import chapter_links, counts_text, details_html, grid_html

card = build_scorecard(profile, experiments, chapter_params=chapter_params(profile))
link = chapter_links(page_links(profile))
share = undecided_share(card)
display(Markdown(f"Profile `{profile}`: {len(card)} claims; {counts_text(card)}."
                 + ("" if share is None else f" Undecided: {share:.0%} of the measured claims outside MT10.")))
display(HTML(grid_html(card, link)))

# %% [markdown]
# ## Details per table of the paper
#
# **How a claim is judged** (`pgxlib.report.scorecard`). A number is reproduced when ours lies within a
# tolerance stated on both sides: a magnitude within a factor of 2 of the paper's, an NMI within ± 0.1, an
# error bound in [0, bound], and refuted outside it. An order (PolicyGradEx above a baseline, k = 3 above k = 2)
# is judged on paired differences, seed by seed (same seed, same θ*, same targets), with a 95% bootstrap
# interval over seeds: *reproduced* when the interval lies on the paper's side of zero, *refuted* when it
# excludes the smallest effect of interest on the paper's side (the paper's own relative gain where returns are
# positive, else half the family's multitask seed std), *undecided* otherwise, with the number of seeds that
# would decide at the observed paired std. The tests run in that order: an interval on the paper's side of zero
# that is also below the smallest effect is *reproduced* (the order holds), and its row says the gap is smaller
# than the effect of interest. Relative gains are taken only where returns are positive. A speedup counts only
# where the agreement it was bought with reaches the ground truth's noise ceiling with a clearly positive rank
# correlation. A headline claim holds only if it holds on every family
# measured. The scorecard reads the results stored under `results/<profile>/`; a claim without a stored
# result says so, with the command that measures it.

# %%
stale = stale_results(card)
if stale:
    display(Markdown(f"```{{warning}}\n{len(stale)} stored results used here are stale (computed by older code; "
                     "their commits are in the *result* column). Recompute them with `--force`.\n```"))
display(HTML(details_html(card, link)))

# %% [markdown]
# ## The paper's tables, as transcribed
#
# The reported numbers the scorecard compares against, from `pgxlib.paper`.

# %%
display(HTML("".join(f"<details><summary>{table.caption}</summary>{table.to_frame().to_html()}</details>"
                     for table in paper.TABLES)))
