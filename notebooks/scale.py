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
# # Scale: 10 to 100 tasks
#
# How does the cost of grouping grow with the number of tasks n? For each n of a grid the family is built with
# n source tasks and PolicyGradEx runs exactly as `pgx group` does (same seeds, same budgets per task, same
# labels): θ* meta-training, its rollouts, the gradient features, the m subsets, the surrogate fits, the
# scoring of each θ̂_S, the affinity and the SDP clustering. Each stage is timed on its own (wall and CPU
# seconds, one torch thread) with the peak resident memory of the process, and the grouping is scored against
# the groups the family was designed with. What `pgx group` does besides (evaluating θ* and a random policy,
# training one policy per group) is not part of these totals; the end of the page times the whole command.
#
# **How m grows.** The affinity U_ij is only defined when some subset holds both i and j, so the profile's m
# random subsets are completed until every pair is covered (`sample_subsets`, what `pgx group` does): m stays
# at the profile's while its random draw covers the pairs, then grows like n², and so do the surrogate and the
# scores. The paper's m = n(n−1)/2 is larger still; the page extrapolates its cost and `-p m_rule pairs`
# measures it. θ*'s budget per task is the profile's at every n, so its cost grows like n.
#
# **What this can and cannot show.** One run per n on a shared 2-core machine: the slopes are the trend of one
# measurement (wall times move with the neighbours' load; CPU seconds less so), not a fit with error bars, and
# a four-point grid cannot tell n log n from n. The NMI at each n is one seed's grouping.

# %% tags=["parameters"]
profile = "default"
family = "nav2d"
seed = 0
force = False

# %%
from IPython.display import Markdown, display

from pgxlib.experiments import find_result, run_experiment
from pgxlib.report import scale as report
from pgxlib.store.provenance import provenance_markdown

res = run_experiment("scale", profile, family, seed=seed, force=force)
m = res.metrics
display(Markdown(provenance_markdown(res)))
display(Markdown(report.end_to_end_sentence(m)))
display(Markdown(report.m_sentence(m)))
display(Markdown(report.nmi_sentence(m)))

# %% [markdown]
# ## Each stage against n

# %%
report.cost_figure(m);

# %%
report.slope_table(m)

# %%
display(Markdown(report.pairs_sentence(m)))
report.cost_table(m)

# %% [markdown]
# ## All families

# %%
from pgxlib.book import chapter_runs

families = [run["family"] for run in chapter_runs("scale", profile)]
stored = {f: (res if f == family else find_result("scale", profile, f, seed=seed)) for f in families}
report.family_table({f: None if r is None else r.metrics for f, r in stored.items()})

# %% [markdown]
# ## The whole command at the largest n

# %%
n_max = m["rows"][-1]["n"]
group = find_result("group", profile, family, seed=seed, k=None, overrides={"n_tasks": n_max})
display(Markdown(report.group_sentence(group, n_max, family, profile)))
