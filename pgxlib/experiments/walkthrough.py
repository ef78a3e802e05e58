"""The walkthrough chapter: the whole PolicyGradEx pipeline once on a small family, every stage kept."""
from __future__ import annotations

from typing import Any

from ..config import pipeline_config
from ..pipeline import result_payload, run_policygradex

PARAMETERS: dict[str, Any] = {"k": None}
EXPECTED_KEYS = ("metrics.groups", "metrics.labels", "metrics.affinity", "metrics.meta_return",
                 "metrics.random_return", "metrics.group_return", "arrays.meta_returns", "arrays.sdp_X")


def config(profile: str, family: str, seed: int, k: int | None = None):
    return pipeline_config(profile, family, seed=seed, **({} if k is None else {"k": k}))


def check(profile: str, family: str, seed: int, **params) -> None:
    config(profile, family, seed, **params)


def compute(profile: str, family: str, seed: int, cache, **params) -> dict:
    cfg = config(profile, family, seed, **params)
    res = run_policygradex(cfg, cache=cache)
    metrics, arrays = result_payload(res)
    return {"metrics": metrics, "arrays": arrays, "stage_times": res.stage_times, "config": cfg}
