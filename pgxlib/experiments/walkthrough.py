"""The walkthrough chapter: the whole PolicyGradEx pipeline once on a small family, every stage kept.

It computes exactly what `pgx group` computes (`experiments.group`), with `k` as its only knob.
"""
from __future__ import annotations

from typing import Any

from pgxlib.experiments import group

PARAMETERS: dict[str, Any] = {"k": None}
EXPECTED_KEYS = ("metrics.groups", "metrics.labels", "metrics.affinity", "metrics.meta_return",
                 "metrics.random_return", "metrics.group_return", "arrays.meta_returns", "arrays.sdp_X")


def check(profile: str, family: str, seed: int, **params) -> None:
    group.check(profile, family, seed, **params)


def compute(profile: str, family: str, seed: int, cache, **params) -> dict:
    return group.compute(profile, family, seed, cache, **params)
