"""Multitask PPO: one task-conditioned actor-critic, an equal share of steps for every task.

The training loop is the usual clipped-objective PPO with GAE; the same function meta-trains on all
source tasks and fine-tunes given parameters on a subset. Learning curves are kept per task.

A run given a `Checkpoint` on a `fixed_length` family whose rollouts are whole episodes
(``rollout_len % max_episode_steps == 0``) is resumable: every iteration starts by reseeding the envs
from (seed, iteration) (`TaskVecEnv.reseed`), and at iteration boundaries, when the checkpoint is due,
the weights, Adam's state, both random generators and the curves so far are saved. A rerun loads the
last checkpoint and continues with the same numbers as an uninterrupted run. Other runs are unchanged.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch
from tqdm import tqdm

from pgxlib.config import PolicyGradientConfig, PPOConfig
from pgxlib.nets import ActorCritic
from pgxlib.rollout import TaskVecEnv
from pgxlib.tasks import TaskFamily
from pgxlib.transitions import gae, to_rollout


@dataclass
class TrainResult:
    """What a PPO run leaves behind. I iterations, n tasks trained on.

    steps [I] environment steps per task after each iteration; returns [I, n] mean undiscounted
    return of the episodes that finished during the iteration (NaN if none); success [I, n] likewise
    (NaN without a success signal); losses: name -> [I]; wall_time in seconds.
    """

    task_indices: list[int]
    steps: np.ndarray
    returns: np.ndarray
    success: np.ndarray
    losses: dict[str, np.ndarray]
    wall_time: float

    def to_stage(self) -> dict:
        """Plain tensors, numbers and lists only, so that a stage cache stores it and loads it with
        ``torch.load(weights_only=True)``; `from_stage` is the inverse."""
        return {"task_indices": list(self.task_indices), "steps": torch.as_tensor(self.steps),
                "returns": torch.as_tensor(self.returns), "success": torch.as_tensor(self.success),
                "losses": {k: torch.as_tensor(v) for k, v in self.losses.items()}, "wall_time": float(self.wall_time)}

    @classmethod
    def from_stage(cls, d: dict) -> "TrainResult":
        return cls(task_indices=list(d["task_indices"]), steps=d["steps"].numpy(), returns=d["returns"].numpy(),
                   success=d["success"].numpy(), losses={k: v.numpy() for k, v in d["losses"].items()},
                   wall_time=float(d["wall_time"]))

    def final_returns(self, last: int = 3) -> np.ndarray:
        """Mean over the last `last` iterations of the per-task curve, shape [n]."""
        tail = self.returns[-last:]
        out = np.full(tail.shape[1], np.nan)
        for j in range(tail.shape[1]):
            vals = tail[:, j][np.isfinite(tail[:, j])]
            if len(vals):
                out[j] = vals.mean()
        return out


class Checkpoint(Protocol):
    """Where a resumable run keeps its state (`pgxlib.store.cache.Checkpoint` is one)."""

    def due(self) -> bool:
        """Whether enough time has passed since the last save."""

    def load(self) -> dict | None:
        """The last saved state (tensors and plain values), or None."""

    def save(self, state: dict) -> None:
        """Store `state` atomically."""


def resumable(family: TaskFamily, cfg: PPOConfig) -> bool:
    """Whether a PPO run on `family` can resume exactly: every iteration's rollout ends every episode."""
    return family.fixed_length and cfg.rollout_len % family.max_episode_steps == 0


def ppo_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, new_values: torch.Tensor,
             returns: torch.Tensor, entropy: torch.Tensor, clip_coef: float, vf_coef: float,
             ent_coef: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped PPO loss on a minibatch (all inputs [B]). Returns (total, parts).

    policy = mean(max(−Â·r, −Â·clip(r, 1±ε))) with r = exp(new_logp − old_logp);
    value = ½·mean((V − R)²); total = policy + vf_coef·value − ent_coef·mean(entropy).
    """
    ratio = (new_logp - old_logp).exp()
    pg_loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    value_loss = 0.5 * ((new_values - returns) ** 2).mean()
    entropy_mean = entropy.mean()
    total = pg_loss + vf_coef * value_loss - ent_coef * entropy_mean
    with torch.no_grad():
        approx_kl = ((ratio - 1) - (new_logp - old_logp)).mean()
        clipfrac = ((ratio - 1).abs() > clip_coef).float().mean()
    return total, {"policy_loss": pg_loss.detach(), "value_loss": value_loss.detach(),
                   "entropy": entropy_mean.detach(), "approx_kl": approx_kl, "clipfrac": clipfrac}


class NonFiniteError(FloatingPointError):
    """A loss or an advantage became NaN or inf; the message (one line) names the stage and the iteration."""


def check_finite(value: torch.Tensor, what: str, stage: str, iteration: int) -> None:
    """Stop with `NonFiniteError` when `value` holds a NaN or an inf."""
    if not bool(torch.isfinite(value).all()):
        raise NonFiniteError(f"non-finite {what} in {stage} at iteration {iteration}; lower the learning rate or "
                             "check the environment's rewards")


def minibatch_updates(policy: torch.nn.Module, optimizer: torch.optim.Optimizer, n_samples: int,
                      cfg: PolicyGradientConfig, generator: torch.Generator,
                      minibatch_loss: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]],
                      stage: str, iteration: int) -> dict[str, float]:
    """The update step PPO and MAML's outer loop share: `cfg.update_epochs` passes over `n_samples`
    samples in shuffled minibatches of ``n_samples // cfg.num_minibatches``; on each, the loss of
    `minibatch_loss(idx)` (idx [B] int64) is checked for finiteness, back-propagated, the gradient
    clipped to `cfg.max_grad_norm` and an optimizer step taken. Returns the mean of each loss part."""
    mb_size = max(1, n_samples // cfg.num_minibatches)
    device = next(policy.parameters()).device
    sums: dict[str, float] = {}
    n_updates = 0
    for _ in range(cfg.update_epochs):
        perm = torch.randperm(n_samples, generator=generator).to(device)
        for lo in range(0, n_samples - mb_size + 1, mb_size):
            loss, parts = minibatch_loss(perm[lo:lo + mb_size])
            check_finite(loss, "loss", stage, iteration)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            optimizer.step()
            for key, val in parts.items():
                sums[key] = sums.get(key, 0.0) + float(val)
            n_updates += 1
    return {key: val / max(n_updates, 1) for key, val in sums.items()}


def _entropy(dist: torch.distributions.Distribution, discrete: bool) -> torch.Tensor:
    ent = dist.entropy()
    return ent if discrete else ent.sum(-1)


def train_ppo(policy: ActorCritic, family: TaskFamily, task_indices: list[int], cfg: PPOConfig, seed: int,
              device: torch.device | str = "cpu", progress: bool = True, desc: str = "PPO",
              checkpoint: Checkpoint | None = None) -> TrainResult:
    """Train `policy` in place with PPO on the source tasks `task_indices`, `cfg.steps_per_task` each.

    With `checkpoint` (and `resumable(family, cfg)`), the run saves its state when the checkpoint is due and
    at its end, and starts from the last saved state if there is one."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    envs = TaskVecEnv(family, [family.source[i] for i in task_indices], list(task_indices), cfg.num_envs, seed,
                      device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr, eps=1e-5)
    n_iter, n = cfg.iterations, len(task_indices)
    steps = np.zeros(n_iter)
    returns = np.full((n_iter, n), np.nan)
    success = np.full((n_iter, n), np.nan)
    losses: dict[str, list[float]] = {}
    generator = torch.Generator().manual_seed(seed)
    resume = checkpoint is not None and resumable(family, cfg)
    first, earlier = 0, 0.0
    if resume and (state := checkpoint.load()) is not None:
        policy.load_state_dict(state["policy"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["generator"])
        first, earlier = int(state["iteration"]), float(state["seconds"])
        steps, returns, success = state["steps"].numpy(), state["returns"].numpy(), state["success"].numpy()
        losses = {k: [float(x) for x in v] for k, v in state["losses"].items()}
    bar = tqdm(range(first, n_iter), desc=desc, disable=not progress, leave=False)
    for it in bar:
        if resume:
            envs.reseed(seed, it)
        # ---- learning-rate annealing
        if cfg.anneal_lr:
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * (1.0 - it / max(n_iter, 1))

        # ---- rollout on every task at once
        n_done_before = {k: len(v) for k, v in envs.log.returns.items()}
        traj = envs.collect(policy, cfg.rollout_len, cfg.gamma, family.reward_scale)
        with torch.no_grad():
            adv = gae(traj.rewards, traj.values, traj.dones, traj.last_value, cfg.gamma, cfg.gae_lambda)
        check_finite(adv, "advantages", desc, it)
        batch = to_rollout(traj, adv)
        steps[it] = (it + 1) * cfg.steps_per_iteration
        for k in range(n):
            new_returns = envs.log.returns.get(k, [])[n_done_before.get(k, 0):]
            if new_returns:
                returns[it, k] = float(np.mean(new_returns))
                if family.has_success:
                    success[it, k] = float(np.mean(envs.log.successes[k][n_done_before.get(k, 0):]))

        # ---- PPO epochs over shuffled minibatches
        def minibatch_loss(idx: torch.Tensor):
            mb_adv = batch.advantages[idx]
            if cfg.norm_adv and len(idx) > 1:
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
            dist = policy.actor.distribution(batch.obs[idx], batch.task_id[idx])
            new_logp = dist.log_prob(batch.actions[idx])
            if not policy.discrete:
                new_logp = new_logp.sum(-1)
            new_values = policy.critic(batch.obs[idx], batch.task_id[idx])
            return ppo_loss(new_logp, batch.logp[idx], mb_adv, new_values, batch.returns[idx],
                            _entropy(dist, policy.discrete), cfg.clip_coef, cfg.vf_coef, cfg.ent_coef)

        parts = minibatch_updates(policy, optimizer, len(batch), cfg, generator, minibatch_loss, desc, it)
        for key, val in parts.items():
            losses.setdefault(f"losses/{key}", []).append(val)
        if progress:
            bar.set_postfix(ret=f"{np.nanmean(returns[it]) if np.isfinite(returns[it]).any() else float('nan'):.1f}")

        # ---- checkpoint (between iterations, when due, and at the end)
        if resume and (checkpoint.due() or it == n_iter - 1):
            checkpoint.save({"iteration": it + 1, "policy": policy.state_dict(), "optimizer": optimizer.state_dict(),
                             "torch_rng": torch.get_rng_state(), "generator": generator.get_state(),
                             "steps": torch.as_tensor(steps), "returns": torch.as_tensor(returns),
                             "success": torch.as_tensor(success),
                             "losses": {k: torch.as_tensor(v, dtype=torch.float64) for k, v in losses.items()},
                             "seconds": earlier + time.perf_counter() - start})
    envs.close()
    return TrainResult(task_indices=list(task_indices), steps=steps, returns=returns, success=success,
                       losses={k: np.asarray(v) for k, v in losses.items()},
                       wall_time=earlier + time.perf_counter() - start)
