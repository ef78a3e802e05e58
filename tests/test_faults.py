"""Faults a user meets: corrupt, truncated or mistyped stored files, interrupts, unusable folders, bad variables.

Each fault ends either in one line naming the file (and the field, and the command that fixes it), or in a
recomputation that says so and stores the same numbers; never in a traceback, never in a silently different
number. One smoke grouping run (`pgx group --family cartpole`, its group training lengthened so that it is a
stage an interrupt can hit) is computed once and copied into each case.
"""
import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pgxlib import book, cli, experiments
from pgxlib.store import cache as stage_cache
from pgxlib.store import guard, read_result
from pgxlib.store.checksums import CHECKSUM_FILE
from pgxlib.store.golden import VOLATILE, flatten

REPO = Path(__file__).resolve().parents[1]
GROUP = ["group", "--family", "cartpole", "-p", "group_ppo.steps_per_task", "1024"]
FORCE = "pgx group --profile smoke --family cartpole -p group_ppo.steps_per_task 1024 --force"


def _env(root: Path) -> dict[str, str]:
    return {"PGX_RESULTS": str(root / "results"), "PGX_RUNS": str(root / "runs"), "PGX_PROGRESS": "0"}


def result_path(root: Path) -> Path:
    [path] = (root / "results" / "smoke" / "group").glob("cartpole-seed0*")
    return path


def compared(path: Path) -> tuple[dict, dict]:
    """The metrics (less clock readings) and arrays of the result stored at `path`."""
    result = read_result(path)
    metrics = {k: v for k, v in flatten(result.metrics) if not VOLATILE.search(k)}
    return metrics, {k: np.asarray(v) for k, v in result.arrays.items()}


def assert_same_result(path: Path, baseline: tuple[dict, dict]) -> None:
    metrics, arrays = compared(path)
    assert metrics == baseline[0]
    assert arrays.keys() == baseline[1].keys()
    for name, values in arrays.items():
        np.testing.assert_array_equal(values, baseline[1][name], err_msg=name)


def one_line(capsys, argv: list[str], code: int, *names: str) -> str:
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """A store holding one smoke grouping run, and its metrics and arrays."""
    root = tmp_path_factory.mktemp("smoke")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _env(root).items():
            mp.setenv(name, value)
        assert cli.main(GROUP) == 0
    return root, compared(result_path(root))


@pytest.fixture
def copy(smoke, tmp_path, monkeypatch, capsys):
    """A private copy of the smoke store, in use (PGX_RESULTS, PGX_RUNS)."""
    root = tmp_path / "store"
    shutil.copytree(smoke[0], root)
    for name, value in _env(root).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    return root


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


DAMAGE = {"flip": flip_byte, "truncate": truncate}


# ---------------------------------------------------------------------------------------------
# Stored files: stage files and the shared θ* store are recomputed; results are named as corrupt
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("kind", ["stage", "shared_meta_policy"])
def test_a_damaged_stage_file_is_recomputed_with_one_line_and_the_same_numbers(copy, smoke, capsys, kind, damage):
    shutil.rmtree(result_path(copy))  # the rerun resumes from the stages
    if kind == "stage":
        [target] = (copy / "runs" / "smoke" / "group").glob("cartpole-seed0*/evaluate_meta.pt")
    else:
        [target] = (copy / "runs" / "meta_policies" / "cartpole").glob("*.pt")
    DAMAGE[damage](target)
    assert cli.main(GROUP) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and target.name in err[0] and "recomput" in err[0], err
    assert_same_result(result_path(copy), smoke[1])


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", ["result.json", "arrays.npz"])
def test_a_damaged_result_is_named_by_every_reader_and_force_recomputes_it(copy, smoke, capsys, name, damage):
    DAMAGE[damage](result_path(copy) / name)
    one_line(capsys, GROUP, 2, name, "corrupt", FORCE)
    one_line(capsys, ["golden"], 2, name, "corrupt", "pgx book --profile smoke --force")
    one_line(capsys, ["refresh", "--profile", "smoke", "--dry-run"], 2, name, "corrupt")
    assert cli.main([*GROUP, "--force"]) == 0
    capsys.readouterr()
    assert_same_result(result_path(copy), smoke[1])


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_legacy_arrays_file_is_one_line_or_the_same_numbers(copy, smoke, capsys, damage):
    """Written before digests were kept: the zip's own CRC-32 guards the arrays (a flip in a header field that no
    array depends on may load, with the same numbers)."""
    (result_path(copy) / CHECKSUM_FILE).unlink()
    DAMAGE[damage](result_path(copy) / "arrays.npz")
    code = cli.main(GROUP)
    captured = capsys.readouterr()
    if code == 0:
        assert damage == "flip" and "Traceback" not in captured.err
        assert_same_result(result_path(copy), smoke[1])
    else:
        lines = captured.err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "arrays.npz" in lines[0] and FORCE in lines[0], captured.err


def test_a_damaged_checkpoint_starts_its_training_over_with_one_line(tmp_path, capsys):
    point = stage_cache.Checkpoint(tmp_path / "c.pt", every=0.0)
    point.save({"x": torch.arange(100)})
    flip_byte(tmp_path / "c.pt")
    assert point.load() is None
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "c.pt" in line and "starting that training run over" in line


# ---------------------------------------------------------------------------------------------
# Wrong types in result.json: one line naming the file and the field
# ---------------------------------------------------------------------------------------------

WRONG = {
    "meta_list": (lambda d: {**d, "meta": []}, "meta is list"),
    "metrics_list": (lambda d: {**d, "metrics": []}, "metrics is list"),
    "no_meta": (lambda d: {"metrics": d["metrics"]}, "meta is missing"),
    "text_number": (lambda d: {**d, "metrics": {**d["metrics"], "k": "abc"}}, "metrics.k is str"),
    "bool_number": (lambda d: {**d, "metrics": {**d["metrics"], "meta_return": [True, *d["metrics"]["meta_return"][1:]]}},
                    "metrics.meta_return[0] is a bool"),
    "inf": (lambda d: {**d, "metrics": {**d["metrics"], "k": 1e999}}, "metrics.k is inf"),
    "seed_bool": (lambda d: {**d, "meta": {**d["meta"], "parameters": {**d["meta"]["parameters"], "seed": False}}},
                  "meta.parameters.seed is a bool"),
}


@pytest.mark.parametrize("case", sorted(WRONG))
@pytest.mark.parametrize("digests", ["kept", "legacy"])
def test_wrong_types_in_result_json_are_one_line_naming_the_field(copy, capsys, case, digests):
    path = result_path(copy)
    document = json.loads((path / "result.json").read_text())
    edit, field = WRONG[case]
    if digests == "legacy":  # written before digests were kept: the schema names the field
        (path / CHECKSUM_FILE).unlink()
    (path / "result.json").write_text(json.dumps(edit(document)).replace("Infinity", "1e999"))
    line = one_line(capsys, GROUP, 2, "result.json", FORCE)
    assert (field if digests == "legacy" else "does not match its recorded SHA-256") in line
    one_line(capsys, ["golden"], 2, "result.json")


def test_a_legacy_result_without_digests_still_loads(copy, smoke, capsys):
    (result_path(copy) / CHECKSUM_FILE).unlink()
    assert cli.main(GROUP) == 0
    assert "loaded from store" in capsys.readouterr().out
    assert_same_result(result_path(copy), smoke[1])


def _chapter_result(experiment: str, family: str) -> Path:
    params = dict(book.chapter_params("smoke")[experiment][family])
    module, full = experiments.resolve(experiment, "smoke", family, params.pop("seed", 0), **params)
    from pgxlib.store import result_dir

    return result_dir("smoke", experiment, experiments.result_key(module, family, 0, full))


@pytest.mark.parametrize("mean", ['"139"', "true"])
def test_glance_names_a_mistyped_main_result_instead_of_a_traceback(copy, capsys, mean):
    path = _chapter_result("main_results", "cartpole")
    path.mkdir(parents=True)
    params = {"seeds": [0, 1], "k": None}
    meta = {"parameters": {"profile": "smoke", "family": "cartpole", "seed": 0, "params": params}}
    (path / "result.json").write_text(
        '{"metrics": {"methods": {"policygradex": {"mean": %s, "std": 53.0, "seeds": [1, 2]}}}, "meta": %s}'
        % (mean, json.dumps(meta)))
    assert cli.main(["glance", "--profile", "smoke"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "1.00 ± 53" not in out
    assert "Corrupt" in out and "metrics.methods.policygradex.mean" in out and "pgx run main_results" in out
    listed = one_line(capsys, ["book", "--profile", "smoke"], 2, "metrics.methods.policygradex.mean")
    assert "--force" in listed
    assert cli.main(["refresh", "--profile", "smoke", "--dry-run", "--only", "main_results:cartpole"]) == 0
    assert "corrupt  pgx run main_results --profile smoke -p family cartpole -p seeds '[0, 1]' --force" in \
        capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Interrupts: SIGINT ends in one line (130), SIGKILL leaves nothing half-written; the rerun gives the same numbers
# ---------------------------------------------------------------------------------------------

def _pgx(root: Path, argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, **_env(root), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "pgxlib.cli", *argv], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(pattern: str, root: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    start = time.monotonic()
    while not list(root.glob(pattern)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - start < timeout
        time.sleep(0.02)
    time.sleep(0.3)


STAGES = {"meta_train": "runs/meta_policies/cartpole/locks/*.lock",
          "group_train": "runs/smoke/group/*/locks/group_train.lock"}


def _interrupt(root: Path, sig: signal.Signals, stage: str) -> None:
    """Start `pgx group` in a process, send `sig` while it computes `stage`, check how it ended."""
    proc = _pgx(root, GROUP)
    _wait_for(STAGES[stage], root, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith("pgx: interrupted at stage ") and "rerun the same command to resume" in lines[0]
        assert (stage if stage != "meta_train" else "stage cartpole-") in lines[0], lines[0]
    assert not list((root / "results").rglob("result.json"))


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGKILL), (signal.SIGKILL, signal.SIGINT)])
def test_an_interrupted_run_resumes_to_the_same_numbers(smoke, tmp_path, monkeypatch, capsys, first, second):
    """Interrupted while training θ*, rerun and interrupted again while training the groups, rerun to the end:
    SIGINT and SIGKILL each hit both stages over the two cases."""
    _interrupt(tmp_path, first, "meta_train")
    _interrupt(tmp_path, second, "group_train")
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    assert cli.main(GROUP) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert_same_result(result_path(tmp_path), smoke[1])


def test_sigterm_ends_in_one_line_naming_the_stage_with_exit_143(monkeypatch, capsys):
    def computing(args):
        stage_cache.note_stage("features")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not interrupt")
    monkeypatch.setattr(cli, "cmd_group", computing)
    line = one_line(capsys, ["group", "--family", "cartpole"], 143)
    assert line == "pgx: interrupted at stage features; rerun the same command to resume"
    assert stage_cache.CURRENT_STAGE == []


def test_a_run_waiting_on_a_lock_says_who_holds_it_every_few_seconds(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PGX_LOCK_NOTICE_SECONDS", "0.3")
    cache = stage_cache.StageCache(tmp_path / "run")
    holder = threading.Event()

    def hold():
        with cache._lock("features"):
            holder.set()
            time.sleep(1.0)
    thread = threading.Thread(target=hold)
    thread.start()
    holder.wait()
    other = stage_cache.StageCache(tmp_path / "run")
    assert other.get_or_compute("features", lambda: {"x": 1}) == {"x": 1}
    thread.join()
    lines = capsys.readouterr().err.strip().splitlines()
    assert f"stage features is being computed by pid {os.getpid()}" in lines[0]
    assert len(lines) >= 3 and all("still waiting for stage features" in line for line in lines[1:])


# ---------------------------------------------------------------------------------------------
# Before computing: folders, variables, bounds; and the smaller faults
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("place", ["results_file", "runs_under_file", "full"])
def test_unusable_folders_are_one_line_before_anything_is_computed(store, monkeypatch, capsys, place):
    blocker = store / "a_file"
    blocker.write_text("x")
    if place == "results_file":
        monkeypatch.setenv("PGX_RESULTS", str(blocker))
    elif place == "runs_under_file":
        monkeypatch.setenv("PGX_RUNS", str(blocker / "runs"))
    else:
        monkeypatch.setattr(guard.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 10**6))
    line = one_line(capsys, ["group", "--family", "cartpole"], 2, "nothing was computed")
    assert ("PGX_RESULTS" if place == "results_file" else "PGX_RUNS" if place == "runs_under_file" else "MB free") in line
    assert not list(store.rglob("*.pt"))
    if place == "full":
        one_line(capsys, ["run", "walkthrough"], 2, "MB free")


@pytest.mark.parametrize("name, value", [("PGX_THREADS", "abc"), ("PGX_THREADS", "0"), ("PGX_ENGINE", "spark"),
                                         ("PGX_CHECKPOINT_MINUTES", "soon"), ("PGX_PROGRESS", "yes"),
                                         ("PGX_LOCK_NOTICE_SECONDS", "-1")])
def test_a_malformed_variable_is_one_line(store, monkeypatch, capsys, name, value):
    monkeypatch.setenv(name, value)
    one_line(capsys, ["group", "--family", "cartpole"], 2, name)


def test_a_huge_value_is_not_echoed_whole_and_lists_are_bounded(store, capsys):
    line = one_line(capsys, ["run", "walkthrough", "-p", "k", "x" * 10_000_000], 2, "k=")
    assert len(line) <= cli.MAX_ERROR_CHARS + len("pgx: error: ")
    one_line(capsys, ["run", "main_results", "-p", "seeds", repr(list(range(10_000)))], 2, "seeds", "at most 20")
    one_line(capsys, ["run", "speedup", "-p", "depths", repr([2] * 100)], 2, "depths", "at most 64")
    assert "seeds at most 20" in " ".join(cli.build_parser()._subparsers._group_actions[0].choices["run"]
                                          .format_help().split())


def test_computed_now_and_loaded_from_store_are_told_apart():
    class Stored:
        def __init__(self, timestamp):
            self.meta = {"timestamp": timestamp, "key": "cartpole-seed0", "total_time": 534.8}
    assert cli.computed_now(None, Stored("t1"))
    assert cli.computed_now(Stored("t0"), Stored("t1"))
    assert not cli.computed_now(Stored("t0"), Stored("t0"))
    assert cli.run_summary(Stored("t1").meta, fresh=True).startswith("computed in 534.8 s")
    assert cli.run_summary(Stored("t1").meta, fresh=False).startswith("loaded from store")


def test_python_m_pgxlib_cli_runs_every_subcommand():
    tree = ast.parse((REPO / "pgxlib" / "cli.py").read_text())
    last = tree.body[-1]
    assert isinstance(last, ast.If) and "__main__" in ast.unparse(last.test)  # every function defined before it runs
    done = subprocess.run([sys.executable, "-m", "pgxlib.cli", "group", "--family", "nope"], cwd=REPO, text=True,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "family='nope'" in done.stderr, done.stderr
