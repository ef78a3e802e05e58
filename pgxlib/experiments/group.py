"""`pgx group`: PolicyGradEx on one task family, stored as a result (no notebook of its own)."""
from __future__ import annotations

from typing import Any

import numpy as np

from pgxlib.analysis.agreement import nmi
from pgxlib.cluster import groups_from_labels
from pgxlib.profiles import pipeline_config
from pgxlib.pipeline import PipelineResult, run_policygradex
from pgxlib.tasks import design_groups

PARAMETERS: dict[str, Any] = {"k": None, "overrides": {}}
EXPECTED_KEYS = ("metrics.groups", "metrics.labels", "metrics.affinity", "metrics.meta_return",
                 "metrics.random_return", "metrics.group_return")


def config(profile: str, family: str, seed: int, k: int | None = None, overrides: dict | None = None):
    extra = dict(overrides or {})
    if k is not None:
        extra["k"] = k
    return pipeline_config(profile, family, seed=seed, **extra)


def check(profile: str, family: str, seed: int, **params) -> None:
    config(profile, family, seed, **params)


def compute(profile: str, family: str, seed: int, cache, **params) -> dict:
    cfg = config(profile, family, seed, **params)
    res = run_policygradex(cfg, cache=cache)
    metrics, arrays = result_payload(res)
    return {"metrics": metrics, "arrays": arrays, "stage_times": res.stage_times, "config": cfg}


def summary_metrics(res: PipelineResult) -> dict[str, Any]:
    """The JSON-ready metrics of a run: groups, affinity, scores, per-task returns."""
    groups = groups_from_labels(res.labels)
    out = {
        "family": res.family.name,
        "tasks": res.task_names,
        "k": len(groups),
        "groups": groups,
        "labels": res.labels.tolist(),
        "affinity": res.affinity.normalized.tolist(),
        "affinity_raw": res.affinity.raw.tolist(),
        "pair_counts": res.affinity.counts.tolist(),
        "rel_dist": {"mean": float(np.mean(res.rel_dist)), "max": float(np.max(res.rel_dist)),
                     "raw_mean": float(np.mean(res.rel_dist_raw))},
        "meta_return": res.meta_eval.mean_return.tolist(),
        "random_return": res.random_eval.mean_return.tolist(),
        "meta_train_steps_per_task": int(res.meta_train.steps[-1]) if len(res.meta_train.steps) else 0,
    }
    if res.groups:
        out["group_return"] = res.grouped_returns().tolist()
    designed = design_groups(res.family)
    if designed is not None:  # the groups the family was built with ("planted" in them)
        out["planted_groups"] = groups_from_labels(designed)
        out["planted_nmi"] = nmi(res.labels, designed)
    if res.family.has_success:
        out["meta_success"] = res.meta_eval.success.tolist()
        if res.groups:
            out["group_success"] = res.grouped_success().tolist()
    return out


def result_payload(res: PipelineResult) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metrics, arrays) of a run for the results store: JSON summary plus the curves and matrices."""
    arrays = {
        "meta_steps": res.meta_train.steps,
        "meta_returns": res.meta_train.returns,
        "members": res.members.astype(np.int8),
        "scores": res.scores,
        "rel_dist": res.rel_dist,
        "rel_dist_raw": res.rel_dist_raw,
        "affinity": res.affinity.normalized,
        "affinity_raw": res.affinity.raw,
        "labels": res.labels,
    }
    if res.family.has_success:
        arrays["meta_success"] = res.meta_train.success
    if res.sdp_X is not None:
        arrays["sdp_X"] = res.sdp_X
    for g, outcome in enumerate(res.groups):
        arrays[f"group{g}_steps"] = outcome.train.steps
        arrays[f"group{g}_returns"] = outcome.train.returns
    arrays = {k: np.ma.masked_invalid(v) if np.issubdtype(np.asarray(v).dtype, np.floating) else v
              for k, v in arrays.items()}  # NaN means "no value" (no finished episode, task not in subset)
    return summary_metrics(res), arrays
