"""LunarLander-v3 (discrete actions) with varied gravity, wind and turbulence.

Parameters (uniform; gymnasium's allowed or recommended range in brackets):

| parameter        | range          | gymnasium          | effect |
|------------------|----------------|--------------------|--------|
| gravity          | -11.5 – -3.0   | (-12, 0), def. -10 | how hard the main engine must fire to hover and brake |
| wind_power       | 0.0 – 15.0     | [0, 20], def. 15   | peak sideways force of the (non-periodic) wind |
| turbulence_power | 0.0 – 1.5      | [0, 2], def. 1.5   | peak rotational force of the turbulence |

Wind is always enabled (`enable_wind=True`); a task with `wind_power` near 0 is nearly calm.

Why these ranges: gravity sets the main-engine duty cycle of a good lander (at -11.5 it must fire
most of the time, at -3 briefly), so a policy tuned to heavy gravity over-thrusts, wastes fuel and
climbs away under light gravity, and one tuned to light gravity crashes under heavy gravity: tasks
far apart in gravity conflict, nearby ones transfer. Wind and turbulence add side-engine corrections
that calm tasks never need. Gravity stops at -3 because under lighter gravity with strong wind even
gymnasium's heuristic lander often hovers until the time limit; at -3 with no wind it lands within
about 400 steps.

Episodes last at most 600 steps (gymnasium's default is 1000): the heuristic lander lands in 80–470
steps over this gravity range, so 600 leaves room for a slower policy while a hovering policy
wastes at most 600 steps of the per-task budget. Rewards per step are up to about ±10 with ±100 on
crashing or landing, and returns of a few hundred; `reward_scale` 0.01 brings PPO's value targets
to order 1 (with global gradient-norm clipping a loss of order 10⁴ from the critic would otherwise
shrink the actor's update). Reported returns are unscaled.

Observation Box(8,) float32 with the same bounds for every task; action Discrete(4).
"""
from __future__ import annotations

import gymnasium as gym

from pgxlib.tasks.base import Task, TaskFamily, build_family, uniform_sampler

NAME = "lunarlander"
ENV_ID = "LunarLander-v3"
MAX_EPISODE_STEPS = 600
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "gravity": (-11.5, -3.0),
    "wind_power": (0.0, 15.0),
    "turbulence_power": (0.0, 1.5),
}


def make_env(task: Task, max_episode_steps: int = MAX_EPISODE_STEPS) -> gym.Env:
    """A LunarLander-v3 env (discrete) with the gravity and wind of `task`, time limit included."""
    p = task.as_dict()
    return gym.make(
        ENV_ID,
        continuous=False,
        gravity=float(p["gravity"]),
        enable_wind=True,
        wind_power=float(p["wind_power"]),
        turbulence_power=float(p["turbulence_power"]),
        max_episode_steps=max_episode_steps,
        disable_env_checker=True,
    )


def make(n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """`n_tasks` source and `n_target` target tasks drawn uniformly from `PARAM_RANGES`."""
    return build_family(NAME, n_tasks, n_target, seed, uniform_sampler(NAME, PARAM_RANGES), make_env,
                        MAX_EPISODE_STEPS, PARAM_RANGES, reward_scale=0.01, has_success=False,
                        description="LunarLander-v3 (discrete) with varied gravity, wind power and turbulence",
                        env_kwargs={"env_id": ENV_ID, "continuous": False, "enable_wind": True,
                                    "max_episode_steps": MAX_EPISODE_STEPS})
