"""Progressive-resolution networks: ProGAN's growing with a linear fade-in (Karras et al. 2018) and
PS-GAN's stepwise stages (Byeon, Park & Yang 2025), e.g. 7x7 -> 14x14 -> 28x28 for MNIST.

Karras et al.'s own pieces (section 3 and 4), each a switch: ``norm="pixel"`` in G (pixelwise feature
normalization after each block's LeakyReLU, and of z), ``minibatch_stddev`` in D (one feature map with
the mean over features of the stddev over groups of 4 images, before D's last layer) and
``equalized_lr`` (weights drawn from N(0, 1) and scaled at run time by He's constant
gain / sqrt(fan_in)).

Level i of the ladder base, 2*base, ..., max_resolution has C_i channels that depend only on i and
the ladder, so a stage net (resolution < max_resolution) shares parameter names and shapes with the
bigger nets and its weights can be mixed into them by name.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dcgan import base_size, init_dcgan
from .norms import PixelNorm, d_norm, g_norm, maybe_spectral


class EqualizedScale(nn.Module):
    """Equalized learning rate (Karras et al. 2018, section 4.1): the stored weight w ~ N(0, 1) is used as
    w * gain / sqrt(fan_in), so that Adam's per-parameter step is the same relative change in every layer."""

    def __init__(self, fan_in: int, gain: float):
        super().__init__()
        self.scale = gain / math.sqrt(fan_in)

    def forward(self, w: Tensor) -> Tensor:
        return w * self.scale


def equalize(net: nn.Module, linear_out: tuple[nn.Module, ...]) -> None:
    """Every convolution of ``net``: weight ~ N(0, 1) scaled at run time (``EqualizedScale``), bias 0;
    fan_in = input channels * kernel area; gain sqrt(2) (ReLU/LeakyReLU follow), 1 for ``linear_out``
    (toRGB, D's output: no nonlinearity after them), as in Karras et al.'s code."""
    out_ids = {id(m) for group in linear_out for m in group.modules()}
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            c_in = m.in_channels  # ConvTranspose2d from a 1x1 code: each output pixel sees every input channel
            fan_in = c_in * m.kernel_size[0] * m.kernel_size[1]
            with torch.no_grad():
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    m.bias.zero_()
            gain = 1.0 if id(m) in out_ids else math.sqrt(2.0)
            nn.utils.parametrize.register_parametrization(m, "weight", EqualizedScale(fan_in, gain))


def minibatch_stddev(x: Tensor, group: int = 4) -> Tensor:
    """Karras et al. 2018, section 3: x (B, C, H, W) -> (B, C+1, H, W); the extra map holds, for each group of
    g = gcd(group, B) images, the mean over C, H, W of the population stddev over the group
    (sqrt(var + 1e-8)). As in their code (reshape to [g, B/g, ...]) image i is in group i mod B/g."""
    b, c, h, w = x.shape
    g = math.gcd(group, b)
    y = x.reshape(g, b // g, c, h, w)
    std = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt()  # (B/g, C, H, W)
    feat = std.mean(dim=(1, 2, 3)).view(1, b // g, 1, 1, 1).expand(g, -1, 1, h, w).reshape(b, 1, h, w)
    return torch.cat([x, feat], dim=1)


def ladder(resolution: int, max_resolution: int | None, width: int, max_width: int) -> tuple[int, list[int]]:
    """(base, [C_0, ..., C_{n-1}]) for the n levels up to ``resolution`` of the ladder to max_resolution."""
    max_resolution = resolution if max_resolution is None else max_resolution
    base = base_size(max_resolution)
    n_levels = int(math.log2(max_resolution // base)) + 1
    sizes = [base * 2 ** i for i in range(n_levels)]
    if resolution not in sizes:
        raise ValueError(f"resolution {resolution} is not on the ladder {sizes} to {max_resolution}")
    n = sizes.index(resolution) + 1
    return base, [min(width * 2 ** (n_levels - 1 - i), max_width) for i in range(n)]


def check(depth: int | None, alpha: float, n: int) -> int:
    """Default depth = all n levels; 1 <= depth <= n and 0 <= alpha <= 1."""
    depth = n if depth is None else depth
    if not 1 <= depth <= n:
        raise ValueError(f"depth must be in [1, {n}], got {depth}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return depth


def up2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")  # (B, C, 2H, 2W)


class GBlock(nn.Module):
    """[nearest upsample x2] -> conv -> norm(., z) -> ReLU; with pixel norm, Karras et al.'s order:
    conv -> LeakyReLU(0.2) -> pixel norm."""

    def __init__(self, conv: nn.Module, norm: nn.Module, upsample: bool):
        super().__init__()
        self.conv, self.norm, self.upsample = conv, norm, upsample
        self.karras = isinstance(getattr(norm, "module", None), PixelNorm)

    def forward(self, h: Tensor, z: Tensor) -> Tensor:
        if self.upsample:
            h = up2(h)
        if self.karras:
            return self.norm(F.leaky_relu(self.conv(h), 0.2), z)
        return F.relu(self.norm(self.conv(h), z))


class ProgressiveGenerator(nn.Module):
    """z (B, z_dim) -> image (B, channels, R, R) in [-1, 1], R = base * 2^(depth-1)."""

    def __init__(self, z_dim: int, resolution: int = 28, channels: int = 1, width: int = 64,
                 norm: str = "batch", max_resolution: int | None = None, max_width: int = 256,
                 equalized_lr: bool = False, **_):
        super().__init__()
        if z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {z_dim}")
        self.z_dim, self.resolution, self.channels = z_dim, resolution, channels
        base, chans = ladder(resolution, max_resolution, width, max_width)
        # The input layer keeps a plain norm under AdaIN, as in DCGANGenerator (Kwak & Ko).
        bias = norm == "pixel"  # a batch-like norm removes a bias; pixel norm keeps it (Karras et al.'s convs have one)
        first = GBlock(nn.ConvTranspose2d(z_dim, chans[0], base, 1, 0, bias=bias),
                       g_norm("batch" if norm == "adain" else norm, chans[0], z_dim), upsample=False)
        self.blocks = nn.ModuleList([first] + [
            GBlock(nn.Conv2d(cin, cout, 3, 1, 1, bias=bias), g_norm(norm, cout, z_dim), upsample=True)
            for cin, cout in zip(chans[:-1], chans[1:])])
        self.to_rgb = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in chans)
        self.z_norm = PixelNorm() if norm == "pixel" else nn.Identity()  # Karras et al. normalize z too
        init_dcgan(self)
        if equalized_lr:
            equalize(self, linear_out=(self.to_rgb,))

    def forward(self, z: Tensor, depth: int | None = None, alpha: float = 1.0) -> Tensor:
        depth = check(depth, alpha, len(self.blocks))
        z = self.z_norm(z)
        h, prev = z[:, :, None, None], None  # (B, z_dim, 1, 1)
        for block in self.blocks[:depth]:
            prev, h = h, block(h, z)  # (B, C_i, base * 2^i, base * 2^i)
        out = self.to_rgb[depth - 1](h).tanh()
        if alpha < 1.0 and depth > 1:  # fade the new block in on G's output
            low = up2(self.to_rgb[depth - 2](prev).tanh())
            out = (1.0 - alpha) * low + alpha * out
        return out


class ProgressiveDiscriminator(nn.Module):
    """image (B, channels, R, R), R = base * 2^(depth-1) -> one raw score per image (B,)."""

    def __init__(self, resolution: int = 28, channels: int = 1, width: int = 64, norm: str = "batch",
                 max_resolution: int | None = None, max_width: int = 256, minibatch_stddev: bool = False,
                 equalized_lr: bool = False, **_):
        super().__init__()
        self.resolution, self.channels, self.mbstd = resolution, channels, minibatch_stddev
        base, chans = ladder(resolution, max_resolution, width, max_width)
        bias = norm not in ("batch", "instance")
        self.from_rgb = nn.ModuleList(  # no norm on D's input layer
            nn.Sequential(maybe_spectral(nn.Conv2d(channels, c, 1), norm), nn.LeakyReLU(0.2))
            for c in chans)
        self.blocks = nn.ModuleList([nn.Identity()] + [  # blocks[0] is a parameter-free placeholder
            nn.Sequential(maybe_spectral(nn.Conv2d(cout, cin, 3, 1, 1, bias=bias), norm), d_norm(norm, cin),
                          nn.LeakyReLU(0.2), nn.AvgPool2d(2))
            for cin, cout in zip(chans[:-1], chans[1:])])
        self.output = maybe_spectral(nn.Conv2d(chans[0] + int(minibatch_stddev), 1, base, 1, 0), norm)
        init_dcgan(self)
        if equalized_lr:
            equalize(self, linear_out=(self.output,))

    def forward(self, x: Tensor, depth: int | None = None, alpha: float = 1.0) -> Tensor:
        depth = check(depth, alpha, len(self.blocks))
        h = self.from_rgb[depth - 1](x)  # (B, C_{d-1}, R, R)
        if depth > 1:
            h = self.blocks[depth - 1](h)  # (B, C_{d-2}, R/2, R/2)
            if alpha < 1.0:  # fade the new block in on D's input
                h = (1.0 - alpha) * self.from_rgb[depth - 2](F.avg_pool2d(x, 2)) + alpha * h
        for i in range(depth - 2, 0, -1):
            h = self.blocks[i](h)
        if self.mbstd:
            h = minibatch_stddev(h)  # (B, C_0 + 1, base, base)
        return self.output(h).flatten(1).squeeze(1)  # (B,)
