"""Planning the book: one `Page` per chapter run and what the build does with it (execute, or a placeholder for a
missing or unwritten chapter), the pages' names and links, and the runs whose results are missing or stale."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from pgxlib import experiments
from pgxlib.book.chapters import BOOK_PROFILES, CHAPTERS, Chapter, notebook_for
from pgxlib.book.execution import notebook_parameters, notebook_source
from pgxlib.config import ConfigError
from pgxlib.store.results import RESULT_FILE, CorruptResult, read_result, results_root

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



def run_label(params: Mapping[str, Any]) -> str:
    """``cartpole, seed 0, k=3`` for a parameter dict."""
    parts = [str(params["family"])] if "family" in params else []
    if "seed" in params:
        parts.append(f"seed {params['seed']}")
    parts += [f"{k}={v}" for k, v in params.items() if k not in ("family", "seed")]
    return ", ".join(parts) or "default parameters"




def _split(params: Mapping[str, Any]) -> tuple[str, int, dict[str, Any]]:
    rest = dict(params)
    return rest.pop("family", "cartpole"), rest.pop("seed", 0), rest


def _page_name(chapter: Chapter, index: int, run: int, params: Mapping[str, Any], many: bool) -> str:
    """``02-main_results`` or, for a chapter with several runs, ``02-main_results-01-cartpole-seed-0``;
    the book's table of contents globs these names, so their sort order is the book's order."""
    name = f"{index:02d}-{chapter.notebook}"
    if many:
        label = re.sub(r"[\[\]()]", "", run_label(params))  # ``depths=[4]`` → ``depths=4``, not ``depths=-4``
        name += f"-{run:02d}-" + re.sub(r"[^A-Za-z0-9_.=-]+", "-", label).strip("-")
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
