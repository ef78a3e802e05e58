"""Long runs survive interruption: a training run killed after a checkpoint and rerun ends with the same
numbers, bit for bit, as one that was never interrupted."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fixed_length import CFG, pendulum_family, train
from pgxlib.rl.ppo import resumable
from pgxlib.store.cache import MemoryCache, StageCache

HERE = Path(__file__).resolve().parent


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            _same(a[key], b[key])
        else:
            assert torch.equal(a[key], b[key]), key


def _run(root: Path, out: Path, pause: float, *mode: str) -> subprocess.Popen:
    env = {**os.environ, "PGX_CHECKPOINT_MINUTES": "0", "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1",
           "PGX_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, str(HERE / "fixed_length.py"), str(root), str(out), str(pause), *mode],
                            env=env, stdout=subprocess.PIPE, text=True)


def _kill_and_resume(tmp_path: Path, pause: float, *mode: str) -> None:
    """Run once uninterrupted; run again, kill it during the pause after its first checkpoint, rerun;
    the rerun starts from the checkpoint and ends with the uninterrupted run's numbers."""
    whole = tmp_path / "whole.pt"
    assert _run(tmp_path / "uninterrupted", whole, 0.0, *mode).wait(timeout=600) == 0

    root, out = tmp_path / "interrupted", tmp_path / "resumed.pt"
    proc = _run(root, out, pause, *mode)
    deadline = time.time() + 600
    while not list(root.glob("checkpoints/*.pt")) and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    (ckpt,) = root.glob("checkpoints/*.pt")
    assert not out.exists()
    killed_at = int(torch.load(ckpt, weights_only=True)["iteration"])
    assert killed_at > 0

    rerun = _run(root, out, 0.0, *mode)
    stdout, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0
    assert f"started at iteration {killed_at}" in stdout
    _same(torch.load(whole, weights_only=True), torch.load(out, weights_only=True))


@pytest.mark.slow
def test_a_killed_run_resumes_with_the_same_numbers(tmp_path):
    _kill_and_resume(tmp_path, 2.0)


@pytest.mark.slow
@pytest.mark.metaworld
def test_a_killed_metaworld_smoke_training_resumes_with_the_same_numbers(tmp_path):
    _kill_and_resume(tmp_path, 5.0, "metaworld")


def test_checkpoints_only_where_the_envs_can_be_restored(tmp_path, monkeypatch):
    family = pendulum_family()
    assert resumable(family, CFG)
    assert not resumable(pendulum_family(fixed_length=False), CFG)
    from dataclasses import replace
    assert not resumable(family, replace(CFG, rollout_len=CFG.rollout_len + 1))
    assert MemoryCache().checkpoint("stage", "part") is None
    monkeypatch.setenv("PGX_CHECKPOINT_MINUTES", "0")
    out = tmp_path / "run.pt"
    assert train(str(tmp_path), str(out)) == 0
    # a finished run leaves its final checkpoint until its stage is stored; storing the stage removes it
    cache = StageCache(tmp_path)
    assert (tmp_path / "checkpoints" / "train.ppo.pt").exists()
    cache.get_or_compute("train", lambda: {"x": 1})
    assert not (tmp_path / "checkpoints" / "train.ppo.pt").exists()


def test_checkpoint_interval_is_validated(monkeypatch):
    from pgxlib.store.cache import checkpoint_seconds
    from pgxlib.store.results import ResultError

    monkeypatch.setenv("PGX_CHECKPOINT_MINUTES", "2.5")
    assert checkpoint_seconds() == 150.0
    monkeypatch.setenv("PGX_CHECKPOINT_MINUTES", "-1")
    with pytest.raises(ResultError, match="PGX_CHECKPOINT_MINUTES"):
        checkpoint_seconds()


def test_a_stage_computed_elsewhere_is_waited_for_and_loaded(tmp_path):
    import threading

    calls = []

    def slow():
        calls.append("first")
        time.sleep(0.5)
        return {"x": torch.tensor([1.0])}

    first = threading.Thread(target=lambda: StageCache(tmp_path).get_or_compute("s", slow))
    first.start()
    while not calls:
        time.sleep(0.01)
    second = StageCache(tmp_path)  # another process's cache of the same run
    value = second.get_or_compute("s", lambda: calls.append("second") or {"x": torch.tensor([2.0])})
    first.join()
    assert calls == ["first"] and value["x"].item() == 1.0 and "s" in second.resumed
