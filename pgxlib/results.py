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
renamed into place, so an interrupted run leaves no half result.
"""
from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, is_dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent
RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"
MASK_SUFFIX = "__mask"
VERSIONED_PACKAGES = ("torch", "numpy", "gymnasium", "highway-env", "metaworld", "cvxpy", "scikit-learn", "pgxlib")
FINGERPRINT_EXCLUDED = ("pgxlib.cli", "pgxlib.results", "pgxlib.book", "pgxlib.scorecard", "pgxlib.paper",
                        "pgxlib.experiments")


class ResultError(ValueError):
    """A result cannot be stored or read (NaN/inf, a non-JSON value, a malformed file)."""


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
# Code fingerprint
# ---------------------------------------------------------------------------------------------

def _module_file(module: str) -> Path | None:
    """The source file of a pgxlib module name, or None when it is not one."""
    parts = module.split(".")
    if parts[0] != "pgxlib":
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = ["pgxlib", *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    """pgxlib modules named by the import statements of one file (anywhere in it, lazy ones too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _module_file(sub) is not None else base)
    return {m for m in found if m.startswith("pgxlib") and _module_file(m) is not None}


def _expand(module: str) -> list[Path]:
    """The files a module stands for: a package (other than pgxlib itself) brings all its modules,
    since packages such as `pgxlib.tasks` load their members dynamically."""
    path = _module_file(module)
    if path is None or module in FINGERPRINT_EXCLUDED:
        return []
    if path.name == "__init__.py" and module != "pgxlib":
        return sorted(p for p in path.parent.rglob("*.py") if _module_name(p) not in FINGERPRINT_EXCLUDED)
    return [path]


def code_files(module: str) -> list[Path]:
    """The experiment module `module` and every pgxlib source file it imports, transitively."""
    start = _module_file(module)
    if start is None:
        raise ResultError(f"no pgxlib source file for module {module!r}")
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path):
            todo.extend(p for p in _expand(name) if p not in seen)
    return sorted(seen)


def code_fingerprint(module: str) -> dict[str, Any]:
    """``{"sha256": ..., "files": [...]}`` over the sources that `code_files(module)` lists."""
    digest = hashlib.sha256()
    files = code_files(module)
    for path in files:
        digest.update(str(path.relative_to(PACKAGE_DIR.parent).as_posix()).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return {"sha256": digest.hexdigest(), "files": [p.relative_to(PACKAGE_DIR.parent).as_posix() for p in files]}


# ---------------------------------------------------------------------------------------------
# Provenance metadata
# ---------------------------------------------------------------------------------------------

def package_versions() -> dict[str, str | None]:
    """Versions of Python and the packages a result depends on (None when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """The commit of the working tree and whether it has uncommitted changes (outside results/runs)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--", ".", ":(exclude)results", ":(exclude)runs")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict[str, Any]:
    """CPU model, core count, the torch device results were computed on and the GPU, if any."""
    import torch

    cuda = torch.cuda.is_available()
    return {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "torch_device": "cuda" if cuda else "cpu",
            "gpu": torch.cuda.get_device_name(0) if cuda else None, "platform": platform.platform()}


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


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# Validation: strict JSON, finite numbers
# ---------------------------------------------------------------------------------------------

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


def build_meta(experiment: str, profile: str, family: str, seed: int, params: Mapping[str, Any],
               key: str, config: Any, stage_times: Mapping[str, float], total_time: float,
               fingerprint: Mapping[str, Any], resumed: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The provenance block stored with every result."""
    flat = to_json(flatten_config(config if config is not None else {}), "config")
    seeds = {"seed": seed, **{k: v for k, v in flat.items() if k.rsplit(".", 1)[-1] == "seed" and k != "seed"}}
    return {
        "experiment": experiment,
        "key": key,
        "parameters": {"profile": profile, "family": family, "seed": seed, "params": canonical(params)},
        "config": flat,
        "seeds": seeds,
        "versions": package_versions(),
        "git": git_state(),
        "stage_times": {k: float(v) for k, v in stage_times.items()},
        "resumed_stages": sorted(resumed or {}),
        "total_time": float(total_time),
        "device": device_info(),
        "timestamp": utc_now(),
        "fingerprint": dict(fingerprint),
    }


def write_result(path: Path, metrics: Mapping[str, Any], arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Store a result at `path` atomically (temporary directory, then rename); returns `path`.

    Refuses NaN/inf in `metrics`, `meta` or `arrays` before anything is written. An existing result at
    `path` is replaced: it is moved aside, the new one is renamed in, and the old one is deleted.
    """
    document = {"metrics": to_json(metrics, "metrics"), "meta": to_json(meta, "meta")}
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
    """Load the result stored at `path`; it is stale when its fingerprint differs from `fingerprint`."""
    try:
        document = _strict_json_loads((path / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ResultError(f"cannot read {path / RESULT_FILE}: {err}") from None
    arrays: dict[str, np.ndarray] = {}
    if (path / ARRAYS_FILE).exists():
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as npz:
            raw = {name: npz[name] for name in npz.files}
        for name, arr in raw.items():
            if name.endswith(MASK_SUFFIX):
                continue
            mask = raw.get(name + MASK_SUFFIX)
            arrays[name] = np.ma.MaskedArray(arr, mask=mask) if mask is not None else arr
    meta = document.get("meta", {})
    stored = (meta.get("fingerprint") or {}).get("sha256")
    stale = fingerprint is not None and stored != fingerprint
    return Result(metrics=document.get("metrics", {}), arrays=arrays, meta=meta, path=path, stale=stale, fresh=False)


def stored_results(profile: str, experiment: str) -> list[Path]:
    """Directories of every stored result of `experiment` under `profile` (hidden ones skipped)."""
    base = results_root() / profile / experiment
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if not p.name.startswith(".") and (p / RESULT_FILE).exists())


# ---------------------------------------------------------------------------------------------
# Resumable stages
# ---------------------------------------------------------------------------------------------

_ALLOWED_LEAVES = (bool, int, float, str, type(None))


def _check_stage_value(value: Any, where: str) -> None:
    """Only tensors, numbers, strings, None, lists/tuples and str-keyed dicts of those are cached."""
    import torch

    if isinstance(value, (torch.Tensor, *_ALLOWED_LEAVES)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_stage_value(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ResultError(f"stage value {where} has a non-string key {k!r}")
            _check_stage_value(v, f"{where}.{k}")
        return
    raise ResultError(f"stage value {where} is a {type(value).__name__}; cache tensors, numbers, strings, "
                      "lists and dicts only (they load with torch.load(weights_only=True))")


class StageCache:
    """Resumable intermediate stages of one run, one ``<stage>.pt`` file each under `root`.

    `get_or_compute(stage, fn)` returns the stored value of `stage` if there is one, else calls `fn`,
    saves its value atomically and returns it. Values load with ``torch.load(weights_only=True)``,
    so nothing but tensors and plain containers is ever unpickled. `times[stage]` is the wall time
    the stage took when it was computed (also when it is resumed from disk); `resumed` names the
    stages loaded from disk in this process. When `fingerprint` is given and differs from the one the
    cache was written with, the cache is cleared: stages of other code are not resumed.
    """

    def __init__(self, root: str | os.PathLike, fingerprint: str | None = None):
        self.root = Path(root)
        self.times: dict[str, float] = {}
        self.resumed: dict[str, float] = {}
        self.fingerprint = fingerprint
        stamp = self.root / "fingerprint.txt"
        if fingerprint is not None and stamp.exists() and stamp.read_text().strip() != fingerprint:
            self.clear()

    def path(self, stage: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", stage) or stage.startswith("."):
            raise ResultError(f"invalid stage name {stage!r}: use letters, digits, '_', '-', '.'")
        return self.root / f"{stage}.pt"

    def __contains__(self, stage: str) -> bool:
        return self.path(stage).exists()

    def get_or_compute(self, stage: str, fn: Callable[[], dict]) -> dict:
        """The value of `stage`: loaded if stored, else computed by `fn()` and stored."""
        import torch

        path = self.path(stage)
        if path.exists():
            payload = torch.load(path, weights_only=True)
            self.times[stage] = float(payload["seconds"])
            self.resumed[stage] = float(payload["seconds"])
            return payload["value"]
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
        _check_stage_value(value, stage)
        self._save(path, {"value": value, "seconds": seconds})
        self.times[stage] = seconds
        return value

    def _save(self, path: Path, payload: dict) -> None:
        import torch

        self.root.mkdir(parents=True, exist_ok=True)
        if self.fingerprint is not None:
            (self.root / "fingerprint.txt").write_text(self.fingerprint + "\n")
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            torch.save(payload, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def clear(self) -> None:
        """Forget every stored stage of this run."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.times.clear()
        self.resumed.clear()

    def stages(self) -> list[str]:
        """Names of the stages stored on disk."""
        return sorted(p.stem for p in self.root.glob("*.pt")) if self.root.is_dir() else []


# ---------------------------------------------------------------------------------------------
# Provenance for chapters
# ---------------------------------------------------------------------------------------------

def _short(commit: str | None) -> str:
    return commit[:10] if commit else "unknown"


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return path.name


def provenance_markdown(result: Result) -> str:
    """MyST markdown naming the commit, time, profile, device and wall time of `result`.

    A stale result gets a warning admonition: the code changed since the commit that produced it.
    """
    meta = result.meta
    git = meta.get("git") or {}
    params = meta.get("parameters") or {}
    device = meta.get("device") or {}
    commit = _short(git.get("commit")) + (" (with uncommitted changes)" if git.get("dirty") else "")
    where = "computed in this run" if result.fresh else "loaded from the store"
    line = (f"Result `{_display_path(result.path)}` ({where}): commit `{commit}`, {meta.get('timestamp', '?')}, "
            f"profile `{params.get('profile', '?')}`, {device.get('torch_device', '?')} on "
            f"{device.get('gpu') or device.get('cpu', '?')}, {meta.get('total_time', float('nan')):.1f} s.")
    if not result.stale:
        return line
    return (f"{line}\n\n```{{warning}}\nStale result: the code of this experiment changed after commit "
            f"`{_short(git.get('commit'))}` produced it ({meta.get('timestamp', '?')}). The numbers below are "
            f"from that older code. Recompute with `--force` (or `force = True`).\n```\n")


def show_provenance(result: Result) -> None:
    """Display `provenance_markdown(result)` in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(provenance_markdown(result)))
