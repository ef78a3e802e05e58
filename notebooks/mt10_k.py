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
# # Meta-World MT10: the number of groups
#
# PolicyGradEx with k = 1…4 groups on MT10 (on the main results' seeds: the groups and NMIs are seed 0's, the success
# per k is the mean over the paired seeds), under the multi-objective protocol of the MT10
# chapter: one Soft Modularization policy per group trained from scratch on its tasks, every task scored by its
# group's policy (success rate). This notebook is what `pgx run ablations -p family metaworld` executes; the
# MT10 chapter shows the same table.

# %% tags=["parameters"]
profile = "default"
family = "metaworld"
seed = 0
force = False
ks = None
paired_seeds = None

# %%
from IPython.display import Markdown, display

from pgxlib.experiments import run_experiment
from pgxlib.report import mt10 as report
from pgxlib.store.provenance import provenance_markdown

abl = run_experiment("ablations", profile, family, seed=seed, force=force, ks=ks, paired_seeds=paired_seeds)
display(Markdown(provenance_markdown(abl)))
display(Markdown(f"**Protocol and budget.** {abl.metrics['protocol']}"))
report.k_table(abl.metrics)

# %%
display(Markdown(report.k_sentence(abl.metrics)))
