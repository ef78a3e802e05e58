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
# # Hessian trace and the generalization bound
#
# The paper's Theorem 1 is a PAC-Bayes bound with Hessian-shaped perturbations: for a loss bounded in $[0, C]$,
# twice differentiable with Lipschitz Hessian, the gap between test and training loss is at most a sum over
# layers of $\sqrt{C \cdot \max_{\text{data}} \operatorname{Tr}[\nabla^2_{W_i} \ell] \cdot
# \lVert W_i - W_i^{(0)} \rVert_F^2 / N}$, plus an error term $\varepsilon = O(N^{-3/4} \log(1/\delta))$. Its Figure 2 shows that this Hessian measure is of the same scale as the observed
# generalization error over training, and that on the meta-RL control task the error falls as groups grow.
#
# **Which policy.** No θ* here: every measurement trains a fresh policy from its random initialisation (the
# $W^{(0)}$ of the bound), on all source tasks or on random subsets of them. No grouping by PolicyGradEx enters,
# so no affinity structure or noise ceiling bears on this page.

# %% [markdown] tags=["fold"]
# ## The bound as implemented, its loss and the protocol
# **The form implemented** (`pgxlib.analysis.hessian.hessian_bound`; the constants of the theorem are not known here):
#
# $$\text{gap} = \text{test loss} - \text{train loss} \;\le\; \sum_i \sqrt{C \, T_i \, D_i / N} \qquad (\varepsilon \text{ omitted})$$
#
# - layer $i$ = one Linear layer of the actor (weight and bias together), plus the Gaussian actor's `log_std`
#   as a layer of its own (nav2d); the critic is not in ℓ;
# - $T_i$ = the maximum over mini-batches of the training transitions of the Hutchinson estimate (Rademacher probes,
#   Hessian-vector products by forward-over-reverse differentiation) of $\operatorname{Tr}[\nabla^2_{W_i} \ell]$ of the batch-mean loss;
#   a negative estimate counts as zero;
# - $D_i = \lVert W_i - W_i^{(0)} \rVert_F^2$, $W^{(0)}$ the policy's random initialisation;
# - $N$ = the number of training transitions PPO has used (steps per task × tasks); $C$ = the loss bound.
#
# **The loss $\ell$.** $\ell = C \bigl(1 - \exp(-\operatorname{softplus}(-\log \pi_\theta(a \mid s)) / C)\bigr) \in [0, C)$: a bounded, smooth negative
# log-likelihood of the taken action, on the *advantage-filtered* transitions (GAE advantage of the policy's own
# critic above its task's mean): how likely the policy makes the actions that went better than the others.
# The same ℓ gives the train loss (fresh on-policy transitions of the training tasks) and the test loss
# (transitions of unseen *target* tasks of the family, each routed to the group by `family.nearest_source` and
# conditioned on that source task's id).
#
# **Protocol.** A fresh policy (`nets.new_policy`) is trained with multitask PPO (the profile's group-training
# settings, constant learning rate) on all source tasks in equal chunks, measuring after each; then, for each
# group size, fresh policies are trained on random subsets of that many source tasks and measured at the end.

# %% tags=["parameters"]
profile = "default"
family = "cartpole"
seed = 0
force = False
train_steps = None
checkpoints = None
group_sizes = None
subsets_per_size = None
eval_steps = None
n_test_tasks = 10
n_probes = 8
batch_size = 256
n_batches = 4
loss_cap = 1.0

# %% [markdown] tags=["fold"]
# ## Provenance and budget

# %%
import pandas as pd
from IPython.display import HTML, Markdown, display

from pgxlib.report import hessian_bound as report
from pgxlib.experiments import run_experiment
from pgxlib.report.tables import folded, stage_summary
from pgxlib.store.provenance import provenance_markdown

res = run_experiment("hessian_bound", profile, family, seed=seed, force=force, train_steps=train_steps,
                     checkpoints=checkpoints, group_sizes=group_sizes, subsets_per_size=subsets_per_size,
                     eval_steps=eval_steps, n_test_tasks=n_test_tasks, n_probes=n_probes, batch_size=batch_size,
                     n_batches=n_batches, loss_cap=loss_cap)
m, a = res.metrics, res.arrays
s = m["settings"]
display(Markdown(provenance_markdown(res)))
display(Markdown(
    f"Budget: {s['train_steps']:,} PPO steps per task in {s['checkpoints']} chunks on all source tasks; group "
    f"sizes {', '.join(map(str, s['group_sizes']))} with {s['subsets_per_size']} random subset(s) per size "
    f"(one for all tasks), each {s['train_steps']:,} steps per task; {s['eval_steps']} evaluation transitions per "
    f"task and measuring point, up to {s['n_test_tasks']} target tasks per group; Hutchinson with "
    f"{s['n_probes']} probes on each of {s['n_batches']} mini-batches of {s['batch_size']}; C = {s['loss_cap']:g}. "
    f"This run took {res.meta.get('total_time', 0.0):.0f} s. The chapter's target budget is about 20 CPU-minutes "
    "for the four control families together on 2 CPU cores; highway, whose environment steps at a few hundred "
    "steps per second, gets group sizes 1, 3 and 10 with one subset each and 4 measuring points. "
    + report.budget_sentence(profile, seed)))
display(Markdown(f"**Implemented bound.** {report.BOUND_FORM}."))

# %% [markdown]
# ## Over training
# Observed generalization error (test − train loss) and the bound at each measuring point. The paper does not
# give numbers for these curves (Figure 2 is only qualitative), so the comparison is with its claim.

# %%
report.curve_table(m).round(5)

# %%
report.curve_figure(m, family);

# %%
display(Markdown(report.verdict(m, a)))

# %% [markdown] tags=["fold"]
# ## Per layer, at the last measuring point
# Which layers carry the bound: each layer's curvature T_i, its distance from initialisation D_i and its term
# sqrt(C · T_i · D_i / N).

# %%
report.layer_table(m, a).round(6)

# %% [markdown] tags=["fold"]
# ## Across group sizes
# Final gap and bound of policies trained on random subsets of the source tasks, by subset size (mean over the
# subsets of each size). Each subset is tested on the target tasks routed to it, so small groups are tested on
# fewer target tasks (column "test tasks").

# %%
report.group_table(m).round(5)

# %%
report.group_figure(m, a, family);

# %% [markdown] tags=["fold"]
# ## Wall time of each stage

# %%
times = stage_summary(res.meta.get("stage_times", {}))
display(Markdown(f"Wall time of each stage on {res.meta.get('device', {}).get('torch_device', 'this machine')}:"))
HTML(folded(times, "Wall time per kind of stage"))
