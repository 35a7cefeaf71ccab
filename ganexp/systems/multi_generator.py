"""PS-GAN idea 1 (Byeon, Park & Yang 2025, Algorithm 2): K generators share one discriminator.

Each step D scores the real batch x and one fake batch per generator. Algorithm 2 as its listing prints
it, K = 2 (the print is damaged: no final ``else``, four ``end if`` for three ``if``):

    if D classifies G1's batch as real:    update G2 and D                       (branch "fooled")
    elif D classifies G2's batch as real:  update G1 and D                       (branch "fooled")
    elif D classifies x as real:           update G1 and G2 (averaged)           (branch "only_real")
    (nothing classified as real:           not in the listing)                   (branch "all_fake")

The text around it allows more than one reading of two things, and each reading is a key:

``system.judge``, who "classifies as real":
  * ``threshold``: each input by itself, by the loss's rule (``AdversarialLoss.judge``): its mean D
    probability exceeds 0.5 (GAN losses, DRAGAN), its mean critic output exceeds 0 (WGAN, WGAN-GP, hinge),
    its mean output exceeds LSGAN's midpoint 0.5. Several inputs, or none, can be "real".
  * ``relative``: section 3.1, "판별자는 세 데이터 중 한 데이터만을 실제로 분류하며 나머지 두 데이터를 가짜로
    분류한다" (D classifies exactly one of the three data as real and the other two as fake): the one input
    whose batch-mean score is highest is real (x on a tie), the others fake; "nothing real" cannot happen.
  * ``relative_vote``: the same per sample: for each index i of the batch, the highest of D(x_i),
    D(G_1(z_i)), ... is the real one; the input that is real for the most indices is "real" (x, then the
    lower generator index, on a tie). Both are readings of "one of the three data": a batch as a datum, or
    each image.

``system.d_update``, when D learns:
  * ``gated`` (alias ``paper``, its name before ``gated``): the listing, D steps only in the "fooled"
    branches; "only x real" steps the generators alone, "nothing real" steps nobody.
  * ``always``: sections 3.1 ("두 개의 가짜 데이터가 포함됨으로써 각 훈련 반복마다 두 번의 손실 값 갱신이 발생한다",
    two loss-value updates happen in every training iteration) and 3.4 ("손실은 총 두 번 발생하게 된다"): D
    learns every step and Algorithm 2 picks the generators; when no generator fooled D, every generator
    steps (also when nothing is real: what ganexp ran before the key existed, so such runs hash as ``always``).

For any K: if some generator fooled D, every generator except the first that fooled it is updated (with
D under ``gated``); else if x is real, all generators (their averaged loss); else (``threshold`` only)
none under ``gated``, all under ``always``. K = 1 is the paper's "stepwise only" PS-GAN: the plain step,
D and G every step (branch "single"); the K >= 2 rule would leave G without an update whenever it fools D.

``algorithm2`` is the rule as a table (host booleans, for reading and tests); ``verdicts`` and
``algorithm2_masks`` are the same on the device as 0/1 tensors, so a training step never reads D's verdict
on the host.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

BRANCHES = ("fooled", "only_real", "all_fake", "single")
D_UPDATES = ("gated", "always")
D_UPDATE_ALIASES = {"paper": "gated"}  # runs and commands from before `gated` was named
JUDGES = ("threshold", "relative", "relative_vote")


@dataclass(frozen=True)
class Decision:
    """Which players one step updates, and the branch of Algorithm 2 that chose them."""

    update_d: bool
    generators: tuple[int, ...]  # indices of the generators to update (their losses averaged)
    branch: str


def check_d_update(d_update: str) -> str:
    """The reading ``d_update`` names (``paper`` -> ``gated``)."""
    d_update = D_UPDATE_ALIASES.get(d_update, d_update)
    if d_update not in D_UPDATES:
        raise ValueError(f"system.d_update must be one of {', '.join(D_UPDATES)} (or paper, the old name of gated), "
                         f"got {d_update!r}")
    return d_update


def check_judge(judge: str) -> str:
    if judge not in JUDGES:
        raise ValueError(f"system.judge must be one of {', '.join(JUDGES)}, got {judge!r}")
    return judge


def algorithm2(real_is_real: bool, fakes_are_real: list[bool], d_update: str = "gated") -> Decision:
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


def verdicts(scores: Tensor, judge: str = "threshold", per_sample: Tensor | None = None) -> Tensor:
    """Which inputs D classifies as real, bool (K+1,) [x, G_0 .. G_{K-1}]. scores: (K+1,) judge scores of the
    batches (> 0: real by the loss's rule); per_sample: (K+1, B) D outputs, read by ``relative_vote``."""
    if check_judge(judge) == "threshold":
        return scores > 0
    if judge == "relative":
        winner = scores.argmax()  # the first maximum: x on a tie
    else:
        if per_sample is None:
            raise ValueError("system.judge=relative_vote needs D's per-sample outputs")
        votes = F.one_hot(per_sample.argmax(0), per_sample.shape[0]).sum(0)  # (K+1,) images each input won
        winner = votes.argmax()
    return F.one_hot(winner, scores.shape[0]).bool()


def algorithm2_masks(scores: Tensor, d_update: str = "gated", judge: str = "threshold",
                     per_sample: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``algorithm2`` on the device. scores: (K+1,) judge scores [x, G_0 .. G_{K-1}] (see ``verdicts``).
    Returns float 0/1 tensors: D's mask (0-d), the generators' mask (K,) and the branch (len(BRANCHES),),
    one-hot in BRANCHES' order."""
    judged = verdicts(scores, judge, per_sample)  # (K+1,)
    real, fakes = judged[0], judged[1:]
    k, one = fakes.shape[0], torch.ones((), device=scores.device)
    if k == 1:  # the branch one-hot from a device-side fill: no host-to-device copy in the step loop
        single = torch.zeros(len(BRANCHES), device=scores.device)
        return one, one.reshape(1), single.index_fill(0, torch.full((1,), BRANCHES.index("single"),
                                                                    device=scores.device), 1.0)
    gated = check_d_update(d_update) == "gated"
    fooled = fakes.any()
    first = F.one_hot(fakes.int().argmax(), k).bool()  # argmax: the first maximum, the first fooling generator
    none_fooled_gens = torch.ones(k, dtype=torch.bool, device=scores.device)
    if gated:
        none_fooled_gens = none_fooled_gens & real
    g_mask = torch.where(fooled, ~first, none_fooled_gens)  # (K,)
    d_mask = fooled if gated else torch.ones_like(fooled)
    branch = torch.stack([fooled, ~fooled & real, ~fooled & ~real, torch.zeros_like(real)])
    return d_mask.float(), g_mask.float(), branch.float()
