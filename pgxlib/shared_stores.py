"""The shared stores of trained policies: ``runs/<store>/<family>``, each cleared when the code that trains into it
changes, with the digests that key their stages (`pgxlib.training`, `pgxlib.finetunes`)."""
from __future__ import annotations

import hashlib
import json
from typing import Mapping

import torch


def shared_store(name: str, family, code_module: str):
    """The shared stage store ``runs/<name>/<family>`` of the trainings of `code_module` (a module name), cleared
    when that module's code (and what it imports, of the task families only `family`'s) changes."""
    from pgxlib.store.cache import StageCache
    from pgxlib.store.fingerprint import code_fingerprint
    from pgxlib.store.results import runs_root

    return StageCache(runs_root() / name / family.name,
                      fingerprint=code_fingerprint(code_module, family=family.name)["sha256"])


def state_digest(state: torch.nn.Module | Mapping[str, torch.Tensor]) -> str:
    """sha256 (12 hex digits) of a module's state (or a state dict): names, dtypes, shapes and values."""
    h = hashlib.sha256()
    items = state.state_dict().items() if isinstance(state, torch.nn.Module) else state.items()
    for name, value in sorted(items):
        t = value.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode() + b"\0")
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:12]


def digest(d: dict) -> str:
    """sha256 (12 hex digits) of a JSON-able dict, keys sorted."""
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
