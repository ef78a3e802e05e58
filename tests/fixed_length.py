"""A fixed-length task family for resume tests (Pendulum, no early termination), and the training run
that tests/test_resume.py starts in a subprocess, kills and reruns."""
import sys
import time

import gymnasium as gym
import torch

from pgxlib.config import NetConfig, PPOConfig
from pgxlib.nets import ActorCritic
from pgxlib.rl.ppo import train_ppo
from pgxlib.store.cache import StageCache
from pgxlib.tasks.base import build_family, uniform_sampler

EPISODE = 16
CFG = PPOConfig(steps_per_task=2 * EPISODE * 8, num_envs=2, rollout_len=EPISODE, update_epochs=2, num_minibatches=2)
"""8 iterations of one whole episode per env."""


def make_env(task, max_episode_steps: int):
    return gym.make("Pendulum-v1", g=task.param("g"), max_episode_steps=max_episode_steps)


def pendulum_family(fixed_length: bool = True):
    return build_family("pendulum", 2, 1, 0, uniform_sampler("pendulum", {"g": (8.0, 12.0)}), make_env, EPISODE,
                        {"g": (8.0, 12.0)}, fixed_length=fixed_length)


def train(root: str, out: str, pause: float = 0.0) -> int:
    """Train with checkpoints under `root` (pausing `pause` s after each save), store the outcome in `out`;
    returns the iteration it started from."""
    family = pendulum_family()
    torch.manual_seed(0)
    policy = ActorCritic(family.observation_space, family.action_space, 2, NetConfig(depth=1, width=8))
    checkpoint = StageCache(root).checkpoint("train", "ppo")
    saved = checkpoint.load()
    save = checkpoint.save

    def slow_save(state):
        save(state)
        time.sleep(pause)
    checkpoint.save = slow_save
    res = train_ppo(policy, family, [0, 1], CFG, seed=3, progress=False, checkpoint=checkpoint)
    torch.save({"policy": policy.state_dict(), "returns": torch.as_tensor(res.returns),
                "steps": torch.as_tensor(res.steps),
                "losses": {k: torch.as_tensor(v) for k, v in res.losses.items()}}, out)
    return 0 if saved is None else int(saved["iteration"])


def train_metaworld(root: str, out: str, pause: float = 0.0) -> int:
    """The smoke profile's multi-objective training of one policy on two MT10 tasks (`training.trained_groups`,
    2 PPO iterations of whole 500-step episodes), stored under `root`; returns the iteration it started from."""
    import numpy as np

    from pgxlib.profiles import pipeline_config
    from pgxlib.methods import group_policies_key, trained_groups
    from pgxlib.store.cache import Checkpoint
    from pgxlib.tasks import make_family

    cfg = pipeline_config("smoke", "metaworld", n_tasks=2)
    family, labels = make_family("metaworld", 2, 0), np.zeros(2, dtype=np.int64)
    stage = group_policies_key(family, cfg, "mlp", labels)
    saved = StageCache(root).checkpoint(stage, "g0").load()
    save = Checkpoint.save

    def slow_save(self, state):
        save(self, state)
        time.sleep(pause)
    Checkpoint.save = slow_save
    res = trained_groups(family, labels, "mlp", cfg, "cpu", False, cache=StageCache(root))
    torch.save({k: torch.as_tensor(res[k]) for k in ("success", "returns", "curve_returns", "curve_steps")}, out)
    return 0 if saved is None else int(saved["iteration"])


if __name__ == "__main__":
    run = train_metaworld if sys.argv[4:] == ["metaworld"] else train
    print("started at iteration", run(sys.argv[1], sys.argv[2], float(sys.argv[3])), flush=True)
