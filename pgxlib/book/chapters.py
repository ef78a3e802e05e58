"""The chapter table: which chapters the book has, the runs (parameter dicts) each is executed with per profile,
and which notebook shows an experiment on a family. A new chapter is one row of `CHAPTERS`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from pgxlib.config import PROFILES
from pgxlib.finetunes import FAMILY_FINETUNE_STEPS
from pgxlib.experiments.speedup import PARAMETERS as SPEEDUP_PARAMETERS
from pgxlib.experiments.speedup import headline_depth

BOOK_PROFILES = ("default", "smoke")


def every_profile(*runs: dict[str, Any], **per_profile: tuple[dict[str, Any], ...]) -> dict[str, tuple[dict, ...]]:
    """The same parameter dicts for every profile, except those given by name: ``smoke=({...},)``."""
    return {profile: tuple(per_profile.get(profile, runs)) for profile in PROFILES}


SPEEDUP_DEPTHS = SPEEDUP_PARAMETERS["depths"]
"""The speedup experiment's default depths."""


def with_headline_seeds(runs: dict[str, tuple[dict, ...]], families: tuple[str, ...], seeds: tuple[int, ...],
                        profiles: tuple[str, ...]) -> dict[str, tuple[dict, ...]]:
    """`runs` with, under each of `profiles`, every run of `families` repeated at each of `seeds` at its headline
    depth only, right after the seed-0 run (which keeps all its depths)."""
    out = {}
    for profile, given in runs.items():
        more = []
        for run in given:
            more.append(run)
            if profile in profiles and run.get("family") in families and "seed" not in run:
                depth = headline_depth(profile, run["family"], run.get("depths", SPEEDUP_DEPTHS))
                rest = {k: v for k, v in run.items() if k not in ("family", "depths")}
                more += [{"family": run["family"], "seed": seed, "depths": [depth], **rest} for seed in seeds]
        out[profile] = tuple(more)
    return out


@dataclass(frozen=True)
class Chapter:
    """One chapter: `notebook` is ``notebooks/<notebook>.py``; `runs` maps a profile to the parameter
    dicts it is executed with (one page each); `experiment` is the experiment whose results it shows,
    or None for a chapter that only reads stored results (the scorecard)."""

    notebook: str
    runs: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=lambda: every_profile({}))
    experiment: str | None = None
    title: str = ""
    """Short title in the sidebar (the notebook's first heading when empty)."""
    part: str = "Experiments"
    """The sidebar caption the chapter is listed under."""
    also: tuple[str, ...] = ()
    """Other experiments the notebook reads for each page's family and seed, with their own default parameters
    (the MT10 chapter's k ablation): `outdated_runs` lists them too."""


PAIRED_SEEDS = {"planted": 10, "cartpole": 10, "lunarlander": 5, "highway": 5, "nav2d": 5}
"""How many seeds each control family's paired comparisons run on, in chapter order: its main results, and the same
seeds for its ablations' k and strategy knobs (same θ* per seed). 10 where a seed costs minutes (planted, cartpole),
5 on the others; MT10 keeps 3 (its own chapter; its k ablation the default 3,
`experiments.ablations.DEFAULT_PAIRED_SEEDS`; `experiments.MAX_SEEDS` bounds them all)."""


TRUTH_STEPS = FAMILY_FINETUNE_STEPS["default"]
"""The truth's fine-tuning budget per family (`finetunes.FAMILY_FINETUNE_STEPS`), shared with the main results'
truth_grouping: the speedup chapter's runs take theirs from it."""

# The chapter table: one line per chapter, in book order. Add an experiment with e.g.
#   Chapter("main_results", every_profile({"family": "cartpole"}, {"family": "highway"}), "main_results"),
CHAPTERS: tuple[Chapter, ...] = (
    Chapter("walkthrough", every_profile({"family": "cartpole"}), "walkthrough", "Walkthrough"),
    Chapter("main_results", every_profile(*({"family": f, "seeds": list(range(n))} for f, n in PAIRED_SEEDS.items()),
                                          smoke=({"family": "cartpole", "seeds": [0, 1]}, {"family": "nav2d", "seeds": [0, 1]})),
            "main_results", "Main results"),
    Chapter("mt10", every_profile({"family": "metaworld"}, smoke=({"family": "metaworld", "seeds": [0]},)), "main_results",
            "Meta-World MT10", also=("ablations",)),
    Chapter("ablations", every_profile(*({"family": f, "paired_seeds": list(range(n))}
                                         for f, n in PAIRED_SEEDS.items()),
                                       smoke=({"family": "cartpole", "proj_dims": [16, 32, 64]},)), "ablations", "Ablations"),
    Chapter("ablations_overview", title="Ablations across families"),
    Chapter("adaptation", every_profile(*({"family": f} for f in ("cartpole", "lunarlander", "highway", "nav2d")), smoke=({"family": "cartpole", "inner_lrs": [0.02, 0.05], "inner_updates": [1, 2]},)), "adaptation", "Adaptation"),
    # A grid is extended by doubling while its ceiling (NMI or affinity correlation) still rises at the largest
    # fine-tuning budget and its NMI is below 1 (the method chapter's rule, checked by a test): cartpole's NMI,
    # nav2d's and lunarlander's correlation still rose at 8k. highway's grid stops at its cost cap
    # (`report.structure.FAMILY_GRID_CAPS`), with θ* at the profile's budget only.
    Chapter("structure", every_profile({"family": "planted"},
                                       {"family": "nav2d", "finetune_steps": [2048, 4096, 8192, 16384]},
                                       {"family": "cartpole", "finetune_steps": [2048, 4096, 8192, 16384]},
                                       {"family": "lunarlander", "finetune_steps": [2048, 4096, 8192, 16384]},
                                       {"family": "highway", "meta_steps": [8000], "finetune_steps": [512, 1024, 2048]},
                                       smoke=({"family": "planted"},)), "structure", "Is there structure? The noise ceiling"),
    Chapter("lambda_sweep", every_profile(*({"family": f} for f in ("planted", "cartpole", "nav2d", "lunarlander", "highway")),
                                          smoke=({"family": "planted", "l2s": [0.01, 1.0]},)), "lambda_sweep", "Regularisation λ"),
    # The truth is fine-tuned for the budget where the family's noise ceiling stops rising in its structure chapter
    # (the method chapter's rule, checked by a test); MT10 at its own smaller budget (`finetunes.FINETUNE_BUDGET`: 30 subsets,
    # 4,096 steps per task) and at every depth the paper reports, each depth its own θ* of 10 × 100k PPO steps.
    # The families with structure (planted, cartpole) also run at seeds 1 and 2, at the headline depth only, so that
    # the evaluator rule (the next chapter) is scored on three seeds per family.
    Chapter("speedup", with_headline_seeds(every_profile({"family": "lunarlander", "finetune_steps": TRUTH_STEPS["lunarlander"]},
                                                         {"family": "cartpole", "finetune_steps": TRUTH_STEPS["cartpole"]},
                                                         {"family": "nav2d", "finetune_steps": TRUTH_STEPS["nav2d"]},
                                                         {"family": "highway", "depths": [4], "finetune_steps": TRUTH_STEPS["highway"]},
                                                         {"family": "planted"},
                                                         {"family": "metaworld"},
                                                         smoke=({"family": "cartpole", "depths": [2]},)),
                                           families=("planted", "cartpole"), seeds=(1, 2), profiles=("default", "paper")),
            "speedup", "Surrogate accuracy and speedup"),
    # Reads the speedup results above (every family, every seed stored); filed under planted, which selects nothing.
    Chapter("evaluator_rule", every_profile({"family": "planted"}, smoke=({"family": "planted", "seeds": [0]},)),
            "evaluator_rule", "Which evaluator? The rule"),
    Chapter("scale", every_profile({"family": "nav2d"}, {"family": "planted"}, smoke=({"family": "planted"},)), "scale",
            "Scale: 10 to 100 tasks"),
    Chapter("first_order_error", every_profile(*({"family": f} for f in ("cartpole", "lunarlander", "highway", "nav2d", "planted", "metaworld")), smoke=({"family": "cartpole"},)), "first_order_error", "First-order error"),
    Chapter("hessian_bound", every_profile(*({"family": f} for f in ("cartpole", "lunarlander", "highway", "nav2d", "planted", "metaworld")), smoke=({"family": "cartpole"},)), "hessian_bound", "Hessian and the bound"),
    Chapter("scorecard", title="Reproduction scorecard", part="Verdict"),
)


def chapter_params(profile: str) -> dict[str, dict[str, dict[str, Any]]]:
    """experiment -> family -> the other parameters its chapter runs it with under `profile` (a family's first
    run): which stored result the book shows for each, and so what the glance reads."""
    params: dict[str, dict[str, dict[str, Any]]] = {}
    for chapter in CHAPTERS:
        for run in chapter.runs.get(profile, ()) if chapter.experiment else ():
            if "family" in run:
                rest = {k: v for k, v in run.items() if k != "family"}
                params.setdefault(chapter.experiment, {}).setdefault(run["family"], rest)
    return params


NOTEBOOK_OF = {("main_results", "metaworld"): "mt10", ("ablations", "metaworld"): "mt10_k"}
"""Experiment runs shown by another notebook than ``notebooks/<experiment>.py`` (MT10's protocol has its own)."""


def notebook_for(experiment: str, family: str) -> str:
    """The notebook that runs and shows `experiment` on `family` (what `pgx run` executes)."""
    return NOTEBOOK_OF.get((experiment, family), experiment)


def chapter_runs(notebook: str, profile: str) -> tuple[dict[str, Any], ...]:
    """The parameter dicts chapter `notebook` is run with under `profile`."""
    for chapter in CHAPTERS:
        if chapter.notebook == notebook:
            return chapter.runs[profile]
    raise KeyError(f"no chapter {notebook!r}: chapters are {', '.join(c.notebook for c in CHAPTERS)}")
