"""The generator's running weight average, G_ema (Karras et al. 2018, ProGAN, Appendix A.1: "an exponential
running average for the weights of the generator with decay 0.999"; Karras et al. 2020, StyleGAN2, and Huang et
al. 2024, R3GAN: the decay from a half-life in real images, ramped up early in training).

After every generator step each averaged parameter moves toward the generator's:
ema <- beta * ema + (1 - beta) * G, with

* ``beta`` fixed (ProGAN's 0.999), or
* beta = 0.5 ** (B / h) for a half-life of h images, B the generator's batch per step (h = half_life_kimg * 1000);
  with ``ramp`` (StyleGAN2's ``ema_rampup``) h is at most ramp * (images seen so far), so the average does not
  drag the first, random weights along;
* before ``start_step`` the average is a copy of G (beta = 0).

Buffers (batch norm's running statistics, spectral norm's power-iteration vectors) are copied, not averaged,
as StyleGAN2 does. beta is a Python float of the step count the system keeps on the host, so the update reads
nothing back from the device: one ``torch._foreach_lerp_`` over the parameters and one copy of the buffers.
Fused arrays (ganexp/nets/fused.py) average their stacked tensors elementwise, so each member's average is its
separate run's.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..settings import EMA


@dataclass(frozen=True)
class AverageSettings:
    """The ``ema.*`` keys as a run uses them; their defaults, rules and docs are declared once (settings.EMA)."""

    enabled: bool = EMA.enabled
    half_life_kimg: float | None = EMA.half_life_kimg
    beta: float | None = EMA.beta
    ramp: float | None = EMA.ramp
    start_step: int = EMA.start_step
    score: str = EMA.score  # evaluations score G_ema and G ("both") or G_ema only ("ema")

    def __post_init__(self):
        if self.enabled and (self.beta is None) == (self.half_life_kimg is None):
            raise ValueError("set exactly one of ema.beta (a fixed decay per generator step, ProGAN: 0.999) and "
                             "ema.half_life_kimg (a half-life in thousands of real images, StyleGAN2: 10); e.g. "
                             "ema.beta=0.999 ema.half_life_kimg=null")
        if self.enabled and self.beta is not None and self.ramp is not None:
            raise ValueError("ema.ramp caps a half-life (ema.half_life_kimg); with a fixed ema.beta set ema.ramp=null")


def settings_from(cfg) -> AverageSettings:
    """The run config's ``ema`` node (absent in runs made before it: off)."""
    node = cfg.get("ema") if cfg is not None else None
    return AverageSettings(**dict(node)) if node else AverageSettings()


def decay(s: AverageSettings, step: int, batch_size: int) -> float:
    """beta after generator step ``step`` (0-based: the step just taken)."""
    if step < s.start_step:
        return 0.0
    if s.beta is not None:
        return float(s.beta)
    half_life = s.half_life_kimg * 1000.0
    if s.ramp is not None:
        half_life = min(half_life, (step + 1) * batch_size * s.ramp)
    return 0.5 ** (batch_size / max(half_life, 1e-8))


def every_tensor(net: nn.Module) -> list[torch.Tensor]:
    """A network's parameters, then its buffers (integer ones too), in a fixed order."""
    return [*net.parameters(), *net.buffers()]


class GeneratorAverage(nn.Module):
    """One averaged copy per generator the system names (``GANSystem.averaged_generators``), in its order;
    a submodule of the system, so that its state dict (and every checkpoint) holds the averages."""

    def __init__(self, generators: list[nn.Module], settings: AverageSettings, batch_size: int):
        super().__init__()
        self.settings, self.batch_size = settings, int(batch_size)
        self.copies = nn.ModuleList(copy.deepcopy(g) for g in generators)
        self.copies.requires_grad_(False)

    @torch.no_grad()
    def update(self, generators: list[nn.Module], which: list[int], step: int) -> None:
        """After generator step ``step``: copies ``which`` move toward ``generators[i]`` (the live nets)."""
        beta = decay(self.settings, step, self.batch_size)
        avg_p = [p for i in which for p in self.copies[i].parameters()]
        if avg_p:
            torch._foreach_lerp_(avg_p, [p for i in which for p in generators[i].parameters()], 1.0 - beta)
        for i in which:
            for a, b in zip(self.copies[i].buffers(), generators[i].buffers(), strict=True):
                a.copy_(b)

    @torch.no_grad()
    def restart(self, generators: list[nn.Module], which: list[int]) -> None:
        """Copies ``which`` become the live generators' weights (PS-GAN: a stage's mixed weights at its switch)."""
        for i in which:
            for a, b in zip(every_tensor(self.copies[i]), every_tensor(generators[i]), strict=True):
                a.copy_(b)

    @contextmanager
    def swapped_into(self, generators: list[nn.Module]):
        """The live generators hold the averaged weights inside the block (their storage exchanged, no copy), so
        whatever wraps them (ProGAN's level, a fused array's layout, PS-GAN's fade) draws from G_ema."""
        pairs = [(a, b) for g, c in zip(generators, self.copies, strict=True)
                 for a, b in zip(every_tensor(g), every_tensor(c), strict=True)]
        self._exchange(pairs)
        try:
            yield
        finally:
            self._exchange(pairs)

    @staticmethod
    def _exchange(pairs) -> None:
        for a, b in pairs:
            a.data, b.data = b.data, a.data

