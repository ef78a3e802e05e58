"""Task families. `make_family(name, n_tasks, seed)` is the entry point."""
from __future__ import annotations

from importlib import import_module

from pgxlib.config import FAMILIES, MAX_TASKS, ConfigError, check_int
from pgxlib.tasks.base import META_RL, MULTI_OBJECTIVE, PROTOCOLS, Task, TaskFamily, design_groups, sample_tasks

__all__ = ["Task", "TaskFamily", "design_groups", "make_family", "protocol_of", "sample_tasks", "FAMILIES", "META_RL",
           "MULTI_OBJECTIVE", "PROTOCOLS"]


def make_family(name: str, n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """The family `name` with `n_tasks` source tasks and `n_target` unseen target tasks.

    Deterministic given `seed`: the same seed gives the same tasks. Families are
    cartpole, lunarlander, highway, nav2d and metaworld (MT10; `n_tasks` <= 10).
    """
    if name not in FAMILIES:
        raise ConfigError(f"invalid family={name!r}: allowed one of {', '.join(FAMILIES)}")
    check_int("n_tasks", n_tasks, 1, MAX_TASKS)
    module = import_module(f".{name}", __name__)
    return module.make(n_tasks=n_tasks, seed=seed, n_target=n_target)


def protocol_of(name: str) -> str:
    """The protocol of the built-in family `name` (`TaskFamily.protocol`: "meta_rl" or "multi_objective")."""
    return make_family(name, 1).protocol
