"""One θ* story: which θ* budget a grouping page uses, and the noise ceiling the structure chapter measured at it.

Every grouping chapter (main results, ablations, the Hessian bound, `pgx group`) groups from a θ* meta-trained
for ``meta_ppo.steps_per_task`` PPO steps per task (stored in each result's ``meta.config``). Its groups can only
be read against a structure measured at that same θ*: the structure chapter's ceiling at that budget.
"""
from __future__ import annotations

from typing import Any, Mapping

from pgxlib.report.structure import STABLE_CEILING, headline

STEPS_KEY = "meta_ppo.steps_per_task"


def theta_steps(meta: Mapping[str, Any]) -> int | None:
    """θ*'s meta-training budget (PPO steps per task) from a result's ``meta`` (None when not recorded)."""
    steps = (meta.get("config") or {}).get(STEPS_KEY)
    return None if steps is None else int(steps)


def ceiling_at(structure: Mapping[str, Any], steps: int) -> tuple[float, int] | None:
    """The structure chapter's noise ceiling NMI at θ* budget `steps` and the fine-tuning budget it was measured
    at: the headline (`report.structure.headline`) when `steps` is the chosen budget, else the meta sweep's row;
    None when `steps` was not swept."""
    if structure.get("chosen_meta_steps") == steps:
        row = headline(structure)
        return float(row["noise_ceiling_nmi"]), int(row["finetune_steps"])
    rows = [r for r in structure.get("meta_sweep", []) if r["meta_steps"] == steps]
    if not rows:
        return None
    row = max(rows, key=lambda r: r["finetune_steps"])
    return float(row["noise_ceiling_nmi"]), int(row["finetune_steps"])


def theta_story(family: str, meta: Mapping[str, Any], structure: Mapping[str, Any] | None,
                where: str = "this page") -> str:
    """Markdown, one paragraph: this page's θ* budget, whether it is the structure rule's pick, and the noise
    ceiling measured there (`structure`: the stored structure metrics of `family`, None when not stored); `where`
    names what the paragraph describes."""
    steps = theta_steps(meta)
    if steps is None:
        return f"**θ\\* of {where}.** The result does not record θ*'s budget, so no ceiling can be matched to it."
    head = f"**θ\\* of {where}.** Meta-trained for {steps:,} PPO steps per task"
    if structure is None:
        return (head + f". The structure chapter has no stored result for {family}, so no noise ceiling is measured "
                "at this θ*: the groups here are read against no measured structure.")
    chosen = structure.get("chosen_meta_steps")
    rule = ("the budget the structure chapter's rule picks" if chosen == steps
            else f"not the structure chapter's pick ({chosen:,})")
    found = ceiling_at(structure, steps)
    if found is None:
        return (head + f", {rule}; that chapter did not measure a ceiling at this budget, so the groups here are "
                "read against no measured structure.")
    ceiling, finetune = found
    return (head + f", {rule}. There the truth's noise ceiling is {ceiling:.2f} (NMI of two repeats of fine-tuning "
            f"for {finetune:,} steps per task): " + ("a stable structure, so groups can be right or wrong."
                                                     if ceiling >= STABLE_CEILING else
                                                     f"below the {STABLE_CEILING} of a stable structure, so no "
                                                     "grouping here is checked against a reproducible truth."))


def stored_structure(profile: str, family: str, registry, params: Mapping[str, Mapping[str, Any]] | None = None
                     ) -> Mapping[str, Any] | None:
    """The metrics of the structure result the book shows for `family` (`params`: the structure chapter's
    per-family parameters, `pgxlib.book.chapter_params(profile)["structure"]`), None when none is stored or it
    cannot be read. `registry` is `pgxlib.experiments` (this layer does not import it)."""
    extra = dict((params or {}).get(family, {}))
    try:
        result = registry.find_result("structure", profile, family, extra.pop("seed", 0), **extra)
    except ValueError:  # an unreadable structure result is said like a missing one
        return None
    return None if result is None else result.metrics
