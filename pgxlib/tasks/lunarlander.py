"""LunarLander-v3 (discrete actions) in three groups of engine wiring, with varied gravity, wind and
turbulence.

Groups (the integer parameter `group`, the grouping the family was designed with, see
`pgxlib.tasks.design_groups`); gymnasium's actions are 0 noop, 1 fire left engine, 2 fire main
engine, 3 fire right engine, and a group executes action a as `GROUP_ACTIONS[group][a]`:

| group | wiring | what the same action does |
|-------|--------|---------------------------|
| 0 | gymnasium's | as documented |
| 1 | side engines swapped (1 ↔ 3) | the correction that rights the lander in group 0 tilts it further |
| 2 | main engine inverted (0 ↔ 2) | "noop" fires the main engine, "main" cuts it |

Source task i is in group i mod 3, the assignment shuffled with the seed; the targets likewise with
their own generator. Why: at our budgets gravity and wind alone gave no stable affinity structure
(two fine-tunings differing only in seeds grouped the tasks at chance level). Rewiring is a conflict
by construction: for the same observation the three groups need different actions (groups 1 and 2
differ from group 0 in the side or the main engine, and from each other in both), while tasks of one
group differ only in gravity and wind.

Physics parameters (uniform; gymnasium's allowed or recommended range in brackets):

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

from pgxlib.tasks.base import PermutedActions, Task, TaskFamily, build_family, grouped_sampler

NAME = "lunarlander"
ENV_ID = "LunarLander-v3"
MAX_EPISODE_STEPS = 600
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "gravity": (-11.5, -3.0),
    "wind_power": (0.0, 15.0),
    "turbulence_power": (0.0, 1.5),
}
N_GROUPS = 3
GROUP_ACTIONS = ((0, 1, 2, 3), (0, 3, 2, 1), (2, 1, 0, 3))
"""The action permutation of each group: gymnasium's, side engines swapped, main engine inverted."""


def make_env(task: Task, max_episode_steps: int = MAX_EPISODE_STEPS) -> gym.Env:
    """A LunarLander-v3 env (discrete) with the gravity, wind and engine wiring of `task`, time limit included."""
    p = task.as_dict()
    env = gym.make(
        ENV_ID,
        continuous=False,
        gravity=float(p["gravity"]),
        enable_wind=True,
        wind_power=float(p["wind_power"]),
        turbulence_power=float(p["turbulence_power"]),
        max_episode_steps=max_episode_steps,
        disable_env_checker=True,
    )
    return PermutedActions(env, GROUP_ACTIONS[int(p["group"])])


def make(n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """`n_tasks` source and `n_target` target tasks, physics uniform in `PARAM_RANGES`, in three wiring groups."""
    return build_family(NAME, n_tasks, n_target, seed, grouped_sampler(NAME, PARAM_RANGES, N_GROUPS), make_env,
                        MAX_EPISODE_STEPS, PARAM_RANGES, reward_scale=0.01, has_success=False,
                        description="LunarLander-v3 (discrete) with varied gravity, wind power and turbulence, in three groups "
                                    "of engine wiring",
                        env_kwargs={"env_id": ENV_ID, "continuous": False, "enable_wind": True,
                                    "max_episode_steps": MAX_EPISODE_STEPS, "group_actions": GROUP_ACTIONS})
