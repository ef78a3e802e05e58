"""`device="cuda"` on a machine without CUDA fails before any computation with one line."""
import pytest
import torch

from pgxlib import cli
from pgxlib.config import ConfigError
from pgxlib.nets import get_device


def test_cuda_without_cuda_is_one_line(monkeypatch, capsys, store):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^invalid device='cuda': CUDA is not available here .*allowed auto, cpu$"):
        get_device("cuda")
    with pytest.raises(ConfigError, match="device='cuda:1'"):
        get_device("cuda:1")
    assert get_device("auto") == torch.device("cpu") and get_device("cpu") == torch.device("cpu")
    assert cli.main(["group", "--family", "cartpole", "-p", "device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "device='cuda'" in err and "CUDA is not available" in err, err
    assert not [p for p in store.rglob("*") if p.is_file()]
