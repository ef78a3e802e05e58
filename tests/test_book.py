"""The book's page shaping: one parameter line and a Reproduce box per page, the parameter cells hidden, a table
of contents nested per experiment, kernel noise kept in a log."""
import os
import sys

import nbformat
import yaml

from pgxlib.book import chapters, execution, plan
from pgxlib.book.pages import book_toc, decorate, reproduce_box


def _pages(profile="default"):
    return plan.plan_book(profile, no_compute=True)


def test_toc_nests_the_runs_of_a_chapter_under_it_with_distinct_titles():
    pages = _pages()
    toc = yaml.safe_load(book_toc(pages))
    assert toc["root"] == "intro"
    captions = [p["caption"] for p in toc["parts"]]
    assert captions[0] == "The method" and "Experiments" in captions
    chapters = [c for p in toc["parts"] for c in p["chapters"]]
    files = [c["file"] for c in chapters]
    assert "notebooks/00-families" in files and "api" in files
    multi = [c for c in chapters if "sections" in c]
    assert multi, "chapters with one run per family have their runs beneath them"
    for chapter in multi:
        titles = [s["title"] for s in chapter["sections"]]
        assert len(set(titles)) == len(titles)
    top = [c.get("title") for c in chapters]
    assert len(set(top)) == len(top)
    every_page = {f"notebooks/{p.name}" for p in pages}
    listed = set(files) | {s["file"] for c in multi for s in c["sections"]}
    assert every_page <= listed


def test_decorate_hides_the_parameter_cells_and_adds_the_reproduce_box(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\nIntro text."),
        nbformat.v4.new_code_cell("profile = 'default'\nfamily = 'nav2d'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("family = 'cartpole'", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    page = next(p for p in _pages() if p.chapter.notebook == "main_results")
    box = reproduce_box(page, "default")
    decorate(path, "cartpole", box)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].source == "# Title (cartpole)" and cells[1].source == box and cells[2].source == "\nIntro text."
    assert "remove-cell" in cells[3].metadata["tags"] and "remove-cell" in cells[4].metadata["tags"]
    assert "hide-input" in cells[5].metadata["tags"]
    assert "```{admonition} Reproduce" in box and page.command in box and "**Parameters:**" in box


def test_a_section_tagged_fold_becomes_one_toggle_holding_its_text_and_outputs():
    from pgxlib.book.pages import fold_sections

    figure = nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})
    cells = [nbformat.v4.new_markdown_cell("## Visible"),
             nbformat.v4.new_markdown_cell("## The details\nWhy they matter.", metadata={"tags": ["fold"]}),
             nbformat.v4.new_code_cell("plot()", outputs=[figure]),
             nbformat.v4.new_code_cell("table", outputs=[nbformat.v4.new_output("execute_result", data={"text/plain": "t"},
                                                                               execution_count=1)]),
             nbformat.v4.new_markdown_cell("## Protocol\nHow.", metadata={"tags": ["fold"]}),
             nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell("after()")]
    out = fold_sections(cells)
    assert [c.cell_type for c in out] == ["markdown", "code", "markdown", "code", "code"]
    folded = out[1]
    assert {"remove-input", "hide-output"} <= set(folded.metadata["tags"])
    assert folded.metadata["mystnb"]["code_prompt_show"] == "The details"
    assert folded.outputs[0]["data"]["text/markdown"] == "Why they matter." and folded.outputs[1] == figure
    assert folded.outputs[2]["data"]["text/plain"] == "t"
    assert "plot()" in folded.outputs[3]["data"]["text/markdown"] and "{dropdown}" in folded.outputs[3]["data"]["text/markdown"]
    text = out[2].source  # no code follows: the text alone, in the same toggle markup
    assert "<details" in text and ">Protocol</p>" in text and "\n\nHow.\n\n</details>" in text
    assert out[3].metadata["tags"] == ["parameters"] and out[4].source == "after()"  # a parameters cell ends a fold


def test_reproduce_box_names_the_command_and_the_measured_wall_time():
    class Stored:
        stale = True
        meta = {"total_time": 1860.0, "timestamp": "2026-11-24T23:08:20+00:00", "git": {"commit": "95a50d88dd12"},
                "device": {"cpu_count": 2}, "parameters": {"params": {"seeds": [0, 1, 2], "k": None}}}

    page = next(p for p in _pages() if p.chapter.notebook == "main_results")
    box = reproduce_box(page, "default", Stored())
    assert f"    {page.command}" in box and "31 min on 2 CPU cores" in box and "`95a50d88dd`" in box
    assert "STALE" in box and "`seeds` = `[0, 1, 2]`" in box
    Stored.meta = {**Stored.meta, "resumed_stages": ["seed0-features", "seed0-surrogate"]}
    assert ("31 min, resuming 2 stages computed by an earlier, interrupted run, on 2 CPU cores"
            in reproduce_box(page, "default", Stored()))
    reader = next(p for p in _pages() if p.chapter.experiment is None)
    assert "pgx book --profile default --no-compute" in reproduce_box(reader, "default", seconds=12.0)


def test_reproduce_box_tells_the_cold_cost_from_what_this_run_reused():
    class Stored:
        stale = False
        meta = {"total_time": 50.0, "device": {"cpu_count": 2},
                "stage_times": {"seed0": 16.0, "seed0-features": 4.0, "seed0-surrogate": 11.0,
                                "seed0-metarl-mlp-0-1": 900.0, "seed0-metarl-paco-0-1": 935.0}}

    page = next(p for p in _pages() if p.chapter.notebook == "main_results")
    box = reproduce_box(page, "default", Stored())
    assert "50 s here; 31 min cold (the sum of its stages as measured when computed), 30 min of it reused" in box
    assert ":class: tip pgx-reproduce" in box


def test_cold_seconds_counts_only_stages_that_contain_no_other():
    from pgxlib.report.tables import cold_seconds

    assert cold_seconds({"seed0": 16.0, "seed0-features": 4.0, "seed0-surrogate": 11.0, "seed1": 3.0}) == 18.0
    assert cold_seconds({}) == 0.0


def test_kernel_messages_go_to_the_log_not_the_terminal(tmp_path, capfd):
    log = tmp_path / "logs" / "page.log"
    with execution.kernel_log(log) as terminal:
        os.write(2, b"[IPKernelApp] WARNING | noise\n")
        print("progress", file=terminal)
    print("after", file=sys.stderr)
    err = capfd.readouterr().err
    assert "noise" not in err and "progress" in err and "after" in err
    assert "noise" in log.read_text()


def test_page_links_point_at_the_pages_the_toc_lists():
    pages = _pages()
    names = {p.name + ".html" for p in pages} | {f"{p.name.split('-', 1)[0]}-{p.chapter.notebook}.html" for p in pages}
    links = plan.page_links("default")
    assert links[("main_results", "cartpole")] in names
    assert all(href in names for href in links.values())


def test_every_chapter_parameter_is_a_notebook_parameter(monkeypatch):
    """A parameter the notebook does not declare would be injected unused, and the page would show (or compute)
    another result than the one the build planned."""
    import pytest

    from pgxlib.config import ConfigError

    for profile in chapters.BOOK_PROFILES:
        plan.plan_book(profile, no_compute=True)
    chapter = chapters.Chapter("structure", {"default": ({"family": "planted", "n_tasks": 20},)}, "structure")
    monkeypatch.setattr(plan, "CHAPTERS", (chapter,))
    with pytest.raises(ConfigError, match="n_tasks, which notebooks/structure.py does not declare"):
        plan.plan_book("default", no_compute=True)


def test_the_speedup_index_shows_every_family_with_its_stored_seeds_or_its_command(monkeypatch):
    from pgxlib import experiments
    from pgxlib.book import pages

    from test_speedup import _fake_metrics

    class Stored:
        stale = False
        metrics = _fake_metrics()

    def find(name, profile, family, seed=0, **params):
        if name == "evaluator_rule":
            return type("Rule", (), {"metrics": {"evaluator_rule": {"pick": "ppo"}}})()
        return None if family == "nav2d" else Stored()

    runs = [p for p in _pages() if p.chapter.notebook == "speedup"]
    monkeypatch.setattr(experiments, "find_result", find)
    text = pages.chapter_index(runs[0].chapter, runs, "default")
    families = {p.params["family"] for p in runs}
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 2 + len(families) and "ppo (rule's pick)" in table[0] and "(default)" in table[0]
    nav2d = next(p for p in runs if p.params["family"] == "nav2d")
    assert f"| nav2d | not stored: `{nav2d.command}` |" in text
    assert "| planted | 0, 1, 2 |" in text and "worst case over 3 seeds" in text
    assert text.index("| family |") < text.index("Reproduce")


def test_the_families_page_is_a_table_with_each_description_folded_below():
    import importlib

    from pgxlib.book.pages import families_page
    from pgxlib.config import FAMILIES

    text = families_page()
    assert "| family | what varies |" in text
    for name in FAMILIES:
        doc = importlib.import_module(f"pgxlib.tasks.{name}").__doc__.strip()
        assert f"\n| `{name}` | " in text and f"::::{{dropdown}} `{name}`" in text
        assert doc in text  # the whole description, folded
    assert text.count("::::{dropdown}") == len(FAMILIES) and "\n## " not in text


def test_every_folded_section_is_named_by_a_plain_heading():
    """A fold's heading becomes its toggle's text, which is not typeset: it must be a heading without TeX."""
    import jupytext

    from pgxlib.book.pages import FOLD

    folds = 0
    for path in sorted((execution.repo_root() / "notebooks").glob("*.py")):
        for cell in jupytext.read(path).cells:
            if cell.cell_type == "markdown" and FOLD in cell.metadata.get("tags", []):
                first = cell.source.strip().splitlines()[0]
                assert first.startswith("## ") and "$" not in first and "\\" not in first, (path.name, first)
                folds += 1
    assert folds > 0


def test_main_results_and_ablations_run_on_the_same_paired_seeds_per_family():
    main = {r["family"]: r["seeds"] for r in chapters.chapter_runs("main_results", "default")}
    ablations = {r["family"]: r["paired_seeds"] for r in chapters.chapter_runs("ablations", "default")}
    expected = {family: list(range(n)) for family, n in chapters.PAIRED_SEEDS.items()}
    assert main == ablations == expected
    assert expected["planted"] == list(range(10)) and expected["nav2d"] == list(range(5))
