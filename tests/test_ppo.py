"""GAE against an explicit per-episode loop, the PPO loss on hand-made tensors, and a short training run."""
import math

import numpy as np
import pytest
import torch

from pgxlib.rl.ppo import ppo_loss
from pgxlib.transitions import gae


def explicit_gae(rewards, values, dones, last_value, gamma, lam):
    """A_t = Σ_l (γλ)^l δ_{t+l}, summed until the episode ends or the data does."""
    T, E = rewards.shape
    out = np.zeros((T, E))
    for e in range(E):
        for t in range(T):
            total, coef = 0.0, 1.0
            for s in range(t, T):
                if dones[s, e]:
                    next_v = 0.0
                elif s == T - 1:
                    next_v = last_value[e]
                else:
                    next_v = values[s + 1, e]
                delta = rewards[s, e] + gamma * next_v - values[s, e]
                total += coef * delta
                if dones[s, e]:
                    break
                coef *= gamma * lam
            out[t, e] = total
    return out


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 1.0), (1.0, 0.0)])
def test_gae_matches_explicit_loop(gamma, lam):
    rng = np.random.default_rng(0)
    T, E = 17, 3
    rewards = rng.normal(size=(T, E))
    values = rng.normal(size=(T, E))
    dones = rng.random((T, E)) < 0.2
    last_value = rng.normal(size=E)
    got = gae(torch.tensor(rewards), torch.tensor(values), torch.tensor(dones), torch.tensor(last_value), gamma, lam)
    np.testing.assert_allclose(got.numpy(), explicit_gae(rewards, values, dones, last_value, gamma, lam), atol=1e-10)


def test_gae_golden_two_steps():
    # r = [1, 1], V = [0.5, 0.5], no done, bootstrap 2.0, γ = 0.5, λ = 0.5
    # δ1 = 1 + 0.5·2 − 0.5 = 1.5; δ0 = 1 + 0.5·0.5 − 0.5 = 0.75; A0 = 0.75 + 0.25·1.5 = 1.125
    adv = gae(torch.tensor([[1.0], [1.0]]), torch.tensor([[0.5], [0.5]]), torch.tensor([[False], [False]]),
              torch.tensor([2.0]), 0.5, 0.5)
    np.testing.assert_allclose(adv.squeeze(1).numpy(), [1.125, 1.5])


def test_ppo_loss_hand_made():
    new_logp = torch.tensor([0.0, math.log(1.5), math.log(1.5)])
    old_logp = torch.zeros(3)
    adv = torch.tensor([1.0, 1.0, -1.0])
    new_v = torch.tensor([1.0, 2.0, 0.0])
    ret = torch.zeros(3)
    ent = torch.tensor([0.5, 0.7, 0.6])
    total, parts = ppo_loss(new_logp, old_logp, adv, new_v, ret, ent, clip_coef=0.2, vf_coef=0.5, ent_coef=0.01)
    # policy terms: max(−1, −1) = −1; max(−1.5, −1.2) = −1.2; max(1.5, 1.2) = 1.5 → mean −0.7/3
    expected_pg = (-1.0 - 1.2 + 1.5) / 3
    expected_v = 0.5 * (1 + 4 + 0) / 3
    assert parts["policy_loss"].item() == pytest.approx(expected_pg)
    assert parts["value_loss"].item() == pytest.approx(expected_v)
    assert parts["entropy"].item() == pytest.approx(0.6)
    assert total.item() == pytest.approx(expected_pg + 0.5 * expected_v - 0.01 * 0.6)
    assert parts["clipfrac"].item() == pytest.approx(2 / 3)


def test_ppo_loss_gradient_vanishes_when_clipped():
    new_logp = torch.tensor([math.log(1.5)], requires_grad=True)
    total, _ = ppo_loss(new_logp, torch.zeros(1), torch.ones(1), torch.zeros(1), torch.zeros(1), torch.zeros(1),
                        0.2, 0.5, 0.0)
    total.backward()
    assert new_logp.grad.item() == 0.0
