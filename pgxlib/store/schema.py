"""The schema of a stored result, checked when it is written and when it is read.

A ``result.json`` is an object with ``metrics`` and ``meta``, both objects. In ``meta``, the fields the
store writes have fixed types (`META_FIELDS`). In ``metrics``, every leaf is a finite number or None,
except under the names that hold labels (`TEXT_FIELDS`: strings allowed) or flags (`FLAG_FIELDS`: bools
allowed); the name is the last object key on the leaf's path. A bool is never taken for a number.
A violation is one line naming the field (`SchemaError`).
"""
from __future__ import annotations

import math
from typing import Any, Callable

TEXT_FIELDS = frozenset({
    "arch", "assign", "default_score", "env_id", "estimate", "evaluator", "families", "family", "footing",
    "group_arch", "label", "layers", "m_rule", "matching_definition", "mt10_names", "name", "normalization", "note",
    "notes", "param_names", "per_seed_picks", "pick", "projection", "protocol", "reference", "references",
    "result_dir", "reward_function_version", "score", "scores", "stages", "status", "targets", "task_names",
    "task_select", "tasks", "text", "timestamp", "truth", "values"})
"""Metric names whose leaves may be strings (labels, method names, task names)."""
FLAG_FIELDS = frozenset({"above_ceiling", "flips_with_seed", "has_design_groups", "peak_reset_per_stage", "stale",
                         "terminate_on_success", "train_sweeps", "use_one_hot"})
"""Metric names whose leaves may be bools."""


class SchemaError(ValueError):
    """A stored result whose structure or types are not the store's (one line naming the field)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite_number(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _of(kind: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, kind)


def _numbers_by_name(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and _finite_number(v) for k, v in value.items())


META_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "experiment": (_of(str), "a string"),
    "key": (_of(str), "a string"),
    "parameters": (_of(dict), "an object"),
    "config": (_of(dict), "an object"),
    "seeds": (_of(dict), "an object"),
    "versions": (_of(dict), "an object"),
    "git": (_of(dict), "an object"),
    "device": (_of(dict), "an object"),
    "fingerprint": (_of(dict), "an object"),
    "timestamp": (_of(str), "a string"),
    "total_time": (_finite_number, "a finite number"),
    "stage_times": (_numbers_by_name, "an object of finite numbers"),
    "resumed_stages": (lambda v: isinstance(v, (list, dict)), "a list"),
}
"""Types of the provenance fields, each checked when present."""

PARAMETER_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "profile": (_of(str), "a string"),
    "family": (_of(str), "a string"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "params": (_of(dict), "an object"),
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a bool ({str(value).lower()})"
    if _is_number(value):
        return f"{value!r}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:39] + '…'}"


def _check_fields(tree: dict, fields: dict, where: str) -> None:
    for name, (valid, kind) in fields.items():
        if name in tree and not valid(tree[name]):
            raise SchemaError(f"{where}.{name} is {_describe(tree[name])}; expected {kind}")


def _check_metric(value: Any, where: str, name: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_metric(item, f"{where}.{key}", key if not _is_numeric_key(key) else name)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_metric(item, f"{where}[{i}]", name)
        return
    if value is None or _finite_number(value):
        return
    if isinstance(value, str) and name in TEXT_FIELDS:
        return
    if isinstance(value, bool) and name in FLAG_FIELDS:
        return
    expected = "a finite number or null" if name not in FLAG_FIELDS else "a bool or null"
    raise SchemaError(f"{where} is {_describe(value)}; expected {expected}")


def _is_numeric_key(key: str) -> bool:
    """Keys that are values of a knob (``"0.001"``, ``"8"``) rather than names."""
    try:
        float(key)
    except ValueError:
        return False
    return True


def check_document(document: Any) -> None:
    """Raise `SchemaError` (naming the field) unless `document` is a result in the store's schema."""
    if not isinstance(document, dict):
        raise SchemaError(f"the document is {_describe(document)}; expected an object with metrics and meta")
    for part in ("metrics", "meta"):
        if part not in document:
            raise SchemaError(f"{part} is missing")
        if not isinstance(document[part], dict):
            raise SchemaError(f"{part} is {_describe(document[part])}; expected an object")
    meta = document["meta"]
    _check_fields(meta, META_FIELDS, "meta")
    if isinstance(meta.get("parameters"), dict):
        _check_fields(meta["parameters"], PARAMETER_FIELDS, "meta.parameters")
    if isinstance(meta.get("fingerprint"), dict) and "sha256" in meta["fingerprint"] \
            and not isinstance(meta["fingerprint"]["sha256"], str):
        raise SchemaError(f"meta.fingerprint.sha256 is {_describe(meta['fingerprint']['sha256'])}; expected a string")
    _check_metric(document["metrics"], "metrics", "metrics")
