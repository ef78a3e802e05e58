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
# # Ablations across families
#
# The ablation pages side by side: for every knob and family, each value's target return after
# adaptation, and its distance from the reference configuration in units of PolicyGradEx's seed std σ in
# that family's main results, so that families with different return scales sit on one scale. σ is a
# scale, not a test: whether a gap is evidence is read on the paired interval over seeds (95%, Bonferroni-adjusted
# where the best of several values is compared; each cell states its level), which the
# number of groups and the grouping strategy have (paired seeds, same θ* per seed); the other knobs run on
# one seed and have no interval. The depth knob trains its own θ* per depth, so its effect includes how
# well that one θ* happened to train. Nothing is computed here: the page reads the stored results of the
# ablations chapter.

# %% tags=["parameters"]
profile = "default"

# %%
from IPython.display import Markdown, display

from pgxlib.report import ablations as report
from pgxlib.book import chapter_runs
from pgxlib.experiments import find_result, run_command

found = {p["family"]: find_result("ablations", profile, **p) for p in chapter_runs("ablations", profile)}
missing = [f"`{run_command('ablations', profile, **p)}`" for p in chapter_runs("ablations", profile)
           if found[p["family"]] is None]
if missing:
    display(Markdown("Not stored yet (compute with): " + "; ".join(missing) + "."))
stale = [f for f, r in found.items() if r is not None and r.stale]
if stale:
    display(Markdown(f"```{{warning}}\nStale ablation results (computed by older code): {', '.join(stale)}.\n```"))
results = {f: r.metrics for f, r in found.items() if r is not None}
stds = {f: (report.seed_std(profile, f) or (None,))[0] for f in results}
display(Markdown("Seed std of PolicyGradEx per family (the σ below): "
                 + ", ".join(f"{f} {s:.3g}" if s else f"{f} not stored" for f, s in stds.items()) + "."))

# %% [markdown]
# ## Summary
# Per knob and family, the best value and how far it is from the reference configuration.

# %%
report.ablation_summary(results, stds)

# %%
report.ablation_overview_plot(results, stds);

# %% [markdown]
# ## Per knob

# %%
for knob, title in report.KNOB_TITLES.items():
    display(Markdown(f"**{title}**"))
    display(report.ablation_overview(results, stds, knob))
