"""The ``gan`` system: one generator and one discriminator (Goodfellow et al. 2014 and every loss of
Study A). Per generator step: ``loss.n_critic`` critic updates on fresh real batches, then one
generator update; everything loss-specific (penalties, clipping, BEGAN's k_t) comes from the loss."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import GANSystem, SystemContext, build_net, discriminator_config, make_optimizer
from .captured import Capture


class GANPair(GANSystem):
    """players: {"G", "D"}; optimizers [G's, D's]."""

    eager_reason = None

    def __init__(self, ctx: SystemContext, **_):
        super().__init__(ctx)
        self.players["G"] = build_net(ctx.model.generator)
        self.players["D"] = build_net(discriminator_config(ctx))

    @property
    def G(self) -> nn.Module:
        return self.players["G"]

    @property
    def D(self) -> nn.Module:
        return self.players["D"]

    def build_optimizers(self):
        o = self.ctx.optim
        return [make_optimizer(self.G.parameters(), o["name"], o["lr_g"], o.get("betas")),
                make_optimizer(self.D.parameters(), o["name"], o["lr_d"], o.get("betas"))]

    def train_step(self, opts) -> dict:
        opt_g, opt_d = opts
        logs: dict[str, Tensor] = {}
        self.D.requires_grad_(True)
        for _ in range(self.loss.n_critic):
            logs.update(self.critic_step(opt_d))
        self.D.requires_grad_(False)  # G step: no gradients into D's parameters
        logs.update(self.generator_step(opt_g))
        self._after_g_step(logs)
        return logs

    def capture_steps(self, capture: Capture) -> None:
        """The objectives and the loss's hooks, compiled by ``capture`` (or as they are when it is off)."""
        if self.loss.double_backward:
            capture.eager(f"loss={self.loss.name}'s critic objective", "its gradient penalty differentiates "
                          "D's gradient, and torch.compile (AOTAutograd) cannot differentiate twice")
        self._critic_objective = self.critic_objective if self.loss.double_backward else \
            capture.fn(self.critic_objective)
        self._generator_objective = capture.fn(self.generator_objective)
        self._after_d_step = capture.hook(self.loss.after_d_step)
        self._after_g_step = capture.hook(self.loss.after_g_step)

    def critic_step(self, opt_d) -> dict:
        real = self.real_batch()  # (B, C, H, W) in [-1, 1]
        self.last_real = real  # a relativistic G loss (R3GAN) pairs G's fakes with the critic's last reals
        loss, logs = self._critic_objective(real, self.sample_z(real.shape[0]))
        self.update(loss, opt_d)
        self._after_d_step(self.D)
        return logs

    def critic_objective(self, real: Tensor, z: Tensor) -> tuple[Tensor, dict]:
        """D's loss on ``real`` and on G(z) (no gradients into G); (loss, logs)."""
        with torch.no_grad():
            fake = self.G(z)
        return self.loss.discriminator_loss(self.D, real, fake)

    def real_batch(self) -> Tensor:
        return self.batcher.next()

    def generator_step(self, opt_g) -> dict:
        real = self.last_real if self.loss.needs_real_for_g else None
        loss, logs = self._generator_objective(self.sample_z(self.batch_size), real)
        self.update(loss, opt_g)
        return logs

    def generator_objective(self, z: Tensor, real: Tensor | None = None) -> tuple[Tensor, dict]:
        """G's loss on G(z) through D (and D(real) for a relativistic loss); (loss, logs)."""
        return self.loss.generator_loss(self.D, self.G(z), real)

    def sample_images(self, z: Tensor) -> Tensor:
        return self.G(z)

