"""Notebook execution: a jupytext notebook ``notebooks/<name>.py`` run with papermill in this interpreter's
kernel, its parameters and title, and the log the kernel's messages go to."""
from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pgxlib.store.results import repo_root

KERNEL_NAME = "python3"


def notebook_source(name: str) -> Path:
    """``<repo>/notebooks/<name>.py``."""
    return repo_root() / "notebooks" / f"{name}.py"


def notebook_parameters(name: str) -> set[str]:
    """The names assigned in the ``parameters``-tagged cell of ``notebooks/<name>.py`` (what papermill can set)."""
    import ast

    import jupytext

    for cell in jupytext.read(notebook_source(name)).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}
    return set()


def notebook_title(name: str) -> str:
    """The first markdown heading of a notebook source, else the name in title case."""
    path = notebook_source(name)
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"#\s+#\s+(.+)", line)
            if match:
                return match.group(1).strip()
    return name.replace("_", " ").capitalize()


def _use_this_python() -> None:
    """Make kernel "python3" resolve to this interpreter's ipykernel (the venv's), and check it."""
    from jupyter_client.kernelspec import KernelSpecManager

    share = str(Path(sys.prefix) / "share" / "jupyter")
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if share not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([share, *paths])
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    argv0 = KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv[0]
    ok = {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}", sys.executable}
    if argv0 not in ok and Path(argv0).resolve() != Path(sys.executable).resolve():
        raise RuntimeError(f"kernel {KERNEL_NAME!r} runs {argv0}, not {sys.executable}; "
                           f"run `{sys.executable} -m ipykernel install --sys-prefix`")


def execute_notebook(name: str, output: Path, parameters: dict[str, Any], stream: bool = False) -> Path:
    """Convert ``notebooks/<name>.py`` to ipynb, run it with papermill and `parameters`, save to `output`.

    The kernel is this interpreter (the venv's python); the working directory is the repository root.
    With `stream`, the notebook's stdout/stderr (progress bars) are shown while it runs.
    """
    import jupytext
    import papermill

    _use_this_python()
    os.environ["PGX_PROGRESS"] = "1" if stream else "0"
    nb = jupytext.read(notebook_source(name))
    output.parent.mkdir(parents=True, exist_ok=True)
    with kernel_log(log_path(output)) as terminal:
        papermill.execute_notebook(nb, str(output), parameters=parameters, kernel_name=KERNEL_NAME,
                                   language="python", cwd=str(repo_root()), progress_bar=False,
                                   stdout_file=terminal if stream else None, stderr_file=terminal if stream else None)
    return output


def log_path(output: Path) -> Path:
    """Where the kernel's and papermill's own messages go for the notebook executed into `output`."""
    from pgxlib.store.results import runs_root

    return runs_root() / "logs" / f"{output.stem}.log"


@contextmanager
def kernel_log(path: Path):
    """Send everything written to the process's stderr (file descriptor 2, which kernels inherit) to `path`
    while the block runs: kernel warnings and papermill's messages go to the log, not the terminal. Yields a
    text stream to the real terminal, for output that is meant to be seen (progress bars under `pgx run`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            terminal.close()


def _last_line(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"
