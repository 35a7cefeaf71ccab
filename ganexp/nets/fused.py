"""Horizontal fusion of S networks of one architecture into one (HFTA: Wang et al., MLSys 2021).

``fuse(members)`` builds a network whose every kernel serves all S members: member i's channels are
the i-th block of S along the channel dim, convolutions become grouped convolutions (groups = S),
norms act per channel or per member group, so batch norm's running statistics stay exact per member.
Its inputs and outputs are channel-fused, (B, S*C, ...); ``MemberLayout`` turns them into (B, S, C, ...).

One rule maps tensors between the fused network and its members: every parameter and buffer of the
fused network is its S members' tensors concatenated along dim 0 (0-dim buffers such as batch norm's
``num_batches_tracked`` are shared: equal in all members). So ``member_state(fused_sd, i, S)`` gives
member i's state dict in a separate network's format, and ``fused_state(member_sds)`` the reverse;
optimizer states (same shapes as their parameters) follow the same rule.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .norms import AdaIN

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Identity)


class FuseError(ValueError):
    """A network holds a layer that has no fused form."""


def fuse(members: list[nn.Module]) -> nn.Module:
    """One network computing S = len(members) networks of the same architecture at once."""
    s = len(members)
    with torch.random.fork_rng(devices=[]):  # building layers draws initial weights: keep the caller's RNG
        fused = _fuse_structure(members[0], s)
    fused.load_state_dict(fused_state([m.state_dict() for m in members]))
    return fused.to(next(members[0].parameters()).device)


def fused_state(states: list[dict]) -> dict:
    """Member state dicts -> the fused network's (concatenated along dim 0; 0-dim tensors shared)."""
    return {k: v if v.dim() == 0 else torch.cat([sd[k] for sd in states]) for k, v in states[0].items()}


def member_state(state: dict, i: int, s: int) -> dict:
    """Member i's tensors of a fused state dict, as a separate network's state dict (clones)."""
    return {k: v.clone() if v.dim() == 0 else v.chunk(s)[i].clone() for k, v in state.items()}


def _fuse_structure(m: nn.Module, s: int) -> nn.Module:
    """An untrained fused copy of ``m``'s structure (weights loaded afterwards)."""
    if parametrize.is_parametrized(m):
        return _fuse_spectral(m, s)
    if isinstance(m, AdaIN):
        return FusedAdaIN(s, m.norm.num_features, m.style.in_features)
    for kind, build in LEAVES.items():
        if type(m) is kind:
            return build(m, s)
    if isinstance(m, ACTIVATIONS):
        return copy.deepcopy(m)
    if next(m.parameters(recurse=False), None) is not None or next(m.buffers(recurse=False), None) is not None:
        raise FuseError(f"launch.fuse=seed cannot fuse a {type(m).__name__} layer; fused arrays support DCGAN "
                        "networks (system=gan, model=dcgan); run this grid without launch.fuse")
    out = copy.copy(m)  # a container or a network class: its forward works on channel-fused tensors
    out._modules = {name: _fuse_structure(child, s) for name, child in m._modules.items()}
    out._parameters, out._buffers = {}, {}
    return out


def _conv(m: nn.Conv2d, s: int) -> nn.Conv2d:
    return nn.Conv2d(s * m.in_channels, s * m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                     s * m.groups, m.bias is not None)


def _conv_t(m: nn.ConvTranspose2d, s: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(s * m.in_channels, s * m.out_channels, m.kernel_size, m.stride, m.padding,
                              m.output_padding, s * m.groups, m.bias is not None, m.dilation)


LEAVES = {
    nn.Conv2d: _conv,
    nn.ConvTranspose2d: _conv_t,
    nn.BatchNorm2d: lambda m, s: nn.BatchNorm2d(s * m.num_features, m.eps, m.momentum, m.affine,
                                                m.track_running_stats),
    nn.GroupNorm: lambda m, s: nn.GroupNorm(s * m.num_groups, s * m.num_channels, m.eps, m.affine),
    nn.InstanceNorm2d: lambda m, s: nn.InstanceNorm2d(s * m.num_features, m.eps, m.momentum, m.affine,
                                                      m.track_running_stats),
    nn.Linear: lambda m, s: FusedLinear(s, m.in_features, m.out_features, m.bias is not None),
}


def _fuse_spectral(m: nn.Module, s: int) -> nn.Module:
    """A spectral-normalized convolution (torch's parametrization) -> a fused convolution with
    ``FusedSpectralNorm``, whose buffers keep torch's names (parametrizations.weight.0._u / _v)."""
    sn = m.parametrizations.weight[0]
    if not isinstance(m, nn.Conv2d) or sn.dim != 0 or len(m.parametrizations.weight) != 1:
        raise FuseError(f"launch.fuse=seed cannot fuse a spectral-normalized {type(m).__name__}; "
                        "run this grid without launch.fuse")
    conv = _conv(m, s)
    parametrize.register_parametrization(conv, "weight", FusedSpectralNorm(s, sn), unsafe=True)
    return conv


class FusedSpectralNorm(nn.Module):
    """W / sigma(W) per member (Miyato et al. 2018), with torch's power iteration batched over members.

    Same steps as torch.nn.utils.parametrizations.spectral_norm (dim 0): in training, per forward,
    ``n_power_iterations`` of u = normalize(W v), v = normalize(W^T u); sigma = u . (W v). W: (S, h, w)."""

    def __init__(self, s: int, like: nn.Module):
        super().__init__()
        self.s, self.eps, self.n_power_iterations = s, like.eps, like.n_power_iterations
        self.register_buffer("_u", torch.empty(s * like._u.numel()))  # (S*h,), loaded from the members
        self.register_buffer("_v", torch.empty(s * like._v.numel()))  # (S*w,)

    def forward(self, weight: Tensor) -> Tensor:
        w = weight.reshape(self.s, weight.shape[0] // self.s, -1)  # (S, h, w)
        u, v = self._u.view(self.s, -1), self._v.view(self.s, -1)
        if self.training:
            with torch.no_grad():
                for _ in range(self.n_power_iterations):
                    u.copy_(F.normalize(torch.bmm(w, v.unsqueeze(2)).squeeze(2), dim=1, eps=self.eps))
                    v.copy_(F.normalize(torch.bmm(w.transpose(1, 2), u.unsqueeze(2)).squeeze(2), dim=1,
                                        eps=self.eps))
        u, v = u.clone(), v.clone()
        sigma = (u * torch.bmm(w, v.unsqueeze(2)).squeeze(2)).sum(1)  # (S,)
        return weight / sigma.repeat_interleave(w.shape[1]).view(-1, *([1] * (weight.dim() - 1)))


class FusedLinear(nn.Module):
    """S linear maps at once: (B, S*in) -> (B, S*out); weight (S*out, in) as the members' stacked."""

    def __init__(self, s: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.s, self.in_features, self.out_features = s, in_features, out_features
        self.weight = nn.Parameter(torch.empty(s * out_features, in_features))
        self.bias = nn.Parameter(torch.empty(s * out_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.view(self.s, self.out_features, self.in_features)
        y = torch.einsum("bsi,soi->bso", x.view(x.shape[0], self.s, self.in_features), w)  # (B, S, out)
        y = y.reshape(x.shape[0], -1)
        return y + self.bias if self.bias is not None else y


class FusedAdaIN(nn.Module):
    """AdaIN (norms.AdaIN) of S members: instance norm over S*C channels, each member's style from its z."""

    def __init__(self, s: int, channels: int, z_dim: int):
        super().__init__()
        self.s, self.channels = s, channels
        self.norm = nn.InstanceNorm2d(s * channels, affine=False)
        self.style = FusedLinear(s, z_dim, 2 * channels)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        style = self.style(z).view(z.shape[0], self.s, 2, self.channels)  # per member: [scale | bias]
        scale, bias = (style[:, :, j].reshape(z.shape[0], -1, 1, 1) for j in (0, 1))  # (B, S*C, 1, 1)
        return scale * self.norm(x) + bias


class MemberLayout(nn.Module):
    """A fused network seen with the members on dim 1: (B, S, *in) -> (B, S, *out)."""

    def __init__(self, net: nn.Module, s: int):
        super().__init__()
        self.net, self.s = net, s

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x.reshape(x.shape[0], -1, *x.shape[3:]))  # (B, S*C, ...)
        return out.reshape(x.shape[0], self.s, -1, *out.shape[2:]) if out.dim() > 2 else out.reshape(-1, self.s)
