"""Experiments: one module per notebook, and `run_experiment`, which caches their results.

An experiment module ``pgxlib/experiments/<name>.py`` exposes

- ``PARAMETERS: dict[str, Any]``: its own knobs and their defaults, beyond profile, family and seed;
- ``EXPECTED_KEYS: tuple[str, ...]``: dotted keys a finished result must have (``"metrics.groups"``); a module
  whose result differs by family protocol (`TaskFamily.protocol`) also has ``expected_keys(family)``;
- ``check(profile, family, seed, **params) -> None``: raises `ConfigError` before any computation;
- ``compute(profile, family, seed, cache, **params) -> dict`` with ``"metrics"`` (JSON-able),
  ``"arrays"`` (name -> ndarray), ``"stage_times"`` (stage -> seconds) and ``"config"`` (a dict or a
  config dataclass); `cache` is a `pgxlib.store.StageCache` for resumable stages.

`run_experiment` validates, then loads the stored result with identical parameters, or computes
and stores it; a stored result's ``meta.protocol`` is its family's protocol (`TaskFamily.protocol`).
"""
from __future__ import annotations

import dataclasses
import shlex
import shutil
import time
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from pgxlib import store
from pgxlib.config import FAMILIES, PROFILES, ConfigError, check_seed
from pgxlib.tasks import protocol_of

EXPERIMENTS = ("walkthrough", "main_results", "ablations", "adaptation", "lambda_sweep", "speedup", "evaluator_rule",
               "scale", "first_order_error", "hessian_bound")
CONTRACT = ("PARAMETERS", "EXPECTED_KEYS", "check", "compute")
RESERVED = ("profile", "family", "seed")
MAX_SEEDS = 20
"""The most seeds one run may take (``-p seeds``): each is a full run of the pipeline."""
MAX_LIST_ITEMS = 64
"""The most items any list parameter may hold (knob values of a sweep, group sizes, ...)."""
_HERE = Path(__file__).resolve().parent


def available() -> tuple[str, ...]:
    """Every experiment name: the book's, then any other module here (such as ``group``)."""
    extra = sorted(p.stem for p in _HERE.glob("*.py") if not p.stem.startswith("_") and p.stem not in EXPERIMENTS)
    return (*EXPERIMENTS, *extra)


def implemented(name: str) -> bool:
    """Whether ``pgxlib/experiments/<name>.py`` exists."""
    return (_HERE / f"{name}.py").exists()


def get(name: str) -> ModuleType:
    """The experiment module `name`; `ConfigError` for an unknown or not yet written one."""
    names = available()
    if name not in names:
        raise ConfigError(f"invalid experiment={name!r}: allowed one of {', '.join(names)}")
    if not implemented(name):
        raise ConfigError(f"invalid experiment={name!r}: not implemented yet "
                          f"(pgxlib/experiments/{name}.py is missing); implemented: "
                          f"{', '.join(n for n in names if implemented(n))}")
    module = import_module(f"{__name__}.{name}")
    missing = [attr for attr in CONTRACT if not hasattr(module, attr)]
    if missing:
        raise ConfigError(f"experiment {name!r} lacks {', '.join(missing)} (see pgxlib.experiments)")
    return module


def _require(cond: bool, name: str, allowed: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"invalid {name}={value!r}: allowed {allowed}")


def resolve(name: str, profile: str, family: str, seed: int = 0, **params: Any) -> tuple[ModuleType, dict[str, Any]]:
    """Validate a request and return the module and its full parameters (defaults filled in).

    Raises `ConfigError` (one line, naming the parameter and its allowed values) before any computation.
    """
    module = get(name)
    _require(profile in PROFILES, "profile", "one of " + ", ".join(PROFILES), profile)
    _require(family in FAMILIES, "family", "one of " + ", ".join(FAMILIES), family)
    check_seed("seed", seed)
    allowed = [*RESERVED, *module.PARAMETERS]
    for key in params:
        if key not in module.PARAMETERS:
            raise ConfigError(f"unknown parameter {key!r} for experiment {name}: allowed {', '.join(allowed)}")
    full = {**module.PARAMETERS, **params}
    _check_list_lengths(params)
    try:
        store.canonical(full)
    except store.ResultError as err:
        raise ConfigError(f"invalid parameters for experiment {name}: {err}") from None
    module.check(profile, family, seed, **full)
    return module, full


def _check_list_lengths(params: dict[str, Any], prefix: str = "") -> None:
    """`ConfigError` for a list parameter longer than its bound (`MAX_SEEDS` for seeds, else `MAX_LIST_ITEMS`),
    before its items are looked at."""
    for key, value in params.items():
        if isinstance(value, dict):
            _check_list_lengths(value, f"{prefix}{key}.")
        elif isinstance(value, (list, tuple)):
            bound = MAX_SEEDS if key == "seeds" else MAX_LIST_ITEMS
            if len(value) > bound:
                raise ConfigError(f"invalid {prefix}{key}: {len(value)} items; allowed at most {bound}")


def result_key(module: ModuleType, family: str, seed: int, params: dict[str, Any]) -> str:
    """The store key of a validated request (see `pgxlib.store.result_key`)."""
    return store.result_key(family, seed, params, module.PARAMETERS)


def _fingerprint(module: ModuleType, profile: str, family: str) -> dict[str, Any]:
    """The code fingerprint of one result: its experiment's code, its family's module, its profile entry (less the
    fields the experiment sets itself, its `PROFILE_FIELDS_IGNORED`)."""
    return store.code_fingerprint(module.__name__, family=family, profile=profile,
                                  ignore=tuple(getattr(module, "PROFILE_FIELDS_IGNORED", ())))


def _matches(result: store.Result, profile: str, family: str, seed: int, params: dict[str, Any]) -> bool:
    wanted = {"profile": profile, "family": family, "seed": seed, "params": store.canonical(params)}
    return result.meta.get("parameters") == wanted


def _with_inputs(module: ModuleType, result: store.Result, profile: str) -> store.Result:
    """`result`, marked stale when it reads other stored results and those changed since (the experiment's
    ``inputs_changed(result, profile)``, for the experiments that define it)."""
    changed = getattr(module, "inputs_changed", None)
    if result.stale or changed is None or not changed(result, profile):
        return result
    return dataclasses.replace(result, stale=True)


def recompute_fix(name: str, profile: str, family: str, seed: int, params: dict[str, Any]) -> str:
    """How to replace a corrupt stored result: the command that computes it, with ``--force``."""
    command = run_command(name, profile, family, seed, **params)
    return f"recompute it with: {command}" + ("" if command.endswith("--force") else " --force")


def _read(path: Path, fingerprint: str | None, name: str, profile: str, family: str, seed: int,
          params: dict[str, Any]) -> store.Result:
    """`store.read_result`, a corrupt result's error naming the command that recomputes it."""
    try:
        return store.read_result(path, fingerprint)
    except store.CorruptResult as err:
        raise err.with_fix(recompute_fix(name, profile, family, seed, params)) from None


def find_result(name: str, profile: str, family: str, seed: int = 0, **params: Any) -> store.Result | None:
    """The stored result for these parameters (stale or not), or None; never computes. A corrupt one raises
    `store.CorruptResult` naming the file, the field or fault, and the command that recomputes it."""
    module, full = resolve(name, profile, family, seed, **params)
    path = store.result_dir(profile, name, result_key(module, family, seed, full))
    if not (path / store.RESULT_FILE).exists():
        return None
    result = _read(path, _fingerprint(module, profile, family)["sha256"], name, profile, family, seed, full)
    return _with_inputs(module, result, profile) if _matches(result, profile, family, seed, full) else None


def drop_stale(name: str, profile: str, family: str, seed: int = 0, **params: Any) -> Path | None:
    """Remove the stored result for these parameters when older code computed it, so that the next run recomputes
    it while resuming the stages an interrupted run of the current code left; its path, or None if none was."""
    stored = find_result(name, profile, family, seed, **params)
    if stored is None or not stored.stale:
        return None
    shutil.rmtree(stored.path)
    return stored.path


def preflight(name: str, profile: str, family: str, seed: int = 0, **params: Any) -> list[str]:
    """Everything a run would read, checked before it starts: the parameters, the stored result (if
    any) and the files of its resumable stages. Raises `ConfigError` or `ResultError`, one line naming
    the parameter or the file and the command that recomputes it. A corrupt stage file is removed (it is
    recomputed); returns one line per removed file."""
    module, full = resolve(name, profile, family, seed, **params)
    key = result_key(module, family, seed, full)
    path = store.result_dir(profile, name, key)
    if (path / store.RESULT_FILE).exists():
        _read(path, None, name, profile, family, seed, full)
    return store.StageCache(store.stage_dir(profile, name, key)).verify()


def run_command(name: str, profile: str, family: str, seed: int = 0, **params: Any) -> str:
    """The command line that computes this result: ``pgx run ...`` (non-default parameters only), or for a grouping
    run the ``pgx group ... --force`` that recomputes it."""
    if name == "group":
        return _group_command(profile, family, seed, **params)
    module = get(name)
    parts = ["pgx", "run", name, "--profile", profile, "-p", "family", family]
    if seed:
        parts += ["-p", "seed", str(seed)]
    for key, value in params.items():
        if module.PARAMETERS.get(key, object()) != value:
            parts += ["-p", key, cli_literal(value)]
    return " ".join(parts)


def _group_command(profile: str, family: str, seed: int = 0, k: int | None = None,
                   overrides: dict[str, Any] | None = None) -> str:
    parts = ["pgx", "group", "--profile", profile, "--family", family]
    if seed:
        parts += ["--seed", str(seed)]
    if k is not None:
        parts += ["--k", str(k)]
    for key, value in (overrides or {}).items():
        parts += ["-p", key, cli_literal(value)]
    return " ".join(parts + ["--force"])


def cli_literal(value: Any) -> str:
    """`value` as one shell word that `pgx`'s ``-p`` parses back: bare when it can be, else quoted."""
    text = value if isinstance(value, str) else repr(value)
    if not any(c in text for c in " []{}(),'\"$`\\"):
        return text
    if "'" not in text:
        return f"'{text}'"
    return f'"{text}"' if not any(c in text for c in '"$`\\') else shlex.quote(text)


def expected_keys(module: ModuleType, family: str) -> tuple[str, ...]:
    """The dotted keys a finished result of `module` on `family` must have."""
    per_family = getattr(module, "expected_keys", None)
    return tuple(module.EXPECTED_KEYS) if per_family is None else tuple(per_family(family))


def run_experiment(name: str, profile: str, family: str, seed: int = 0, force: bool = False,
                   **params: Any) -> store.Result:
    """The result of experiment `name`: loaded when stored with identical parameters, else computed.

    Validates everything first (`ConfigError`). A loaded result whose code fingerprint differs from
    the current code is returned with ``stale=True``. `force` clears the run's stage cache and
    recomputes. The stored result is written atomically; NaN/inf refuse to be stored.
    """
    module, full = resolve(name, profile, family, seed, **params)
    key = result_key(module, family, seed, full)
    path = store.result_dir(profile, name, key)
    fingerprint = _fingerprint(module, profile, family)
    if not force and (path / store.RESULT_FILE).exists():
        result = _read(path, fingerprint["sha256"], name, profile, family, seed, full)
        if _matches(result, profile, family, seed, full):
            return _with_inputs(module, result, profile)
    cache = store.StageCache(store.stage_dir(profile, name, key), fingerprint=fingerprint["sha256"])
    if force:
        cache.clear()
    start = time.perf_counter()
    out = module.compute(profile, family, seed, cache, **full)
    total = time.perf_counter() - start
    missing = [k for k in ("metrics", "arrays", "stage_times", "config") if k not in out]
    if missing:
        raise store.ResultError(f"experiment {name}: compute() returned no {', '.join(missing)}")
    meta = store.to_json(store.build_meta(name, profile, family, seed, full, key, out["config"],
                                          {**cache.times, **out["stage_times"]}, total, fingerprint,
                                          cache.resumed), "meta")
    meta["protocol"] = protocol_of(family)
    result = store.Result(metrics=store.to_json(out["metrics"]), arrays=dict(out["arrays"]), meta=meta, path=path,
                          stale=False, fresh=True)
    absent = [k for k in expected_keys(module, family) if not result.has(k)]
    if absent:
        raise store.ResultError(f"experiment {name}: the result lacks expected keys {', '.join(absent)}")
    store.write_result(path, result.metrics, result.arrays, meta)
    return result
