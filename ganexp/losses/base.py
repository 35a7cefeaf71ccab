"""Common interface of an adversarial loss used by the generic training step.

A loss object carries its schedule (``n_critic``) and knows which discriminator outputs it needs.
The training step calls, per generator step::

    for _ in range(loss.n_critic):   d_loss(...) -> backward -> opt_d.step() -> loss.after_d_step(D)
    g_loss(...) -> backward -> opt_g.step() -> loss.after_g_step(the step's logs)

Pure formulas live in the per-loss modules as ``d_loss(d_real, d_fake)`` / ``g_loss(d_fake)``.

Shapes: a run's tensors are (B, ...); a fused seed array's are (B, S, ...) with the members on dim 1
(ganexp/systems/fused.py). Losses therefore average over dim 0 and the sample's own dims only, and
draw their random numbers through ``self.random``: torch's global generator for a run, each member's
own generator in an array, so that member i draws exactly what a separate run with its seed draws.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class AdversarialLoss:
    """Base class: logit losses where D maps images to one raw score per image."""

    name = "base"
    #: whether D is an autoencoder returning reconstructions (BEGAN)
    autoencoder_d = False
    #: how D "classifies a batch as real" (PS-GAN's Algorithm 2): "probability" (mean sigma(logit) > 0.5),
    #: "sign" (mean critic output > 0), "midpoint" (LSGAN: mean output above (a + b) / 2 = 0.5), None: no rule
    judge_by: str | None = "probability"
    #: whether the critic loss differentiates D's own gradient (a gradient penalty): torch.compile cannot
    #: capture it (ganexp/systems/captured.py)
    double_backward = False
    #: whether G's loss also reads D on the reals (a relativistic loss, R3GAN): the system passes the critic's last
    #: real batch to ``generator_loss``
    needs_real_for_g = False

    def __init__(self, n_critic: int = 1, **_ignored):
        self.n_critic = int(n_critic)
        self.random: GlobalRandom = GLOBAL_RANDOM  # a fused array sets its members' source

    def discriminator_loss(self, d: nn.Module, real: Tensor, fake: Tensor,
                           d_real: Tensor | None = None) -> tuple[Tensor, dict]:
        """Loss to minimise for D on a real and a (detached) fake batch; returns (loss, logs). ``d_real``:
        D(real) when the caller has it already (PS-GAN scores x once against K fake batches)."""
        d_real, d_fake = d(real) if d_real is None else d_real, d(fake)
        self.last_outputs = (d_real.detach(), d_fake.detach())  # (B,) each: what ``judge`` reads
        loss = self.d_loss(d_real, d_fake)
        return loss, {"d_loss": loss, "d_real": d_real.mean(0), "d_fake": d_fake.mean(0)}

    def generator_loss(self, d: nn.Module, fake: Tensor, real: Tensor | None = None) -> tuple[Tensor, dict]:
        loss = self.g_loss(d(fake))
        return loss, {"g_loss": loss}

    def judge(self, d_out: Tensor) -> Tensor:
        """A 0-d score of one batch, > 0 when D calls the batch real (rule: ``judge_by``); d_out: (B,)."""
        if self.judge_by == "probability":
            return torch.sigmoid(d_out).mean() - 0.5
        if self.judge_by == "sign":
            return d_out.mean()
        if self.judge_by == "midpoint":
            return d_out.mean() - 0.5
        raise ValueError(f"loss={self.name}: its discriminator does not classify batches as real or fake")

    @staticmethod
    def d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def g_loss(d_fake: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def after_d_step(self, d: nn.Module) -> None:
        """Hook after each critic update (WGAN clips weights here)."""

    def after_g_step(self, logs: dict) -> None:
        """Hook after each generator update (BEGAN's k_t control); ``logs``: the step's, its last critic
        step's and its generator step's, to which it may add."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class GlobalRandom:
    """A run's random numbers: torch's global generator (seeded by the run's seed)."""

    lead = 1  # leading dims before a sample's own: (B,)

    def rand(self, x: Tensor, sample_shape: tuple) -> Tensor:
        """U[0, 1) of shape (B, *sample_shape), B = x.shape[0], on x's device and dtype."""
        return torch.rand((x.shape[0], *sample_shape), device=x.device, dtype=x.dtype)

    def sample_shape(self, x: Tensor) -> tuple:
        """The shape of one sample of x: x.shape without the leading dims."""
        return tuple(x.shape[self.lead:])

    def over_batch(self, x: Tensor, fn, keepdim: bool = False) -> Tensor:
        """``fn`` (a full reduction) of the whole batch x: 0-dim; in a fused array, of each member's batch:
        (S,), or (1, S, 1, ...) with ``keepdim``."""
        return fn(x)


GLOBAL_RANDOM = GlobalRandom()


def per_sample_uniform(x: Tensor, random: GlobalRandom = GLOBAL_RANDOM) -> Tensor:
    """One U[0, 1] draw per sample, shaped to broadcast over the rest: (B, 1, 1, 1) for images
    ((B, S, 1, 1, 1) in a fused array)."""
    return random.rand(x, (1,) * len(random.sample_shape(x)))


def gradient_penalty(d: nn.Module, x_hat: Tensor, target: float = 1.0) -> Tensor:
    """E[(||grad_x D(x_hat)||_2 - target)^2] over the batch, differentiable w.r.t. D's parameters;
    x_hat: images (B, C, H, W), or (B, S, C, H, W) in a fused array (then one penalty per member, (S,))."""
    x_hat = x_hat.detach().requires_grad_(True)
    out = d(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)  # members' D are disjoint: no mixing
    norms = grad.flatten(-3).norm(2, dim=-1)  # (B,) or (B, S)
    return ((norms - target) ** 2).mean(0)
