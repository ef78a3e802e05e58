"""The pages of the book and its build: each executed notebook shaped for the book (a parameter line and a
Reproduce box), placeholder pages, the families page, chapter indexes, the table of contents, the results at a
glance, and the ``jupyter-book build`` itself."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pgxlib import experiments
from pgxlib.book.chapters import Chapter, chapter_params
from pgxlib.book.execution import _last_line, execute_notebook, log_path, notebook_title
from pgxlib.book.plan import Page, _page_name, _split, plan_book, run_label
from pgxlib.report.tables import cold_seconds
from pgxlib.store.results import repo_root

FOLD = "fold"
"""The tag of a markdown cell that starts a folded section (`fold_sections`)."""

PARAMETER_TAGS = {"parameters", "injected-parameters"}


def _folded_cell(heading: str, text: str, code: list):
    """One code cell holding a folded section: `text` (markdown) and the outputs of the code cells `code`,
    behind one toggle named `heading`; the sections' code is kept in a dropdown at its end."""
    import nbformat

    source = "\n\n".join(c.source for c in code)
    outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": text})] if text.strip() else []
    outputs += [o for c in code for o in c.get("outputs", [])]
    if source.strip():
        outputs.append(nbformat.v4.new_output("display_data", data={
            "text/markdown": f"````{{dropdown}} The code of this section\n```python\n{source}\n```\n````\n"}))
    cell = nbformat.v4.new_code_cell(source, outputs=outputs)
    cell.metadata.update(tags=["remove-input", "hide-output"],
                         mystnb={"code_prompt_show": heading, "code_prompt_hide": heading})
    return cell


def _folded_text(heading: str, text: str):
    """A markdown cell folding `text` behind a toggle named `heading`, in the markup (and so the style) of
    MyST-NB's hidden output that `_folded_cell` gets; the markdown between the raw HTML blocks is still parsed."""
    import html

    import nbformat

    title = html.escape(heading)
    return nbformat.v4.new_markdown_cell(
        f'<div class="cell docutils container"><details class="admonition hide above-output">\n'
        f'<summary aria-label="Toggle hidden content">\n<p class="collapsed admonition-title">{title}</p>\n'
        f'<p class="expanded admonition-title">{title}</p>\n</summary>\n\n{text}\n\n</details></div>\n')


def fold_sections(cells: list) -> list:
    """`cells` with every markdown cell tagged `FOLD`, and the code cells right after it (up to the next markdown
    or parameters cell), turned into one folded cell (`_folded_cell`, or `_folded_text` when no code follows):
    its first line (a heading, without its ``#``) names the toggle, its other lines and the code cells' outputs
    are shown when it is opened."""
    out, i = [], 0
    while i < len(cells):
        cell = cells[i]
        i += 1
        if cell.cell_type != "markdown" or FOLD not in cell.metadata.get("tags", []):
            out.append(cell)
            continue
        first, _, text = cell.source.strip().partition("\n")
        code = []
        while (i < len(cells) and cells[i].cell_type == "code"
               and not PARAMETER_TAGS & set(cells[i].metadata.get("tags", []))):
            code.append(cells[i])
            i += 1
        heading = first.lstrip("#").strip()
        out.append(_folded_cell(heading, text.strip(), code) if code else _folded_text(heading, text.strip()))
    return out


def decorate(path: Path, suffix: str, box: str) -> None:
    """Shape an executed notebook for the book: append `suffix` to its first heading, put `box` (the
    parameter line and the Reproduce box) under it, remove the parameters cell and the cell papermill
    injected (the box states the values), fold the sections tagged `FOLD` (`fold_sections`), and fold every
    other code cell's source."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.cells = fold_sections(nb.cells)
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
        here = float(meta.get("total_time", 0.0))
        cold = max(cold_seconds(meta.get("stage_times") or {}), here)
        took = _minutes(here)
        if cold > here + 1:
            took += (f" here; {_minutes(cold)} cold (the sum of its stages as measured when computed), "
                     f"{_minutes(cold - here)} of it reused from the shared training stores"
                     + (f" and {resumed} stage{'s' if resumed > 1 else ''} of an earlier, interrupted run" if resumed
                        else "") + ",")
        elif resumed:
            took += f", resuming {resumed} stage{'s' if resumed > 1 else ''} computed by an earlier, interrupted run,"
        body = (f"    {page.command}\n\ncomputed this page's result in {took} "
                f"on {where} ({(meta.get('timestamp') or '?')[:10]}, commit "
                f"`{((meta.get('git') or {}).get('commit') or 'unknown')[:10]}`"
                f"{', STALE: the code has changed since' if result.stale else ''}). Stored, it is only re-drawn; "
                "`--force` recomputes.")
    return f"{line}\n\n```{{admonition}} Reproduce\n:class: tip pgx-reproduce\n{body}\n```\n"



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
    """Markdown describing every task family: a table of what each varies (the first paragraph of its module's
    docstring), then each family's whole docstring and, with `pictures` (a folder), a picture of its tasks, folded
    one dropdown per family."""
    import importlib

    from pgxlib.config import FAMILIES

    docs = {name: (importlib.import_module(f"pgxlib.tasks.{name}").__doc__ or "").strip() for name in FAMILIES}
    rows = "".join(f"| `{name}` | {' '.join(doc.split(chr(10) * 2)[0].split()).replace('|', chr(92) + '|')} |\n"
                   for name, doc in docs.items())
    parts = ["# The task families\n",
             "Each family is a set of tasks that share observation and action spaces and differ in parameters, "
             "drawn with a seed into source tasks (grouped and meta-trained on) and target tasks (unseen, for "
             "meta-RL evaluation); `pgxlib.tasks.base.build_family` holds that convention. `planted` is the family "
             "whose right grouping is known by construction. Each family's own description below says what it "
             "varies, over which ranges, and why.\n",
             f"| family | what varies |\n| --- | --- |\n{rows}"]
    for name, doc in docs.items():
        body = [doc]
        if pictures is not None:
            file = f"family-{name}.png"
            drawn = family_picture(name, pictures / file)
            body.append(f"![The tasks of {name}]({file})" if drawn else "(No picture: the family cannot be built on "
                                                                        "the machine that built this book.)")
        parts.append(f"::::{{dropdown}} `{name}`: its description and tasks\n" + "\n\n".join(body) + "\n::::\n")
    return "\n".join(parts)


GLANCE_PAGE = "glance.md"
"""Results at a glance, written at build time from the stored results and included by the intro."""


EVALUATOR_RULE_PAGE = "evaluator_rule_summary.md"
"""The evaluator rule's pick, table and leave-one-family-out reading, written at build time and included by the
method chapter."""


def _stored_rule_pick(profile: str) -> tuple[str | None, str | None]:
    """(the evaluator rule's stored pick, None when it is not stored; the command that computes it)."""
    from pgxlib.book.chapters import chapter_runs

    runs = chapter_runs("evaluator_rule", profile)
    if not runs:
        return None, None
    family, seed, rest = _split(runs[0])
    stored = experiments.find_result("evaluator_rule", profile, family, seed, **rest)
    command = experiments.run_command("evaluator_rule", profile, family, seed, **rest)
    return (stored.metrics["evaluator_rule"]["pick"] if stored is not None else None), command


def speedup_summary(pages: list[Page], profile: str) -> str:
    """The speedup chapter's evaluator × family table (`report.evaluator_tables.evaluator_family_cells`) from the results
    stored for its runs, with its sentences: each family's stored seeds, or the command of a family without one."""
    from pgxlib.report.evaluator_tables import evaluator_family_cells, evaluator_family_text
    from pgxlib.report.tables import markdown_table

    stored: dict[str, Any] = {}
    stale: dict[str, set[int]] = {}
    for page in pages:
        family, seed, rest = _split(page.params)
        result = experiments.find_result("speedup", profile, family, seed, **rest)
        if result is not None:
            runs = stored.get(family)
            stored[family] = {**(runs if isinstance(runs, dict) else {}), seed: result.metrics}
            if result.stale:
                stale.setdefault(family, set()).add(seed)
        elif family not in stored:
            stored[family] = page.command
    pick, command = _stored_rule_pick(profile)
    table = markdown_table(evaluator_family_cells(stored, pick=pick, stale=stale))
    return (f"## Which evaluator agrees with the truth?\n\n{table}\n"
            f"{evaluator_family_text(stored, pick=pick, rule_command=command)}\n")


INDEX_SUMMARIES = {"speedup": speedup_summary}
"""Chapter (notebook) -> the table its index page shows above the links to its runs, from the stored results."""


def chapter_index(chapter: Chapter, pages: list[Page], profile: str = "default") -> str:
    """The page above a chapter's runs: its title, the chapter's summary table where it has one (`INDEX_SUMMARIES`),
    one link per family (run) and the commands that compute them."""
    links = "\n".join(f"- [{run_label(p.params)}]({p.name})" + (" (not computed)" if p.action == "missing" else "")
                      for p in pages)
    commands = "\n".join(f"    {p.command}" for p in pages if p.command)
    box = (f"```{{admonition}} Reproduce\n:class: tip\nOne command per page; each page gives its measured wall "
           f"time.\n\n{commands}\n```\n" if commands else "")
    summary = INDEX_SUMMARIES.get(chapter.notebook)
    table = summary(pages, profile) + "\n" if summary else ""
    return (f"# {notebook_title(chapter.notebook)}\n\n{table}{box}\nThis chapter runs once per task family; each "
            f"page below shows one run.\n\n{links}\n")


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


def write_book_pages(pages: list[Page], book_dir: Path, profile: str = "default") -> None:
    """The generated pages that are not notebooks: families, chapter indexes and the TOC."""
    out_dir = book_dir / "notebooks"
    (out_dir / FAMILIES_PAGE).write_text(families_page(out_dir), encoding="utf-8")
    for chapter in _chapters(pages):
        runs = [p for p in pages if p.chapter is chapter]
        if len(runs) > 1:
            name = _page_name(chapter, runs[0].index, 0, {}, False)
            (out_dir / f"{name}.md").write_text(chapter_index(chapter, runs, profile), encoding="utf-8")
    (book_dir / "_toc.yml").write_text(book_toc(pages), encoding="utf-8")


def write_glance(pages: list[Page], profile: str, out_dir: Path) -> None:
    """The results at a glance the introduction includes, from the results stored once the pages have run."""
    from pgxlib.report.glance import glance_markdown

    card = [p.name for p in pages if p.chapter.notebook == "scorecard"]
    link = (f"\nThe {{doc}}`reproduction scorecard </notebooks/{card[0]}>` judges every claim of the paper, family "
            "by family.\n" if card else "")
    (out_dir / GLANCE_PAGE).write_text(glance_markdown(profile, experiments, params=chapter_params(profile)) + link,
                                       encoding="utf-8")


def write_evaluator_rule(profile: str, out_dir: Path) -> None:
    """The evaluator rule's summary the method chapter includes, from the stored `evaluator_rule` result."""
    from pgxlib.book.chapters import chapter_runs
    from pgxlib.report.evaluator_rule import rule_markdown

    runs = chapter_runs("evaluator_rule", profile)
    stored, command = None, None
    if runs:
        family, seed, rest = _split(runs[0])
        stored = experiments.find_result("evaluator_rule", profile, family, seed, **rest)
        command = experiments.run_command("evaluator_rule", profile, family, seed, **rest)
    rule = None if stored is None else stored.metrics["evaluator_rule"]
    (out_dir / EVALUATOR_RULE_PAGE).write_text(rule_markdown(rule, command), encoding="utf-8")


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
    write_book_pages(pages, book_dir, profile)
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
    write_evaluator_rule(profile, out_dir)
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
