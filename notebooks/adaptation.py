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
# # Adaptation on the target tasks: step size and number of steps
#
# In the main results the adaptation step helps on nav2d but lowers the target return on cartpole
# and lunarlander, for every method. This chapter asks whether that is the step's size or its
# shape. PolicyGradEx's meta-policies (one seed, the main results' protocol) are trained once; the
# unseen target tasks are then adapted under a grid of **inner learning rates α** and **numbers of
# policy-gradient steps u**, always with the same total adaptation budget (u steps of about
# budget / u environment steps each), and scored. The score before adaptation is the same in every
# cell. The meta-policies were meta-trained with the profile's own α and one inner step, so other
# cells also test how well that meta-training transfers to another adaptation rule.

# %% tags=["parameters"]
profile = "default"
family = "cartpole"
seed = 0
force = False
inner_lrs = [0.01, 0.02, 0.05, 0.1]
inner_updates = [1, 2, 4]

# %%
import pandas as pd
from IPython.display import HTML, Markdown, display

from pgxlib.report import adaptation as report
from pgxlib.experiments import run_experiment
from pgxlib.report.tables import folded, stage_summary
from pgxlib.store.provenance import provenance_markdown

res = run_experiment("adaptation", profile, family, seed=seed, force=force, inner_lrs=inner_lrs,
                     inner_updates=inner_updates)
m = res.metrics
display(Markdown(provenance_markdown(res)))
display(Markdown(f"**Protocol and budget.** {m['protocol']} Groups: "
                 + " | ".join(",".join(f"S{i}" for i in g) for g in m["groups"]) + "."))

# %% [markdown]
# ## Target return after adaptation
# Each cell: mean return over the target tasks after adaptation, in brackets the gain over before
# adaptation and the share of target tasks whose return went up.

# %%
report.adaptation_grid(m)

# %%
report.adaptation_heatmap(m);
display(Markdown(report.adaptation_sentence(m)))

# %%
times = stage_summary(res.meta.get("stage_times", {}))
display(Markdown(f"Wall time of each stage (total {res.meta.get('total_time', float('nan')):.0f} s):"))
HTML(folded(times, "Wall time per kind of stage"))
