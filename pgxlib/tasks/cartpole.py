"""CartPole-v1 in two groups of push direction, with varied physics: pole half-length, pole mass, cart
mass and push force.

Groups (the integer parameter `group`, the grouping the family was designed with, see
`pgxlib.tasks.design_groups`): in group 0 action 0 pushes the cart left and action 1 right, as in
gymnasium; in group 1 the two actions are swapped (reversed actuation). Source task i is in group
i mod 2, the assignment shuffled with the seed; the targets likewise with their own generator.
Why: at our budgets the physics alone gave no stable affinity structure (two fine-tunings that
differ only in seeds grouped the tasks at chance level). Reversed actuation is a conflict by
construction: the action that balances the pole in one group topples it in the other, so a shared
policy's gradients on tasks of different groups pull its action probabilities in opposite
directions for the same observations, while tasks of one group differ only in their physics.

Physics parameters (uniform, gymnasium defaults in brackets):

| parameter  | range        | default | effect |
|------------|--------------|---------|--------|
| length     | 0.25 – 1.5   | 0.5     | pole half-length [m]; short poles fall 2–3× faster than long ones |
| masspole   | 0.05 – 0.5   | 0.1     | pole mass [kg]; a heavy pole pushes the cart back when it swings |
| masscart   | 0.5 – 2.0    | 1.0     | cart mass [kg]; with `force_mag` sets the cart's acceleration |
| force_mag  | 5.0 – 20.0   | 10.0    | push force [N] of each of the two actions |

Why these ranges: each spans a factor of 3 to 10 around the default, so the time constant of the
falling pole (about sqrt(length / g)) varies by 2.5× and the cart's acceleration per push
(force / total mass) by more than 10×. A controller tuned to a short pole and a strong push over-corrects on a long pole
and a heavy cart, while tasks near each other in this space share a good policy: some pairs
transfer and some conflict within a group. Every task stays solvable (the balance limits of 12° and
2.4 m are unchanged). Episodes last at most 500 steps (CartPole-v1), reward +1 per step.

Observation Box(4,) float32 (cart position and velocity, pole angle and angular velocity);
action Discrete(2) (push left, push right). Same spaces for every task: the thresholds that define
the observation bounds are not varied. Rewards are used unscaled (`reward_scale` 1), as in the
usual PPO recipe for CartPole.
"""
from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv
from gymnasium.wrappers import TimeLimit

from pgxlib.tasks.base import PermutedActions, Task, TaskFamily, build_family, grouped_sampler

NAME = "cartpole"
MAX_EPISODE_STEPS = 500
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "length": (0.25, 1.5),
    "masspole": (0.05, 0.5),
    "masscart": (0.5, 2.0),
    "force_mag": (5.0, 20.0),
}
N_GROUPS = 2
GROUP_ACTIONS = ((0, 1), (1, 0))
"""The action permutation of each group: group 1 swaps push left and push right."""


def make_env(task: Task, max_episode_steps: int = MAX_EPISODE_STEPS) -> gym.Env:
    """A CartPole env with the physics and push direction of `task`, inside a TimeLimit of `max_episode_steps`."""
    env = CartPoleEnv()
    p = task.as_dict()
    env.length = float(p["length"])
    env.masspole = float(p["masspole"])
    env.masscart = float(p["masscart"])
    env.force_mag = float(p["force_mag"])
    env.total_mass = env.masspole + env.masscart
    env.polemass_length = env.masspole * env.length
    return TimeLimit(PermutedActions(env, GROUP_ACTIONS[int(p["group"])]), max_episode_steps=max_episode_steps)


def make(n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """`n_tasks` source and `n_target` target tasks, physics uniform in `PARAM_RANGES`, in two push groups."""
    return build_family(NAME, n_tasks, n_target, seed, grouped_sampler(NAME, PARAM_RANGES, N_GROUPS), make_env,
                        MAX_EPISODE_STEPS, PARAM_RANGES, reward_scale=1.0, has_success=False,
                        description="CartPole-v1 with varied pole length, pole mass, cart mass and push force, in two "
                                    "groups of push direction (normal and reversed)",
                        env_kwargs={"env_id": "CartPole-v1", "max_episode_steps": MAX_EPISODE_STEPS,
                                    "group_actions": GROUP_ACTIONS})
