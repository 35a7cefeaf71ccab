"""DRAGAN (Kodali et al. 2017, "On Convergence and Stability of GANs"): GAN-NS losses plus a gradient
penalty at random points between real data and a noisy copy of it.

The points follow the authors' reference code (github.com/kodalinaveen3/DRAGAN):
``X_p = X + 0.5 * X.std() * np.random.random(X.shape)`` and
``interpolates = X + alpha * (X_p - X)`` with ``alpha ~ U[0, 1]`` of shape ``[batch, 1]``.
"""
from torch import Tensor, nn

from ..settings import DRAGANLoss as S  # the defaults' one source (the loss=... option)
from . import gan_ns
from .base import GLOBAL_RANDOM, AdversarialLoss, GlobalRandom, gradient_penalty, per_sample_uniform


def perturb(real: Tensor, scale: float, random: GlobalRandom = GLOBAL_RANDOM) -> Tensor:
    """x_p = x + c std(x) u, u ~ U[0, 1] elementwise; std over the whole batch (all elements; per member
    in a fused array).

    The std is the population one (correction 0), as numpy's ``ndarray.std()`` in the reference code.
    """
    std = random.over_batch(real, lambda x: x.std(correction=0), keepdim=True)
    return real + scale * std * random.rand(real, random.sample_shape(real))


def interpolate(real: Tensor, perturbed: Tensor, random: GlobalRandom = GLOBAL_RANDOM) -> Tensor:
    """x_hat = x + alpha (x_p - x), alpha ~ U[0, 1] per sample (one alpha broadcast over C, H, W)."""
    alpha = per_sample_uniform(real, random)  # (B, 1, 1, 1)
    return real + alpha * (perturbed - real)


def penalty_points(real: Tensor, scale: float, random: GlobalRandom = GLOBAL_RANDOM) -> Tensor:
    """Where DRAGAN's penalty is taken: x + alpha c std(x) u (the two steps above)."""
    return interpolate(real, perturb(real, scale, random), random)


class DRAGAN(AdversarialLoss):
    """D: GAN-NS loss + lambda E(||grad D(x_hat)||_2 - 1)^2 at ``penalty_points``; G: GAN-NS."""

    name = "dragan"
    double_backward = True

    def __init__(self, n_critic: int = S.n_critic, gp_weight: float = S.gp_weight, noise_scale: float = S.noise_scale,
                 **kw):
        super().__init__(n_critic=n_critic)
        self.gp_weight = float(gp_weight)
        self.noise_scale = float(noise_scale)

    d_loss = staticmethod(gan_ns.d_loss)
    g_loss = staticmethod(gan_ns.g_loss)

    def discriminator_loss(self, d: nn.Module, real: Tensor, fake: Tensor, d_real: Tensor | None = None):
        loss, logs = super().discriminator_loss(d, real, fake, d_real)
        gp = gradient_penalty(d, penalty_points(real, self.noise_scale, self.random))
        logs["gp"] = gp
        total = loss + self.gp_weight * gp
        logs["d_loss"] = total
        return total, logs
