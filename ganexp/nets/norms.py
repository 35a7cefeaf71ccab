"""Normalization factories, injected into the networks by name.

Generator norms are called as ``norm(x, z)`` so that AdaIN can read the latent code; the others
ignore ``z``. Discriminator norms are plain modules; ``spectral`` wraps the convolution instead.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

G_NORMS = ("batch", "layer", "instance", "none", "adain", "pixel")
D_NORMS = ("batch", "layer", "instance", "none", "spectral")


class AdaIN(nn.Module):
    """AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y) (Huang & Belongie 2017), with the
    per-channel scale sigma(y) and bias mu(y) learned from z by an affine map (as in StyleGAN)."""

    def __init__(self, channels: int, z_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.style = nn.Linear(z_dim, 2 * channels)
        nn.init.zeros_(self.style.weight)
        with torch.no_grad():  # start as identity scale, zero bias
            self.style.bias.copy_(torch.cat([torch.ones(channels), torch.zeros(channels)]))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        scale, bias = self.style(z).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)  # (B, C, 1, 1) each
        return scale * self.norm(x) + bias


class PixelNorm(nn.Module):
    """Pixelwise feature normalization (Karras et al. 2018, eq. in section 4.2): each pixel's feature
    vector divided by its root mean square over channels, b = a / sqrt(mean_c a^2 + 1e-8); x: (B, C, ...)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class IgnoreZ(nn.Module):
    """Adapts a plain norm layer to the generator's ``norm(x, z)`` call."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.module(x)


def plain_norm(kind: str, channels: int) -> nn.Module:
    """batch / layer (over C,H,W) / instance (affine) / pixel (ProGAN's, G only) / none."""
    factories = {
        "batch": lambda: nn.BatchNorm2d(channels),
        "layer": lambda: nn.GroupNorm(1, channels),
        "instance": lambda: nn.InstanceNorm2d(channels, affine=True),
        "none": nn.Identity,
        "pixel": PixelNorm,
        "spectral": nn.Identity,  # spectral normalization acts on weights, see maybe_spectral
    }
    if kind not in factories:
        raise ValueError(f"unknown normalization '{kind}'; choose one of {', '.join(factories)}")
    return factories[kind]()


def g_norm(kind: str, channels: int, z_dim: int) -> nn.Module:
    if kind == "adain":
        return AdaIN(channels, z_dim)
    if kind not in G_NORMS:
        raise ValueError(f"unknown generator normalization '{kind}'; choose one of {', '.join(G_NORMS)}")
    return IgnoreZ(plain_norm(kind, channels))


def d_norm(kind: str, channels: int) -> nn.Module:
    if kind not in D_NORMS:
        raise ValueError(f"unknown discriminator normalization '{kind}'; choose one of {', '.join(D_NORMS)}")
    return plain_norm(kind, channels)


def maybe_spectral(conv: nn.Module, kind: str) -> nn.Module:
    """W / sigma(W) by power iteration (Miyato et al. 2018) when kind == 'spectral'."""
    return nn.utils.parametrizations.spectral_norm(conv) if kind == "spectral" else conv
