"""Tests run torch single-threaded, as `pgx` does (small networks on few cores)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PGX_PROGRESS", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def store(monkeypatch, tmp_path):
    """Results and stage caches in a temporary directory, no progress bars."""
    monkeypatch.setenv("PGX_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PGX_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PGX_PROGRESS", "0")
    return tmp_path
