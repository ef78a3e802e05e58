"""Stage caches: one protocol (`StageStore`), three implementations.

`StageCache` stores stages on disk (atomic writes, `torch.load(weights_only=True)`), so an
interrupted run resumes; `MemoryCache` remembers within the process; `StageView` renames the
stages of a parent cache so that several runs share one cache. Within a long stage, a training run
keeps a `Checkpoint` (``StageCache.checkpoint(stage, part)``), saved at most every
``$PGX_CHECKPOINT_MINUTES`` minutes (default 10) and deleted once the stage is stored."""
from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import pickle
import re
import shutil
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import torch

from pgxlib.store.results import ResultError


class StageStore(Protocol):
    """What every stage cache offers the pipeline.

    `get_or_compute(stage, fn)` returns the value of `stage` (a dict of tensors and plain values),
    computing it with `fn()` only when it is not stored; `times[stage]` is the wall time the stage
    took when it was computed; `resumed[stage]` is set when the value was loaded instead.
    """

    times: dict[str, float]
    resumed: dict[str, float]

    def get_or_compute(self, stage: str, fn: Callable[[], dict]) -> dict: ...


UNREADABLE = (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError, ValueError)
"""What `torch.load` raises on a truncated or corrupt file."""

_ALLOWED_LEAVES = (bool, int, float, str, type(None))


def _check_stage_value(value: Any, where: str) -> None:
    """Only tensors, numbers, strings, None, lists/tuples and str-keyed dicts of those are cached."""

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


def checkpoint_seconds() -> float:
    """Seconds between checkpoints: ``$PGX_CHECKPOINT_MINUTES`` (default 10) times 60."""
    text = os.environ.get("PGX_CHECKPOINT_MINUTES", "10")
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if not minutes >= 0:
        raise ResultError(f"invalid PGX_CHECKPOINT_MINUTES={text!r}: allowed a number of minutes >= 0")
    return 60.0 * minutes


class Checkpoint:
    """The state of one long training run, in one file written atomically (`pgxlib.rl.ppo.Checkpoint`).

    `due()` is True once `every` seconds have passed since the last save (or since creation);
    `load()` returns the saved state (``torch.load(weights_only=True)``) or None."""

    def __init__(self, path: Path, every: float):
        self.path, self.every = Path(path), float(every)
        self._last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            return torch.load(self.path, weights_only=True)
        except UNREADABLE as err:
            raise ResultError(f"checkpoint {self.path} is unreadable ({type(err).__name__}); "
                              "rerun with --force to start over") from None

    def save(self, state: dict) -> None:
        _atomic_save(self.path, state)
        self._last = time.monotonic()


def _atomic_save(path: Path, payload: Any) -> None:
    """`torch.save` to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class StageCache:
    """Resumable intermediate stages of one run, one ``<stage>.pt`` file each under `root`.

    `get_or_compute(stage, fn)` returns the stored value of `stage` if there is one, else calls `fn`,
    saves its value atomically and returns it. Values load with ``torch.load(weights_only=True)``,
    so nothing but tensors and plain containers is ever unpickled. `times[stage]` is the wall time
    the stage took when it was computed (also when it is resumed from disk); `resumed` names the
    stages that were on disk before this process first asked for them (a value is read from disk
    once per process and then kept in memory). When `fingerprint` is given and differs from the one the
    cache was written with, the cache is cleared: stages of other code are not resumed.
    """

    def __init__(self, root: str | os.PathLike, fingerprint: str | None = None):
        self.root = Path(root)
        self.times: dict[str, float] = {}
        self.resumed: dict[str, float] = {}
        self._values: dict[str, dict] = {}
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

        if stage in self._values:
            return self._values[stage]
        path = self.path(stage)
        if not path.exists():
            with self._lock(stage):  # another process computing the same stage: wait for it, then load
                return self._load_or_compute(stage, path, fn)
        return self._load_or_compute(stage, path, fn)

    @contextlib.contextmanager
    def _lock(self, stage: str):
        """An exclusive lock on `stage` across processes (``locks/<stage>.lock``, released on exit or death)."""
        lock = self.root / "locks" / f"{stage}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _load_or_compute(self, stage: str, path: Path, fn: Callable[[], dict]) -> dict:
        if path.exists():
            try:
                payload = torch.load(path, weights_only=True)
            except UNREADABLE as err:
                raise ResultError(f"stage file {path} is unreadable ({type(err).__name__}); "
                                  "rerun with --force to recompute it") from None
            self.times[stage] = float(payload["seconds"])
            self.resumed[stage] = float(payload["seconds"])
            self._values[stage] = payload["value"]
            return payload["value"]
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
        _check_stage_value(value, stage)
        self._save(path, {"value": value, "seconds": seconds})
        for done in self.root.glob(f"checkpoints/{glob.escape(stage)}.*.pt"):
            done.unlink(missing_ok=True)
        self.times[stage] = seconds
        self._values[stage] = value
        return value

    def checkpoint(self, stage: str, part: str) -> Checkpoint:
        """The checkpoint of training run `part` inside `stage` (``checkpoints/<stage>.<part>.pt``)."""
        self.path(f"{stage}.{part}")  # checks the name
        self._stamp()
        return Checkpoint(self.root / "checkpoints" / f"{stage}.{part}.pt", checkpoint_seconds())

    def _stamp(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.fingerprint is not None:
            (self.root / "fingerprint.txt").write_text(self.fingerprint + "\n")

    def _save(self, path: Path, payload: dict) -> None:
        self._stamp()
        _atomic_save(path, payload)

    def clear(self) -> None:
        """Forget every stored stage of this run."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.times.clear()
        self.resumed.clear()
        self._values.clear()

    def verify(self) -> None:
        """Raise `ResultError` (one line, naming the file and `--force`) when a stored stage is not a
        complete file; cheap: reads each file's directory, not its tensors."""
        for stage in self.stages():
            path = self.path(stage)
            try:
                with zipfile.ZipFile(path) as archive:
                    archive.namelist()
            except (zipfile.BadZipFile, OSError) as err:
                raise ResultError(f"stage file {path} is unreadable ({type(err).__name__}); "
                                  "rerun with --force to recompute it") from None

    def stages(self) -> list[str]:
        """Names of the stages stored on disk."""
        return sorted(p.stem for p in self.root.glob("*.pt")) if self.root.is_dir() else []


class StageView:
    """A view of a stage cache that renames stages: ``get_or_compute(stage)`` goes to the parent as
    ``rename.get(stage, prefix + stage)``. Lets `run_policygradex` run several times (seeds, knob
    values) in one experiment cache while sharing the stages that do not change (``rename``)."""

    def __init__(self, parent, prefix: str = "", rename: Mapping[str, str] | None = None):
        self.parent = parent
        self.prefix = prefix
        self.rename = dict(rename or {})
        self.times: dict[str, float] = {}
        self.resumed: dict[str, float] = {}

    def name(self, stage: str) -> str:
        return self.rename.get(stage, self.prefix + stage)

    def checkpoint(self, stage: str, part: str):
        """The parent's checkpoint of `part` inside `stage` (renamed like the stage); None without one."""
        make = getattr(self.parent, "checkpoint", None)
        return None if make is None else make(self.name(stage), part)

    def get_or_compute(self, stage: str, fn: Callable[[], dict]) -> dict:
        name = self.name(stage)
        value = self.parent.get_or_compute(name, fn)
        self.times[stage] = self.parent.times.get(name, float("nan"))
        if name in self.parent.resumed:
            self.resumed[stage] = self.parent.resumed[name]
        return value


class MemoryCache:
    """A stage cache that only remembers within the process (used when no store is given)."""

    def __init__(self):
        self.values: dict[str, dict] = {}
        self.times: dict[str, float] = {}
        self.resumed: dict[str, float] = {}

    def checkpoint(self, stage: str, part: str) -> None:
        """No checkpoints: nothing outlives the process."""
        return None

    def get_or_compute(self, stage: str, fn: Callable[[], dict]) -> dict:
        if stage not in self.values:
            start = time.perf_counter()
            self.values[stage] = fn()
            self.times[stage] = time.perf_counter() - start
        return self.values[stage]
