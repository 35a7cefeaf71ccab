"""R3GAN's loss (Huang, Gokaslan, Kuleshov & Tompkin, NeurIPS 2024, "The GAN is dead; long live the GAN! A Modern
GAN Baseline", eq. 5 with section 2.2's R1 and R2): the relativistic pairing GAN (RpGAN, Jolicoeur-Martineau 2019)
regularised by zero-centred gradient penalties on real (R1) and on fake (R2) data.

    D minimises  E softplus(-(D(x_i) - D(G(z_i)))) + gamma/2 (R1 + R2)
    G minimises  E softplus(-(D(G(z_i)) - D(x_i)))
    R1 = ||grad_x D(x)||^2 on reals, R2 = the same on fakes (summed over C, H, W per sample, averaged over the batch)

Each real x_i is paired with the fake of the same batch index; G's step pairs its fakes with the reals of the
critic step before it (R3GAN's code uses one real batch per iteration for both). gamma (``loss.reg_gamma``; the
key is not ``loss.gamma``, BEGAN's ratio) is constant, or decays to ``reg_gamma_end`` by a half cosine over
``reg_gamma_decay_kimg`` thousand real images (set both to use it). ``reg_every`` > 1 is lazy regularisation (StyleGAN2's, not
R3GAN's: the paper computes R1 and R2 on every step): the penalties on every N-th critic step only, scaled by N.
Counters are host integers (no device read), in the loss's state so a resume continues them.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..settings import R3GANLoss as S  # the defaults' one source (the loss=... option)
from .base import AdversarialLoss


def d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E softplus(-(D(x) - D(G(z)))) over dim 0, real i paired with fake i; (B,) -> scalar, (B, S) -> (S,)."""
    return F.softplus(-(d_real - d_fake)).mean(0)


def g_loss(d_fake: Tensor, d_real: Tensor) -> Tensor:
    """E softplus(-(D(G(z)) - D(x))) over dim 0."""
    return F.softplus(-(d_fake - d_real)).mean(0)


def squared_gradient_norm(out: Tensor, x: Tensor) -> Tensor:
    """||grad_x out_i||^2 per sample, summed over C, H, W; x (B, C, H, W) or (B, S, C, H, W) with requires_grad,
    out = D(x); -> (B,) or (B, S), differentiable w.r.t. D's parameters."""
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)  # members' D are disjoint: no mixing
    return grad.square().flatten(-3).sum(-1)


class R3GAN(AdversarialLoss):
    name = "r3gan"
    double_backward = True
    judge_by = None  # relativistic: D scores pairs, never a batch alone as real or fake
    needs_real_for_g = True

    def __init__(self, n_critic: int = S.n_critic, reg_gamma: float = S.reg_gamma,
                 reg_gamma_end: float | None = S.reg_gamma_end, reg_gamma_decay_kimg: float = S.reg_gamma_decay_kimg,
                 reg_every: int = S.reg_every, **kw):
        super().__init__(n_critic=n_critic)
        self.gamma, self.gamma_end = float(reg_gamma), reg_gamma_end
        self.decay_images = float(reg_gamma_decay_kimg) * 1000
        self.reg_every = int(reg_every)
        if self.reg_every < 1:
            raise ValueError(f"loss.reg_every must be >= 1 (1: R1 and R2 on every critic step), got {reg_every}")
        if (reg_gamma_end is None) != (self.decay_images <= 0):
            raise ValueError("a gamma schedule needs both loss.reg_gamma_end and loss.reg_gamma_decay_kimg > 0 "
                             "(or neither)")
        self.critic_steps, self.images_seen = 0, 0

    def gamma_now(self) -> float:
        """gamma at this critic step: constant, or the half-cosine from gamma to gamma_end over the decay."""
        if self.gamma_end is None:
            return self.gamma
        t = min(self.images_seen / self.decay_images, 1.0)
        return self.gamma_end + (self.gamma - self.gamma_end) * 0.5 * (1.0 + math.cos(math.pi * t))

    def discriminator_loss(self, d: nn.Module, real: Tensor, fake: Tensor, d_real: Tensor | None = None):
        regularise = self.critic_steps % self.reg_every == 0
        gamma = self.gamma_now()
        x, y = real.detach().requires_grad_(regularise), fake.detach().requires_grad_(regularise)
        d_real, d_fake = d(x), d(y)  # (B,) or (B, S)
        self.last_outputs = (d_real.detach(), d_fake.detach())
        adv = d_loss(d_real, d_fake)
        logs = {"d_real": d_real.mean(0).detach(), "d_fake": d_fake.mean(0).detach(), "rpgan": adv.detach()}
        total = adv
        if regularise:
            r1, r2 = squared_gradient_norm(d_real, x).mean(0), squared_gradient_norm(d_fake, y).mean(0)
            total = adv + gamma / 2 * self.reg_every * (r1 + r2)
            logs.update(r1=r1.detach(), r2=r2.detach())
        self.critic_steps += 1
        self.images_seen += real.shape[0]
        logs.update(d_loss=total, gamma=gamma)
        return total, logs

    def generator_loss(self, d: nn.Module, fake: Tensor, real: Tensor | None = None) -> tuple[Tensor, dict]:
        if real is None:
            raise ValueError("loss=r3gan pairs G's fakes with reals: the system must pass the critic's real batch")
        with torch.no_grad():
            d_real = d(real)
        loss = g_loss(d(fake), d_real)
        return loss, {"g_loss": loss}

    def state_dict(self) -> dict:
        return {"critic_steps": torch.tensor(self.critic_steps), "images_seen": torch.tensor(self.images_seen)}

    def load_state_dict(self, state: dict) -> None:
        # a fused array stacks each member's count on dim 0; the members count alike
        for k in ("critic_steps", "images_seen"):
            if k in state:
                setattr(self, k, int(state[k].reshape(-1)[0]))
