"""PS-GAN idea 2 (Byeon, Park & Yang 2025, Algorithm 1): stepwise stages with weight mixing.

At a stage switch the new, more capable network starts from its fresh initialization mixed with
the old network's weights: for every parameter (and buffer) name of the old model,
new[name] = (1 - alpha) * old[name] + alpha * new[name], alpha = 0.1 in the paper. Names the new
model lacks, or whose shapes differ, keep the new model's initialization.
"""
from __future__ import annotations

import torch
from torch import nn


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
