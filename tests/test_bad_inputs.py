"""Every class of bad input ends in one line on stderr, a non-zero exit and nothing written.

The classes: a bool where an integer belongs, a value past a bound that could exhaust the machine,
a config field out of range (named by its dotted path), a flag given as `-p`, a notebook parameter
that fails validation, an unreadable stored result or stage file, and a non-finite loss.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pgxlib import cli, experiments
from pgxlib.config import MAX_TASKS, ConfigError
from pgxlib.profiles import pipeline_config
from pgxlib.nets import new_policy
from pgxlib.rl.ppo import NonFiniteError, train_ppo
from pgxlib.store import ResultError, StageCache, read_result, result_dir, stage_dir
from pgxlib.tasks import make_family


def written(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def one_line_failure(capsys, argv: list[str], *names: str, code: int = 2) -> str:
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for name in names:
        assert name in err, err
    return err


@pytest.mark.parametrize("argv, names", [
    (["run", "walkthrough", "-p", "k", "true"], ["k=True", "integer"]),
    (["run", "walkthrough", "-p", "seed", "true"], ["seed=True", "integer"]),
    (["run", "main_results", "-p", "seeds", "[0, True]"], ["seeds"]),
    (["group", "--family", "cartpole", "-p", "n_tasks", "true"], ["n_tasks=True"]),
    (["group", "--family", "cartpole", "-p", "n_tasks", "1000000"], ["n_tasks", str(MAX_TASKS)]),
    (["group", "--family", "cartpole", "-p", "meta_ppo.lr", "-1"], ["meta_ppo.lr=-1"]),
    (["group", "--family", "cartpole", "-p", "group_ppo.lr", "nan"], ["group_ppo.lr"]),
    (["group", "--family", "cartpole", "-p", "meta_ppo.max_grad_norm", "0"], ["meta_ppo.max_grad_norm"]),
    (["group", "--family", "cartpole", "-p", "maml.gamma", "1.5"], ["maml.gamma", "(0, 1]"]),
    (["group", "--family", "cartpole", "-p", "width", "100000"], ["net.width", "4096"]),
    (["group", "--family", "cartpole", "-p", "meta_steps", "10**12"], ["meta_ppo.steps_per_task"]),
    (["group", "--family", "cartpole", "-p", "seed", "1"], ["-p seed", "--seed"]),
    (["group", "--family", "cartpole", "-p", "family", "nav2d"], ["-p family", "--family"]),
    (["run", "first_order_error", "-p", "n_directions", "100000"], ["n_directions", "256"]),
    (["run", "speedup", "-p", "depths", "[2, 99]"], ["depths"]),
])
def test_bad_values_exit_2_with_one_line_and_write_nothing(store, capsys, argv, names):
    one_line_failure(capsys, argv, *names)
    assert written(store) == []


def _walkthrough_paths(profile: str = "smoke") -> tuple[Path, Path]:
    module, full = experiments.resolve("walkthrough", profile, "cartpole", 0)
    key = experiments.result_key(module, "cartpole", 0, full)
    return result_dir(profile, "walkthrough", key), stage_dir(profile, "walkthrough", key)


@pytest.mark.parametrize("damage", ["result_json", "arrays"])
def test_unreadable_files_are_named_with_the_fix(store, capsys, damage):
    results, _ = _walkthrough_paths()
    results.mkdir(parents=True)
    (results / "result.json").write_text(json.dumps({"metrics": {}, "meta": {}}) if damage != "result_json"
                                         else '{"metrics": {')
    if damage == "arrays":
        (results / "arrays.npz").write_bytes(b"PK\x03\x04 truncated")
    broken = {"result_json": "result.json", "arrays": "arrays.npz"}[damage]
    one_line_failure(capsys, ["run", "walkthrough"], broken, "pgx run walkthrough --profile smoke -p family cartpole --force")


def test_a_truncated_stage_is_named_and_recomputed(tmp_path, capsys):
    cache = StageCache(tmp_path / "run")
    cache.get_or_compute("features", lambda: {"x": torch.ones(3)})
    path = cache.path("features")
    path.write_bytes(path.read_bytes()[:40])
    value = StageCache(tmp_path / "run").get_or_compute("features", lambda: {"x": torch.zeros(3)})
    assert value["x"].sum() == 0
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "features.pt" in line and "recomputing it" in line
    path.write_bytes(path.read_bytes()[:40])
    [removed] = StageCache(tmp_path / "run").verify()
    assert "features.pt" in removed and not path.exists()


def test_a_corrupt_arrays_file_is_named(tmp_path):
    (tmp_path / "result.json").write_text(json.dumps({"metrics": {}, "meta": {}}))
    np.savez_compressed(tmp_path / "arrays.npz", a=np.arange(3))
    (tmp_path / "arrays.npz").write_bytes((tmp_path / "arrays.npz").read_bytes()[:30])
    with pytest.raises(ResultError, match=r"arrays.npz.*--force"):
        read_result(tmp_path)


def test_a_non_finite_loss_names_the_stage_and_iteration():
    cfg = pipeline_config("smoke", "cartpole")
    family = make_family("cartpole", 2, 0)
    policy = new_policy(family, cfg, 0, torch.device("cpu"))
    with torch.no_grad():
        for p in policy.critic.parameters():
            p.fill_(float("nan"))
    with pytest.raises(NonFiniteError) as info:
        train_ppo(policy, family, [0, 1], cfg.meta_ppo, 0, progress=False, desc="meta-train cartpole")
    message = str(info.value)
    assert "meta-train cartpole" in message and "iteration 0" in message and "\n" not in message


def test_a_non_finite_loss_exits_1_with_one_line(monkeypatch, capsys):
    def diverge(**kwargs):
        raise NonFiniteError("non-finite loss in meta-train cartpole at iteration 3")

    monkeypatch.setattr(cli, "group_command", diverge)
    one_line_failure(capsys, ["group", "--family", "cartpole"], "iteration 3", code=1)


def test_config_error_is_one_line_for_every_field():
    with pytest.raises(ConfigError) as info:
        pipeline_config("smoke", "cartpole", **{"maml.support_steps": 1})
    assert "maml.support_steps" in str(info.value) and "\n" not in str(info.value)
