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
# # Ablations: one knob of PolicyGradEx at a time
#
# Which of PolicyGradEx's knobs change the grouping it finds and the meta-RL score it reaches, on this
# family? **The paper's ablations are on Meta-World MT10** (success rate, Soft Modularization learner), a
# different environment from ours; each knob's section shows them beside ours for the direction of the effect only.

# %% [markdown] tags=["fold"]
# ## The knobs and how they are scored
# On one family and seed, from the same θ* and (where the knob allows) the same gradient features,
# each knob is varied alone around the profile's reference configuration (k groups, projection
# dimension d, m subsets of a fixed size):
#
# - **number of groups k**: SDP with each k, then group training;
# - **projection dimension d**: the features are recomputed at each d (same transitions, a new
#   projection), then the surrogate and the SDP at the reference k;
# - **number of subsets m** and **subset size**: new random subsets on the reference features;
# - **grouping strategy** on the same affinity U: the SDP (loss-based, PolicyGradEx), spectral
#   clustering of U, gradient similarity (SDP on the cosine similarity of per-task mean projected
#   policy gradients) and a random partition.
#
# - **policy depth** (2, 4, 8 hidden layers): the whole pipeline with a policy of that depth, each
#   with its own θ*.
#
# For every knob we report the NMI of each value's clustering against the reference clustering and,
# when the partition was trained (always for k, depth and the strategies; for d, m and subset size
# when `train_sweeps` is on), the **meta-RL score of the main results**: one first-order MAML
# meta-policy per group from θ*, the unseen target tasks adapted from their nearest source task's
# group, mean target return after adaptation. A partition found by several knob values is trained
# once.

# %% tags=["parameters"]
profile = "default"
family = "nav2d"
seed = 0
force = False
ks = None
proj_dims = [100, 200, 400, 800, 1000]
projections = ["gaussian", "sketch"]
n_subsets = [10, 20, 40, 60, 100]
subset_sizes = None
depths = [2, 4, 8]
train_sweeps = True
paired_seeds = None

# %% [markdown] tags=["fold"]
# ## Provenance, protocol and the noise yardstick

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown, display

from pgxlib import experiments
from pgxlib.book import chapter_params
from pgxlib.report import ablations as report
from pgxlib.experiments import run_experiment
from pgxlib.report.tables import folded, stage_summary
from pgxlib.report.theta_budget import stored_structure, theta_story
from pgxlib.store.provenance import provenance_markdown

res = run_experiment("ablations", profile, family, seed=seed, force=force, ks=ks, proj_dims=proj_dims,
                     projections=projections, n_subsets=n_subsets, subset_sizes=subset_sizes, depths=depths, train_sweeps=train_sweeps,
                     paired_seeds=paired_seeds)
m = res.metrics
display(Markdown(provenance_markdown(res)))
ref = m["reference"]
display(Markdown(f"**Protocol and budget.** {m['protocol']} Reference groups: "
                 + " | ".join(",".join(f"S{i}" for i in g) for g in ref["groups"])
                 + f"; target return after adaptation {ref['score']:.3f} (before adaptation: "
                 + f"{ref['score_before']:.3f})."
                 + ("" if m["train_sweeps"] else " d, m and subset size were not trained (NMI only).")))
display(Markdown(report.noise_note(profile, family, m)))
std = (report.seed_std(profile, family) or (None,))[0]

# %% [markdown]
# ## Which knob matters?
# Per knob, the reference value against the value with the best target return after adaptation, and how far
# its values' clusterings move from the reference clustering; each knob's section below has every value.

# %%
display(report.knob_summary_table(m, std))
display(Markdown(report.knob_summary_sentence(m, std)))
display(Markdown(theta_story(family, res.meta, stored_structure(profile, family, experiments,
                                                                chapter_params(profile).get("structure")))))

# %% [markdown] tags=["fold"]
# ## Number of groups k

# %%
report.knob_table(m, "k")

# %%
report.knob_plot(m, "k");
display(Markdown(report.knob_sentence(m, "k")))

# %% [markdown] tags=["fold"]
# ## Projection dimension d
# NMI against the clustering at the reference d, and the target return after adaptation.

# %%
report.knob_table(m, "proj_dim")

# %%
report.knob_plot(m, "proj_dim");
display(Markdown(report.knob_sentence(m, "proj_dim")))

# %% [markdown] tags=["fold"]
# ## Gradient projection: the paper's dense Gaussian or the structured sketch
# The same rollout of θ* at the reference d, projected by the paper's dense Gaussian matrix and by the
# structured sketch of Linear layers (`projection="sketch"`, no per-sample gradient in memory, far faster
# for wide policies). NMI and affinity correlation are against the dense reference: the sketch's fidelity.

# %%
if "projection" in m:
    display(report.knob_table(m, "projection"))
    figure = report.knob_plot(m, "projection")
    display(figure)
    plt.close(figure)
    display(Markdown(report.knob_sentence(m, "projection")))
else:
    display(Markdown("This stored result predates the projection knob; recompute it to see this section."))

# %% [markdown] tags=["fold"]
# ## Number of subsets m
# Random subsets are completed until every pair of tasks shares a subset, so a small m may use more
# subsets than asked (last column).

# %%
report.knob_table(m, "n_subsets")

# %%
report.knob_plot(m, "n_subsets");
display(Markdown(report.knob_sentence(m, "n_subsets")))

# %% [markdown] tags=["fold"]
# ## Subset size

# %%
report.knob_table(m, "subset_size")

# %%
report.knob_plot(m, "subset_size");
display(Markdown(report.knob_sentence(m, "subset_size")))

# %% [markdown] tags=["fold"]
# ## Policy depth

# %%
report.knob_table(m, "depth")

# %%
report.knob_plot(m, "depth");
display(Markdown(report.knob_sentence(m, "depth")))

# %% [markdown] tags=["fold"]
# ## Grouping strategy on the same U

# %%
report.knob_table(m, "strategy")

# %%
report.knob_plot(m, "strategy");
display(Markdown(report.knob_sentence(m, "strategy")))

# %% [markdown] tags=["fold"]
# ## Wall time of each stage

# %%
times = stage_summary(res.meta.get("stage_times", {}))
display(Markdown(f"Wall time of each stage on {res.meta.get('device', {}).get('torch_device', 'this machine')} "
                 f"(total {res.meta.get('total_time', float('nan')):.0f} s):"))
HTML(folded(times, "Wall time per kind of stage"))
