"""BEGAN (Berthelot et al. 2017): autoencoder discriminator with proportional control k_t."""
import torch
from torch import Tensor, nn

from ..settings import BEGANLoss as S  # the defaults' one source (the loss=... option)
from .base import GLOBAL_RANDOM, AdversarialLoss, GlobalRandom


def recon_loss(d: nn.Module, v: Tensor, random: GlobalRandom = GLOBAL_RANDOM) -> Tensor:
    """L(v) = mean |v - AE(v)| (L1, averaged over pixels and batch; per member in a fused array)."""
    return random.over_batch((v - d(v)).abs(), torch.mean)


def update_k(k: Tensor, l_real: Tensor, l_fake: Tensor, gamma: float, lambda_k: float) -> Tensor:
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)."""
    return (k + lambda_k * (gamma * l_real - l_fake)).clamp(0.0, 1.0)


def convergence(l_real: Tensor, l_fake: Tensor, gamma: float) -> Tensor:
    """M = L(x) + |gamma L(x) - L(G(z))|."""
    return l_real + (gamma * l_real - l_fake).abs()


class BEGAN(AdversarialLoss):
    name = "began"
    judge_by = None
    autoencoder_d = True

    def __init__(self, n_critic: int = S.n_critic, gamma: float = S.gamma, lambda_k: float = S.lambda_k,
                 k0: float = S.k0, **kw):
        super().__init__(n_critic=n_critic)
        self.gamma, self.lambda_k = float(gamma), float(lambda_k)
        self.k = torch.tensor(float(k0))  # kept as a tensor: no host sync per step; (S,) in a fused array

    def discriminator_loss(self, d: nn.Module, real: Tensor, fake: Tensor):
        self.k = self.k.to(real.device)
        l_real, l_fake = recon_loss(d, real, self.random), recon_loss(d, fake, self.random)
        loss = l_real - self.k * l_fake
        return loss, {"d_loss": loss, "l_real": l_real, "l_fake": l_fake}

    def generator_loss(self, d: nn.Module, fake: Tensor, real: Tensor | None = None):
        loss = recon_loss(d, fake, self.random)
        return loss, {"g_loss": loss}

    @torch.no_grad()
    def after_g_step(self, logs: dict) -> None:
        """Update k_t from L(x) and L(G(z)) of one D, the last critic step's (as BEGAN's reference code
        does; G's loss comes from D after its step, a different D); log k and M."""
        l_real, l_fake = logs["l_real"].detach(), logs["l_fake"].detach()
        self.k = update_k(self.k, l_real, l_fake, self.gamma, self.lambda_k)
        logs["k"] = self.k
        logs["convergence"] = convergence(l_real, l_fake, self.gamma)

    def state_dict(self) -> dict:
        return {"k": self.k.detach().cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.k = state["k"].clone()
