"""`pgx`: run one experiment notebook, build the book, or group a task family.

    pgx run walkthrough --profile smoke -p family nav2d [-p seed 1] [-p k 3] [--force | --refresh] [--out DIR]
    pgx book --profile {default,smoke} [--force] [--check] [--no-compute]
    pgx refresh [--only EXPERIMENT[:FAMILY] ...] [--dry-run]
    pgx group --family cartpole --k 3 [--profile smoke] [--seed 0] [-p key value] [--force]
    pgx glance [--profile default] [--readme]
    pgx golden [--accept]
    pgx bench [--quick] [--out FILE]
    pgx --engine ray ...   independent runs as Ray tasks (sets PGX_ENGINE; RAY_ADDRESS joins a cluster)

Every parameter is validated before anything runs; a bad one exits with code 2 and one line on
stderr naming the parameter and its allowed values.
"""
from __future__ import annotations

import argparse
import ast
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

from pgxlib.config import PROFILES, ConfigError
from pgxlib.store.cache import CURRENT_STAGE
from pgxlib.store.guard import check_environment, interrupted_line


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit code 2)."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_value(text: str) -> Any:
    """A ``-p`` value: a Python literal (3, 0.5, None, True, 'x', [1, 2]), YAML true/false/null, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    return text


def parse_params(pairs: Sequence[Sequence[str]] | None) -> dict[str, Any]:
    """``[("k", "3")]`` -> ``{"k": 3}``; a name given twice is an error."""
    out: dict[str, Any] = {}
    for name, text in pairs or ():
        if name in out:
            raise ConfigError(f"invalid -p {name}: given twice")
        out[name] = parse_value(text)
    return out


MAX_ERROR_CHARS = 400
"""An error line is cut to this many characters (a huge parameter value is not echoed whole)."""


def one_line(message: object, limit: int = MAX_ERROR_CHARS) -> str:
    """`message` on one line, cut to `limit` characters in its middle (marked "…"), so that both the start (what
    failed) and the end (what to do) are kept."""
    text = " ".join(str(message).split())
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def _fail(message: str) -> int:
    print(f"pgx: error: {one_line(message)}", file=sys.stderr)
    return 2


def _places(*extra: tuple[str, Path]) -> dict[str, Path]:
    """The folders a computing command writes: results, stage caches, logs (and `extra`)."""
    from pgxlib.store.results import results_root, runs_root

    return {"PGX_RESULTS": results_root(), "PGX_RUNS": runs_root(), "the log folder": runs_root() / "logs",
            **dict(extra)}


def check_places(*extra: tuple[str, Path]) -> None:
    """Raise `ResultError` (one line) unless every folder the command writes can take its output."""
    from pgxlib.store.guard import check_writable

    check_writable(_places(*extra))


# ---------------------------------------------------------------------------------------------
# pgx run
# ---------------------------------------------------------------------------------------------

def _validate_run(args: argparse.Namespace) -> tuple[str, int, dict[str, Any], str]:
    """(family, seed, params, key) of a `pgx run` request; raises `ConfigError`/`ValueError`."""
    from pgxlib import experiments
    from pgxlib.book.chapters import notebook_for
    from pgxlib.book.execution import notebook_source

    params = parse_params(args.params)
    profile = params.pop("profile", args.profile)
    family = params.pop("family", "cartpole")
    seed = params.pop("seed", 0)
    args.profile = profile
    module, full = experiments.resolve(args.experiment, profile, family, seed, **params)
    notebook = notebook_for(args.experiment, family)
    if not notebook_source(notebook).exists():
        raise ConfigError(f"invalid experiment={args.experiment!r}: notebooks/{notebook}.py is not written yet")
    return family, seed, full, experiments.result_key(module, family, seed, full)


def cmd_run(args: argparse.Namespace) -> int:
    """Validate, then execute ``notebooks/<experiment>.py`` with papermill; print where things went."""
    from pgxlib import experiments
    from pgxlib.book.chapters import notebook_for
    from pgxlib.book.execution import _last_line, execute_notebook, log_path
    from pgxlib.store.results import runs_root

    try:
        family, seed, params, key = _validate_run(args)
        removed = [] if args.force else experiments.preflight(args.experiment, args.profile, family, seed, **params)
        out_dir = Path(args.out) if args.out else runs_root() / "notebooks"
        check_places(("the notebook folder", out_dir))
    except (ConfigError, ValueError) as err:
        return _fail(str(err))
    for line in removed:
        print(f"pgx: {one_line(line)}", file=sys.stderr)
    if args.refresh and not args.force:
        dropped = experiments.drop_stale(args.experiment, args.profile, family, seed, **params)
        if dropped is not None:
            print(f"pgx: {dropped} was computed by older code: recomputing it, resuming the stages an "
                  "interrupted run of the current code left")
    before = None if args.force else experiments.find_result(args.experiment, args.profile, family, seed, **params)
    output = out_dir / f"{args.experiment}-{args.profile}-{key}.ipynb"
    # papermill writes a tuple as its text: hand sequences over as lists
    parameters = {"profile": args.profile, "family": family, "seed": seed, "force": args.force,
                  **{k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}}
    try:
        execute_notebook(notebook_for(args.experiment, family), output, parameters, stream=True)
    except Exception as err:  # papermill raises its own error type with the failing cell
        print(f"pgx: notebook failed: {one_line(_last_line(err))} (traceback in {output}; kernel messages in "
              f"{log_path(output)})", file=sys.stderr)
        return 1
    from pgxlib.report.headline import headline

    try:
        result = experiments.find_result(args.experiment, args.profile, family, seed, **params)
    except ValueError as err:
        print(f"pgx: error: {one_line(err)}", file=sys.stderr)
        return 1
    if result is None:
        print(f"notebook: {output}")
        print("pgx: the notebook ran but stored no result for these parameters", file=sys.stderr)
        return 1
    print(f"{args.experiment} on {family} (profile {args.profile}, seed {seed}):")
    for line in headline(result.metrics):
        print(f"  {line}")
    print(f"notebook: {output}")
    print(f"result:   {result.path}" + ("  (STALE: computed by older code)" if result.stale else ""))
    print(run_summary(result.meta, fresh=computed_now(before, result)))
    return 0


def computed_now(before: Any, after: Any) -> bool:
    """Whether the notebook computed the stored result `after` (rather than loading `before`, the one stored
    when it started): nothing was stored, or what is stored now was written by another run."""
    return before is None or before.meta.get("timestamp") != after.meta.get("timestamp") \
        or before.meta.get("key") != after.meta.get("key")


def run_summary(meta: dict[str, Any], fresh: bool = True) -> str:
    """One line on how a stored result came about: computed now (wall time, resumed stages) or loaded
    from the store (date and commit of the run that computed it, and how long that took)."""
    resumed = list(meta.get("resumed_stages") or {})
    total = meta.get("total_time")
    took = f"{total:.1f} s" if isinstance(total, (int, float)) else "an unrecorded time"
    when = f"{meta.get('timestamp', '?')}, commit {((meta.get('git') or {}).get('commit') or 'unknown')[:10]}"
    if not fresh:
        return f"loaded from store ({when}); computing it took {took}"
    return f"computed in {took}" + (f"; resumed: {', '.join(resumed)}" if resumed else "") + f" ({when})"


# ---------------------------------------------------------------------------------------------
# pgx book, pgx group
# ---------------------------------------------------------------------------------------------

def cmd_book(args: argparse.Namespace) -> int:
    """Execute the chapters and build the HTML book (see `pgxlib.book.build_book`)."""
    from pgxlib.book.pages import build_book
    from pgxlib.book.plan import plan_book

    try:
        plan_book(args.profile, args.force, args.no_compute)
        if not args.no_compute:
            check_places()
    except (ConfigError, ValueError) as err:
        return _fail(str(err))
    return build_book(args.profile, force=args.force, check=args.check, no_compute=args.no_compute)


def cmd_refresh(args: argparse.Namespace) -> int:
    """List, then compute, every chapter run whose result is missing or stale (`pgxlib.book.outdated_runs`), in
    book order: a stale result is removed first, so the run resumes the stages that an interrupted run of the
    current code left. `--only` keeps the runs of those experiments (``experiment`` or ``experiment:family``)."""
    from pgxlib import experiments
    from pgxlib.book.plan import outdated_runs

    try:
        runs = outdated_runs(args.profile)
    except (ConfigError, ValueError) as err:
        return _fail(str(err))
    if args.only:
        keep = [tuple(item.split(":", 1)) for item in args.only]
        runs = [r for r in runs if (r.experiment,) in keep or (r.experiment, r.family) in keep]
    print(f"{len(runs)} result(s) of the {args.profile} profile to compute" + (":" if runs else ""))
    for r in runs:
        print(f"  {r.state:7}  {r.command}")
    if args.dry_run or not runs:
        return 0
    try:
        check_places()
    except ValueError as err:
        return _fail(str(err))
    failed = 0
    for i, r in enumerate(runs, start=1):
        print(f"[{i}/{len(runs)}] {r.command}", flush=True)
        try:
            corrupt = r.state == "corrupt"
            if not corrupt:
                experiments.drop_stale(r.experiment, r.profile, r.family, r.seed, **r.params)
            result = experiments.run_experiment(r.experiment, r.profile, r.family, r.seed, force=corrupt, **r.params)
        except Exception as err:  # one failed run does not stop the others
            failed += 1
            print(f"pgx: {r.experiment} on {r.family} failed: {one_line(f'{type(err).__name__}: {err}')}",
                  file=sys.stderr, flush=True)
            continue
        print(f"  {result.path}: {run_summary(result.meta, fresh=result.fresh)}", flush=True)
    return 1 if failed else 0


def cmd_group(args: argparse.Namespace) -> int:
    """Group a task family with PolicyGradEx (`group_command`)."""
    from pgxlib.rl.ppo import NonFiniteError

    try:
        overrides = parse_params(args.params)
        for name, flag in (("seed", "--seed"), ("family", "--family"), ("profile", "--profile"), ("k", "--k")):
            if name in overrides:
                raise ConfigError(f"invalid -p {name}: use {flag} {overrides[name]!r} instead")
        return int(group_command(profile=args.profile, family=args.family, seed=args.seed, k=args.k,
                                 overrides=overrides, force=args.force) or 0)
    except (ConfigError, ValueError) as err:
        return _fail(str(err))
    except NonFiniteError as err:
        print(f"pgx: error: {one_line(err)}", file=sys.stderr)
        return 1


def cmd_glance(args: argparse.Namespace) -> int:
    """Print the results at a glance (`pgxlib.report.glance`), or write them into README.md."""
    from pgxlib import experiments
    from pgxlib.book.chapters import chapter_params
    from pgxlib.report.glance import glance_markdown, with_readme_block
    from pgxlib.store.results import repo_root

    params = chapter_params(args.profile)
    if not args.readme:
        print(glance_markdown(args.profile, experiments, params=params))
        return 0
    path = repo_root() / "README.md"
    text = with_readme_block(path.read_text(encoding="utf-8"),
                             glance_markdown(args.profile, experiments, status=False, params=params))
    path.write_text(text, encoding="utf-8")
    print(f"results at a glance ({args.profile}) written into {path.name}")
    return 0


def cmd_golden(args: argparse.Namespace) -> int:
    """Compare the stored smoke results with the committed golden values, or accept them."""
    from pgxlib.store import golden

    if args.accept:
        path = golden.accept(args.profile)
        print(f"golden values of {len(golden.snapshot(args.profile))} results written to {path.name}")
        return 0
    try:
        changes = golden.compare(golden.load(args.profile), golden.snapshot(args.profile))
    except (FileNotFoundError, ValueError) as err:
        return _fail(str(err))
    print(golden.format_changes(changes))
    if changes:
        print(f"pgx: {len(changes)} value(s) differ from the golden values; if the change is intended, "
              f"run `pgx golden --accept` and commit tests/golden/ on its own", file=sys.stderr)
        return 1
    return 0


class _RunParser(_Parser):
    """`pgx run`'s parser: its help ends with every experiment and its parameters (read when asked)."""

    def format_help(self) -> str:
        return super().format_help() + "\n" + experiments_help() + "\n"


def experiments_help() -> str:
    """Every experiment with a notebook, and its parameters with their defaults."""
    from pgxlib import experiments
    from pgxlib.book.execution import notebook_source

    lines = ["experiments (parameters beyond profile, family and seed, with their defaults; a list parameter holds "
             f"at most {experiments.MAX_LIST_ITEMS} items, seeds at most {experiments.MAX_SEEDS}):"]
    for name in experiments.available():
        if not experiments.implemented(name) or not notebook_source(name).exists():
            continue
        params = ", ".join(f"{k}={v!r}" for k, v in experiments.get(name).PARAMETERS.items()) or "none"
        lines.append(f"  {name}: {params}")
    return "\n".join(lines)


def _add_run_parser(sub) -> argparse.ArgumentParser:
    run = sub.add_parser("run", help="run one experiment notebook (computes or loads its result)")
    run.__class__ = _RunParser  # argparse builds every subparser with one class; this one lists experiments
    return run


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark suite, write its JSON and print its table."""
    from pgxlib import bench

    target = Path(args.out) if args.out else bench.default_path(args.quick)
    try:
        check_places(("the benchmark folder", target.parent))
    except ValueError as err:
        return _fail(str(err))
    result = bench.run_bench(quick=args.quick, threads=torch.get_num_threads(),
                             say=lambda msg: print(msg, file=sys.stderr))
    path = bench.write_bench(result, target)
    print(bench.format_table(result))
    print(f"written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `pgx` argument parser."""
    from pgxlib.experiments import MAX_LIST_ITEMS

    parser = _Parser(prog="pgx", description="PolicyGradEx, reproduced: experiments, the book, task grouping.")
    parser.add_argument("--engine", choices=("joblib", "ray"), help="executor of independent runs (default "
                        "$PGX_ENGINE or joblib; ray joins $RAY_ADDRESS or starts a local Ray)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    param = dict(action="append", nargs=2, metavar=("NAME", "VALUE"), dest="params")

    run = _add_run_parser(sub)
    run.add_argument("experiment", help="one of the experiments listed below")
    run.add_argument("--profile", default="smoke", help=f"one of {', '.join(PROFILES)} (default smoke)")
    run.add_argument("-p", help="a parameter: family (default cartpole), seed (default 0), profile, or one of the "
                               "experiment's knobs; repeatable", **param)
    run.add_argument("--force", action="store_true", help="recompute even if a result is stored")
    run.add_argument("--refresh", action="store_true",
                     help="recompute a stale stored result (computed by older code), resuming cached stages; "
                          "--force starts over")
    run.add_argument("--out", help="directory for the executed notebook (default runs/notebooks)")
    run.set_defaults(func=cmd_run)

    book = sub.add_parser("book", help="execute the chapters and build the HTML book")
    book.add_argument("--profile", default="default", choices=("default", "smoke"))
    book.add_argument("--force", action="store_true", help="recompute every result of the profile")
    book.add_argument("--check", action="store_true", help="verify every executed chapter stored its result")
    book.add_argument("--no-compute", action="store_true", help="never compute; only re-draw stored results")
    book.set_defaults(func=cmd_book)

    refresh = sub.add_parser("refresh", help="compute every result the book's chapters show that is missing or "
                                              "stale (computed by older code), resuming cached stages")
    refresh.add_argument("--profile", default="default", choices=("default", "smoke"))
    refresh.add_argument("--only", action="extend", nargs="+", metavar="EXPERIMENT[:FAMILY]",
                         help="only the runs of these experiments (or experiment and family), e.g. "
                              "--only structure group:nav2d")
    refresh.add_argument("--dry-run", action="store_true", help="list them and the commands; compute nothing")
    refresh.set_defaults(func=cmd_refresh)

    group = sub.add_parser("group", help="group a task family with PolicyGradEx and print the groups")
    group.add_argument("--family", required=True)
    group.add_argument("--k", type=int, default=None, help="number of groups (default: the profile's)")
    group.add_argument("--profile", default="smoke", help=f"one of {', '.join(PROFILES)} (default smoke)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("-p", help="a config override, e.g. -p d 200 or -p meta_ppo.lr 1e-3 (repeatable); a list "
                                 f"value holds at most {MAX_LIST_ITEMS} items", **param)
    group.add_argument("--force", action="store_true", help="recompute even if a result is stored")
    group.set_defaults(func=cmd_group)

    glance = sub.add_parser("glance", help="print the results at a glance (methods × families, five sentences)")
    glance.add_argument("--profile", default="default", choices=("default", "smoke"))
    glance.add_argument("--readme", action="store_true", help="write them into README.md (stale labels left out)")
    glance.set_defaults(func=cmd_glance)

    gold = sub.add_parser("golden", help="compare the smoke results with the committed golden values")
    gold.add_argument("--profile", default="smoke", choices=("smoke",))
    gold.add_argument("--accept", action="store_true", help="store the current results as the golden values")
    gold.set_defaults(func=cmd_golden)

    bench = sub.add_parser("bench", help="micro-benchmarks and stage costs, as JSON (results/bench/) and a table")
    bench.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes (what the tests run)")
    bench.add_argument("--out", help="JSON file to write (default results/bench/{quick,full}.json)")
    bench.set_defaults(func=cmd_bench)
    return parser


def single_threaded_torch() -> None:
    """One intra-op thread unless PGX_THREADS says otherwise.

    The networks here are small MLPs: with several threads on a shared 2-core machine, torch spends
    its time synchronising (a 10-task PPO fine-tune measured 407 s with 2 threads, 15 s with 1).
    The variables are also inherited by the notebook kernels that `pgx run` and `pgx book` start.
    """
    threads = os.environ.setdefault("PGX_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("MKL_NUM_THREADS", threads)

    torch.set_num_threads(int(threads))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it ends the way Ctrl-C does (exit code 143)."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pgx` console script; returns the exit code. Ctrl-C (SIGINT) and SIGTERM end with one
    line naming the stage, exit codes 130 and 143; a rerun resumes from the stored stages."""
    args = build_parser().parse_args(argv)
    if args.engine:
        os.environ["PGX_ENGINE"] = args.engine
    try:
        check_environment()
    except ConfigError as err:
        return _fail(str(err))
    single_threaded_torch()
    note = _stage_note()
    saved_note = os.environ.get("PGX_STAGE_NOTE")
    if note is not None:
        os.environ["PGX_STAGE_NOTE"] = str(note)
    saved_term = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except KeyboardInterrupt as err:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM during clean-up is not a traceback
        print(interrupted_line(note), file=sys.stderr, flush=True)
        CURRENT_STAGE.clear()
        return 143 if isinstance(err, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, saved_term)
        if saved_note is None:
            os.environ.pop("PGX_STAGE_NOTE", None)
        else:
            os.environ["PGX_STAGE_NOTE"] = saved_note
        if note is not None:
            note.unlink(missing_ok=True)


def _stage_note() -> Path | None:
    """A temporary file where this process and the notebook kernels it starts note the stage they compute."""
    try:
        fd, name = tempfile.mkstemp(prefix="pgx-stage-", suffix=".txt")
    except OSError:
        return None
    os.close(fd)
    return Path(name)


def group_command(profile: str, family: str, seed: int = 0, k: int | None = None,
                  overrides: dict[str, Any] | None = None, force: bool = False) -> int:
    """`pgx group`: run PolicyGradEx on a family, print groups, affinity and scores, store the result."""
    from pgxlib import experiments

    params = {"k": k, "overrides": overrides or {}}
    if force:
        experiments.resolve("group", profile, family, seed, **params)
        removed = []
    else:
        removed = experiments.preflight("group", profile, family, seed, **params)
    check_places()
    for line in removed:
        print(f"pgx: {one_line(line)}", file=sys.stderr)
    result = experiments.run_experiment("group", profile, family, seed=seed, force=force, **params)
    if not result.fresh:
        print(f"{run_summary(result.meta, fresh=False)}"
              f"{'; STALE: computed by older code' if result.stale else ''}; --force recomputes it")
    print(format_group_report(result.metrics, result.meta if result.fresh else None))
    print(theta_line(profile, family, result.meta))
    print(f"result: {result.path}")
    print(group_summary(result.metrics) + ("" if result.fresh else " (loaded from store)"))
    return 0


def theta_line(profile: str, family: str, meta: dict[str, Any]) -> str:
    """The θ* story of a grouping run as plain text: θ*'s budget and the structure chapter's noise ceiling there
    (`report.theta_budget.theta_story`, read from the stored structure result the book shows)."""
    from pgxlib import experiments
    from pgxlib.book.chapters import chapter_params
    from pgxlib.report.theta_budget import stored_structure, theta_story

    structure = stored_structure(profile, family, experiments, chapter_params(profile).get("structure"))
    return theta_story(family, meta, structure, where="this run").replace("**", "").replace("\\*", "*")


def group_summary(metrics: dict[str, Any]) -> str:
    """One line: the groups found and the mean return of θ*, the group policies and the random policy."""
    import numpy as np

    groups = " | ".join(",".join(f"S{i}" for i in g) for g in metrics["groups"])
    parts = [f"{metrics['family']}: {metrics['k']} groups ({groups})"]
    for key, label in (("group_return", "grouped"), ("meta_return", "θ*"), ("random_return", "random")):
        if key in metrics:
            parts.append(f"{label} {float(np.mean(metrics[key])):.3g}")
    if "planted_nmi" in metrics:
        parts.append(f"NMI with the planted groups {metrics['planted_nmi']:.2f}")
    return "summary: " + "; ".join(parts[:1]) + "; mean return " + ", ".join(parts[1:4]) + \
        "".join(f"; {p}" for p in parts[4:])


def format_group_report(metrics: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    """A plain-text report of a grouping run: groups, per-task returns, affinity matrix."""
    names = metrics["tasks"]
    short = [f"S{i}" for i in range(len(names))]
    lines = [f"PolicyGradEx on {metrics['family']}: {metrics['k']} groups"]
    for g, tasks in enumerate(metrics["groups"]):
        lines.append(f"  group {g}: " + ", ".join(short[i] for i in tasks))
    if "planted_nmi" in metrics:
        planted = " | ".join(", ".join(short[i] for i in g) for g in metrics["planted_groups"])
        lines.append(f"  planted groups: {planted}; NMI with them {metrics['planted_nmi']:.2f}")
    lines.append("")
    header = f"{'task':<5} {'random':>9} {'meta θ*':>9}" + (f" {'grouped':>9}" if "group_return" in metrics else "")
    success = [k for k in ("meta_success", "group_success") if k in metrics]  # families with info["success"]
    header += "".join(f" {'success ' + k.split('_')[0]:>15}" for k in success)
    lines.append(header + "  parameters")
    for i, name in enumerate(names):
        row = f"{short[i]:<5} {metrics['random_return'][i]:>9.1f} {metrics['meta_return'][i]:>9.1f}"
        if "group_return" in metrics:
            row += f" {metrics['group_return'][i]:>9.1f}"
        row += "".join(f" {100 * metrics[k][i]:>14.0f}%" for k in success)
        lines.append(row + "  " + name.split("[", 1)[-1].rstrip("]"))
    lines.append("")
    lines.append("normalised affinity U (row i: target task, column j: co-trained task)")
    lines.append("      " + " ".join(f"{s:>6}" for s in short))
    for i, row in enumerate(metrics["affinity"]):
        lines.append(f"{short[i]:<5} " + " ".join(f"{v:>6.2f}" for v in row))
    rd = metrics["rel_dist"]
    lines.append(f"\nrelative distance ‖Δθ‖/‖θ*‖ of the estimates: mean {rd['mean']:.4f}, max {rd['max']:.4f} "
                 f"(before rescaling: mean {rd['raw_mean']:.4f})")
    if meta and "stage_times" in meta:
        lines.append("stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in meta["stage_times"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
