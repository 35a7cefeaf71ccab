"""Adversarial losses. Each module ``ganexp.losses.<name>`` (gan_mm, gan_ns, lsgan, wgan, hinge)
exposes pure ``d_loss(d_real, d_fake)`` and ``g_loss(d_fake)`` on raw D outputs (logits).

Every formula averages over dim 0, the batch: a run's D outputs (B,) give a scalar, a fused seed array's
(B, S) give the S members' losses (S,) in one kernel (ganexp/systems/fused.py)."""
from .base import AdversarialLoss, gradient_penalty

__all__ = ["AdversarialLoss", "gradient_penalty"]
