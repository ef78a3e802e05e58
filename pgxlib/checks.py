"""Validators of configuration values: each returns the value as a plain Python object or raises a
one-line `ConfigError` "invalid {name}={value!r}: allowed {what}"; and the upper bounds for values that
could exhaust the machine (memory or time) if mistyped. `pgxlib.config` re-exports every public name."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A parameter has a value outside its allowed set; the message is one line."""


# ---------------------------------------------------------------------------------------------
# Upper bounds for values that could exhaust the machine (memory or time) if mistyped.
# ---------------------------------------------------------------------------------------------

MAX_TASKS = 200
"""Source tasks of one run (`n_tasks`), and so the largest `k` and `subset_size`."""
MAX_TARGETS = 50
"""Unseen target tasks of the meta-RL evaluation (`meta_rl.n_targets`)."""
MAX_STEPS_PER_TASK = 50_000_000
"""Environment steps per task of one training stage (PPO or MAML `steps_per_task`)."""
MAX_FEATURE_STEPS = 1_000_000
"""Transitions per task whose gradient features are kept (`features.steps_per_task`)."""
MAX_ENVS = 256
"""Parallel environments per task (`num_envs`)."""
MAX_ROLLOUT_LEN = 10_000
"""Steps per environment of one rollout (`rollout_len`)."""
MAX_SUPPORT_STEPS = 1_000_000
"""Transitions per task of one MAML support rollout (`maml.support_steps`)."""
MAX_INNER_UPDATES = 1_000
"""MAML inner policy-gradient steps per adaptation (`maml.inner_updates`)."""
MAX_EPOCHS = 1_000
"""PPO epochs over one batch (`update_epochs`)."""
MAX_MINIBATCHES = 65_536
"""Minibatches per PPO epoch (`num_minibatches`)."""
MAX_WIDTH = 4096
"""Units per hidden layer (`net.width`)."""
MAX_DEPTH = 16
"""Hidden layers (`net.depth`)."""
MAX_MODULES = 64
"""Modules per layer or parameter sets (`net.n_modules`)."""
MAX_PROJ_DIM = 100_000
"""Dimension of the projected gradient features (`features.proj_dim`)."""
MAX_CHUNK = 65_536
"""Transitions whose per-sample gradients are held at once (`features.chunk_size`)."""
MAX_SUBSETS = 100_000
"""Random task subsets of the affinity estimate (`affinity.n_subsets`)."""
MAX_ITER = 100_000
"""Newton steps of one surrogate logistic-regression fit (`surrogate.max_iter`)."""
MAX_EPISODES = 10_000
"""Evaluation episodes per task (`evaluation.episodes`, `meta_rl.episodes`)."""
MAX_SEED = 2**32 - 1
"""Largest seed (the range every RNG of numpy, torch and gymnasium accepts)."""


# ---------------------------------------------------------------------------------------------
# The validator family. Each returns the value as a plain Python object or raises a one-line
# `ConfigError` "invalid {name}={value!r}: allowed {what}".
# ---------------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    """`repr(value)` on one line and at most 120 characters."""
    text = repr(value)
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."


def _fail(name: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"invalid {name}={_show(value)}: allowed {allowed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _int_range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"{lo}..{hi}"
    if lo is not None:
        return f">= {lo}"
    return "" if hi is None else f"<= {hi}"


def _int_allowed(lo: int | None, hi: int | None) -> str:
    """'a positive integer in 1..16', 'a non-negative integer', 'an integer >= 8', ..."""
    kind = {1: "a positive integer", 0: "a non-negative integer"}.get(lo, "an integer")
    if lo is not None and hi is not None:
        return f"{kind} in {lo}..{hi}"
    if kind != "an integer" or (lo is None and hi is None):
        return kind
    return f"an integer {_int_range(lo, hi)}"


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """`value` as an `int` in lo..hi (inclusive; None = unbounded); bools are refused."""
    if not _is_int(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(name, value, _int_allowed(lo, hi))
    return int(value)


def _float_allowed(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"a finite number in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"a finite number {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f"a finite number {'<' if hi_open else '<='} {hi}"
    return "a finite number"


def check_float(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """`value` as a finite `float` in the interval lo..hi (each end closed unless `*_open`).

    Ints and floats (numpy ones too) are accepted; bools, strings, None, NaN and ±inf are refused.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    try:
        ok = ok and math.isfinite(float(value))
    except OverflowError:  # an int too large for a float
        ok = False
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        raise _fail(name, value, _float_allowed(lo, hi, lo_open, hi_open))
    return float(value)


def check_choice(name: str, value: Any, choices) -> Any:
    """`value` if it is one of `choices` (same type too: True is not 1)."""
    for choice in choices:
        same_kind = type(value) is type(choice) or (isinstance(value, str) and isinstance(choice, str))
        if same_kind and value == choice:
            return choice
    raise _fail(name, value, "one of " + ", ".join(str(c) for c in choices))


def check_bool(name: str, value: Any) -> bool:
    """`value` if it is a real `bool` (not 0/1, not a numpy bool, not a string)."""
    if not isinstance(value, bool):
        raise _fail(name, value, "True, False")
    return value


def check_int_list(name: str, values: Any, lo: int, hi: int | None = None, allow_empty: bool = False) -> list[int]:
    """`values` (a list or tuple) as a list of distinct integers in lo..hi; bools are refused.

    Empty only with `allow_empty`.
    """
    rng = _int_range(lo, hi)
    allowed = (f"a {'' if allow_empty else 'non-empty '}list of distinct integers "
               + (f"in {rng}" if hi is not None else rng))
    ok = isinstance(values, (list, tuple)) and (allow_empty or len(values) > 0)
    ok = ok and all(_is_int(v) and v >= lo and (hi is None or v <= hi) for v in values)
    ok = ok and len({int(v) for v in values}) == len(values)
    if not ok:
        raise _fail(name, values, allowed)
    return [int(v) for v in values]


def check_seed(name: str, value: Any) -> int:
    """A seed: an integer in 0..`MAX_SEED`."""
    return check_int(name, value, 0, MAX_SEED)


def _require(cond: bool, name: str, allowed: str, value: Any) -> None:
    """Raise a one-line `ConfigError` for a cross-field rule the `check_*` family cannot state."""
    if not cond:
        raise _fail(name, value, allowed)
