"""The task-family interface: named points in a parameter space, each made into a gymnasium env."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Callable, Optional

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class Task:
    """One task: a point `params` in its family's parameter space.

    `split` is "source" (used for meta-training and grouping) or "target" (unseen, for meta-RL
    evaluation); `index` is the position within that split.
    """

    family: str
    split: str
    index: int
    params: tuple[tuple[str, float], ...]

    @property
    def name(self) -> str:
        body = ",".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params)
        return f"{self.family}/{self.split}{self.index}[{body}]"

    @property
    def short_name(self) -> str:
        return f"{'S' if self.split == 'source' else 'T'}{self.index}"

    def param(self, key: str):
        return dict(self.params)[key]

    def as_dict(self) -> dict:
        return dict(self.params)


META_RL = "meta_rl"
MULTI_OBJECTIVE = "multi_objective"
PROTOCOLS = (META_RL, MULTI_OBJECTIVE)
"""How a family's groupings are judged: "meta_rl" (a MAML meta-policy per group, adapted to unseen target tasks;
`pgxlib.metarl`) or "multi_objective" (a policy per group trained on its source tasks and evaluated on them, no
targets; `training.trained_groups`)."""


@dataclass(frozen=True)
class TaskFamily:
    """A family of related tasks sharing observation and action spaces.

    `env_factory(task)` builds a fresh gymnasium env (time limit included) for any task of the family.
    `reward_scale` multiplies rewards during PPO training only; reported returns are unscaled.
    `param_ranges` maps each varied parameter to its (low, high) range, for docs and normalisation.
    `fixed_length`: every episode lasts exactly `max_episode_steps` (no early termination), so rollouts of a
    multiple of that length end every episode together, which lets a training run resume exactly.
    `protocol`: one of `PROTOCOLS`, how the family's groupings are judged.
    """

    name: str
    source: tuple[Task, ...]
    target: tuple[Task, ...]
    env_factory: Callable[[Task], gym.Env]
    param_ranges: dict[str, tuple[float, float]]
    max_episode_steps: int
    reward_scale: float = 1.0
    has_success: bool = False
    description: str = ""
    env_kwargs: dict = field(default_factory=dict)
    fixed_length: bool = False
    protocol: str = META_RL

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol={self.protocol!r} must be one of {', '.join(PROTOCOLS)}")

    @property
    def n_tasks(self) -> int:
        return len(self.source)

    def make_env(self, task: Task) -> gym.Env:
        if task.family != self.name:
            raise ValueError(f"task {task.name} does not belong to family {self.name}")
        return self.env_factory(task)

    @cached_property
    def spaces(self) -> tuple[gym.Space, gym.Space]:
        env = self.make_env(self.source[0])
        spaces = (env.observation_space, env.action_space)
        env.close()
        return spaces

    @property
    def observation_space(self) -> gym.Space:
        return self.spaces[0]

    @property
    def action_space(self) -> gym.Space:
        return self.spaces[1]

    def param_matrix(self, tasks: tuple[Task, ...] | list[Task]) -> np.ndarray:
        """Task parameters scaled to [0, 1] by `param_ranges`. Shape [len(tasks), n_params]."""
        keys = list(self.param_ranges)
        lo = np.array([self.param_ranges[k][0] for k in keys], dtype=float)
        hi = np.array([self.param_ranges[k][1] for k in keys], dtype=float)
        raw = np.array([[float(t.param(k)) for k in keys] for t in tasks], dtype=float)
        return (raw - lo) / np.where(hi > lo, hi - lo, 1.0)

    def nearest_source(self, task: Task) -> int:
        """Index of the source task closest to `task` in normalised parameter space."""
        src = self.param_matrix(self.source)
        x = self.param_matrix([task])[0]
        return int(np.argmin(((src - x) ** 2).sum(1)))


def sample_tasks(family: str, split: str, n: int, rng: np.random.Generator,
                 ranges: dict[str, tuple[float, float]]) -> tuple[Task, ...]:
    """`n` tasks with each parameter drawn uniformly from its range (rounded to 4 significant digits)."""
    tasks = []
    for i in range(n):
        params = tuple((k, float(f"{rng.uniform(lo, hi):.4g}")) for k, (lo, hi) in ranges.items())
        tasks.append(Task(family=family, split=split, index=i, params=params))
    return tuple(tasks)


Sampler = Callable[[str, int, np.random.Generator, Optional[tuple[Task, ...]]], tuple[Task, ...]]
"""``sample(split, n, rng, source)``: `n` tasks of `split` drawn with `rng`; `source` is None when the
source tasks are drawn and the drawn source tasks when the targets are."""


def uniform_sampler(family: str, ranges: dict[str, tuple[float, float]]) -> Sampler:
    """A `Sampler` that draws each parameter uniformly from its range (`sample_tasks`)."""
    return lambda split, n, rng, source: sample_tasks(family, split, n, rng, ranges)


def grouped_sampler(family: str, ranges: dict[str, tuple[float, float]], n_groups: int) -> Sampler:
    """A `Sampler` of tasks in `n_groups` designed groups: each parameter uniform in its range, plus an
    integer parameter "group", spread evenly over the groups (task i of a split is in group i mod
    `n_groups`, then the assignment is shuffled with the split's generator)."""
    def sample(split: str, n: int, rng: np.random.Generator, source) -> tuple[Task, ...]:
        groups = rng.permutation(np.arange(n) % n_groups)
        return tuple(Task(family=family, split=split, index=t.index, params=(*t.params, ("group", int(g))))
                     for t, g in zip(sample_tasks(family, split, n, rng, ranges), groups))
    return sample


class PermutedActions(gym.ActionWrapper):
    """A discrete-action env whose action a is executed as `permutation[a]`: e.g. (1, 0) reverses a
    two-action CartPole's push. The action space is unchanged."""

    def __init__(self, env: gym.Env, permutation: tuple[int, ...]):
        super().__init__(env)
        n = env.action_space.n
        if sorted(permutation) != list(range(n)):
            raise ValueError(f"permutation must reorder the {n} actions 0..{n - 1}, got {permutation}")
        self.permutation = tuple(int(a) for a in permutation)

    def action(self, action):
        return self.permutation[int(action)]


def build_family(name: str, n_tasks: int, n_target: int, seed: int, sample: Sampler, make_env: Callable[..., gym.Env],
                 max_episode_steps: int, param_ranges: dict[str, tuple[float, float]], **fields) -> TaskFamily:
    """The one constructor of the built-in families, and the home of the seeded split: the family's
    `seed` spawns two generators, the first draws the `n_tasks` source tasks and the second the
    `n_target` target tasks, so the source tasks never change with `n_target`. `make_env(task,
    max_episode_steps=...)` builds one env; `fields` are the other `TaskFamily` fields."""
    src_rng, tgt_rng = np.random.default_rng(seed).spawn(2)
    source = sample("source", n_tasks, src_rng, None)
    return TaskFamily(name=name, source=source, target=sample("target", n_target, tgt_rng, source),
                      env_factory=partial(make_env, max_episode_steps=max_episode_steps),
                      param_ranges=dict(param_ranges), max_episode_steps=max_episode_steps, **fields)


def design_groups(family: TaskFamily) -> np.ndarray | None:
    """The groups a family was designed with, int [n] numbered by first appearance, or None.

    A family with designed groups gives every task an integer parameter "group" (kept out of
    `param_ranges`): tasks of one group should transfer and tasks of different groups conflict.
    """
    if not family.source or any("group" not in t.as_dict() for t in family.source):
        return None
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(t.param("group")), len(first)) for t in family.source], dtype=np.int64)
