"""The book: the chapter table, notebook execution with papermill, and the Jupyter Book build.

A chapter is a jupytext notebook ``notebooks/<name>.py`` run once per parameter dict of the chosen
profile. `build_book` decides per run: a stored result is only re-drawn; a missing one is computed
under ``smoke`` or with ``force``; under ``default`` it is *not* computed: the chapter page names the
missing result and the ``pgx run ...`` command that computes it. Executed notebooks go into
``book/notebooks/`` (git-ignored), then ``jupyter-book build`` runs with warnings as errors.

Split by how often each part changes: `chapters` (the chapter table: one row per chapter), `execution`
(papermill and the kernel's log), `plan` (pages per chapter run, their names and links, outdated runs) and
`pages` (page decoration, the Reproduce box, the families page, the table of contents, the glance, the build).
"""
from pgxlib.book.chapters import BOOK_PROFILES, CHAPTERS, NOTEBOOK_OF, Chapter, chapter_params, chapter_runs, \
    every_profile, notebook_for
from pgxlib.book.execution import execute_notebook, kernel_log, log_path, notebook_source, notebook_title
from pgxlib.book.pages import book_toc, build_book, decorate, families_page, reproduce_box
from pgxlib.book.plan import OutdatedRun, Page, outdated_runs, page_links, plan_book, run_label

__all__ = ["BOOK_PROFILES", "CHAPTERS", "NOTEBOOK_OF", "Chapter", "OutdatedRun", "Page", "book_toc", "build_book",
           "chapter_params", "chapter_runs", "decorate", "every_profile", "execute_notebook", "families_page",
           "kernel_log", "log_path", "notebook_for", "notebook_source", "notebook_title", "outdated_runs",
           "page_links", "plan_book", "reproduce_box", "run_label"]
