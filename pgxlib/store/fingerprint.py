"""Code fingerprints: a sha256 over an experiment module and every pgxlib module it imports.

A stored result whose fingerprint differs from the current code's is shown as stale. A result is about
one task family and one profile, so its fingerprint covers that family's module only (not the other
families in `pgxlib.tasks`) and, of the profile table in `pgxlib.profiles`, only the entry of that profile
and family: editing one family, or another family's profile, leaves the other results current."""
from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

from pgxlib.store.results import PACKAGE_DIR, ResultError

FINGERPRINT_EXCLUDED = ("pgxlib.cli", "pgxlib.book", "pgxlib.experiments", "pgxlib.store", "pgxlib.report")
"""Modules whose changes never make a result stale: the face, the registry, the store and reporting
(a name excludes that module and, for the store and reporting, every module inside it)."""


def _excluded(module: str) -> bool:
    return module in FINGERPRINT_EXCLUDED or module.startswith(("pgxlib.store.", "pgxlib.report.", "pgxlib.book."))


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


TASKS_SHARED = ("__init__.py", "base.py")
"""The modules of `pgxlib.tasks` every family uses; each other module there is one task family."""
PROFILE_TABLE = "PROFILE_TABLE"


def _family_module(path: Path) -> bool:
    return path.parent == PACKAGE_DIR / "tasks" and path.name not in TASKS_SHARED


def _expand(module: str, family: str | None) -> list[Path]:
    """The files a module stands for: a package (other than pgxlib itself) brings all its modules,
    since packages such as `pgxlib.tasks` load their members dynamically; with `family`, of the family
    modules only that family's."""
    path = _module_file(module)
    if path is None or _excluded(module):
        return []
    if path.name == "__init__.py" and module != "pgxlib":
        return sorted(p for p in path.parent.rglob("*.py")
                      if not _excluded(_module_name(p))
                      and (family is None or not _family_module(p) or p.stem == family))
    return [path]


def code_files(module: str, family: str | None = None) -> list[Path]:
    """The experiment module `module` and every pgxlib source file it imports, transitively; with
    `family`, the other task families' modules are left out (unless imported by name)."""
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
            todo.extend(p for p in _expand(name, family) if p not in seen)
    return sorted(seen)


def _without_profile_table(source: str) -> str:
    """`source` (the text of `pgxlib/profiles.py`) with the `PROFILE_TABLE` assignment blanked out."""
    lines = source.splitlines(keepends=True)
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == PROFILE_TABLE for t in targets):
            lines[node.lineno - 1: node.end_lineno] = ["\n"] * (node.end_lineno - node.lineno + 1)
    return "".join(lines)


def profile_entry(profile: str, family: str, ignore: tuple[str, ...] = ()) -> str:
    """The canonical JSON of ``PROFILE_TABLE[profile][family]`` without the fields in `ignore` ("null" when
    there is no entry)."""
    from pgxlib.profiles import PROFILE_TABLE as table

    entry = table.get(profile, {}).get(family)
    if entry is not None:
        entry = {k: v for k, v in entry.items() if k not in ignore}
    return json.dumps(entry, sort_keys=True, default=repr)


def code_fingerprint(module: str, family: str | None = None, profile: str | None = None,
                     ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"sha256": ..., "files": [...]}`` over the sources that `code_files(module, family)` lists.

    With `family`, `pgxlib/profiles.py` is hashed without its profile table, and with `profile` too the
    table's entry for (profile, family) is hashed in its place, less the fields in `ignore` (those the
    experiment sets itself): a result depends on its own preset only.
    """
    digest = hashlib.sha256()
    files = code_files(module, family)
    for path in files:
        digest.update(str(path.relative_to(PACKAGE_DIR.parent).as_posix()).encode() + b"\0")
        text = path.read_bytes()
        if family is not None and path == PACKAGE_DIR / "profiles.py":
            text = _without_profile_table(text.decode("utf-8")).encode()
        digest.update(text + b"\0")
    if family is not None and profile is not None:
        digest.update(profile_entry(profile, family, tuple(ignore)).encode() + b"\0")
    return {"sha256": digest.hexdigest(), "files": [p.relative_to(PACKAGE_DIR.parent).as_posix() for p in files]}
