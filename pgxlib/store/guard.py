"""Checks made before anything is computed, and the line an interrupted command ends with.

`check_environment()` raises `ConfigError` (one line) for a malformed ``PGX_*`` variable.

`check_writable({"PGX_RESULTS": path, ...})` raises `ResultError` (one line naming the variable, the path and
what is wrong) unless each path is a directory, or can be made one, that accepts a new file and has at least
`MIN_FREE_MB` megabytes free.
"""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path
from typing import Mapping

from pgxlib.store.results import ResultError

MIN_FREE_MB = 64
"""Free space a results, runs or log folder must have before a command starts computing."""


def _problem(path: Path) -> str | None:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{existing} is not a directory"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"cannot be made ({os.strerror(err.errno) if err.errno else type(err).__name__})"
    probe = path / f".pgx-write-check-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
    except OSError as err:
        return f"is not writable ({os.strerror(err.errno) if err.errno else type(err).__name__})"
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
    free_mb = shutil.disk_usage(path).free / 2**20
    if free_mb < MIN_FREE_MB:
        return f"has {free_mb:.0f} MB free ({os.strerror(errno.ENOSPC)}); at least {MIN_FREE_MB} MB are needed"
    return None


def check_writable(places: Mapping[str, Path]) -> None:
    """Raise `ResultError` for the first of `places` (name -> folder) that cannot take the command's output."""
    for name, path in places.items():
        problem = _problem(Path(path))
        if problem is not None:
            raise ResultError(f"cannot write {name} ({path}): {problem}; nothing was computed")


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_THREADS = 256


def check_environment() -> None:
    """Raise `ConfigError` (one line naming the variable and what it allows) for a malformed ``PGX_*`` variable."""
    from pgxlib.config import ConfigError
    from pgxlib.executor import ENGINES
    from pgxlib.store.cache import checkpoint_seconds, lock_wait_seconds

    def bad(name: str, allowed: str) -> ConfigError:
        return ConfigError(f"invalid {name}={_cut(os.environ[name])!r}: allowed {allowed}")

    threads = os.environ.get("PGX_THREADS")
    if threads is not None and not (threads.strip().isdigit() and 1 <= int(threads) <= MAX_THREADS):
        raise bad("PGX_THREADS", f"an integer from 1 to {MAX_THREADS}")
    if os.environ.get("PGX_ENGINE", "joblib") not in ENGINES:
        raise bad("PGX_ENGINE", "one of " + ", ".join(ENGINES))
    if os.environ.get("PGX_PROGRESS", "1") not in ("0", "1"):
        raise bad("PGX_PROGRESS", "0 or 1")
    for name in ("PGX_RESULTS", "PGX_RUNS"):
        if name in os.environ and (not os.environ[name].strip() or "\0" in os.environ[name]):
            raise bad(name, "a folder path")
    try:
        checkpoint_seconds()
        lock_wait_seconds()
    except ValueError as err:
        raise ConfigError(str(err)) from None


def interrupted_line(note: Path | None) -> str:
    """The last line of an interrupted command: the stage this process or its notebook kernel was computing
    (`pgxlib.store.cache.note_stage`), and that rerunning the command resumes."""
    from pgxlib.store.cache import CURRENT_STAGE

    stage = CURRENT_STAGE[-1] if CURRENT_STAGE else ""
    if not stage and note is not None and note.exists():
        stage = note.read_text(encoding="utf-8", errors="replace").strip()
    where = f"at stage {stage}" if stage else "before any stage was computed"
    return f"pgx: interrupted {where}; rerun the same command to resume"
