"""WGAN with weight clipping (Arjovsky et al. 2017)."""
import torch
from torch import Tensor, nn

from ..settings import WGANLoss as S  # the defaults' one source (the loss=... option)
from .base import AdversarialLoss


def d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E D(G(z)) - E D(x) (the negated Wasserstein estimate)."""
    return d_fake.mean(0) - d_real.mean(0)


def g_loss(d_fake: Tensor) -> Tensor:
    """-E D(G(z))."""
    return -d_fake.mean(0)


class WGAN(AdversarialLoss):
    """Critic weights clipped to [-clip, clip] after every critic update."""

    name = "wgan"
    judge_by = 'sign'

    def __init__(self, n_critic: int = S.n_critic, clip: float = S.clip, **kw):
        super().__init__(n_critic=n_critic)
        self.clip = float(clip)

    d_loss = staticmethod(d_loss)
    g_loss = staticmethod(g_loss)

    @torch.no_grad()
    def after_d_step(self, d: nn.Module) -> None:
        params = list(d.parameters())  # two multi-tensor kernels, not two per parameter
        torch._foreach_clamp_min_(params, -self.clip)
        torch._foreach_clamp_max_(params, self.clip)
