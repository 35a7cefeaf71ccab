"""GAN-MM, the original minimax GAN (Goodfellow et al. 2014) with the saturating G loss."""
import torch.nn.functional as F
from torch import Tensor

from .base import AdversarialLoss


def d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """-E log sigma(D(x)) - E log(1 - sigma(D(G(z)))), on logits."""
    return F.softplus(-d_real).mean(0) + F.softplus(d_fake).mean(0)


def g_loss(d_fake: Tensor) -> Tensor:
    """+E log(1 - sigma(D(G(z)))) = -E softplus(D(G(z))) (saturating: minimised by G)."""
    return -F.softplus(d_fake).mean(0)


class GANMM(AdversarialLoss):
    name = "gan_mm"
    d_loss = staticmethod(d_loss)
    g_loss = staticmethod(g_loss)
