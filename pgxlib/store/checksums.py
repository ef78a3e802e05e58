"""Content digests of stored files: a stored file is the file that was written, or an error naming it.

A stage file ``<stage>.pt`` (and a checkpoint) has a sidecar ``<stage>.pt.sha256`` holding the SHA-256 of
its bytes, written before the file is renamed into place. A result directory has ``checksums.json``
(``{"result.json": "<hex>", "arrays.npz": "<hex>"}``), written inside the temporary directory that is
renamed into place, so a result and its digests appear together. A file without a recorded digest was
written before digests were kept (legacy): it is read as before, checked only by its schema.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Iterable

CHECKSUM_FILE = "checksums.json"
SIDECAR_SUFFIX = ".sha256"


def file_digest(path: Path) -> str:
    """The SHA-256 of the bytes of `path`, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sidecar(path: Path) -> Path:
    """Where the digest of the single file `path` is kept."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def record_digest(written: Path, final: Path) -> None:
    """Record the digest of `written` (a temporary file about to be renamed to `final`) beside `final`."""
    _write_atomic(sidecar(final), file_digest(written) + "\n")


def digest_problem(path: Path) -> str | None:
    """None when `path` matches its recorded digest or has none (legacy); else what is wrong, in a few words."""
    record = sidecar(path)
    if not record.exists():
        return None
    try:
        expected = record.read_text(encoding="utf-8").strip()
        actual = file_digest(path)
    except OSError as err:
        return f"cannot be read ({type(err).__name__})"
    return None if actual == expected else "does not match its recorded SHA-256"


def seal(directory: Path, names: Iterable[str]) -> None:
    """Record the digests of the files `names` of a result `directory` in its ``checksums.json``."""
    digests = {name: file_digest(directory / name) for name in sorted(names) if (directory / name).exists()}
    _write_atomic(directory / CHECKSUM_FILE, json.dumps(digests, indent=1, sort_keys=True) + "\n")


def sealed_problem(directory: Path, name: str) -> str | None:
    """None when file `name` of a result `directory` matches ``checksums.json`` (or no digests were recorded:
    a legacy result); else what is wrong, in a few words."""
    record = directory / CHECKSUM_FILE
    if not record.exists():
        return None
    try:
        digests = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"has an unreadable {CHECKSUM_FILE} ({type(err).__name__})"
    if not isinstance(digests, dict):
        return f"has a malformed {CHECKSUM_FILE}"
    path = directory / name
    if name not in digests:
        return f"was not recorded in {CHECKSUM_FILE}" if path.exists() else None
    if not path.exists():
        return f"is missing though {CHECKSUM_FILE} records it"
    try:
        actual = file_digest(path)
    except OSError as err:
        return f"cannot be read ({type(err).__name__})"
    return None if actual == digests[name] else "does not match its recorded SHA-256"
