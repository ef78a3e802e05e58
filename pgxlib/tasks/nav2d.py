"""2D point navigation to a hidden goal (the navigation task of the paper's figure 3).

The agent is a point that starts at the origin and moves by `0.1 * clip(action, -1, 1)` per step,
its position clipped to [-2, 2]². The reward is minus the Euclidean distance to the goal at every
step; an episode lasts 50 steps. The observation is the position only: the goal is not observed,
so a policy tells tasks apart by the task id it is given (or by adapting, in meta-RL).
`info["success"]` is 1.0 while the point is within 0.1 of the goal.

Tasks are goals `(goal_x, goal_y)`. They are drawn from three angular sectors so that grouping
matters: sector s is centred at angle 90° + 120°·s, a goal's angle is that centre ± 25° (uniform)
and its radius is uniform in [0.5, 1.0]. Goals in one sector need nearly the same heading and
transfer; goals in different sectors need headings at least 70° apart and conflict. Source tasks
are spread evenly over the sectors (task i is in sector i mod 3, then the assignment is shuffled
with the seed); target tasks, the unseen test goals, are drawn from the same distribution with a
separate generator. Each task also records its sector as `group` (not in `param_ranges`, so it is
not used for nearest-source matching): the grouping the family was designed with
(`pgxlib.tasks.design_groups`).

Why these numbers: a goal at radius ≤ 1 is reached in at most 10 steps of 0.1, so most of the 50
steps reward staying on the goal; radius ≥ 0.5 keeps goals of different sectors at least 0.5 apart.
Returns: about -1 to -5 walking straight to the goal, -25 to -50 standing still, down to about -170
walking away; they are used unscaled (`reward_scale` 1).

Observation Box([-2, 2]², float32), action Box([-1, 1]², float32).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from pgxlib.tasks.base import Task, TaskFamily, build_family

NAME = "nav2d"
MAX_EPISODE_STEPS = 50
N_SECTORS = 3
SECTOR_HALF_WIDTH = np.deg2rad(25.0)
RADIUS = (0.5, 1.0)
PARAM_RANGES: dict[str, tuple[float, float]] = {"goal_x": (-1.0, 1.0), "goal_y": (-1.0, 1.0)}


class Nav2DEnv(gym.Env):
    """A point in the plane walking to a fixed, unobserved goal.

    Observation: position, float32 shape (2,). Action: float32 shape (2,) in [-1, 1], scaled by
    `max_step`. Reward: -||position - goal||. Never terminates; wrap it in a TimeLimit.
    """

    metadata = {"render_modes": []}

    def __init__(self, goal_x: float = 0.5, goal_y: float = 0.5, max_step: float = 0.1,
                 bound: float = 2.0, success_radius: float = 0.1):
        self.goal = np.array([goal_x, goal_y], dtype=np.float64)
        self.max_step = float(max_step)
        self.bound = float(bound)
        self.success_radius = float(success_radius)
        self.observation_space = spaces.Box(-self.bound, self.bound, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._pos = np.zeros(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._pos = np.zeros(2)
        return self._pos.astype(np.float32), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        self._pos = np.clip(self._pos + self.max_step * a, -self.bound, self.bound)
        dist = float(np.linalg.norm(self._pos - self.goal))
        info = {"success": float(dist < self.success_radius), "distance": dist}
        return self._pos.astype(np.float32), -dist, False, False, info


def make_env(task: Task, max_episode_steps: int = MAX_EPISODE_STEPS) -> gym.Env:
    """A `Nav2DEnv` for the goal of `task`, inside a TimeLimit of `max_episode_steps`."""
    return TimeLimit(Nav2DEnv(float(task.param("goal_x")), float(task.param("goal_y"))),
                     max_episode_steps=max_episode_steps)


def sample_goals(split: str, n: int, rng: np.random.Generator) -> tuple[Task, ...]:
    """`n` goal tasks, evenly spread over the sectors in a seeded order. Params goal_x, goal_y, group (the sector)."""
    sectors = rng.permutation(np.arange(n) % N_SECTORS)
    tasks = []
    for i, s in enumerate(sectors):
        angle = np.pi / 2 + 2 * np.pi * s / N_SECTORS + rng.uniform(-SECTOR_HALF_WIDTH, SECTOR_HALF_WIDTH)
        radius = rng.uniform(*RADIUS)
        params = (("goal_x", float(f"{radius * np.cos(angle):.4g}")),
                  ("goal_y", float(f"{radius * np.sin(angle):.4g}")),
                  ("group", int(s)))
        tasks.append(Task(family=NAME, split=split, index=i, params=params))
    return tuple(tasks)


def make(n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """`n_tasks` source goals and `n_target` unseen target goals from the three sectors."""
    return build_family(NAME, n_tasks, n_target, seed, lambda split, n, rng, source: sample_goals(split, n, rng),
                        make_env, MAX_EPISODE_STEPS, PARAM_RANGES, reward_scale=1.0, has_success=True,
                        description="2D point navigation to an unobserved goal; goals in three angular sectors",
                        env_kwargs={"max_step": 0.1, "bound": 2.0, "success_radius": 0.1, "n_sectors": N_SECTORS,
                                    "sector_half_width_deg": 25.0, "radius": RADIUS,
                                    "max_episode_steps": MAX_EPISODE_STEPS})
