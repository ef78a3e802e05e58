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
# # Walkthrough: PolicyGradEx on one task family
#
# This chapter runs the whole pipeline once and shows every stage: the multitask meta-policy θ*,
# the gradient features and the surrogate estimates θ̂_S on random subsets S, the task-affinity
# matrix U, the SDP solution, the groups, and one policy trained per group. Re-run it with other
# parameters with `pgx run walkthrough --profile smoke -p family nav2d`.

# %% tags=["parameters"]
profile = "default"
family = "cartpole"
seed = 0
force = False
k = None

# %% [markdown] tags=["fold"]
# ## Provenance

# %%
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display

from pgxlib.report import plots
from pgxlib.experiments import run_experiment
from pgxlib.report import walkthrough
from pgxlib.report.tables import folded, stage_summary
from pgxlib.store.provenance import provenance_markdown

res = run_experiment("walkthrough", profile, family, seed=seed, force=force, k=k)
m, a = res.metrics, res.arrays
labels = np.asarray(m["labels"])
display(Markdown(provenance_markdown(res)))

# %% [markdown] tags=["fold"]
# ## The tasks
# The family's source tasks (the grouping is over these), with their parameters.

# %%
tasks = pd.DataFrame({"task": [f"S{i}" for i in range(len(m["tasks"]))],
                      "parameters": [t.split("[", 1)[1].rstrip("]") for t in m["tasks"]],
                      "group": labels})
tasks

# %% [markdown] tags=["fold"]
# ## 1. Meta-training θ*
# One task-conditioned actor-critic trained with multitask PPO on every source task, each task
# getting the same number of environment steps. Each line is one task's mean episodic return per
# PPO iteration (coloured by the group the task ends up in).

# %%
plots.learning_curves(a["meta_steps"], a["meta_returns"], f"Multitask PPO on {family}: θ*", labels=labels);

# %% [markdown] tags=["fold"]
# ## 2. Surrogate estimates θ̂_S
# For each sampled subset $S$ the weighted logistic regression on the projected gradients gives
# $\hat w_S$, and $\hat\theta_S = \theta^\star + P \hat w_S$. The raw steps $P \hat w_S$ are long; each is
# rescaled to at most `max_rel_dist` of $\lVert\theta^\star\rVert$ (dashed line), inside the region where the
# first-order expansion holds. The relative distances $\lVert P \hat w_S \rVert / \lVert\theta^\star\rVert$
# before rescaling:

# %%
fig = plots.histogram(np.asarray(a["rel_dist_raw"]) * 100, "Raw surrogate steps", "‖P ŵ_S‖ / ‖θ*‖ (%)")
fig.axes[0].axvline(100 * m["rel_dist"]["max"], color="k", ls="--", label="cap after rescaling")
fig.axes[0].legend();
display(Markdown(f"{len(a['members'])} subsets of {int(a['members'].sum(1).max())} tasks; "
                 f"before rescaling the mean relative distance was {100 * m['rel_dist']['raw_mean']:.1f}%, "
                 f"after {100 * m['rel_dist']['mean']:.2f}% (max {100 * m['rel_dist']['max']:.2f}%)."))

# %% [markdown] tags=["fold"]
# ## 3. The task-affinity matrix U
# $U_{ij}$ averages the score of task $i$ over the subsets that contain both $i$ and $j$; rows are
# z-scored, the diagonal zeroed and the matrix symmetrised. Ordered by group, with the group
# borders drawn.

# %%
plots.matrix_heatmap(a["affinity"], "Normalised affinity U", "z-score", labels=labels);

# %% [markdown] tags=["fold"]
# ## 4. The SDP relaxation and the groups
# The SDP solution $X$ (maximising $\langle U, X\rangle$ with $X \succeq 0$, $X \ge 0$, $X\mathbf 1 = \mathbf 1$,
# $\operatorname{Tr} X = k$) is close to a
# block matrix; rounding it gives the groups.

# %%
plots.matrix_heatmap(a["sdp_X"], "SDP solution X", "X_ij", labels=labels, cmap="viridis", center=False);
display(Markdown("\n".join(f"- group {g}: " + ", ".join(f"S{i}" for i in grp) for g, grp in enumerate(m["groups"]))))

# %% [markdown]
# ## 5. One policy per group
# Each group's policy is fine-tuned from θ* on its own tasks; every task is then evaluated with
# its group's policy. Uniformly random actions and θ* itself are shown for comparison.

# %%
series = {"random actions": np.asarray(m["random_return"]), "meta-policy θ*": np.asarray(m["meta_return"]),
          "group policy": np.asarray(m["group_return"])}
plots.per_task_returns(series, f"Per-task return on {family}");
display(pd.DataFrame({name: [np.mean(v)] for name, v in series.items()}, index=["mean return"]).round(1))
display(Markdown(walkthrough.group_sentence(m)))

# %% [markdown] tags=["fold"]
# ## Wall time of each stage

# %%
times = stage_summary(res.meta.get("stage_times", {}))
display(Markdown(f"Wall time of each stage on {res.meta.get('device', {}).get('torch_device', 'this machine')}:"))
HTML(folded(times, "Wall time per kind of stage"))
