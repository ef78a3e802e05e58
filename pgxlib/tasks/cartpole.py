"""CartPole-v1 with varied physics: pole half-length, pole mass, cart mass and push force.

Parameters (uniform, gymnasium defaults in brackets):

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
transfer and some conflict. Every task stays solvable (the balance limits of 12° and 2.4 m are
unchanged). Episodes last at most 500 steps (CartPole-v1), reward +1 per step.

Observation Box(4,) float32 (cart position and velocity, pole angle and angular velocity);
action Discrete(2) (push left, push right). Same spaces for every task: the thresholds that define
the observation bounds are not varied. Rewards are used unscaled (`reward_scale` 1), as in the
usual PPO recipe for CartPole.
"""
from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv
from gymnasium.wrappers import TimeLimit

from pgxlib.tasks.base import Task, TaskFamily, build_family, uniform_sampler

NAME = "cartpole"
MAX_EPISODE_STEPS = 500
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "length": (0.25, 1.5),
    "masspole": (0.05, 0.5),
    "masscart": (0.5, 2.0),
    "force_mag": (5.0, 20.0),
}


def make_env(task: Task, max_episode_steps: int = MAX_EPISODE_STEPS) -> gym.Env:
    """A CartPole env with the physics of `task`, inside a TimeLimit of `max_episode_steps`."""
    env = CartPoleEnv()
    p = task.as_dict()
    env.length = float(p["length"])
    env.masspole = float(p["masspole"])
    env.masscart = float(p["masscart"])
    env.force_mag = float(p["force_mag"])
    env.total_mass = env.masspole + env.masscart
    env.polemass_length = env.masspole * env.length
    return TimeLimit(env, max_episode_steps=max_episode_steps)


def make(n_tasks: int = 10, seed: int = 0, n_target: int = 50) -> TaskFamily:
    """`n_tasks` source and `n_target` target tasks drawn uniformly from `PARAM_RANGES`."""
    return build_family(NAME, n_tasks, n_target, seed, uniform_sampler(NAME, PARAM_RANGES), make_env,
                        MAX_EPISODE_STEPS, PARAM_RANGES, reward_scale=1.0, has_success=False,
                        description="CartPole-v1 with varied pole length, pole mass, cart mass and push force",
                        env_kwargs={"env_id": "CartPole-v1", "max_episode_steps": MAX_EPISODE_STEPS})
