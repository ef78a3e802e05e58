"""The results store: finished experiment results, resumable stages and their provenance.

Layout (relative to the repository root, or to ``$PGX_RESULTS`` / ``$PGX_RUNS``)::

    results/<profile>/<experiment>/<key>/result.json   metrics + metadata (strict JSON)
    results/<profile>/<experiment>/<key>/arrays.npz    named numpy arrays (optional)
    runs/<profile>/<experiment>/<key>/<stage>.pt       resumable intermediate stages (git-ignored)

``<key>`` is ``<family>-seed<seed>``, followed by a short hash of the experiment parameters that
differ from the experiment's defaults, if any. Every result carries a code fingerprint: a sha256
over the experiment module and the pgxlib modules it imports. A stored result whose fingerprint
differs from the current code is *stale*: it is still loaded, but flagged, never passed off as current.

Writes are atomic: a result is written into a hidden temporary directory beside its target and
renamed into place, so an interrupted run leaves no half result. Each result carries the SHA-256 of its
files (``checksums.json``, `pgxlib.store.checksums`) and is checked against its schema
(`pgxlib.store.schema`) when written and when read.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import uuid
import zipfile
import zlib
from dataclasses import dataclass, is_dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from pgxlib.store.checksums import seal, sealed_problem
from pgxlib.store.schema import SchemaError, check_document

PACKAGE_DIR = Path(__file__).resolve().parents[1]
RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"
MASK_SUFFIX = "__mask"


class ResultError(ValueError):
    """A result cannot be stored or read (NaN/inf, a non-JSON value, a malformed file)."""


class CorruptResult(ResultError):
    """A stored result that fails its digest or its schema: `path` (the result directory), `detail` (the file and
    the field or the fault). `str()` ends with the generic fix; readers that know the command name it instead."""

    def __init__(self, path: Path, detail: str, fix: str = "rerun with --force to recompute it"):
        self.path, self.detail = Path(path), detail
        super().__init__(f"stored result {path} is corrupt: {detail}; {fix}")

    def with_fix(self, fix: str) -> "CorruptResult":
        return CorruptResult(self.path, self.detail, fix)


# ---------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------

def repo_root() -> Path:
    """The repository holding this package (an editable install), else the current directory."""
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").exists() and (candidate / "notebooks").is_dir():
        return candidate
    return Path.cwd()


def results_root() -> Path:
    """Where results are stored: ``$PGX_RESULTS`` or ``<repo>/results``."""
    env = os.environ.get("PGX_RESULTS")
    return Path(env).resolve() if env else repo_root() / "results"


def runs_root() -> Path:
    """Where stage caches and executed notebooks go: ``$PGX_RUNS`` or ``<repo>/runs``."""
    env = os.environ.get("PGX_RUNS")
    return Path(env).resolve() if env else repo_root() / "runs"


def canonical(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` as they will read back from JSON (tuples become lists); raises on non-JSON values."""
    try:
        return json.loads(json.dumps(dict(params), sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ResultError(f"parameters must be JSON values (numbers, strings, None, lists, dicts): {err}") from None


def result_key(family: str, seed: int, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """``<family>-seed<seed>``, plus an 8-hex hash of the parameters that differ from `defaults`."""
    params, defaults = canonical(params), canonical(defaults)
    changed = {k: v for k, v in params.items() if k not in defaults or defaults[k] != v}
    key = f"{family}-seed{seed}"
    if changed:
        digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:8]
        key += f"-{digest}"
    return key


def result_dir(profile: str, experiment: str, key: str) -> Path:
    """The directory of one stored result."""
    return results_root() / profile / experiment / key


def stage_dir(profile: str, experiment: str, key: str) -> Path:
    """The directory of one run's resumable stages."""
    return runs_root() / profile / experiment / key


# ---------------------------------------------------------------------------------------------
# Validation: strict JSON, finite numbers
# ---------------------------------------------------------------------------------------------

def flatten_config(config: Any, prefix: str = "") -> dict[str, Any]:
    """A config (dataclass or nested dict) as ``{"dotted.path": value}``."""
    if is_dataclass(config) and not isinstance(config, type):
        config = {f: getattr(config, f) for f in config.__dataclass_fields__}
    if not isinstance(config, Mapping):
        return {prefix.rstrip("."): config} if prefix else {"value": config}
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) or (is_dataclass(value) and not isinstance(value, type)):
            out.update(flatten_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def to_json(value: Any, where: str = "metrics") -> Any:
    """`value` as plain JSON types; numpy scalars and arrays become numbers and lists.

    Raises `ResultError` naming the path of the first NaN/inf or non-JSON value.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ResultError(f"{where} is {float(value)}: NaN and inf are not stored (use None for 'no value')")
        return float(value)
    if isinstance(value, np.ndarray):
        return to_json(value.tolist(), where)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ResultError(f"{where} has a non-string key {k!r}")
            out[k] = to_json(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if is_dataclass(value) and not isinstance(value, type):
        return to_json(flatten_config(value), where)
    raise ResultError(f"{where} has a value of type {type(value).__name__}, which is not JSON")


def _check_arrays(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Arrays ready for `np.savez`: finite, numeric, names that are identifiers.

    A `numpy.ma.MaskedArray` may hold NaN where it is masked; it is stored as data and mask.
    """
    out: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name.endswith(MASK_SUFFIX):
            raise ResultError(f"array name {name!r} must be an identifier not ending in {MASK_SUFFIX}")
        mask = np.ma.getmaskarray(value) if isinstance(value, np.ma.MaskedArray) else None
        arr = np.asarray(np.ma.getdata(value))
        if arr.dtype == object or arr.dtype.kind not in "biufc":
            raise ResultError(f"arrays.{name} has dtype {arr.dtype}; only numeric arrays are stored")
        visible = arr[~mask] if mask is not None else arr
        bad = int(np.size(visible) - np.count_nonzero(np.isfinite(visible)))
        if bad:
            raise ResultError(f"arrays.{name} has {bad} NaN/inf values; they are not stored "
                              "(mask them with numpy.ma.masked_invalid if they mean 'no value')")
        if mask is not None:
            out[name] = np.where(mask, np.zeros((), arr.dtype), arr)
            out[name + MASK_SUFFIX] = mask
        else:
            out[name] = arr
    return out


def _strict_json_loads(text: str) -> Any:
    def refuse(token: str):
        raise ResultError(f"stored JSON contains {token}, which strict JSON does not allow")
    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------

_MISSING = object()


def lookup(tree: Any, key: str | Sequence[str]) -> Any:
    """The value at dotted `key` (or a sequence of parts) in nested dicts/lists; KeyError if absent."""
    parts = key.split(".") if isinstance(key, str) else list(key)
    node = tree
    for i, part in enumerate(parts):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and str(part).lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(f"{'.'.join(map(str, parts[: i + 1]))} is not in the result")
    return node


@dataclass(frozen=True)
class Result:
    """A stored experiment result.

    `metrics` is the JSON summary, `arrays` the named numpy arrays, `meta` the provenance
    (parameters, config, seeds, versions, git commit, stage times, device, timestamp, fingerprint).
    `stale` is True when the code that produced it differs from the current code; `fresh` is True
    when it was computed in this call rather than loaded.
    """

    metrics: dict[str, Any]
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    path: Path
    stale: bool = False
    fresh: bool = False

    def get(self, key: str | Sequence[str], default: Any = _MISSING) -> Any:
        """The value at a dotted key such as ``"metrics.groups"`` or ``"arrays.sdp_X"``."""
        try:
            return lookup({"metrics": self.metrics, "arrays": self.arrays, "meta": self.meta}, key)
        except KeyError:
            if default is _MISSING:
                raise
            return default

    def has(self, key: str | Sequence[str]) -> bool:
        """Whether the dotted `key` is present."""
        try:
            self.get(key)
        except KeyError:
            return False
        return True

    @property
    def commit(self) -> str | None:
        return (self.meta.get("git") or {}).get("commit")

    @property
    def timestamp(self) -> str | None:
        return self.meta.get("timestamp")


def write_result(path: Path, metrics: Mapping[str, Any], arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Store a result at `path` atomically (temporary directory, then rename); returns `path`.

    Refuses NaN/inf in `metrics`, `meta` or `arrays` before anything is written. An existing result at
    `path` is replaced: it is moved aside, the new one is renamed in, and the old one is deleted.
    """
    document = {"metrics": to_json(metrics, "metrics"), "meta": to_json(meta, "meta")}
    try:
        check_document(document)
    except SchemaError as err:
        raise ResultError(f"result for {path} not stored: {err}") from None
    text = json.dumps(document, indent=1, allow_nan=False)
    clean_arrays = _check_arrays(arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    old = path.parent / f".old-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        (tmp / RESULT_FILE).write_text(text, encoding="utf-8")
        if clean_arrays:
            with open(tmp / ARRAYS_FILE, "wb") as fh:
                np.savez_compressed(fh, **clean_arrays)
        seal(tmp, (RESULT_FILE, ARRAYS_FILE))
        _fsync_dir(tmp)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def _fsync_dir(directory: Path) -> None:
    for item in directory.iterdir():
        with open(item, "rb") as fh:
            os.fsync(fh.fileno())


def read_result(path: Path, fingerprint: str | None = None) -> Result:
    """Load the result stored at `path`; it is stale when its fingerprint differs from `fingerprint`.

    Each file is checked against its recorded digest (none recorded: a legacy result, read as before), then the
    document against the schema (`pgxlib.store.schema`); a failure is a `CorruptResult` naming the file and the
    fault or field."""
    for name in (RESULT_FILE, ARRAYS_FILE):
        problem = sealed_problem(path, name)
        if problem is not None:
            raise CorruptResult(path, f"{name} {problem}")
    try:
        document = _strict_json_loads((path / RESULT_FILE).read_text(encoding="utf-8"))
    except ResultError as err:
        raise CorruptResult(path, f"{RESULT_FILE}: {err}") from None
    except (OSError, ValueError) as err:
        raise CorruptResult(path, f"{RESULT_FILE} cannot be read ({type(err).__name__})") from None
    try:
        check_document(document)
    except SchemaError as err:
        raise CorruptResult(path, f"{RESULT_FILE}: {err}") from None
    arrays: dict[str, np.ndarray] = {}
    if (path / ARRAYS_FILE).exists():
        try:
            with np.load(path / ARRAYS_FILE, allow_pickle=False) as npz:
                raw = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, zlib.error) as err:
            raise CorruptResult(path, f"{ARRAYS_FILE} cannot be read ({type(err).__name__})") from None
        for name, arr in raw.items():
            if name.endswith(MASK_SUFFIX):
                continue
            mask = raw.get(name + MASK_SUFFIX)
            arrays[name] = np.ma.MaskedArray(arr, mask=mask) if mask is not None else arr
    meta = document["meta"]
    stored = (meta.get("fingerprint") or {}).get("sha256")
    stale = fingerprint is not None and stored != fingerprint
    return Result(metrics=document["metrics"], arrays=arrays, meta=meta, path=path, stale=stale, fresh=False)


def stored_results(profile: str, experiment: str) -> list[Path]:
    """Directories of every stored result of `experiment` under `profile` (hidden ones skipped)."""
    base = results_root() / profile / experiment
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if not p.name.startswith(".") and (p / RESULT_FILE).exists())
