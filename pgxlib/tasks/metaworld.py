"""Meta-World 3.1.1 MT10: the ten manipulation tasks as a family (`n_tasks` <= 10).

A task is one MT10 environment, identified by its index in Meta-World's MT10 order
(`MT10_NAMES`: reach, push, pick-place, door-open, drawer-open, drawer-close, button-press-topdown,
peg-insert-side, window-open, window-close), plus the seed of its goal set. A source task's env has the
50 goals (object and target positions) of the MT10 benchmark built with the benchmark seed
(``metaworld.MT10(seed=goal_seed)``, as `gym.make_vec("Meta-World/MT10", seed=...)` builds them) and picks
one of them at random at every reset. The benchmark is built once per process and seed (`mt10_benchmark`,
about 9 s); each env is then made from it as Meta-World's own MT10 entry point makes it
(``metaworld._init_each_env``, Meta-World 3.1.1), about 0.2 s instead of about 1 s for a fresh
``gym.make("Meta-World/MT1")``. A target task's env is ``gym.make("Meta-World/MT1", env_name=...,
seed=goal_seed)``: 50 goals of that one environment drawn from its own seed.

Tasks:
- source: with `n_tasks` = 10 all of MT10 in order; with fewer, a seeded random subset (sorted).
  All source tasks share one goal seed, the benchmark seed, which is the family's `seed`.
- target (unseen): the source tasks' environments in turn (target j uses source j mod n), each with
  its own goal seed drawn from the seed, so the same manipulation with goal sets not seen in
  training. A target's nearest source task (by `mt10_index`) is the one with its environment.

`param_ranges` holds only `mt10_index` in [0, 9]: the identity is categorical, and this single
coordinate makes `param_matrix` well defined and `nearest_source` exact. Each task also records
`goal_seed` (not in `param_ranges`).

Meta-World knobs, all passed explicitly and recorded in `env_kwargs`: `use_one_hot` False (the
policy gets the task id from the library instead), `reward_function_version` "v2" (Meta-World's
default; results are only comparable within one version), `max_episode_steps` 500 (Meta-World 3's
default; older papers used 150), `terminate_on_success` False, `task_select` "random". The
observation is 39-dim (goal included, as in MT10), cast to a float32 Box(-inf, inf, (39,)) because
Meta-World's own bounds are float64 and do not contain the observed goal; action Box(-1, 1, (4,)).
``reset(seed=s)`` seeds the env (`SeededReset`; Meta-World itself ignores that seed).
`info["success"]` is reported, so `has_success` is True; episodes never end early, so `fixed_length` is
True. Rewards (v2) lie in [0, 10] per step, so
returns reach a few thousand; `reward_scale` 0.1 brings per-step rewards to [0, 1] for PPO.

Building one env takes about a second (Meta-World samples its 50 goals); nothing is rendered.
"""
from __future__ import annotations

from functools import lru_cache

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from pgxlib.tasks.base import MULTI_OBJECTIVE, Task, TaskFamily, build_family

NAME = "metaworld"
DEFAULT_BUDGET_NOTE = """How the default MT10 budget was chosen (measured on the project's 2-core machine, one torch thread,
other jobs running: load about 5). PPO env steps/s on the 10 tasks with 4 envs × 500 steps per task per
iteration, env construction included: MLP 840, PaCo 750, CARE 640, Soft Modularization 610; MT10 stepping
alone 1,100-1,900. With S group steps and M θ* steps per task, one seed of the main results costs
10M/840 (θ*) + 10S (1/840 + 1/640 + 1/750 + 4/610) (multitask, CARE, PaCo, and Soft Modularization for its
baseline and the three groupings) + about 450 s (evaluations: 10 episodes × 10 tasks per method; features)
= 0.012 M + 0.106 S + 450 s. Two processes side by side: A runs the main results (seeds 0, 1; seed 2 is read
from the shared stores), B runs the main results of seed 2 alone, then Figure 2 (hessian_bound: 42 S/840 s
of MLP training plus about 600 s of measuring) and the k ablation (k = 2 and 4 are new: 2 × 10S/610 s).
With M = 100k and S = 150k: one seed ≈ 1,190 + 15,960 + 450 ≈ 17,600 s; A ≈ 35,200 s ≈ 9.8 h;
B ≈ 17,600 + 8,100 + 5,100 ≈ 30,800 s ≈ 8.6 h."""


MT10_NAMES = (
    "reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
    "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3",
)
MAX_EPISODE_STEPS = 500
META_WORLD_KWARGS: dict = {
    "use_one_hot": False,
    "reward_function_version": "v2",
    "terminate_on_success": False,
    "task_select": "random",
}
PARAM_RANGES: dict[str, tuple[float, float]] = {"mt10_index": (0.0, float(len(MT10_NAMES) - 1))}


class Float32Observation(gym.ObservationWrapper):
    """Casts observations to float32 and declares an unbounded float32 Box of the same shape."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        shape = env.observation_space.shape
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)

    def observation(self, observation):
        return np.asarray(observation, dtype=np.float32)


class SeededReset(gym.Wrapper):
    """Makes ``reset(seed=s)`` seed the Meta-World env: Meta-World 3.1.1 ignores the `seed` of `reset` (its
    random generator is set by ``env.seed()`` only, at construction), so the goal a reset picks would not
    depend on the seed. Here ``reset(seed=s)`` calls the env's ``seed(s)`` first."""

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.env.unwrapped.seed(int(seed))
        return self.env.reset(options=options)


def env_name(task: Task) -> str:
    """The Meta-World environment name of `task`, e.g. "reach-v3"."""
    return MT10_NAMES[int(task.param("mt10_index"))]


@lru_cache(maxsize=4)
def mt10_benchmark(seed: int):
    """Meta-World's MT10 benchmark with `seed` (its environment classes and 50 goals per environment)."""
    import metaworld

    return metaworld.MT10(seed=seed)


def make_env(task: Task, max_episode_steps: int = MAX_EPISODE_STEPS) -> gym.Env:
    """The Meta-World env of `task` (goal set from its `goal_seed`), float32 obs, time limit included."""
    if not 1 <= max_episode_steps <= MAX_EPISODE_STEPS:
        raise ValueError(f"max_episode_steps={max_episode_steps} must be in 1..{MAX_EPISODE_STEPS}")
    import metaworld

    name, seed = env_name(task), int(task.param("goal_seed"))
    if task.split == "source":
        bench = mt10_benchmark(seed)
        env = metaworld._init_each_env(env_cls=bench.train_classes[name], seed=seed,
                                       tasks=[t for t in bench.train_tasks if t.env_name == name],
                                       max_episode_steps=MAX_EPISODE_STEPS, **META_WORLD_KWARGS)
    else:
        env = gym.make("Meta-World/MT1", env_name=name, seed=seed, disable_env_checker=True, **META_WORLD_KWARGS)
    return TimeLimit(Float32Observation(SeededReset(env)), max_episode_steps=max_episode_steps)


def make(n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """MT10 (or a seeded subset of `n_tasks` of it) as source tasks, new goal sets as targets."""
    if not 1 <= n_tasks <= len(MT10_NAMES):
        raise ValueError(f"metaworld has the 10 MT10 tasks: n_tasks={n_tasks} must be in 1..10")

    def sample(split: str, n: int, rng: np.random.Generator, source) -> tuple[Task, ...]:
        if source is None:
            indices = list(range(n)) if n == len(MT10_NAMES) else sorted(
                int(i) for i in rng.choice(len(MT10_NAMES), size=n, replace=False))
            return tuple(Task(NAME, "source", i, (("mt10_index", idx), ("goal_seed", int(seed))))
                         for i, idx in enumerate(indices))
        indices = [t.param("mt10_index") for t in source]
        goal_seeds = (int(seed) + rng.choice(2**30, size=n, replace=False) + 1) % 2**31
        return tuple(Task(NAME, "target", j, (("mt10_index", indices[j % len(indices)]), ("goal_seed", int(s))))
                     for j, s in enumerate(goal_seeds))

    return build_family(NAME, n_tasks, n_target, seed, sample, make_env, MAX_EPISODE_STEPS, PARAM_RANGES,
                        reward_scale=0.1, has_success=True, fixed_length=True, protocol=MULTI_OBJECTIVE,
                        description="Meta-World MT10 (v3 envs); targets are the same envs with unseen goal sets",
                        env_kwargs={"env_id": "Meta-World/MT10 (sources), Meta-World/MT1 (targets)",
                                    "benchmark_seed": int(seed), "mt10_names": MT10_NAMES,
                                    "max_episode_steps": MAX_EPISODE_STEPS, **META_WORLD_KWARGS})
