"""`pgx group`: PolicyGradEx on one task family, stored as a result (no notebook of its own)."""
from __future__ import annotations

from typing import Any

from ..config import pipeline_config
from ..pipeline import result_payload, run_policygradex

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
