"""Task-conditioned actor-critic networks (MLP, Soft Modularization, PaCo, CARE).

The actor and the critic are separate modules so that gradient features can be taken over the
actor's parameters alone. Input to both is ``[obs, one_hot(task_id, n_tasks)]`` when the network is
task-conditioned, else ``obs``. The actor outputs categorical logits (discrete actions) or a Gaussian
mean with a state-independent log standard deviation (continuous actions).

`actor_log_prob(actor, params, obs, task_id, action)` is a pure function of a parameter dict, so
`torch.func.vmap(torch.func.grad(...))` gives per-sample gradients.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from pgxlib.config import ConfigError, NetConfig, PipelineConfig

if TYPE_CHECKING:
    import gymnasium as gym

_ACT = {"tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(in_dim: int, out_dim: int, depth: int, width: int, activation: str, out_gain: float) -> nn.Sequential:
    """`depth` hidden layers of `width` units, orthogonal init, last layer scaled by `out_gain`."""
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(depth):
        lin = nn.Linear(dim, width)
        nn.init.orthogonal_(lin.weight, math.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers += [lin, _ACT[activation]()]
        dim = width
    head = nn.Linear(dim, out_dim)
    nn.init.orthogonal_(head.weight, out_gain)
    nn.init.zeros_(head.bias)
    layers.append(head)
    return nn.Sequential(*layers)


def space_dims(observation_space: gym.Space, action_space: gym.Space) -> tuple[int, bool, int]:
    """(obs_dim, discrete, action_dim) where action_dim is the number of actions if discrete.

    gymnasium is imported here, not by the module, so that the maths on policies loads no environment."""
    from gymnasium import spaces

    obs_dim = int(np.prod(observation_space.shape))
    if isinstance(action_space, spaces.Discrete):
        return obs_dim, True, int(action_space.n)
    if isinstance(action_space, spaces.Box):
        return obs_dim, False, int(np.prod(action_space.shape))
    raise TypeError(f"unsupported action space {action_space}")


class Actor(nn.Module):
    """π(a | s, task). Forward returns logits [B, n_actions] or mean [B, act_dim]."""

    def __init__(self, obs_dim: int, discrete: bool, action_dim: int, n_tasks: int, cfg: NetConfig):
        super().__init__()
        self.discrete, self.action_dim, self.n_tasks = discrete, action_dim, n_tasks
        self.task_conditioned = cfg.task_conditioned
        in_dim = obs_dim + (n_tasks if cfg.task_conditioned else 0)
        self.body = build_body(in_dim, action_dim, n_tasks, cfg, out_gain=0.01)
        if not discrete:
            self.log_std = nn.Parameter(torch.full((action_dim,), -0.5))

    def forward(self, obs: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        return self.body(net_input(obs, task_id, self.n_tasks, self.task_conditioned), task_id)

    def distribution(self, obs: torch.Tensor, task_id: torch.Tensor) -> torch.distributions.Distribution:
        out = self(obs, task_id)
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out))

    def log_prob(self, obs: torch.Tensor, task_id: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log π(a|s) per sample, shape [B]; written with plain ops so it works under vmap."""
        out = self(obs, task_id)
        if self.discrete:
            logp_all = torch.log_softmax(out, dim=-1)
            return (logp_all * one_hot(action, self.action_dim, logp_all.dtype)).sum(-1)
        log_std = self.log_std.expand_as(out)
        z = (action - out) / log_std.exp()
        return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


class Critic(nn.Module):
    """V(s, task). Forward returns values of shape [B]."""

    def __init__(self, obs_dim: int, n_tasks: int, cfg: NetConfig):
        super().__init__()
        self.n_tasks, self.task_conditioned = n_tasks, cfg.task_conditioned
        in_dim = obs_dim + (n_tasks if cfg.task_conditioned else 0)
        self.body = build_body(in_dim, 1, n_tasks, cfg, out_gain=1.0)

    def forward(self, obs: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        return self.body(net_input(obs, task_id, self.n_tasks, self.task_conditioned), task_id).squeeze(-1)


class ActorCritic(nn.Module):
    """An actor and a critic for one task family; `n_tasks` is the size of the task one-hot."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, n_tasks: int, cfg: NetConfig):
        super().__init__()
        obs_dim, discrete, action_dim = space_dims(observation_space, action_space)
        self.cfg, self.n_tasks, self.discrete = cfg, n_tasks, discrete
        self.actor = Actor(obs_dim, discrete, action_dim, n_tasks, cfg)
        self.critic = Critic(obs_dim, n_tasks, cfg)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, task_id: torch.Tensor, deterministic: bool = False):
        """Sample (or take the mode of) actions. Returns action, log π(a|s), V(s), each [B, ...]."""
        dist = self.actor.distribution(obs, task_id)
        if deterministic:
            action = dist.probs.argmax(-1) if self.discrete else dist.mean
        else:
            action = dist.sample()
        logp = dist.log_prob(action)
        if not self.discrete:
            logp = logp.sum(-1)
        return action, logp, self.critic(obs, task_id)


def new_policy(family, cfg: PipelineConfig, seed: int, device: torch.device | str) -> ActorCritic:
    """A freshly initialised actor-critic for a task family (anything with `observation_space`, `action_space`
    and `n_tasks`, such as `pgxlib.tasks.TaskFamily`), deterministic given `seed` (it reseeds torch)."""
    torch.manual_seed(seed)
    return ActorCritic(family.observation_space, family.action_space, family.n_tasks, cfg.net).to(device)


def one_hot(index: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """One-hot [B, n] by comparison with arange (unlike F.one_hot, this works under vmap)."""
    return (index.long().unsqueeze(-1) == torch.arange(n, device=index.device)).to(dtype)


def net_input(obs: torch.Tensor, task_id: torch.Tensor, n_tasks: int, task_conditioned: bool) -> torch.Tensor:
    """[obs, one_hot(task_id)] as float, shape [B, obs_dim + n_tasks] (or [B, obs_dim])."""
    obs = obs.float().flatten(start_dim=1) if obs.dim() > 1 else obs.float()
    if not task_conditioned:
        return obs
    onehot = one_hot(task_id, n_tasks, obs.dtype)
    return torch.cat([obs, onehot], dim=-1)


class _PlainBody(nn.Module):
    """An MLP that ignores the task id (the id is already in its input)."""

    def __init__(self, net: nn.Sequential):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _linear_bank(n_banks: int, in_dim: int, out_dim: int, gain: float) -> tuple[nn.Parameter, nn.Parameter]:
    """`n_banks` independent linear layers as one weight [n_banks, in_dim, out_dim] (orthogonal
    init per bank, scaled by `gain`) and one zero bias [n_banks, out_dim]."""
    weight = torch.empty(n_banks, out_dim, in_dim)
    for w in weight:
        nn.init.orthogonal_(w, gain)
    return nn.Parameter(weight.transpose(1, 2).contiguous()), nn.Parameter(torch.zeros(n_banks, out_dim))


class SoftModularBody(nn.Module):
    """Soft Modularization (Yang et al., 2020): a base network of `depth` layers of `n_modules`
    modules each, and a routing network that, per sample, mixes the modules' outputs of one layer
    into the inputs of the next with task- and state-dependent softmax weights.

    State embedding e = act(W_s x) [B, width]; task embedding z = W_t one_hot(task) [B, width];
    routing features h_1 = act(W_r (e ⊙ z)). Layer 1: module m outputs g¹_m = act(W¹_m e). Layer
    l → l+1: p^l = softmax_j(R_l h_l) [B, M, M], input of module i is Σ_j p^l_ij g^l_j, and
    h_{l+1} = act(W'_l [h_l, flatten(p^l)]) (the routing of a layer sees the previous routing, as
    in the paper). Output: head(mean_m g^L_m). Written with einsum so that it works under vmap.
    """

    def __init__(self, in_dim: int, out_dim: int, n_tasks: int, cfg: NetConfig, out_gain: float):
        super().__init__()
        M, W = cfg.n_modules, cfg.width
        self.n_tasks, self.act = n_tasks, _ACT[cfg.activation]()
        self.state_embed = mlp(in_dim, W, 0, W, cfg.activation, math.sqrt(2))
        self.task_embed = nn.Linear(n_tasks, W, bias=False)
        self.route_in = mlp(W, W, 0, W, cfg.activation, math.sqrt(2))
        self.module_w = nn.ParameterList()
        self.module_b = nn.ParameterList()
        for _ in range(cfg.depth):
            w, b = _linear_bank(M, W, W, math.sqrt(2))
            self.module_w.append(w)
            self.module_b.append(b)
        self.route_logits = nn.ModuleList(mlp(W, M * M, 0, W, cfg.activation, 0.01) for _ in range(cfg.depth - 1))
        self.route_next = nn.ModuleList(mlp(W + M * M, W, 0, W, cfg.activation, math.sqrt(2))
                                        for _ in range(max(cfg.depth - 2, 0)))
        self.head = mlp(W, out_dim, 0, W, cfg.activation, out_gain)
        self.n_modules = M

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        M = self.n_modules
        e = self.act(self.state_embed(x))
        z = self.task_embed(one_hot(task_id, self.n_tasks, x.dtype))
        h = self.act(self.route_in(e * z))
        g = self.act(torch.einsum("bi,mio->bmo", e, self.module_w[0]) + self.module_b[0])  # [B, M, W]
        for layer in range(1, len(self.module_w)):
            p = torch.softmax(self.route_logits[layer - 1](h).unflatten(-1, (M, M)), dim=-1)  # [B, M, M]
            mixed = torch.einsum("bij,bjo->bio", p, g)
            g = self.act(torch.einsum("bmi,mio->bmo", mixed, self.module_w[layer]) + self.module_b[layer])
            if layer < len(self.module_w) - 1:
                h = self.act(self.route_next[layer - 1](torch.cat([h, p.flatten(1)], dim=-1)))
        return self.head(g.mean(1))


class PaCoBody(nn.Module):
    """Parameter-compositional policy (PaCo, Sun et al., 2022): `n_modules` full parameter sets
    φ_1..φ_K of an MLP and a task-specific weight vector w_τ ∈ R^K; task τ's network has
    parameters θ_τ = Σ_k w_τk φ_k. Every layer is linear in its parameters, so a layer's output is
    Σ_k w_τk (x W_k + b_k), computed as one einsum over the K banks. w_τ starts at 1/K.
    """

    def __init__(self, in_dim: int, out_dim: int, n_tasks: int, cfg: NetConfig, out_gain: float):
        super().__init__()
        K = cfg.n_modules
        self.n_tasks, self.act = n_tasks, _ACT[cfg.activation]()
        dims = [in_dim] + [cfg.width] * cfg.depth + [out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            w, b = _linear_bank(K, d_in, d_out, out_gain if i == len(dims) - 2 else math.sqrt(2))
            self.weights.append(w)
            self.biases.append(b)
        self.composition = nn.Parameter(torch.full((n_tasks, K), 1.0 / K))

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        w_task = one_hot(task_id, self.n_tasks, x.dtype) @ self.composition  # [B, K]
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.einsum("bk,bi,kio->bo", w_task, h, w) + w_task @ b
            if i < len(self.weights) - 1:
                h = self.act(h)
        return h


class CAREBody(nn.Module):
    """CARE (Sodhani et al., 2021): a mixture of `n_modules` state encoders combined by attention
    from a task context, then a policy trunk on [mixed encoding, context].

    Context: CARE embeds a task's natural-language description with a pretrained language model; no
    model can be downloaded here, so the context is a **learned task embedding** c = act(W_c one_hot(task))
    [B, width] (no fixed description embedding is shipped). Encoders: h_k = act(W_k x + b_k), a bank of
    K linear layers [B, K, width]. Attention α = softmax(W_a c) [B, K] (W_a starts near 0, so the
    mixture starts uniform). Mixed encoding z = Σ_k α_k h_k; output: an MLP of `depth − 1` hidden layers
    on [z, c] [B, 2·width]. Written with einsum so that it works under vmap.
    """

    def __init__(self, in_dim: int, out_dim: int, n_tasks: int, cfg: NetConfig, out_gain: float):
        super().__init__()
        K, W = cfg.n_modules, cfg.width
        self.n_tasks, self.act = n_tasks, _ACT[cfg.activation]()
        self.enc_w, self.enc_b = _linear_bank(K, in_dim, W, math.sqrt(2))
        self.context = nn.Linear(n_tasks, W)
        nn.init.orthogonal_(self.context.weight, math.sqrt(2))
        nn.init.zeros_(self.context.bias)
        self.attention = mlp(W, K, 0, W, cfg.activation, 0.01)
        self.trunk = mlp(2 * W, out_dim, cfg.depth - 1, W, cfg.activation, out_gain)

    def context_and_weights(self, task_id: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The task context c [B, width] and the attention over the encoders α [B, K] (rows sum to 1)."""
        c = self.act(self.context(one_hot(task_id, self.n_tasks, dtype)))
        return c, torch.softmax(self.attention(c), dim=-1)

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        c, alpha = self.context_and_weights(task_id, x.dtype)
        h = self.act(torch.einsum("bi,kio->bko", x, self.enc_w) + self.enc_b)  # [B, K, W]
        z = torch.einsum("bk,bko->bo", alpha, h)
        return self.trunk(torch.cat([z, c], dim=-1))


def build_body(in_dim: int, out_dim: int, n_tasks: int, cfg: NetConfig, out_gain: float) -> nn.Module:
    """The trunk for `cfg.arch`; every body maps (x [B, in_dim], task_id [B]) to [B, out_dim]."""
    if cfg.arch == "mlp":
        return _PlainBody(mlp(in_dim, out_dim, cfg.depth, cfg.width, cfg.activation, out_gain))
    if cfg.arch == "soft_modularization":
        return SoftModularBody(in_dim, out_dim, n_tasks, cfg, out_gain)
    if cfg.arch == "paco":
        return PaCoBody(in_dim, out_dim, n_tasks, cfg, out_gain)
    if cfg.arch == "care":
        return CAREBody(in_dim, out_dim, n_tasks, cfg, out_gain)
    raise ValueError(f"unknown arch {cfg.arch!r}")


def actor_params(actor: Actor) -> dict[str, torch.Tensor]:
    """The actor's parameters as a detached dict (the θ of gradient features)."""
    return {name: p.detach() for name, p in actor.named_parameters()}


def actor_log_prob(actor: Actor, params: dict[str, torch.Tensor], obs: torch.Tensor, task_id: torch.Tensor,
                   action: torch.Tensor) -> torch.Tensor:
    """log π_params(a|s) for a batch [B], a pure function of `params` (for torch.func)."""
    return functional_call(_LogProb(actor), {f"actor.{k}": v for k, v in params.items()}, (obs, task_id, action))


class _LogProb(nn.Module):
    """Wraps an actor so that its forward is log π(a|s)."""

    def __init__(self, actor: Actor):
        super().__init__()
        self.actor = actor

    def forward(self, obs, task_id, action):
        return self.actor.log_prob(obs, task_id, action)


def flat_params(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate a parameter dict into one vector of length p (dict order)."""
    return torch.cat([v.reshape(-1) for v in params.values()])


def unflatten_like(vec: torch.Tensor, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Split a length-p vector into a dict shaped like `params`."""
    out, i = {}, 0
    for name, v in params.items():
        out[name] = vec[i:i + v.numel()].view_as(v)
        i += v.numel()
    return out


def get_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when available, else CPU; asking for CUDA where there is none is a one-line `ConfigError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, but no GPU is visible"
        raise ConfigError(f"invalid device={name!r}: CUDA is not available here (torch {torch.__version__}, {build}); "
                          f"allowed auto, cpu")
    return device
