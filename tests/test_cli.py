"""`pgx run` validation: a bad parameter exits with code 2, one line naming it, and writes nothing.

Validation runs against the real walkthrough experiment; nothing is computed because every case
fails before computation. The last test runs the real console script on an unknown experiment.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pgxlib import cli, experiments
from pgxlib.book import chapters, execution, plan
from pgxlib import store as results
from pgxlib.store.checksums import seal


def written(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("argv, names", [
    (["-p", "family", "nosuch"], ["family", "cartpole", "metaworld"]),
    (["-p", "k", "0"], ["k=0", "positive integer"]),
    (["-p", "k", "99"], ["k=99", "1..4"]),
    (["-p", "profile", "huge"], ["profile", "smoke", "default", "paper"]),
    (["--profile", "huge"], ["profile", "smoke"]),
    (["-p", "seed", "-1"], ["seed", "non-negative integer"]),
    (["-p", "bogus", "1"], ["bogus", "allowed profile, family, seed, k"]),
    (["-p", "k", "2", "-p", "k", "3"], ["k", "twice"]),
])
def test_bad_parameter_exits_2_with_one_line(store, capsys, argv, names):
    code = cli.main(["run", "walkthrough", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for name in names:
        assert name in err
    assert written(store) == []


def test_unknown_experiment_exits_2(store, capsys):
    assert cli.main(["run", "nosuch", "-p", "family", "cartpole"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "experiment" in err and "walkthrough" in err
    assert written(store) == []


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "walkthrough", "-p", "k"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("1e-3", 1e-3), ("None", None), ("null", None),
                                         ("true", True), ("False", False), ("cartpole", "cartpole"),
                                         ("'3'", "3"), ("[1, 2]", [1, 2])])
def test_parse_value(text, value):
    assert cli.parse_value(text) == value


def test_run_executes_the_notebook_with_papermill(store, monkeypatch, tmp_path, capsys):
    """The happy path through papermill and the venv's kernel, with a tiny notebook that stores the
    result the way `run_experiment` would (the double cannot be imported inside the kernel)."""
    notebook = tmp_path / "walkthrough.py"
    notebook.write_text(
        '# %% [markdown]\n# # Toy\n\n# %% tags=["parameters"]\nprofile = "default"\nfamily = "cartpole"\n'
        'seed = 0\nforce = False\nk = None\n\n'
        '# %%\nfrom pgxlib import store as results\n'
        'key = results.result_key(family, seed, {"k": k}, {"k": None})\n'
        'path = results.result_dir(profile, "walkthrough", key)\n'
        'meta = {"parameters": {"profile": profile, "family": family, "seed": seed, "params": {"k": k}},\n'
        '        "fingerprint": {"sha256": "x"}}\n'
        'results.write_result(path, {"groups": [[0, 1]], "k": k}, {}, meta)\n')
    monkeypatch.setattr(execution, "notebook_source", lambda name: notebook)
    monkeypatch.setattr(experiments, "_fingerprint", lambda *_: {"sha256": "x", "files": []})
    code = cli.main(["run", "walkthrough", "-p", "family", "nav2d", "-p", "k", "2", "--out", str(tmp_path / "nb")])
    out = capsys.readouterr().out
    assert code == 0, out
    [stored] = (tmp_path / "results" / "smoke" / "walkthrough").glob("nav2d-seed0-*")
    assert str(stored) in out
    executed = list((tmp_path / "nb").glob("walkthrough-smoke-nav2d-seed0-*.ipynb"))
    assert len(executed) == 1
    cells = json.loads(executed[0].read_text())["cells"]
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in cells)
    assert json.loads((stored / "result.json").read_text())["metrics"]["k"] == 2


def test_console_script_end_to_end(tmp_path):
    script = shutil.which("pgx", path=str(Path(sys.executable).parent))
    cmd = [script] if script else [sys.executable, "-m", "pgxlib.cli"]
    env = {"PGX_RESULTS": str(tmp_path / "results"), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([*cmd, "run", "nosuch", "-p", "family", "cartpole"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "invalid experiment='nosuch'" in done.stderr
    assert not (tmp_path / "results").exists()


def test_missing_result_key_matches_cli(store):
    module, full = experiments.resolve("walkthrough", "smoke", "cartpole", 0, k=3)
    assert experiments.result_key(module, "cartpole", 0, full).startswith("cartpole-seed0-")
    assert experiments.run_command("walkthrough", "default", "cartpole", 0, k=3) == \
        "pgx run walkthrough --profile default -p family cartpole -p k 3"
    assert results.result_key("cartpole", 0, {"k": None}, {"k": None}) == "cartpole-seed0"


def test_run_picks_the_notebook_of_the_family(store, monkeypatch, tmp_path):
    """`pgx run main_results -p family metaworld` executes the MT10 notebook, the ablations on metaworld its k-only
    notebook; every notebook named so exists and has a parameters cell taking the run's parameters."""
    assert chapters.notebook_for("main_results", "metaworld") == "mt10"
    assert chapters.notebook_for("ablations", "metaworld") == "mt10_k"
    assert chapters.notebook_for("main_results", "cartpole") == "main_results"
    for (experiment, family), name in chapters.NOTEBOOK_OF.items():
        text = execution.notebook_source(name).read_text()
        assert 'tags=["parameters"]' in text and f'family = "{family}"' in text
        assert f'run_experiment("{experiment}"' in text
    ran = []
    monkeypatch.setattr(execution, "execute_notebook", lambda name, *a, **k: ran.append(name))
    code = cli.main(["run", "main_results", "--profile", "smoke", "-p", "family", "metaworld", "--out", str(tmp_path)])
    assert ran == ["mt10"] and code == 1  # the double executed nothing, so no result was stored


@pytest.mark.slow
def test_refresh_recomputes_a_stale_result_and_only_then(store, tmp_path, capsys):
    argv = ["run", "first_order_error", "--profile", "smoke", "-p", "family", "cartpole", "--out", str(tmp_path / "nb")]
    assert cli.main(argv) == 0
    [stored] = (store / "results" / "smoke" / "first_order_error").glob("cartpole-seed0*")
    first = json.loads((stored / "result.json").read_text())
    assert cli.main([*argv, "--refresh"]) == 0  # current: loaded, not recomputed
    assert json.loads((stored / "result.json").read_text())["meta"]["timestamp"] == first["meta"]["timestamp"]
    aged = {**first, "meta": {**first["meta"], "fingerprint": {**first["meta"]["fingerprint"], "sha256": "older"}}}
    (stored / "result.json").write_text(json.dumps(aged))
    seal(stored, ["result.json", "arrays.npz"])  # an edit that keeps the digests: stale, not corrupt
    capsys.readouterr()
    assert cli.main(argv) == 0 and "STALE" in capsys.readouterr().out.upper()  # without --refresh: shown stale
    assert cli.main([*argv, "--refresh"]) == 0
    assert "computed by older code: recomputing it" in capsys.readouterr().out
    again = json.loads((stored / "result.json").read_text())
    assert again["meta"]["fingerprint"]["sha256"] == first["meta"]["fingerprint"]["sha256"]
    assert again["metrics"]["relative_error_pct"] == first["metrics"]["relative_error_pct"]  # same seeds, same numbers


@pytest.mark.slow
def test_pgx_refresh_computes_what_is_missing_or_stale_and_nothing_else(store, capsys):
    assert cli.main(["refresh", "--profile", "smoke", "--dry-run"]) == 0
    listed = capsys.readouterr().out
    runs = sum(len(c.runs["smoke"]) * (1 + len(c.also)) for c in chapters.CHAPTERS if c.experiment is not None)
    assert f"{runs} result(s) of the smoke profile to compute" in listed and "stale" not in listed
    assert "missing  pgx run first_order_error --profile smoke -p family cartpole" in listed
    assert "missing  pgx run ablations --profile smoke -p family metaworld" in listed  # read by the MT10 chapter
    assert written(store) == []                                               # a dry run computes nothing

    only = ["refresh", "--profile", "smoke", "--only", "first_order_error:cartpole"]
    assert cli.main(only) == 0
    [stored] = (store / "results" / "smoke" / "first_order_error").glob("cartpole-seed0*")
    first = json.loads((stored / "result.json").read_text())
    capsys.readouterr()
    assert cli.main(only) == 0 and "0 result(s)" in capsys.readouterr().out  # current now: nothing to do

    aged = {**first, "meta": {**first["meta"], "fingerprint": {**first["meta"]["fingerprint"], "sha256": "older"}}}
    (stored / "result.json").write_text(json.dumps(aged))
    seal(stored, ["result.json", "arrays.npz"])  # an edit that keeps the digests: stale, not corrupt
    assert cli.main([*only, "--dry-run"]) == 0
    assert "stale    pgx run first_order_error" in capsys.readouterr().out
    assert cli.main(only) == 0
    again = json.loads((stored / "result.json").read_text())
    assert again["meta"]["fingerprint"]["sha256"] == first["meta"]["fingerprint"]["sha256"]
    assert again["metrics"]["relative_error_pct"] == first["metrics"]["relative_error_pct"]


def test_an_outdated_grouping_run_lists_the_pgx_group_command_that_recomputes_it():
    run = plan.OutdatedRun("group", "default", "nav2d", 0, {"k": None, "overrides": {"n_tasks": 100}}, "stale")
    assert run.command == "pgx group --profile default --family nav2d -p n_tasks 100 --force"
    args = cli.build_parser().parse_args(run.command.split()[1:])
    assert (args.family, args.profile, cli.parse_params(args.params), args.force) == ("nav2d", "default", {"n_tasks": 100},
                                                                                True)
    seeded = plan.OutdatedRun("group", "smoke", "planted", 2, {"k": 3, "overrides": {}}, "missing")
    assert seeded.command == "pgx group --profile smoke --family planted --seed 2 --k 3 --force"


def test_refresh_only_takes_several_experiments_after_one_flag():
    args = cli.build_parser().parse_args(["refresh", "--only", "structure", "group:nav2d", "--only", "scale"])
    assert args.only == ["structure", "group:nav2d", "scale"]
