"""First-order MAML for policy-gradient RL: a meta-policy that adapts to a task in a few steps.

The inner loop (adaptation) on a task: collect `support_steps` transitions with the current actor,
take one vanilla policy-gradient step ``θ' = θ − α·clip(∇_θ L_pg)``, repeat `inner_updates` times.
The outer loop, over the tasks of a group: collect query transitions with every task's adapted actor
θ'_i and minimise the clipped PPO loss of θ'_i = θ + δ_i with the adaptation steps δ_i held fixed,
so the gradient reaching θ is the first-order MAML gradient (1/n) Σ_i ∇_{θ'} L_i(θ'_i). The critic is
shared by all tasks, is not adapted, and is fitted on the query data.

Every task of a group runs in one `TaskVecEnv`; the per-task actors are one stacked parameter dict
(leading dimension P = number of tasks), evaluated together with `torch.func.vmap`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call, vmap
from tqdm import tqdm

from pgxlib.config import MAMLConfig
from pgxlib.nets import Actor, ActorCritic
from pgxlib.rl.ppo import check_finite, minibatch_updates, ppo_loss
from pgxlib.rollout import TaskVecEnv
from pgxlib.tasks import Task, TaskFamily
from pgxlib.transitions import Trajectory, gae

Params = dict[str, torch.Tensor]


def stack_params(params: Params, n: int) -> Params:
    """`params` repeated along a new leading dimension of size n: {name: [n, ...]}."""
    return {k: v.detach().unsqueeze(0).expand(n, *v.shape).clone() for k, v in params.items()}


def stacked_distribution(actor: Actor, params: Params, obs: torch.Tensor,
                         task_id: torch.Tensor) -> torch.distributions.Distribution:
    """π_{θ_p}(·|s) for P stacked actors: params {name: [P, ...]}, obs [P, B, obs_dim], task_id [P, B].

    Returns a distribution with batch shape [P, B] (Categorical) or [P, B, act_dim] (Normal).
    """
    def forward(p, o, t):
        return functional_call(actor, p, (o, t))

    out = vmap(forward)(params, obs, task_id)
    if actor.discrete:
        return torch.distributions.Categorical(logits=out)
    log_std = params["log_std"][:, None, :].expand_as(out)
    return torch.distributions.Normal(out, log_std.exp())


def stacked_log_prob(actor: Actor, params: Params, obs: torch.Tensor, task_id: torch.Tensor,
                     actions: torch.Tensor) -> torch.Tensor:
    """log π_{θ_p}(a|s), shape [P, B]."""
    dist = stacked_distribution(actor, params, obs, task_id)
    logp = dist.log_prob(actions)
    return logp if actor.discrete else logp.sum(-1)


class AdaptedActors:
    """A policy with the `ActorCritic.act` interface whose actor differs per task position.

    Position p of a `TaskVecEnv` (its envs are rows p·E .. p·E + E − 1) acts with `params[p]`;
    values come from `critic(obs, task_id)` (shared within a group, or chosen per group).
    """

    def __init__(self, actor: Actor, params: Params, critic: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.actor, self.params, self.critic = actor, params, critic
        self.n_positions = next(iter(params.values())).shape[0]

    @torch.no_grad()
    def act(self, obs: torch.Tensor, task_id: torch.Tensor, deterministic: bool = False):
        P = self.n_positions
        dist = stacked_distribution(self.actor, self.params, obs.float().reshape(P, -1, *obs.shape[1:]),
                                    task_id.reshape(P, -1))
        if deterministic:
            action = dist.probs.argmax(-1) if self.actor.discrete else dist.mean
        else:
            action = dist.sample()
        logp = dist.log_prob(action)
        if not self.actor.discrete:
            logp = logp.sum(-1)
        action = action.reshape(obs.shape[0], *action.shape[2:])
        return action, logp.reshape(-1), self.critic(obs, task_id)


def per_position(x: torch.Tensor, n_positions: int) -> torch.Tensor:
    """Time-major [T, P·E, ...] to per-position [P, T·E, ...]."""
    T, PE = x.shape[:2]
    E = PE // n_positions
    x = x.reshape(T, n_positions, E, *x.shape[2:]).transpose(0, 1)
    return x.reshape(n_positions, T * E, *x.shape[3:])


def standardise(adv: torch.Tensor) -> torch.Tensor:
    """Advantages [P, N] standardised per position (row)."""
    return (adv - adv.mean(1, keepdim=True)) / (adv.std(1, keepdim=True) + 1e-8)


def pg_inner_step(actor: Actor, params: Params, obs: torch.Tensor, task_id: torch.Tensor, actions: torch.Tensor,
                  advantages: torch.Tensor, lr: float, max_norm: float) -> Params:
    """One vanilla policy-gradient step per position: θ'_p = θ_p − lr·clip(∇ L_p, max_norm).

    L_p = −mean_t Â_pt·log π_{θ_p}(a_pt|s_pt) with Â standardised per position; obs [P, N, obs_dim],
    task_id, advantages [P, N], actions [P, N, ...]. The gradient of each position is rescaled to
    norm at most `max_norm`. Returns detached parameters [P, ...].
    """
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    logp = stacked_log_prob(actor, leaves, obs, task_id, actions)
    loss = -(standardise(advantages) * logp).mean(1).sum()
    grads = torch.autograd.grad(loss, list(leaves.values()))
    sq = sum(g.reshape(g.shape[0], -1).pow(2).sum(1) for g in grads)
    scale = (max_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)
    return {k: (v - lr * scale.view(-1, *[1] * (v.dim() - 1)) * g).detach()
            for (k, v), g in zip(leaves.items(), grads)}


def _support_batch(traj: Trajectory, cfg: MAMLConfig, n_positions: int):
    with torch.no_grad():
        adv = gae(traj.rewards, traj.values, traj.dones, traj.last_value, cfg.gamma, cfg.gae_lambda)
    P = n_positions
    return (per_position(traj.obs, P), per_position(traj.task_id.expand(traj.rewards.shape[0], -1), P),
            per_position(traj.actions, P), per_position(adv, P))


def adapt_in_env(actor: Actor, params: Params, critic, env: TaskVecEnv, cfg: MAMLConfig,
                 reward_scale: float) -> Params:
    """The inner loop on the tasks of `env`: `cfg.inner_updates` policy-gradient steps, each on
    `cfg.support_steps` fresh transitions per task. params {name: [P, ...]} → adapted params."""
    P = next(iter(params.values())).shape[0]
    for _ in range(cfg.inner_updates):
        traj = env.collect(AdaptedActors(actor, params, critic), cfg.support_len, cfg.gamma, reward_scale)
        obs, tid, actions, adv = _support_batch(traj, cfg, P)
        params = pg_inner_step(actor, params, obs, tid, actions, adv, cfg.inner_lr, cfg.inner_max_norm)
    return params


def adapt(actor: Actor, params: Params, critic, family: TaskFamily, tasks: list[Task], cond_ids: list[int],
          cfg: MAMLConfig, seed: int, device: torch.device | str = "cpu") -> Params:
    """Adapt stacked actors params [P, ...] to P tasks (task p conditioned on `cond_ids[p]`)."""
    torch.manual_seed(seed)
    env = TaskVecEnv(family, tasks, cond_ids, cfg.num_envs, seed, device)
    try:
        return adapt_in_env(actor, params, critic, env, cfg, family.reward_scale)
    finally:
        env.close()


@dataclass
class MAMLResult:
    """What a MAML run leaves behind. I outer iterations, n tasks.

    steps [I] environment steps per task after each iteration; pre_returns / post_returns [I, n]:
    mean undiscounted return of episodes that finished during the support (before the last inner
    step) and query (after adaptation) phases, NaN if none; losses name -> [I]; wall_time seconds.
    """

    task_indices: list[int]
    steps: np.ndarray
    pre_returns: np.ndarray
    post_returns: np.ndarray
    losses: dict[str, np.ndarray]
    wall_time: float


def _new_returns(log, before: dict[int, int], n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for k in range(n):
        vals = log.returns.get(k, [])[before.get(k, 0):]
        if vals:
            out[k] = float(np.mean(vals))
    return out


def train_maml(policy: ActorCritic, family: TaskFamily, task_indices: list[int], cfg: MAMLConfig, seed: int,
               device: torch.device | str = "cpu", progress: bool = True, desc: str = "MAML") -> MAMLResult:
    """Meta-train `policy` in place with first-order MAML on the source tasks `task_indices`."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    n, actor = len(task_indices), policy.actor
    envs = TaskVecEnv(family, [family.source[i] for i in task_indices], list(task_indices), cfg.num_envs, seed,
                      device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr, eps=1e-5)
    n_iter = cfg.iterations
    steps = np.zeros(n_iter)
    pre, post = np.full((n_iter, n), np.nan), np.full((n_iter, n), np.nan)
    losses: dict[str, list[float]] = {}
    generator = torch.Generator().manual_seed(seed)
    names = [name for name, _ in actor.named_parameters()]
    bar = tqdm(range(n_iter), desc=desc, disable=not progress, leave=False)
    for it in bar:
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * (1.0 - it / max(n_iter, 1))
        theta = {name: p for name, p in actor.named_parameters()}

        # ---- inner loop: adapt every task from θ
        before = {k: len(v) for k, v in envs.log.returns.items()}
        adapted = adapt_in_env(actor, stack_params(theta, n), policy.critic, envs, cfg, family.reward_scale)
        pre[it] = _new_returns(envs.log, before, n)

        # ---- query rollouts with the adapted actors
        before = {k: len(v) for k, v in envs.log.returns.items()}
        traj = envs.collect(AdaptedActors(actor, adapted, policy.critic), cfg.rollout_len, cfg.gamma,
                            family.reward_scale)
        post[it] = _new_returns(envs.log, before, n)
        steps[it] = (it + 1) * cfg.steps_per_iteration
        with torch.no_grad():
            adv = gae(traj.rewards, traj.values, traj.dones, traj.last_value, cfg.gamma, cfg.gae_lambda)
            delta = {k: adapted[k] - theta[k].detach()[None] for k in names}
        check_finite(adv, "advantages", desc, it)
        obs, tid = per_position(traj.obs, n), per_position(traj.task_id.expand(traj.rewards.shape[0], -1), n)
        actions, old_logp = per_position(traj.actions, n), per_position(traj.logp, n)
        adv_p = per_position(adv, n)
        returns = adv_p + per_position(traj.values, n)
        adv_p = standardise(adv_p)

        # ---- outer loop: PPO on θ + δ_i (first-order MAML)
        def minibatch_loss(idx: torch.Tensor):
            params = {k: theta[k][None] + delta[k] for k in names}
            dist = stacked_distribution(actor, params, obs[:, idx], tid[:, idx])
            new_logp = dist.log_prob(actions[:, idx])
            entropy = dist.entropy()
            if not actor.discrete:
                new_logp, entropy = new_logp.sum(-1), entropy.sum(-1)
            values = policy.critic(obs[:, idx].reshape(-1, *obs.shape[2:]), tid[:, idx].reshape(-1))
            return ppo_loss(new_logp.reshape(-1), old_logp[:, idx].reshape(-1), adv_p[:, idx].reshape(-1), values,
                            returns[:, idx].reshape(-1), entropy.reshape(-1), cfg.clip_coef, cfg.vf_coef,
                            cfg.ent_coef)

        parts = minibatch_updates(policy, optimizer, obs.shape[1], cfg, generator, minibatch_loss, desc, it)
        for key, val in parts.items():
            losses.setdefault(f"losses/{key}", []).append(val)
        if progress and np.isfinite(post[it]).any():
            bar.set_postfix(post=f"{np.nanmean(post[it]):.1f}")
    envs.close()
    return MAMLResult(task_indices=list(task_indices), steps=steps, pre_returns=pre, post_returns=post,
                      losses={k: np.asarray(v) for k, v in losses.items()}, wall_time=time.perf_counter() - start)
