"""2D point navigation with three planted groups of tasks: a family whose right grouping is known.

Why: on the other families the affinity between tasks has no stable structure, so no grouping
can beat another by much and a grouping method cannot be checked. Here three groups are planted:
tasks of one group transfer to each other and tasks of different groups conflict, by
construction, so a method should recover the groups (scored with NMI against `planted_labels`).

The environment is nav2d's (`pgxlib.tasks.nav2d`) with one change, the action frame:

- The agent is a point that starts at the origin; its position is clipped to [-2, 2]². The
  observation is the position only (float32, shape (2,)): the goal is NOT observed, so a policy
  tells tasks apart by the task id (the networks append a one-hot of it), or by adapting.
- The action lies in [-1, 1]² (it is clipped to that box and then to the unit disc), is rotated by
  the task's `rotation_deg` and moves the agent by `0.1 *` the rotated action. The disc clip makes
  the reachable set of every group the same disc of radius 0.1, so the groups differ in nothing
  but the frame (a box rotated by 120° would let some groups walk faster in some directions).
- Reward: minus the Euclidean distance to the goal after the step (nav2d's convention);
  `info["success"]` is 1.0 while the point is within 0.1 of the goal. Episodes last 50 steps and
  never terminate early (a TimeLimit truncates them).

Tasks: group g in {0, 1, 2} acts in the frame rotated by 120°·g (0°, 120°, 240°); source task i is
in group i mod 3 (n = 10 gives groups of 4, 3, 3), target task j in group j mod 3. Every goal is
drawn uniformly from the disc of radius 0.3 around (1, 0) (with its own generator for the targets,
as `build_family` splits the seed). So the goals alone say nearly nothing about the group: all
tasks want to walk about 1 to the right, at headings within ±17.5° of each other. Within a group
nearly the same actions solve every goal (transfer); across groups the action that walks to (1, 0)
in one frame walks 120° away from it in another, so a shared policy's gradients on tasks of
different groups pull the same output in directions 120° apart (conflict).

Parameters: `goal_x`, `goal_y`, `rotation_deg` (120·g), all in `param_ranges`, and `group` (kept
out of `param_ranges`, like nav2d's). `param_ranges` gives rotation the range (0, 240) and
the goals the arena's range (-2, 2): normalised, tasks of different groups are at least 0.5 apart in
rotation, while two goals of the disc are at most 0.6 / 4 = 0.15 apart per coordinate, so
`nearest_source` always routes a target task to a source task of its own group (when the source
has one, i.e. n ≥ 3).

Returns: about -2 to -8 walking straight to the goal (0.7 to 1.3 away: at most 13 steps of 0.1),
-35 to -65 standing still, down to about -140 walking away (as the right action of another group's
frame does); used unscaled (`reward_scale` 1). Note for training: the task affinity lives in the
gradient the meta-policy θ* leaves, so θ* must be stopped before it solves every task (see the
"planted" rows of `PROFILE_TABLE` in `pgxlib.profiles`).

Pure Python floats and numpy, no physics engine: one env (TimeLimit included) steps at about
300,000 steps/s in one process.

Observation Box([-2, 2]², float32), action Box([-1, 1]², float32).
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from pgxlib.tasks.base import Task, TaskFamily, build_family, design_groups

NAME = "planted"
MAX_EPISODE_STEPS = 50
N_GROUPS = 3
ROTATION_STEP_DEG = 120.0
GOAL_CENTRE = (1.0, 0.0)
GOAL_RADIUS = 0.3
MAX_STEP = 0.1
BOUND = 2.0
SUCCESS_RADIUS = 0.1
PARAM_RANGES: dict[str, tuple[float, float]] = {  # goals first: reports plot the first two as x, y
    "goal_x": (-BOUND, BOUND),
    "goal_y": (-BOUND, BOUND),
    "rotation_deg": (0.0, ROTATION_STEP_DEG * (N_GROUPS - 1)),
}


class PlantedEnv(gym.Env):
    """A point in the plane walking to a fixed, unobserved goal in a rotated action frame.

    Observation: position, float32 shape (2,). Action: float32 shape (2,) in [-1, 1], clipped to
    the unit disc, rotated by `rotation_deg` and scaled by `max_step`. Reward: -||position - goal||
    after the step. Never terminates; wrap it in a TimeLimit.
    """

    metadata = {"render_modes": []}

    def __init__(self, goal_x: float = 1.0, goal_y: float = 0.0, rotation_deg: float = 0.0,
                 max_step: float = MAX_STEP, bound: float = BOUND, success_radius: float = SUCCESS_RADIUS):
        self.goal = (float(goal_x), float(goal_y))
        self.rotation_deg = float(rotation_deg)
        angle = math.radians(self.rotation_deg)
        self._cos, self._sin = math.cos(angle), math.sin(angle)
        self.max_step = float(max_step)
        self.bound = float(bound)
        self.success_radius = float(success_radius)
        self.observation_space = spaces.Box(-self.bound, self.bound, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._x = self._y = 0.0

    def _obs(self) -> np.ndarray:
        return np.array((self._x, self._y), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._x = self._y = 0.0
        return self._obs(), {}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(2)
        ax, ay = min(max(float(a[0]), -1.0), 1.0), min(max(float(a[1]), -1.0), 1.0)
        norm = math.hypot(ax, ay)
        if norm > 1.0:
            ax, ay = ax / norm, ay / norm
        dx = self.max_step * (self._cos * ax - self._sin * ay)
        dy = self.max_step * (self._sin * ax + self._cos * ay)
        b = self.bound
        self._x = min(max(self._x + dx, -b), b)
        self._y = min(max(self._y + dy, -b), b)
        dist = math.hypot(self._x - self.goal[0], self._y - self.goal[1])
        info = {"success": float(dist < self.success_radius), "distance": dist}
        return self._obs(), -dist, False, False, info


def make_env(task: Task, max_episode_steps: int = MAX_EPISODE_STEPS) -> gym.Env:
    """A `PlantedEnv` for the goal and frame of `task`, inside a TimeLimit of `max_episode_steps`."""
    return TimeLimit(PlantedEnv(float(task.param("goal_x")), float(task.param("goal_y")),
                                float(task.param("rotation_deg"))),
                     max_episode_steps=max_episode_steps)


def sample_planted(split: str, n: int, rng: np.random.Generator) -> tuple[Task, ...]:
    """`n` tasks, task i in group i mod 3, goals uniform in the goal disc.
    Params goal_x, goal_y, rotation_deg, group."""
    tasks = []
    for i in range(n):
        g = i % N_GROUPS
        radius = GOAL_RADIUS * math.sqrt(rng.uniform())
        angle = rng.uniform(0.0, 2 * math.pi)
        params = (("goal_x", float(f"{GOAL_CENTRE[0] + radius * math.cos(angle):.4g}")),
                  ("goal_y", float(f"{GOAL_CENTRE[1] + radius * math.sin(angle):.4g}")),
                  ("rotation_deg", ROTATION_STEP_DEG * g),
                  ("group", int(g)))
        tasks.append(Task(family=NAME, split=split, index=i, params=params))
    return tuple(tasks)


def planted_labels(family: TaskFamily) -> np.ndarray:
    """The planted group of each source task of `family`, int [n], numbered by first appearance."""
    return design_groups(family)


def make(n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """`n_tasks` source tasks and `n_target` unseen target tasks in three planted action frames."""
    return build_family(NAME, n_tasks, n_target, seed, lambda split, n, rng, source: sample_planted(split, n, rng),
                        make_env, MAX_EPISODE_STEPS, PARAM_RANGES, reward_scale=1.0, has_success=True,
                        description="2D point navigation to nearby unobserved goals in three planted action frames "
                                    "(rotated 0°, 120°, 240°)",
                        env_kwargs={"max_step": MAX_STEP, "bound": BOUND, "success_radius": SUCCESS_RADIUS,
                                    "n_groups": N_GROUPS, "rotation_step_deg": ROTATION_STEP_DEG,
                                    "goal_centre": GOAL_CENTRE, "goal_radius": GOAL_RADIUS,
                                    "max_episode_steps": MAX_EPISODE_STEPS})
