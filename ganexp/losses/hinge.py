"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018, used by SNGAN)."""
import torch.nn.functional as F
from torch import Tensor

from .base import AdversarialLoss


def d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E relu(1 - D(x)) + E relu(1 + D(G(z)))."""
    return F.relu(1 - d_real).mean(0) + F.relu(1 + d_fake).mean(0)


def g_loss(d_fake: Tensor) -> Tensor:
    """-E D(G(z))."""
    return -d_fake.mean(0)


class Hinge(AdversarialLoss):
    name = "hinge"
    judge_by = 'sign'
    d_loss = staticmethod(d_loss)
    g_loss = staticmethod(g_loss)
