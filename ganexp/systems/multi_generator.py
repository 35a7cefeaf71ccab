"""PS-GAN idea 1 (Byeon, Park & Yang 2025, Algorithm 2): K generators share one discriminator.

Each step D scores the real batch and one fake batch per generator. A batch is "judged real" by the
loss's rule (``AdversarialLoss.judge``): its mean D probability exceeds 0.5 (GAN losses and DRAGAN:
sigma of the logits), its mean critic output exceeds 0 (WGAN, WGAN-GP, hinge), or its mean output
exceeds LSGAN's midpoint 0.5 between the fake (0) and real (1) targets. BEGAN's autoencoder does not
classify, so it has no rule here. Algorithm 2 as printed, K = 2:

    if D judges G1's batch real:    update G2 and D                       (branch "fooled")
    elif D judges G2's batch real:  update G1 and D                       (branch "fooled")
    elif D judges x real:           update G1 and G2 (averaged), NOT D    (branch "only_real")
    (nothing judged real:           update nothing)                       (branch "all_fake")

D learns only on steps where a generator fooled it: that is how the paper holds D back instead of
spectral norm. For any K: if some generator fooled D, every generator except the first one that
fooled it is updated, with D; else if x is judged real, all generators (their averaged loss) and not
D; else nothing. At K = 2 this is exactly the rule above (both fooled -> G2 and D). K = 1 is the
paper's "stepwise only" PS-GAN: the plain step, D and G every step (branch "single"); the K >= 2
rule would leave G without an update whenever it fools D.

``d_update="always"`` is the ablation ganexp ran before (D updated on every step, all generators when
none fooled D, x judged real or not): it isolates what the gating does.

``algorithm2`` is the rule as a table (host booleans, for reading and tests); ``algorithm2_masks`` is the
same rule on the device as 0/1 tensors, so a training step never reads D's verdict on the host.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

BRANCHES = ("fooled", "only_real", "all_fake", "single")
D_UPDATES = ("paper", "always")


@dataclass(frozen=True)
class Decision:
    """Which players one step updates, and the branch of Algorithm 2 that chose them."""

    update_d: bool
    generators: tuple[int, ...]  # indices of the generators to update (their losses averaged)
    branch: str


def check_d_update(d_update: str) -> str:
    if d_update not in D_UPDATES:
        raise ValueError(f"system.d_update must be one of {', '.join(D_UPDATES)}, got {d_update!r}; "
                         "set system.d_update=paper (Algorithm 2 as printed) or always (the ablation)")
    return d_update


def algorithm2(real_is_real: bool, fakes_are_real: list[bool], d_update: str = "paper") -> Decision:
    """Algorithm 2's decision for K = len(fakes_are_real) generators (0-based indices)."""
    k, always = len(fakes_are_real), check_d_update(d_update) == "always"
    if k < 1:
        raise ValueError("Algorithm 2 needs at least one generator")
    if k == 1:
        return Decision(True, (0,), "single")
    fooled = [i for i, real in enumerate(fakes_are_real) if real]
    if fooled:
        return Decision(True, tuple(i for i in range(k) if i != fooled[0]), "fooled")
    if real_is_real:
        return Decision(always, tuple(range(k)), "only_real")
    return Decision(always, tuple(range(k)) if always else (), "all_fake")


def algorithm2_masks(scores: Tensor, d_update: str = "paper") -> tuple[Tensor, Tensor, Tensor]:
    """``algorithm2`` on the device. scores: (K+1,) judge scores [x, G_0 .. G_{K-1}], > 0 = judged real.
    Returns float 0/1 tensors: D's mask (0-d), the generators' mask (K,) and the branch (len(BRANCHES),),
    one-hot in BRANCHES' order."""
    judged = scores > 0  # (K+1,)
    real, fakes = judged[0], judged[1:]
    k, one = fakes.shape[0], torch.ones((), device=scores.device)
    if k == 1:
        return one, one.reshape(1), F.one_hot(torch.tensor(BRANCHES.index("single"), device=scores.device),
                                              len(BRANCHES)).float()
    fooled = fakes.any()
    first = F.one_hot(fakes.int().argmax(), k).bool()  # argmax: the first maximum, the first fooling generator
    none_fooled_gens = torch.ones(k, dtype=torch.bool, device=scores.device)
    if check_d_update(d_update) == "paper":
        none_fooled_gens = none_fooled_gens & real
    g_mask = torch.where(fooled, ~first, none_fooled_gens)  # (K,)
    d_mask = fooled | torch.tensor(d_update == "always", device=scores.device)
    branch = torch.stack([fooled, ~fooled & real, ~fooled & ~real, torch.zeros_like(real)])
    return d_mask.float(), g_mask.float(), branch.float()
