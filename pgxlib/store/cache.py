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
import socket
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import torch

from pgxlib.store.checksums import digest_problem, record_digest, sidecar
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


def env_number(name: str, default: str, low: float, high: float, allowed: str) -> float:
    """The number in environment variable `name` (`default` when unset), in [`low`, `high`); one-line
    `ResultError` naming the variable and `allowed` otherwise."""
    text = os.environ.get(name, default)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value < high:
        raise ResultError(f"invalid {name}={text[:40]!r}: allowed {allowed}")
    return value


def checkpoint_seconds() -> float:
    """Seconds between checkpoints: ``$PGX_CHECKPOINT_MINUTES`` (default 10) times 60."""
    return 60.0 * env_number("PGX_CHECKPOINT_MINUTES", "10", 0.0, float("inf"), "a number of minutes >= 0")


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
        """The saved state; None when there is none, or when it is corrupt (removed, with one line saying so)."""
        if not self.path.exists():
            return None
        state, problem = _load_checked(self.path)
        if problem is None:
            return state
        _discard(self.path, f"checkpoint {self.path} {problem}: starting that training run over")
        return None

    def save(self, state: dict) -> None:
        _atomic_save(self.path, state)
        self._last = time.monotonic()


def _atomic_save(path: Path, payload: Any) -> None:
    """`torch.save` to a temporary file beside `path`, record its digest, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        torch.save(payload, tmp)
        record_digest(tmp, path)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_checked(path: Path) -> tuple[Any, str | None]:
    """(payload, None) for a file that matches its digest and loads; (None, what is wrong) otherwise."""
    problem = digest_problem(path)
    if problem is not None:
        return None, problem
    try:
        return torch.load(path, weights_only=True), None
    except UNREADABLE as err:
        return None, f"is unreadable ({type(err).__name__})"


def say(line: str) -> None:
    """One line on stderr, for what the store does on its own (recomputing a corrupt file, waiting on a lock)."""
    print(f"pgx: {line}", file=sys.stderr, flush=True)


def _discard(path: Path, line: str) -> None:
    say(line)
    path.unlink(missing_ok=True)
    sidecar(path).unlink(missing_ok=True)


CURRENT_STAGE: list[str] = []
"""The stages this process is computing, innermost last (what an interrupt names)."""


def note_stage(stage: str) -> None:
    """Record that `stage` is being computed: in this process, and in ``$PGX_STAGE_NOTE`` when set (a file that the
    command line reads when a notebook kernel it started is interrupted)."""
    CURRENT_STAGE.append(stage)
    note = os.environ.get("PGX_STAGE_NOTE")
    if note:
        with contextlib.suppress(OSError):
            Path(note).write_text(stage + "\n", encoding="utf-8")


def lock_wait_seconds() -> float:
    """Seconds between the lines a run waiting on another's lock prints: ``$PGX_LOCK_NOTICE_SECONDS`` (default 5)."""
    seconds = env_number("PGX_LOCK_NOTICE_SECONDS", "5", 0.0, 1e6, "a number of seconds > 0")
    if seconds == 0:
        raise ResultError("invalid PGX_LOCK_NOTICE_SECONDS='0': allowed a number of seconds > 0")
    return seconds


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
        with open(lock, "a+") as fh:
            _acquire(fh, stage)
            try:
                fh.seek(0)
                fh.truncate()
                fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}\n")
                fh.flush()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _load_or_compute(self, stage: str, path: Path, fn: Callable[[], dict]) -> dict:
        if path.exists():
            payload, problem = _load_checked(path)
            if problem is None and not (isinstance(payload, dict) and "value" in payload
                                        and isinstance(payload.get("seconds"), float)):
                problem = "is not a stage file (no value and seconds)"
            if problem is None:
                self.times[stage] = payload["seconds"]
                self.resumed[stage] = payload["seconds"]
                self._values[stage] = payload["value"]
                return payload["value"]
            _discard(path, f"stage file {path} {problem}: recomputing it")
        return self._compute(stage, path, fn)

    def _compute(self, stage: str, path: Path, fn: Callable[[], dict]) -> dict:
        note_stage(stage)
        start = time.perf_counter()
        try:
            value = fn()
        except KeyboardInterrupt:
            raise  # the stage stays in CURRENT_STAGE: the interrupt's message names it
        except BaseException:
            CURRENT_STAGE.pop()
            raise
        CURRENT_STAGE.pop()
        seconds = time.perf_counter() - start
        _check_stage_value(value, stage)
        self._save(path, {"value": value, "seconds": seconds})
        for done in self.root.glob(f"checkpoints/{glob.escape(stage)}.*.pt*"):
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

    def verify(self) -> list[str]:
        """Remove every stored stage that fails its digest or is not a complete file, so that it is recomputed;
        returns one line per removed file. Cheap: hashes the files and reads each one's directory, not its tensors."""
        removed = []
        for stage in self.stages():
            path = self.path(stage)
            problem = digest_problem(path)
            if problem is None:
                try:
                    with zipfile.ZipFile(path) as archive:
                        archive.namelist()
                except (zipfile.BadZipFile, OSError) as err:
                    problem = f"is unreadable ({type(err).__name__})"
            if problem is not None:
                path.unlink(missing_ok=True)
                sidecar(path).unlink(missing_ok=True)
                removed.append(f"stage file {path} {problem}: removed; it will be recomputed")
        return removed

    def stages(self) -> list[str]:
        """Names of the stages stored on disk."""
        return sorted(p.stem for p in self.root.glob("*.pt")) if self.root.is_dir() else []


def _holder(fh) -> str:
    fh.seek(0)
    return fh.read().strip()[:120] or "another process"


def _acquire(fh, stage: str) -> None:
    """Lock `fh` exclusively; while another process holds it, say who every `lock_wait_seconds()`."""
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    every, waited = lock_wait_seconds(), 0.0
    say(f"stage {stage} is being computed by {_holder(fh)}; waiting for it")
    next_notice = every
    while True:
        time.sleep(0.2)
        waited += 0.2
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if waited >= next_notice:
                say(f"still waiting for stage {stage} ({waited:.0f} s), held by {_holder(fh)}")
                next_notice += every


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
