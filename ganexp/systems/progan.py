"""The ``progan`` system: progressive growing (Karras et al. 2018, "Progressive Growing of GANs").

One generator and one discriminator of the progressive model (model=progressive) start at the
lowest resolution of ``stages`` levels (MNIST: 7x7) and grow by one block that doubles it at each
epoch milestone of ``stage_epochs`` (7 -> 14 -> 28, the resolutions of PS-GAN's stages, so the two
compare). After a growth the new block fades in linearly: alpha goes 0 -> 1 over ``fade_epochs``,
on G's output (alpha * new + (1 - alpha) * upsampled old toRGB) and on D's input (alpha * new block
+ (1 - alpha) * fromRGB of the pooled image); the reals fade alike (alpha * x_r + (1 - alpha) *
upsample(pool(x_r))), so that D never tells real from fake by sharpness alone. Depth and alpha are
functions of the generator step, so a resumed run continues exactly. Both optimizers start from fresh
state where Karras et al.'s code resets them (``reset_opt_for_new_lod``: whenever the floor or the ceiling
of the level of detail changes, i.e. at each growth and at the end of its fade; ``opt_reset:
growth_and_fade_end``), or at growths only (``growth``, what runs made before the key did).
Their other pieces (pixel norm in G, minibatch stddev in D, equalized learning rate) are model
switches (ganexp/nets/progressive.py), set for Study C's ProGAN in conf/experiment/psgan.yaml's notes.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .base import SystemContext, to_resolution
from .gan import GANPair
from .psgan import milestone_steps, stage_at, stage_resolutions
from .stepwise import fade_alpha, fade_reals, fade_steps


class AtLevel(nn.Module):
    """A progressive network called at the system's current depth and fade-in alpha, so that losses
    and penalties call it as any network: ``net(x)``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.depth, self.alpha = net, None, 1.0

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x, self.depth, self.alpha)


OPT_RESETS = ("growth", "growth_and_fade_end")


class ProGAN(GANPair):
    """players: {"G": AtLevel(ProgressiveGenerator), "D": AtLevel(ProgressiveDiscriminator)}."""

    eager_reason = "its networks change depth and fade-in alpha as it grows, and every change would recompile"

    def __init__(self, ctx: SystemContext, *, stages: int, stage_epochs, fade_epochs: float, opt_reset: str, **_):
        if "max_resolution" not in ctx.model.generator:
            raise ValueError(f"system=progan grows a progressive network; use model=progressive (not {ctx.model.name})")
        if ctx.loss.autoencoder_d:
            raise ValueError(f"system=progan has no autoencoder discriminator for loss={ctx.loss.name}")
        super().__init__(ctx)
        self.players["G"], self.players["D"] = AtLevel(self.G), AtLevel(self.D)
        self.resolutions = stage_resolutions(ctx.resolution, stages)
        self.milestones = milestone_steps(stage_epochs, stages, ctx.steps_per_epoch)
        self.fade_steps = fade_steps(fade_epochs, self.milestones, ctx.steps_per_epoch)
        if opt_reset not in OPT_RESETS:
            raise ValueError(f"system.opt_reset must be one of {', '.join(OPT_RESETS)}, got {opt_reset!r}")
        fade_ends = [m + self.fade_steps for m in self.milestones] if self.fade_steps else []
        self.resets = set(self.milestones) | (set(fade_ends) if opt_reset == "growth_and_fade_end" else set())

    def set_level(self, step: int) -> tuple[int, float]:
        """Depth (1-based) and alpha for generator step ``step``, set on both players."""
        depth, alpha = stage_at(step, self.milestones) + 1, fade_alpha(step, self.milestones, self.fade_steps)
        for p in (self.G, self.D):
            p.depth, p.alpha = depth, alpha
        return depth, alpha

    def train_step(self, opts) -> dict:
        if self.step_count in self.resets:  # fresh optimizer state (Adam's moments and step count)
            for opt in opts:
                opt.state.clear()
        depth, alpha = self.set_level(self.step_count)
        logs = super().train_step(opts)
        logs.update(stage=float(depth - 1), fade_alpha=float(alpha))
        return logs

    def real_batch(self) -> Tensor:
        """Reals at the current resolution, faded like G's output; (B, C, r, r)."""
        real, r = self.batcher.next(), self.resolutions[self.G.depth - 1]
        x = F.avg_pool2d(real, self.ctx.resolution // r) if r < self.ctx.resolution else real
        return fade_reals(x, self.G.alpha)

    def sample_images(self, z: Tensor) -> Tensor:
        self.set_level(max(self.step_count - 1, 0))  # the last trained level
        return to_resolution(self.G(z), self.ctx.resolution)
