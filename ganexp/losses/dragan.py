"""DRAGAN (Kodali et al. 2017): GAN-NS losses plus a gradient penalty around perturbed real data."""
import torch
from torch import Tensor, nn

from . import gan_ns
from .base import AdversarialLoss, gradient_penalty


def perturb(real: Tensor, scale: float) -> Tensor:
    """x_hat = x + scale * std(x) * u, u ~ U[0, 1] (the authors' reference implementation)."""
    return real + scale * real.std() * torch.rand_like(real)


class DRAGAN(AdversarialLoss):
    name = "dragan"

    def __init__(self, n_critic: int = 1, gp_weight: float = 10.0, noise_scale: float = 0.5, **kw):
        super().__init__(n_critic=n_critic)
        self.gp_weight = float(gp_weight)
        self.noise_scale = float(noise_scale)

    d_loss = staticmethod(gan_ns.d_loss)
    g_loss = staticmethod(gan_ns.g_loss)

    def discriminator_loss(self, d: nn.Module, real: Tensor, fake: Tensor):
        loss, logs = super().discriminator_loss(d, real, fake)
        gp = gradient_penalty(d, perturb(real, self.noise_scale))
        logs["gp"] = gp
        total = loss + self.gp_weight * gp
        logs["d_loss"] = total
        return total, logs
