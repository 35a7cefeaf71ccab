"""DCGAN networks (Radford et al. 2016) for 28x28, 32x32, 64x64 and 128x128 images.

Rules: strided (transposed) convolutions, no pooling and no fully connected hidden layers; norm in G
except the output layer and in D except the input layer; ReLU in G with a tanh output, LeakyReLU(0.2)
in D. The latent code enters as a (z_dim, 1, 1) map projected by a transposed convolution.
"""
from __future__ import annotations

import math

from torch import Tensor, nn

from .norms import d_norm, g_norm, maybe_spectral


def base_size(resolution: int) -> int:
    """Spatial size of the first feature map: 7 for 28x28, else 4; resolution = base * 2^k."""
    base = 7 if resolution % 7 == 0 else 4
    k = math.log2(resolution / base)
    if resolution < 8 or k != int(k):
        raise ValueError(f"resolution {resolution} is not supported; use 28, 32, 64 or 128 (4*2^k or 7*2^k)")
    return base


def widths(resolution: int, width: int, max_width: int = 1024) -> list[int]:
    """Channels of the feature maps from the base map up to the last hidden map, e.g. 28 -> [128, 64]."""
    n_up = int(math.log2(resolution // base_size(resolution)))
    return [min(width * 2 ** (n_up - 1 - i), max_width) for i in range(n_up)]


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> image (B, channels, resolution, resolution) in [-1, 1]."""

    def __init__(self, z_dim: int, resolution: int = 28, channels: int = 1, width: int = 64,
                 norm: str = "batch", **_):
        super().__init__()
        if z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {z_dim}")
        self.z_dim, self.resolution, self.channels = z_dim, resolution, channels
        chans, base = widths(resolution, width), base_size(resolution)
        self.input = nn.ConvTranspose2d(z_dim, chans[0], base, 1, 0, bias=False)
        # The input layer keeps a plain norm under AdaIN (Kwak & Ko: "except the input layer").
        self.norms = nn.ModuleList([g_norm("batch" if (i == 0 and norm == "adain") else norm, c, z_dim)
                                    for i, c in enumerate(chans)])
        self.ups = nn.ModuleList(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
                                 for cin, cout in zip(chans[:-1], chans[1:]))
        self.output = nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1)
        self.act = nn.ReLU(inplace=True)
        init_dcgan(self)

    def forward(self, z: Tensor) -> Tensor:
        h = self.act(self.norms[0](self.input(z[:, :, None, None]), z))  # (B, C0, base, base)
        for up, norm in zip(self.ups, self.norms[1:]):
            h = self.act(norm(up(h), z))
        return self.output(h).tanh()


class DCGANDiscriminator(nn.Module):
    """image (B, channels, R, R) -> one raw score per image (B,); ``out_features`` > 1 gives (B, F)."""

    def __init__(self, resolution: int = 28, channels: int = 1, width: int = 64, norm: str = "batch",
                 out_features: int = 1, **_):
        super().__init__()
        chans, base = widths(resolution, width)[::-1], base_size(resolution)
        layers: list[nn.Module] = [maybe_spectral(nn.Conv2d(channels, chans[0], 4, 2, 1), norm),
                                   nn.LeakyReLU(0.2, inplace=True)]  # no norm on the input layer
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [maybe_spectral(nn.Conv2d(cin, cout, 4, 2, 1, bias=norm not in ("batch", "instance")), norm),
                       d_norm(norm, cout), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.output = maybe_spectral(nn.Conv2d(chans[-1], out_features, base, 1, 0), norm)
        self.out_features = out_features
        init_dcgan(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.output(self.features(x)).flatten(1)  # (B, F)
        return out.squeeze(1) if self.out_features == 1 else out


def init_dcgan(module: nn.Module) -> None:
    """N(0, 0.02) conv weights, N(1, 0.02) norm scales (DCGAN paper)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) or (isinstance(m, nn.InstanceNorm2d) and m.affine):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
