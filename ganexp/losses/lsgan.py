"""LSGAN (Mao et al. 2017) with a=0, b=1, c=1 on a linear D output."""
from torch import Tensor

from .base import AdversarialLoss


def d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2."""
    return 0.5 * ((d_real - 1) ** 2).mean(0) + 0.5 * (d_fake**2).mean(0)


def g_loss(d_fake: Tensor) -> Tensor:
    """1/2 E (D(G(z)) - 1)^2."""
    return 0.5 * ((d_fake - 1) ** 2).mean(0)


class LSGAN(AdversarialLoss):
    name = "lsgan"
    judge_by = 'midpoint'
    d_loss = staticmethod(d_loss)
    g_loss = staticmethod(g_loss)
