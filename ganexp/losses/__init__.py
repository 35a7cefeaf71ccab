"""Adversarial losses. Each module ``ganexp.losses.<name>`` (gan_mm, gan_ns, lsgan, wgan, hinge)
exposes pure ``d_loss(d_real, d_fake)`` and ``g_loss(d_fake)`` on raw D outputs (logits)."""
from .base import AdversarialLoss, gradient_penalty

__all__ = ["AdversarialLoss", "gradient_penalty"]
