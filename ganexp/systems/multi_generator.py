"""PS-GAN idea 1 (Byeon, Park & Yang 2025, Algorithm 2): K generators share one discriminator.

Each step D scores the real batch and one fake batch per generator. A batch is "judged real" by the
loss's rule (``AdversarialLoss.judge``): its mean D probability exceeds 0.5 (GAN losses and DRAGAN:
sigma of the logits), its mean critic output exceeds 0 (WGAN, WGAN-GP, hinge), or its mean output
exceeds LSGAN's midpoint 0.5 between the fake (0) and real (1) targets. BEGAN's autoencoder does not
classify, so it has no rule here. Algorithm 2 for K = 2:

    if D judges G1's batch real:   update G2 and D
    elif D judges G2's batch real: update G1 and D
    else (only x judged real):     update D and both generators with their averaged loss

For any K: if some generator fooled D, every generator except the first one that fooled it is
updated, with D; at K = 2 this is exactly the rule above (both fooled -> G2 and D). If none fooled
D, D and all generators are updated with the averaged loss. The paper leaves open the case where
the real batch is judged fake as well; ganexp then does the same as its last branch (update D and
all generators), and logs it as its own branch ("all_fake") so that its frequency is visible.
K = 1 is the paper's "stepwise only" PS-GAN (no parallel generators): the ordinary step, D and G
every step (branch "single"); the K >= 2 rule would otherwise leave G without updates whenever it
fools D.
"""
from __future__ import annotations

from dataclasses import dataclass

BRANCHES = ("fooled", "only_real", "all_fake", "single")


@dataclass(frozen=True)
class Decision:
    """Which players one step updates, and the branch of Algorithm 2 that chose them."""

    update_d: bool
    generators: tuple[int, ...]  # indices of the generators to update (their losses averaged)
    branch: str


def algorithm2(real_is_real: bool, fakes_are_real: list[bool]) -> Decision:
    """Algorithm 2's decision for K = len(fakes_are_real) generators (0-based indices)."""
    k = len(fakes_are_real)
    if k < 1:
        raise ValueError("Algorithm 2 needs at least one generator")
    if k == 1:
        return Decision(True, (0,), "single")
    fooled = [i for i, real in enumerate(fakes_are_real) if real]
    if fooled:
        return Decision(True, tuple(i for i in range(k) if i != fooled[0]), "fooled")
    return Decision(True, tuple(range(k)), "only_real" if real_is_real else "all_fake")
