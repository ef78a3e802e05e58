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
# # Is there structure to find? The noise ceiling
#
# PolicyGradEx estimates how fine-tuning θ* on a subset of tasks changes each task's return, and groups
# the tasks by it. The truth it is checked against is that fine-tuning itself: θ* fine-tuned with PPO on
# each of m random subsets, every task of a subset scored by rollout return, the scores turned into an
# affinity and clustered (k groups, the same SDP). This truth is only evidence when it is reproducible.

# %% [markdown] tags=["fold"]
# ## How the noise ceiling is measured, and the two sweeps
# Here it is measured several times with independent fine-tuning and evaluation seeds; the **noise
# ceiling** is how well those repeats agree (mean pairwise NMI of their groupings, mean correlation of
# their affinities). No estimate is involved: a family whose ceiling stays near the NMI of random
# partitions has no stable affinity structure at that budget, whatever the method.
#
# Two sweeps: θ*'s meta-training budget (the affinity lives in the gradient θ* leaves: a θ* that
# already solves every task leaves none) and the fine-tuning budget (where the ceiling stops rising).
# The budget with the highest ceiling is where the profile's θ* stops (the method chapter's rule); the
# ceiling reported for the family is that highest one of the budgets swept, so it is a selected value.
# A family whose ceiling (NMI or affinity correlation) still rises at the largest fine-tuning budget of
# the default grid (2k, 4k, 8k steps per task), with its NMI below 1, is run with the grid extended by
# doubling up to 16k, so that the page shows where it stops: cartpole, nav2d and lunarlander. highway's
# simulator is about a hundred times slower than lunarlander's: its grid is 512, 1k and 2k (its cap) and
# θ* is not swept (the profile's budget only). A family
# is labelled by its ceiling at the fine-tuning budget where the ceiling stops rising (the smallest
# within 0.05 NMI of the sweep's best), which is also the budget of the speedup chapter's truth (the
# method chapter's rule). θ*'s sweep is fine-tuned for 4k steps per task (highway: 512).

# %% tags=["parameters"]
profile = "default"
family = "planted"
seed = 0
force = False
meta_steps = None
finetune_steps = None
repeats = 3
n_subsets = None
n_jobs = 2

# %% [markdown] tags=["fold"]
# ## Provenance, budget and the budget rule

# %%
from IPython.display import Markdown, display

from pgxlib.profiles import pipeline_config
from pgxlib.experiments import find_result, run_experiment
from pgxlib.report import structure as report
from pgxlib.store.provenance import provenance_markdown

res = run_experiment("structure", profile, family, seed=seed, force=force, meta_steps=meta_steps,
                     finetune_steps=finetune_steps, repeats=repeats, n_subsets=n_subsets, n_jobs=n_jobs)
m = res.metrics
display(Markdown(provenance_markdown(res)))
display(Markdown(f"**Budget.** {m['repeats']} repeats of the truth; {m['n_subsets']} subsets of "
                 f"{m['subset_size']} tasks; {m['eval_episodes']} evaluation episodes per task; k = {m['k']}."))
display(Markdown(report.rule_sentence(m, pipeline_config(profile, family).meta_ppo.steps_per_task)))

# %% [markdown]
# ## This family

# %%
display(Markdown(report.label_sentence(m)))
report.sweep_figure(m);

# %%
display(Markdown(report.plateau_sentence(m)))
report.finetune_table(m)

# %% [markdown] tags=["fold"]
# ## θ*'s meta-training budget

# %%
report.meta_table(m)

# %% [markdown] tags=["fold"]
# ## All families

# %%
from pgxlib.book import chapter_runs

runs = {run["family"]: run for run in chapter_runs("structure", profile)}
stored = {f: (res if f == family else find_result("structure", profile, seed=seed, **run)) for f, run in runs.items()}
report.overview_table({f: None if r is None else r.metrics for f, r in stored.items()},
                      {f: pipeline_config(profile, f).meta_ppo.steps_per_task for f in runs})
