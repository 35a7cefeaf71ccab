"""GAN-NS, the non-saturating GAN (Goodfellow et al. 2014, section 3)."""
import torch.nn.functional as F
from torch import Tensor

from .base import AdversarialLoss
from .gan_mm import d_loss  # same discriminator loss as GAN-MM

__all__ = ["d_loss", "g_loss", "GANNS"]


def g_loss(d_fake: Tensor) -> Tensor:
    """-E log sigma(D(G(z))) = E softplus(-D(G(z)))."""
    return F.softplus(-d_fake).mean(0)


class GANNS(AdversarialLoss):
    name = "gan_ns"
    d_loss = staticmethod(d_loss)
    g_loss = staticmethod(g_loss)
