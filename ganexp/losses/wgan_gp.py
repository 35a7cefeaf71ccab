"""WGAN-GP (Gulrajani et al. 2017): WGAN critic loss plus a two-sided gradient penalty; optionally
ProGAN's drift term eps_drift * E[D(x)^2] (Karras et al. 2018, section A.1: 0.001), which keeps the
critic's output near 0."""
from torch import Tensor, nn

from ..settings import WGANGPLoss as S  # the defaults' one source (the loss=... option)
from . import wgan
from .base import GLOBAL_RANDOM, AdversarialLoss, GlobalRandom, gradient_penalty, per_sample_uniform


def interpolate(real: Tensor, fake: Tensor, random: GlobalRandom = GLOBAL_RANDOM) -> Tensor:
    """x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample."""
    eps = per_sample_uniform(real, random)  # (B, 1, 1, 1)
    return eps * real + (1 - eps) * fake


class WGANGP(AdversarialLoss):
    name = "wgan_gp"
    double_backward = True
    judge_by = 'sign'

    def __init__(self, n_critic: int = S.n_critic, gp_weight: float = S.gp_weight, drift: float = S.drift, **kw):
        super().__init__(n_critic=n_critic)
        self.gp_weight, self.drift = float(gp_weight), float(drift)

    d_loss = staticmethod(wgan.d_loss)
    g_loss = staticmethod(wgan.g_loss)

    def discriminator_loss(self, d: nn.Module, real: Tensor, fake: Tensor, d_real: Tensor | None = None):
        d_real = d(real) if d_real is None else d_real  # (B,), or (B, S) in a fused array
        loss, logs = super().discriminator_loss(d, real, fake, d_real)
        gp = gradient_penalty(d, interpolate(real, fake, self.random))
        logs.update(wasserstein=-loss, gp=gp)
        total = loss + self.gp_weight * gp
        if self.drift:
            total = total + self.drift * d_real.pow(2).mean(0)
        logs["d_loss"] = total
        return total, logs
