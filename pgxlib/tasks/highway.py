"""highway-env 1.12 (`highway-fast-v0`) with varied traffic, road width and reward weights.

Parameters (uniform; `lanes_count` uniform over the integers):

| parameter          | range        | highway-v0 default | effect |
|--------------------|--------------|--------------------|--------|
| vehicles_density   | 0.5 – 2.0    | 1                  | how close the other cars start (spacing 1/density) |
| lanes_count        | 2, 3, 4      | 4 (fast: 3)        | road width: room to overtake |
| collision_reward   | -2.0 – -0.2  | -1                 | reward on crashing (the episode then ends) |
| high_speed_reward  | 0.0 – 1.0    | 0.4                | reward at full speed (30 m/s), linear from 20 m/s |
| right_lane_reward  | 0.0 – 1.0    | 0.1                | reward in the rightmost lane, linear to 0 in the leftmost |

Why: the reward weights make the tasks' objectives genuinely different. A speed lover must weave
through traffic in any lane, a right-lane lover must stay right even behind slower cars, and the
collision weight sets how much risk either may take. With the speed and right-lane weights drawn
independently from [0, 1], tasks with similar weight ratios transfer and tasks with opposite ratios
pull the ego car in opposite directions. Density and lane count change how hard those goals are to reach: dense
traffic on two lanes leaves no room to overtake. (`lane_change_reward` is not varied: HighwayEnv
ignores it in its reward.) The reward stays normalised (`normalize_reward`): each step's weighted
sum is mapped from [collision_reward, high_speed_reward + right_lane_reward] to [0, 1] and set to
0 off the road, so it is finite, a return is at most `max_episode_steps`, and `reward_scale` is 1.

Speed: stock highway-fast-v0 runs at about 30–60 steps/s, spent in the other cars' IDM/MOBIL
behaviour and in building the Kinematics observation with pandas. This family keeps the scene
small and coarse — 10 other cars, a 5 Hz simulation, one decision per second (5 simulation frames
per step), 20-second episodes, so `max_episode_steps` 20 — and computes the Kinematics observation
with numpy (`NumpyKinematicObservation`, same values as highway-env's own; a test checks this):
about 200 steps/s in one process with random actions (crashes and resets included). No rendering: `offscreen_rendering` on, render mode None.

Observation: Kinematics of the ego car and the 4 nearest other cars (order "sorted" by distance
along the road; cars more than two lengths behind are not seen), features presence, x, y, vx, vy;
the ego row is absolute, the others relative to the ego car; each feature mapped to [-1, 1] with
fixed ranges (x ±200 m, y ±16 m for up to 4 lanes of 4 m, vx and vy ±80 m/s) and clipped, so the
same number means the same thing on every road; flattened to a float32 Box(-1, 1, (25,)). Missing cars are rows of zeros. Action: DiscreteMetaAction, Discrete(5)
(lane left, idle, lane right, faster, slower).
"""
from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import FlattenObservation, TimeLimit
from highway_env.envs.common.observation import KinematicObservation
from highway_env.envs.highway_env import HighwayEnvFast
from highway_env.vehicle.kinematics import Vehicle

from pgxlib.tasks.base import Task, TaskFamily, build_family

NAME = "highway"
FEATURES = ("presence", "x", "y", "vx", "vy")
OBSERVED_VEHICLES = 5
LANES = (2, 4)
LANE_WIDTH = 4.0
POLICY_FREQUENCY = 1
DURATION = 20
MAX_EPISODE_STEPS = DURATION * POLICY_FREQUENCY
CONTINUOUS_RANGES: dict[str, tuple[float, float]] = {
    "vehicles_density": (0.5, 2.0),
    "collision_reward": (-2.0, -0.2),
    "high_speed_reward": (0.0, 1.0),
    "right_lane_reward": (0.0, 1.0),
}
PARAM_RANGES: dict[str, tuple[float, float]] = {
    **CONTINUOUS_RANGES, "lanes_count": (float(LANES[0]), float(LANES[1]))}

BASE_CONFIG: dict = {
    "observation": {
        "type": "Kinematics",
        "vehicles_count": OBSERVED_VEHICLES,
        "features": list(FEATURES),
        "features_range": {
            "x": [-5.0 * Vehicle.MAX_SPEED, 5.0 * Vehicle.MAX_SPEED],
            "y": [-LANE_WIDTH * LANES[1], LANE_WIDTH * LANES[1]],
            "vx": [-2.0 * Vehicle.MAX_SPEED, 2.0 * Vehicle.MAX_SPEED],
            "vy": [-2.0 * Vehicle.MAX_SPEED, 2.0 * Vehicle.MAX_SPEED],
        },
        "absolute": False,
        "order": "sorted",
        "normalize": True,
        "clip": True,
        "see_behind": False,
    },
    "action": {"type": "DiscreteMetaAction"},
    "vehicles_count": 10,
    "simulation_frequency": 5,
    "policy_frequency": POLICY_FREQUENCY,
    "duration": DURATION,
    "normalize_reward": True,
    "reward_speed_range": [20, 30],
    "offroad_terminal": False,
    "offscreen_rendering": True,
    "show_trajectories": False,
    "real_time_rendering": False,
}


class NumpyKinematicObservation(KinematicObservation):
    """highway-env's Kinematics observation computed with numpy instead of pandas.

    Supports the settings this family uses (features presence, x, y, vx, vy; "sorted" order; explicit
    `features_range`; normalize and clip on). Returns float32 [vehicles_count, 5].
    """

    def __init__(self, env, **kwargs):
        super().__init__(env, **kwargs)
        if tuple(self.features) != FEATURES or self.order != "sorted" or self.absolute:
            raise ValueError("NumpyKinematicObservation supports only presence,x,y,vx,vy, sorted, relative")
        rng = [self.features_range[k] for k in FEATURES[1:]]
        self._lo = np.array([r[0] for r in rng], dtype=np.float64)
        self._hi = np.array([r[1] for r in rng], dtype=np.float64)

    def space(self) -> spaces.Space:
        low = -1.0 if self.clip else -np.inf
        return spaces.Box(low=low, high=-low, shape=(self.vehicles_count, len(FEATURES)), dtype=np.float32)

    def observe(self) -> np.ndarray:
        obs = np.zeros((self.vehicles_count, len(FEATURES)), dtype=np.float64)
        if not self.env.road:
            return obs.astype(np.float32)
        ego = self.observer_vehicle
        others = self.env.road.close_objects_to(
            ego, self.env.PERCEPTION_DISTANCE, count=self.vehicles_count - 1,
            see_behind=self.see_behind, sort=True, vehicles_only=not self.include_obstacles)
        ego_state = np.concatenate([ego.position, ego.velocity])
        rows = [ego_state] + [np.concatenate([v.position, v.velocity]) - ego_state for v in others]
        state = np.array(rows, dtype=np.float64)
        if self.normalize:
            state = -1.0 + 2.0 * (state - self._lo) / (self._hi - self._lo)
            if self.clip:
                state = np.clip(state, -1.0, 1.0)
        obs[: len(rows), 0] = 1.0
        obs[: len(rows), 1:] = state
        return obs.astype(np.float32)


class FastHighwayEnv(HighwayEnvFast):
    """`highway-fast-v0` (HighwayEnvFast) observing through `NumpyKinematicObservation`."""

    def define_spaces(self) -> None:
        super().define_spaces()
        self.observation_type = NumpyKinematicObservation(self, **self.config["observation"])
        self.observation_space = self.observation_type.space()


def task_config(task: Task) -> dict:
    """The full highway-env config of `task`: `BASE_CONFIG` with the task's parameters."""
    config = copy.deepcopy(BASE_CONFIG)
    p = task.as_dict()
    config["lanes_count"] = int(p["lanes_count"])
    for key in CONTINUOUS_RANGES:
        config[key] = float(p[key])
    return config


def make_env(task: Task, max_episode_steps: int = MAX_EPISODE_STEPS) -> gym.Env:
    """The highway env of `task`: flat float32 observation (25,), Discrete(5), time limit included."""
    env = FastHighwayEnv(config=task_config(task))
    return TimeLimit(FlattenObservation(env), max_episode_steps=max_episode_steps)


def sample_highway_tasks(split: str, n: int, rng: np.random.Generator) -> tuple[Task, ...]:
    """`n` tasks: continuous parameters uniform (4 significant digits), `lanes_count` uniform in LANES."""
    tasks = []
    for i in range(n):
        params = [(k, float(f"{rng.uniform(lo, hi):.4g}")) for k, (lo, hi) in CONTINUOUS_RANGES.items()]
        params.append(("lanes_count", int(rng.integers(LANES[0], LANES[1] + 1))))
        tasks.append(Task(family=NAME, split=split, index=i, params=tuple(params)))
    return tuple(tasks)


def make(n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """`n_tasks` source and `n_target` target highway tasks."""
    return build_family(NAME, n_tasks, n_target, seed,
                        lambda split, n, rng, source: sample_highway_tasks(split, n, rng), make_env,
                        MAX_EPISODE_STEPS, PARAM_RANGES, reward_scale=1.0, has_success=False,
                        description="highway-fast-v0 with varied traffic density, lane count and reward weights",
                        env_kwargs={"env_id": "highway-fast-v0", "numpy_observation": True,
                                    **copy.deepcopy(BASE_CONFIG)})
