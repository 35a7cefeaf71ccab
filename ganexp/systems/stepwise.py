"""PS-GAN idea 2 (Byeon, Park & Yang 2025, Algorithm 1): stepwise stages with weight mixing.

At a stage switch the new, more capable network starts from its fresh initialization mixed with
the old network's weights: for every parameter (and buffer) name of the old model,
new[name] = (1 - alpha) * old[name] + alpha * new[name], alpha = 0.1 in the paper. Names the new
model lacks, or whose shapes differ, keep the new model's initialization.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@torch.no_grad()
def mix_weights(old: nn.Module, new: nn.Module, alpha: float = 0.1) -> list[str]:
    """Mix ``old`` into ``new`` in place (Algorithm 1); returns the names that were mixed."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    target = new.state_dict()
    mixed = []
    for name, value in old.state_dict().items():
        t = target.get(name)
        if t is None or t.shape != value.shape:
            continue  # no counterpart: keeps its fresh initialization
        if t.is_floating_point():
            t.copy_((1 - alpha) * value.to(t) + alpha * t)
        else:  # integer buffers (BatchNorm's num_batches_tracked) cannot be mixed: keep the old count
            t.copy_(value)
        mixed.append(name)
    return mixed


def fade_alpha(step: int, milestones: list[int], fade_steps: int) -> float:
    """Linear fade-in of the newest block (Karras et al. 2018): 0 at its milestone, 1 after ``fade_steps``."""
    grown = [m for m in milestones if step >= m]
    if not grown or fade_steps <= 0:
        return 1.0
    return min(1.0, (step - grown[-1]) / fade_steps)


def fade_steps(fade_epochs: float, milestones: list[int], steps_per_epoch: float) -> int:
    """The fade-in's length in generator steps; a fade must end before the next switch (or the run's end is
    not asked: the last stage may be shorter than its fade)."""
    steps = round(float(fade_epochs) * steps_per_epoch)
    shortest = min((b - a for a, b in zip(milestones, milestones[1:])), default=None)
    if shortest is not None and steps > shortest:
        raise ValueError(f"system.fade_epochs={fade_epochs:g} ({steps} steps) is longer than the shortest stage "
                         f"({shortest} steps = {shortest / steps_per_epoch:.3g} epochs); a fade must end before the "
                         f"next switch: set system.fade_epochs to at most {shortest / steps_per_epoch:.3g}")
    return steps


def fade_reals(x: Tensor, alpha: float) -> Tensor:
    """Reals (B, C, r, r) faded as a faded G's output is: alpha * x + (1 - alpha) * upsample(pool(x)), so that
    D never tells real from fake by sharpness alone."""
    if alpha >= 1.0:
        return x
    low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
    return alpha * x + (1.0 - alpha) * low
