"""The book: the chapter table, notebook execution with papermill, and the Jupyter Book build.

A chapter is a jupytext notebook ``notebooks/<name>.py`` run once per parameter dict of the chosen
profile. `build_book` decides per run: a stored result is only re-drawn; a missing one is computed
under ``smoke`` or with ``force``; under ``default`` it is *not* computed: the chapter page names the
missing result and the ``pgx run ...`` command that computes it. Executed notebooks go into
``book/notebooks/`` (git-ignored), then ``jupyter-book build`` runs with warnings as errors.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pgxlib import experiments
from pgxlib.config import PROFILES, ConfigError
from pgxlib.store.results import RESULT_FILE, CorruptResult, read_result, repo_root, results_root

KERNEL_NAME = "python3"
BOOK_PROFILES = ("default", "smoke")


def every_profile(*runs: dict[str, Any], **per_profile: tuple[dict[str, Any], ...]) -> dict[str, tuple[dict, ...]]:
    """The same parameter dicts for every profile, except those given by name: ``smoke=({...},)``."""
    return {profile: tuple(per_profile.get(profile, runs)) for profile in PROFILES}


@dataclass(frozen=True)
class Chapter:
    """One chapter: `notebook` is ``notebooks/<notebook>.py``; `runs` maps a profile to the parameter
    dicts it is executed with (one page each); `experiment` is the experiment whose results it shows,
    or None for a chapter that only reads stored results (the scorecard)."""

    notebook: str
    runs: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=lambda: every_profile({}))
    experiment: str | None = None
    title: str = ""
    """Short title in the sidebar (the notebook's first heading when empty)."""
    part: str = "Experiments"
    """The sidebar caption the chapter is listed under."""
    also: tuple[str, ...] = ()
    """Other experiments the notebook reads for each page's family and seed, with their own default parameters
    (the MT10 chapter's k ablation): `outdated_runs` lists them too."""


# The chapter table: one line per chapter, in book order. Add an experiment with e.g.
#   Chapter("main_results", every_profile({"family": "cartpole"}, {"family": "highway"}), "main_results"),
CHAPTERS: tuple[Chapter, ...] = (
    Chapter("walkthrough", every_profile({"family": "cartpole"}), "walkthrough", "Walkthrough"),
    Chapter("main_results", every_profile(*({"family": f} for f in ("planted", "cartpole", "lunarlander", "highway", "nav2d")), smoke=({"family": "cartpole", "seeds": [0, 1]}, {"family": "nav2d", "seeds": [0, 1]})), "main_results", "Main results"),
    Chapter("mt10", every_profile({"family": "metaworld"}, smoke=({"family": "metaworld", "seeds": [0]},)), "main_results",
            "Meta-World MT10", also=("ablations",)),
    Chapter("ablations", every_profile(*({"family": f} for f in ("planted", "cartpole", "lunarlander", "highway", "nav2d")), smoke=({"family": "cartpole", "proj_dims": [16, 32, 64]},)), "ablations", "Ablations"),
    Chapter("ablations_overview", title="Ablations across families"),
    Chapter("adaptation", every_profile(*({"family": f} for f in ("cartpole", "lunarlander", "highway", "nav2d")), smoke=({"family": "cartpole", "inner_lrs": [0.02, 0.05], "inner_updates": [1, 2]},)), "adaptation", "Adaptation"),
    # A grid is extended by doubling while its ceiling (NMI or affinity correlation) still rises at the largest
    # fine-tuning budget and its NMI is below 1 (the method chapter's rule, checked by a test): cartpole's NMI,
    # nav2d's and lunarlander's correlation still rose at 8k. highway's grid stops at its cost cap
    # (`report.structure.FAMILY_GRID_CAPS`), with θ* at the profile's budget only.
    Chapter("structure", every_profile({"family": "planted"},
                                       {"family": "nav2d", "finetune_steps": [2048, 4096, 8192, 16384]},
                                       {"family": "cartpole", "finetune_steps": [2048, 4096, 8192, 16384]},
                                       {"family": "lunarlander", "finetune_steps": [2048, 4096, 8192, 16384]},
                                       {"family": "highway", "meta_steps": [8000], "finetune_steps": [512, 1024, 2048]},
                                       smoke=({"family": "planted"},)), "structure", "Is there structure? The noise ceiling"),
    Chapter("lambda_sweep", every_profile(*({"family": f} for f in ("planted", "cartpole", "nav2d", "lunarlander", "highway")),
                                          smoke=({"family": "planted", "l2s": [0.01, 1.0]},)), "lambda_sweep", "Regularisation λ"),
    # The truth is fine-tuned for the budget where the family's noise ceiling stops rising in its structure chapter
    # (the method chapter's rule, checked by a test); MT10 at its own smaller budget (`speedup.BUDGET`: 30 subsets,
    # 4,096 steps per task) and at every depth the paper reports, each depth its own θ* of 10 × 100k PPO steps.
    Chapter("speedup", every_profile({"family": "lunarlander", "finetune_steps": 16_384},
                                     {"family": "cartpole", "finetune_steps": 16_384},
                                     {"family": "nav2d", "finetune_steps": 2_048}, {"family": "highway", "depths": [4],
                                                                                   "finetune_steps": 512},
                                     {"family": "planted"},
                                     {"family": "metaworld"},
                                     smoke=({"family": "cartpole", "depths": [2]},)), "speedup", "Surrogate accuracy and speedup"),
    Chapter("scale", every_profile({"family": "nav2d"}, {"family": "planted"}, smoke=({"family": "planted"},)), "scale",
            "Scale: 10 to 100 tasks"),
    Chapter("first_order_error", every_profile(*({"family": f} for f in ("cartpole", "lunarlander", "highway", "nav2d", "planted", "metaworld")), smoke=({"family": "cartpole"},)), "first_order_error", "First-order error"),
    Chapter("hessian_bound", every_profile(*({"family": f} for f in ("cartpole", "lunarlander", "highway", "nav2d", "planted", "metaworld")), smoke=({"family": "cartpole"},)), "hessian_bound", "Hessian and the bound"),
    Chapter("scorecard", title="Reproduction scorecard", part="Verdict"),
)


def chapter_params(profile: str) -> dict[str, dict[str, dict[str, Any]]]:
    """experiment -> family -> the other parameters its chapter runs it with under `profile` (a family's first
    run): which stored result the book shows for each, and so what the glance reads."""
    params: dict[str, dict[str, dict[str, Any]]] = {}
    for chapter in CHAPTERS:
        for run in chapter.runs.get(profile, ()) if chapter.experiment else ():
            if "family" in run:
                rest = {k: v for k, v in run.items() if k != "family"}
                params.setdefault(chapter.experiment, {}).setdefault(run["family"], rest)
    return params


NOTEBOOK_OF = {("main_results", "metaworld"): "mt10", ("ablations", "metaworld"): "mt10_k"}
"""Experiment runs shown by another notebook than ``notebooks/<experiment>.py`` (MT10's protocol has its own)."""


def notebook_for(experiment: str, family: str) -> str:
    """The notebook that runs and shows `experiment` on `family` (what `pgx run` executes)."""
    return NOTEBOOK_OF.get((experiment, family), experiment)


def chapter_runs(notebook: str, profile: str) -> tuple[dict[str, Any], ...]:
    """The parameter dicts chapter `notebook` is run with under `profile`."""
    for chapter in CHAPTERS:
        if chapter.notebook == notebook:
            return chapter.runs[profile]
    raise KeyError(f"no chapter {notebook!r}: chapters are {', '.join(c.notebook for c in CHAPTERS)}")


@dataclass(frozen=True)
class Page:
    """One planned page of the book: a chapter run and what the build does with it."""

    chapter: Chapter
    index: int
    params: dict[str, Any]
    action: str  # "execute", "missing" or "unimplemented"
    reason: str
    name: str
    command: str | None = None
    force: bool = False


# ---------------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------------

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


def decorate(path: Path, suffix: str, box: str) -> None:
    """Shape an executed notebook for the book: append `suffix` to its first heading, put `box` (the
    parameter line and the Reproduce box) under it, remove the parameters cell and the cell papermill
    injected (the box states the values), and fold every code cell's source."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            first, _, rest = cell.source.lstrip().partition("\n")
            cell.source = f"{first} ({suffix})" if suffix else first
            extra = [box] + ([rest] if rest.strip() else [])
            nb.cells[i + 1:i + 1] = [nbformat.v4.new_markdown_cell(text) for text in extra]
            break
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        if {"parameters", "injected-parameters"} & set(tags):
            tags.append("remove-cell")
        elif not {"remove-cell", "remove-input", "hide-input", "hide-cell"} & set(tags):
            tags.append("hide-input")
    nbformat.write(nb, path)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


def reproduce_box(page: "Page", profile: str, result: Any = None, seconds: float | None = None) -> str:
    """The parameter line and the Reproduce box of a page: the exact ``pgx run`` command and its measured
    wall time (from the stored result), or for a page that only reads results, how to rebuild it."""
    params = {"profile": profile, **page.params}
    if result is not None:
        params.update((result.meta.get("parameters") or {}).get("params") or {})
    line = "**Parameters:** " + ", ".join(f"`{k}` = `{v!r}`" for k, v in params.items() if k != "force")
    if page.command is None:
        took = f" (this page: {seconds:.0f} s)" if seconds is not None else ""
        body = (f"This page reads stored `{profile}` results only. Rebuild it with `pgx book --profile {profile} "
                f"--no-compute`{took}.")
    elif result is None:
        body = f"Not computed yet. Compute it with\n\n    {page.command}\n"
    else:
        meta = result.meta
        device = meta.get("device") or {}
        where = device.get("gpu") or f"{device.get('cpu_count', '?')} CPU cores"
        resumed = len(meta.get("resumed_stages") or ())
        took = _minutes(meta.get("total_time", 0.0))
        if resumed:
            took += f", resuming {resumed} stage{'s' if resumed > 1 else ''} computed by an earlier, interrupted run,"
        body = (f"    {page.command}\n\ncomputed this page's result in {took} "
                f"on {where} ({(meta.get('timestamp') or '?')[:10]}, commit "
                f"`{((meta.get('git') or {}).get('commit') or 'unknown')[:10]}`"
                f"{', STALE: the code has changed since' if result.stale else ''}). Stored, it is only re-drawn; "
                "`--force` recomputes.")
    return f"{line}\n\n```{{admonition}} Reproduce\n:class: tip\n{body}\n```\n"


def run_label(params: Mapping[str, Any]) -> str:
    """``cartpole, seed 0, k=3`` for a parameter dict."""
    parts = [str(params["family"])] if "family" in params else []
    if "seed" in params:
        parts.append(f"seed {params['seed']}")
    parts += [f"{k}={v}" for k, v in params.items() if k not in ("family", "seed")]
    return ", ".join(parts) or "default parameters"


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------

def _split(params: Mapping[str, Any]) -> tuple[str, int, dict[str, Any]]:
    rest = dict(params)
    return rest.pop("family", "cartpole"), rest.pop("seed", 0), rest


def _page_name(chapter: Chapter, index: int, run: int, params: Mapping[str, Any], many: bool) -> str:
    """``02-main_results`` or, for a chapter with several runs, ``02-main_results-01-cartpole-seed-0``;
    the book's table of contents globs these names, so their sort order is the book's order."""
    name = f"{index:02d}-{chapter.notebook}"
    if many:
        name += f"-{run:02d}-" + re.sub(r"[^A-Za-z0-9_.=-]+", "-", run_label(params)).strip("-")
    return name


def page_links(profile: str) -> dict[tuple[str, str], str]:
    """(experiment, family) → the chapter page showing it, as a link between chapter pages (``NN-name….html``);
    (experiment, "all") → the chapter's first page (its index page when it has several runs)."""
    links: dict[tuple[str, str], str] = {}
    for index, chapter in enumerate(CHAPTERS, start=1):
        runs = chapter.runs.get(profile, ())
        if chapter.experiment is None or not runs:
            continue
        many = len(runs) > 1
        links[(chapter.experiment, "all")] = _page_name(chapter, index, 0, {}, False) + ".html"
        for run, params in enumerate(runs, start=1):
            links.setdefault((chapter.experiment, params.get("family", "cartpole")),
                             _page_name(chapter, index, run, params, many) + ".html")
    return links


def plan_page(chapter: Chapter, index: int, run: int, params: dict[str, Any], profile: str, force: bool,
              no_compute: bool, many: bool) -> Page:
    """What the build does with one run of a chapter (raises `ConfigError` for a bad chapter table)."""
    name = _page_name(chapter, index, run, params, many)
    page = dict(chapter=chapter, index=index, params=params, name=name)
    exp = chapter.experiment
    if not notebook_source(chapter.notebook).exists():
        return Page(**page, action="unimplemented", reason=f"notebooks/{chapter.notebook}.py is not written yet")
    undeclared = sorted(set(params) - notebook_parameters(chapter.notebook))
    if undeclared:  # papermill would inject them unused: the notebook would show (or compute) another result
        raise ConfigError(f"chapter {chapter.notebook!r} runs with {', '.join(undeclared)}, which "
                          f"notebooks/{chapter.notebook}.py does not declare in its parameters cell")
    if exp is None:
        return Page(**page, action="execute", reason="reads stored results")
    if not experiments.implemented(exp):
        return Page(**page, action="unimplemented", reason=f"pgxlib/experiments/{exp}.py is not written yet")
    family, seed, rest = _split(params)
    try:
        stored = experiments.find_result(exp, profile, family, seed, **rest)
    except CorruptResult:
        if not force:
            raise
        stored = None  # --force recomputes it
    command = experiments.run_command(exp, profile, family, seed, **rest)
    if stored is not None and not force:
        return Page(**page, action="execute", reason="stored result" + (" (STALE)" if stored.stale else ""),
                    command=command)
    if force:
        return Page(**page, action="execute", reason="--force: recomputing", command=command, force=True)
    if profile == "smoke" and not no_compute:
        return Page(**page, action="execute", reason="missing: computing (smoke profile)", command=command)
    return Page(**page, action="missing", reason="missing: not computed", command=command)


def plan_book(profile: str, force: bool = False, no_compute: bool = False) -> list[Page]:
    """One `Page` per chapter run of `profile`, in book order."""
    if profile not in BOOK_PROFILES:
        raise ConfigError(f"invalid profile={profile!r}: allowed one of {', '.join(BOOK_PROFILES)}")
    pages = []
    for index, chapter in enumerate(CHAPTERS, start=1):
        runs = chapter.runs.get(profile, ())
        for run, params in enumerate(runs, start=1):
            pages.append(plan_page(chapter, index, run, dict(params), profile, force and not no_compute, no_compute,
                                   len(runs) > 1))
    return pages


@dataclass(frozen=True)
class OutdatedRun:
    """A chapter run whose result is not stored ("missing"), was computed by older code ("stale") or fails its
    digest or schema ("corrupt")."""

    experiment: str
    profile: str
    family: str
    seed: int
    params: dict[str, Any]
    state: str

    @property
    def command(self) -> str:
        """The command line that computes it (`experiments.run_command`; ``pgx refresh --only`` for another run
        without a notebook)."""
        if self.experiment != "group" and not notebook_source(notebook_for(self.experiment, self.family)).exists():
            return f"pgx refresh --profile {self.profile} --only {self.experiment}:{self.family}"
        command = experiments.run_command(self.experiment, self.profile, self.family, self.seed, **self.params)
        return command + " --force" if self.state == "corrupt" and not command.endswith("--force") else command


def outdated_runs(profile: str = "default") -> list[OutdatedRun]:
    """Every chapter run of `profile` (each once, in book order) whose result is missing or stale, then every other
    stored result of `profile` that is stale (e.g. `pgx group` runs): what must be computed before no stored
    result of the profile is stale or missing."""
    seen, shown, out = set(), set(), []

    def visit(experiment: str, family: str, seed: int, rest: dict[str, Any]) -> None:
        key = (experiment, family, seed, repr(sorted(rest.items())))
        if key in seen:
            return
        seen.add(key)
        try:
            stored = experiments.find_result(experiment, profile, family, seed, **rest)
        except CorruptResult as err:
            shown.add(err.path.resolve())
            out.append(OutdatedRun(experiment, profile, family, seed, rest, "corrupt"))
            return
        if stored is not None:
            shown.add(stored.path.resolve())
        if stored is None or stored.stale:
            out.append(OutdatedRun(experiment, profile, family, seed, rest, "missing" if stored is None else "stale"))

    for chapter in CHAPTERS:
        if chapter.experiment is None or not experiments.implemented(chapter.experiment):
            continue
        for params in chapter.runs.get(profile, ()):
            family, seed, rest = _split(params)
            visit(chapter.experiment, family, seed, rest)
            for other in chapter.also:
                visit(other, family, seed, {})
    for path in sorted((results_root() / profile).glob(f"*/*/{RESULT_FILE}")):  # stored, but no chapter's run
        if path.parent.resolve() in shown:
            continue
        try:
            meta = read_result(path.parent).meta
        except CorruptResult as err:
            raise err.with_fix(f"its parameters cannot be read; remove {path.parent} and rerun the command that "
                               "computed it") from None
        given = meta.get("parameters") or {}
        if not experiments.implemented(str(meta.get("experiment"))) or not {"family", "seed", "params"} <= set(given):
            continue
        stored = experiments.find_result(meta["experiment"], profile, given["family"], given["seed"], **given["params"])
        if stored is not None and stored.stale:
            out.append(OutdatedRun(meta["experiment"], profile, given["family"], given["seed"], given["params"], "stale"))
    return out


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------

def _heading(page: Page) -> str:
    title = notebook_title(page.chapter.notebook)
    return f"{title} ({run_label(page.params)})" if page.params else title


def missing_page(page: Page, profile: str) -> str:
    """A chapter page for a result that is not stored: what is missing and how to compute it."""
    rebuild = "make book" if profile == "default" else f"pgx book --profile {profile}"
    return (f"# {_heading(page)}\n\n{reproduce_box(page, profile)}\n"
            f"```{{important}}\nThe `{profile}` result of this chapter ({run_label(page.params)}) is not stored, "
            f"and this build does not start long computations on its own. Compute it with the command above, then "
            f"rebuild the book with `{rebuild}`.\n```\n")


def unimplemented_page(page: Page) -> str:
    return (f"# {_heading(page)}\n\n```{{note}}\nThis chapter is not written yet: {page.reason}.\n```\n")


def _write_page(page: Page, profile: str, out_dir: Path) -> Path | None:
    """Execute or write one page; returns the executed notebook, or None for a placeholder page."""
    if page.action == "missing":
        (out_dir / f"{page.name}.md").write_text(missing_page(page, profile), encoding="utf-8")
        return None
    if page.action == "unimplemented":
        (out_dir / f"{page.name}.md").write_text(unimplemented_page(page), encoding="utf-8")
        return None
    parameters: dict[str, Any] = {"profile": profile, **page.params}
    if page.chapter.experiment is not None:
        parameters["force"] = page.force
    start = time.perf_counter()
    path = execute_notebook(page.chapter.notebook, out_dir / f"{page.name}.ipynb", parameters)
    result = None
    if page.chapter.experiment is not None:
        family, seed, rest = _split(page.params)
        result = experiments.find_result(page.chapter.experiment, profile, family, seed, **rest)
    decorate(path, run_label(page.params) if page.params else "",
             reproduce_box(page, profile, result, time.perf_counter() - start))
    return path


FAMILIES_PAGE = "00-families.md"
"""The first page of the chapters: the task families, written from their modules' docstrings at build time."""


def family_picture(name: str, path: Path) -> bool:
    """Draw family `name`'s source and target tasks (seed 0) in its first two parameters into `path`;
    False when the family cannot be built here (its picture is then left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from pgxlib.report.plots import task_map
    from pgxlib.tasks import make_family

    try:
        family = make_family(name, 10, 0)
    except Exception:  # an optional simulator missing: the page says so instead
        return False
    names = list(family.param_ranges)[:2]
    values = [np.array([[t.param(k) for k in names] for t in tasks], dtype=float)
              for tasks in (family.source, family.target)]
    fig = task_map(*values, names, f"{name}: 10 source tasks, {len(family.target)} target tasks (seed 0)")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def families_page(pictures: Path | None = None) -> str:
    """Markdown describing every task family: each family module's docstring (what it varies and why), and,
    with `pictures` (a folder), a picture of its tasks."""
    import importlib

    from pgxlib.config import FAMILIES

    parts = ["# The task families\n",
             "Each family is a set of tasks that share observation and action spaces and differ in parameters, "
             "drawn with a seed into source tasks (grouped and meta-trained on) and target tasks (unseen, for "
             "meta-RL evaluation); `pgxlib.tasks.base.build_family` holds that convention. Below, each family's "
             "own description: what it varies, over which ranges, and why. `planted` is the family whose right "
             "grouping is known by construction.\n"]
    for name in FAMILIES:
        doc = importlib.import_module(f"pgxlib.tasks.{name}").__doc__ or ""
        parts.append(f"## `{name}`\n\n{doc.strip()}\n")
        if pictures is not None:
            file = f"family-{name}.png"
            drawn = family_picture(name, pictures / file)
            parts.append(f"![The tasks of {name}]({file})\n" if drawn else "(No picture: the family cannot be built "
                                                                              "on the machine that built this book.)\n")
    return "\n".join(parts)


GLANCE_PAGE = "glance.md"
"""Results at a glance, written at build time from the stored results and included by the intro."""


def chapter_index(chapter: Chapter, pages: list[Page]) -> str:
    """The page above a chapter's runs: its title, one link per family (run) and the commands that compute them."""
    links = "\n".join(f"- [{run_label(p.params)}]({p.name})" + (" (not computed)" if p.action == "missing" else "")
                      for p in pages)
    commands = "\n".join(f"    {p.command}" for p in pages if p.command)
    box = (f"```{{admonition}} Reproduce\n:class: tip\nOne command per page; each page gives its measured wall "
           f"time.\n\n{commands}\n```\n" if commands else "")
    return (f"# {notebook_title(chapter.notebook)}\n\n{box}\nThis chapter runs once per task family; each page "
            f"below shows one run.\n\n{links}\n")


def _chapters(pages: list[Page]) -> list[Chapter]:
    """The chapters of `pages`, once each, in order."""
    seen: list[Chapter] = []
    for page in pages:
        if not any(page.chapter is c for c in seen):
            seen.append(page.chapter)
    return seen


def book_toc(pages: list[Page], folder: str = "notebooks") -> str:
    """The Jupyter Book table of contents: the method and the families first, then one entry per chapter
    under its part's caption, with a chapter's runs (one per family) nested beneath it."""
    parts: dict[str, list[str]] = {"The method": [" - file: method", f" - file: {folder}/{FAMILIES_PAGE[:-3]}\n"
                                                                     f"   title: Task families"]}
    for chapter in _chapters(pages):
        runs = [p for p in pages if p.chapter is chapter]
        title = chapter.title or notebook_title(chapter.notebook)
        entries = parts.setdefault(chapter.part, [])
        if len(runs) == 1:
            entries.append(f" - file: {folder}/{runs[0].name}\n   title: \"{title}\"")
            continue
        index = _page_name(chapter, runs[0].index, 0, {}, False)
        sections = "".join(f"\n   - file: {folder}/{p.name}\n     title: \"{run_label(p.params)}\"" for p in runs)
        entries.append(f" - file: {folder}/{index}\n   title: \"{title}\"\n   sections:{sections}")
    parts.setdefault("Verdict", []).append(" - file: api\n   title: API")
    body = "".join(f"- caption: {caption}\n  chapters:\n" + "\n".join("  " + e.replace("\n", "\n  ") for e in entries)
                   + "\n" for caption, entries in parts.items())
    return ("# Written by `pgx book` (pgxlib.book.book_toc) from the chapter table; not committed.\n"
            f"format: jb-book\nroot: intro\nparts:\n{body}")


def write_book_pages(pages: list[Page], book_dir: Path) -> None:
    """The generated pages that are not notebooks: families, chapter indexes and the TOC."""
    out_dir = book_dir / "notebooks"
    (out_dir / FAMILIES_PAGE).write_text(families_page(out_dir), encoding="utf-8")
    for chapter in _chapters(pages):
        runs = [p for p in pages if p.chapter is chapter]
        if len(runs) > 1:
            name = _page_name(chapter, runs[0].index, 0, {}, False)
            (out_dir / f"{name}.md").write_text(chapter_index(chapter, runs), encoding="utf-8")
    (book_dir / "_toc.yml").write_text(book_toc(pages), encoding="utf-8")


def write_glance(pages: list[Page], profile: str, out_dir: Path) -> None:
    """The results at a glance the introduction includes, from the results stored once the pages have run."""
    from pgxlib.report.glance import glance_markdown

    card = [p.name for p in pages if p.chapter.notebook == "scorecard"]
    link = (f"\nThe {{doc}}`reproduction scorecard </notebooks/{card[0]}>` judges every claim of the paper, family "
            "by family.\n" if card else "")
    (out_dir / GLANCE_PAGE).write_text(glance_markdown(profile, experiments, params=chapter_params(profile)) + link,
                                       encoding="utf-8")


def check_pages(pages: list[Page], profile: str) -> list[str]:
    """Problems with the results of executed experiment pages (missing result or expected keys)."""
    problems = []
    for page in pages:
        if page.action != "execute" or page.chapter.experiment is None:
            continue
        family, seed, rest = _split(page.params)
        exp = page.chapter.experiment
        result = experiments.find_result(exp, profile, family, seed, **rest)
        if result is None:
            problems.append(f"{page.name}: no stored result after execution")
            continue
        absent = [k for k in experiments.expected_keys(experiments.get(exp), family) if not result.has(k)]
        if absent:
            problems.append(f"{page.name}: result {result.path} lacks {', '.join(absent)}")
    return problems


def _last_line(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"


def jupyter_book_build(book_dir: Path) -> int:
    """``jupyter-book build`` with warnings as errors; returns its exit code."""
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(book_dir), "--warningiserror", "--keep-going", "--all"]
    return subprocess.run(cmd, cwd=repo_root()).returncode


def build_book(profile: str, force: bool = False, check: bool = False, no_compute: bool = False) -> int:
    """Execute the chapters of `profile`, build the HTML book, optionally check results; an exit code."""
    start = time.perf_counter()
    book_dir = repo_root() / "book"
    out_dir = book_dir / "notebooks"
    pages = plan_book(profile, force, no_compute)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    write_book_pages(pages, book_dir)
    missing, failed = [], []
    for page in pages:
        print(f"[book] {page.name}: {page.action} ({page.reason})", flush=True)
        try:
            _write_page(page, profile, out_dir)
        except Exception as err:  # papermill's execution error carries the failing cell
            failed.append(page)
            print(f"[book] {page.name} failed: {_last_line(err)}\n[book]   executed notebook with the traceback: "
                  f"{out_dir / (page.name + '.ipynb')}; kernel messages: {log_path(out_dir / (page.name + '.ipynb'))}",
                  file=sys.stderr, flush=True)
        if page.action == "missing":
            missing.append(page)
    if failed:
        print(f"[book] {len(failed)} chapter(s) failed; the book was not built", file=sys.stderr)
        return 1
    write_glance(pages, profile, out_dir)
    shutil.rmtree(book_dir / "_build", ignore_errors=True)
    code = jupyter_book_build(book_dir)
    if code != 0:
        print(f"[book] jupyter-book build failed (exit {code})", file=sys.stderr)
        return code
    for page in missing:
        print(f"[book] missing {profile} result for {page.name}; compute it with: {page.command}")
    if check:
        problems = check_pages(pages, profile)
        for line in problems:
            print(f"[book] check failed: {line}", file=sys.stderr)
        if problems:
            return 1
        print(f"[book] check passed: {sum(p.action == 'execute' and p.chapter.experiment is not None for p in pages)}"
              " experiment pages have their results and expected keys")
    print(f"[book] built in {time.perf_counter() - start:.1f} s: {book_dir / '_build' / 'html' / 'index.html'}")
    return 0
