"""The ``psgan`` system: PS-GAN (Byeon, Park & Yang 2025), both of its ideas in one system.

1. K generators share one discriminator (Algorithm 2, ``multi_generator``). Each step: one forward of D
   on the real batch x and on one fake batch per generator; D's loss is the mean over the K
   (x, fake_k) pairs of the shared loss's D loss; the judge scores of that same forward decide the
   branch (0/1 masks on the device, no host read) under the reading ``system.judge`` names; D's step from
   that forward is kept only in the branches that name D (``system.d_update=gated``) or always
   (``always``); then the chosen generators take one step on their averaged loss, through D after its
   step. When D has not stepped for ``freeze_patience`` generator steps the run ends ``frozen`` (checked
   at log steps, from a step counter kept on the device). A step
   that is not taken leaves the player's parameters and optimizer state bit-identical
   (``base.masked_step``). With ``loss.n_critic`` > 1 each critic forward gates its own D step and
   the last one chooses the generators. Per log interval the branch counts (``branch_*``) and D's
   steps (``d_updates``) are summed; result.json's ``counts`` holds their totals.
2. Stepwise stages (G_s, D_s), s = 0 .. stages-1, at resolutions R / 2^(stages-1-s) (MNIST: 7, 14, 28)
   with reals average-pooled to the stage's resolution; each stage's networks are the progressive
   model's networks built up to that resolution, so a bigger stage holds every layer name of the
   smaller one (plus one more block). At the epoch milestones ``stage_epochs`` the next stage takes
   over after Algorithm 1 (``stepwise.mix_weights``, alpha = ``mix_alpha``) mixed the old weights
   into its fresh initialization, generator by generator and for D; the new stage's optimizers
   have never stepped (the optimizers restart). For ``fade_epochs`` after a switch the new block fades
   in as in ProGAN (Karras et al. 2018): the stage's networks run at alpha 0 -> 1 (``Faded``), the reals
   fade alike, so D starts as the mixed old D on the pooled image instead of a fresh input path.

All stages are built at the start (a few MB for MNIST), so the state dict has the same keys at every
step and a checkpoint before or after a switch resumes exactly: the switch happens at the start of
the step whose index is the milestone, which only a run that has not yet taken that step does.

K = 1 with one stage is the ``gan`` system's step on one generator; ``stages: 1`` is "parallel
only", ``num_generators: 1`` "stepwise only" (the paper's Table 4 K = 1). Sample grids and FID use
the mixture of the K generators of the current stage with equal shares: codes are split into K
contiguous parts (``torch.tensor_split``), part k drawn by G_k; images below the dataset's
resolution are upsampled (nearest) to it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import (GANSystem, SystemContext, build_net, discriminator_config, make_optimizer, masked_step,
                   to_resolution)
from .multi_generator import BRANCHES, algorithm2_masks, check_d_update, check_judge
from .stepwise import fade_alpha, fade_reals, fade_steps, mix_weights


def stage_resolutions(resolution: int, stages: int) -> list[int]:
    """Resolutions of the stages, lowest first: 28, 3 -> [7, 14, 28]."""
    if stages < 1 or resolution % 2 ** (stages - 1):
        raise ValueError(f"{stages} stages cannot halve resolution {resolution} {stages - 1} times")
    return [resolution // 2 ** (stages - 1 - s) for s in range(stages)]


def milestone_steps(stage_epochs, stages: int, steps_per_epoch: float) -> list[int]:
    """Generator steps at which stages 1 .. stages-1 start, from epochs (fractions allowed)."""
    epochs = list(stage_epochs or [])
    if len(epochs) != stages - 1:
        raise ValueError(f"system.stage_epochs needs {stages - 1} epoch(s) for system.stages={stages}, got "
                         f"{epochs}; set system.stage_epochs=[...] with {stages - 1} increasing epochs")
    steps = [round(e * steps_per_epoch) for e in epochs]
    if any(s < 1 for s in steps) or steps != sorted(set(steps)):
        raise ValueError(f"system.stage_epochs {epochs} must increase and each give at least one step "
                         f"({steps_per_epoch:g} steps per epoch)")
    return steps


def stage_at(step: int, milestones: list[int]) -> int:
    """The stage that runs generator step ``step`` (0-based)."""
    return sum(step >= m for m in milestones)


def stage_nets(ctx: SystemContext, resolution: int, stages: int) -> dict:
    """Build-net arguments of one stage: the progressive model up to ``resolution``."""
    if stages == 1:
        return {}
    if "max_resolution" not in ctx.model.generator:
        raise ValueError(f"stages below the dataset's resolution need model=progressive "
                         f"(model={ctx.model.name} has one resolution); or set system.stages=1")
    return {"resolution": resolution, "max_resolution": ctx.resolution}


class Faded:
    """A stage's progressive network called at a fade-in alpha: ``net(x, None, alpha)``. Not a module, so the
    stage's parameters stay where the state dict has them; attributes (parameters(), ...) are the network's."""

    def __init__(self, net: nn.Module, alpha: float):
        self.net, self.alpha = net, alpha

    def __call__(self, x: Tensor) -> Tensor:
        return self.net(x, None, self.alpha)

    def __getattr__(self, name: str):
        return getattr(self.net, name)


class PSGAN(GANSystem):
    """players: {"stage<s>": {"G": [G_0 .. G_{K-1}], "D": D}}; optimizers per stage [G_0 .. G_{K-1}, D]."""

    summed_keys = (*(f"branch_{b}" for b in BRANCHES), "d_updates")
    eager_reason = "its stages change the networks, and every change would recompile"

    def __init__(self, ctx: SystemContext, *, num_generators: int, stages: int, stage_epochs, mix_alpha: float,
                 d_update: str, judge: str, fade_epochs: float, freeze_patience: int, **_):
        super().__init__(ctx)
        ctx.loss.judge(torch.zeros(1))  # a loss without a real/fake rule fails here, at build time
        self.K, self.mix_alpha, self.d_update = int(num_generators), float(mix_alpha), check_d_update(d_update)
        self.judge = check_judge(judge)
        self.freeze_patience = int(freeze_patience)  # 0: never stop
        self.d_idle: Tensor | None = None  # 0-d, on the device: generator steps since D last stepped
        self.last_branch: Tensor | None = None  # (len(BRANCHES),) one-hot of the last step
        if self.K < 1:
            raise ValueError(f"system.num_generators must be >= 1, got {num_generators}")
        self.resolutions = stage_resolutions(ctx.resolution, stages)
        self.milestones = milestone_steps(stage_epochs, stages, ctx.steps_per_epoch)
        self.fade_steps = fade_steps(fade_epochs, self.milestones, ctx.steps_per_epoch)
        for s, res in enumerate(self.resolutions):
            kw = stage_nets(ctx, res, stages)
            g = nn.ModuleList(build_net(ctx.model.generator, **kw) for _ in range(self.K))
            self.players[f"stage{s}"] = nn.ModuleDict({"G": g, "D": build_net(discriminator_config(ctx), **kw)})

    @property
    def stage(self) -> int:
        return stage_at(self.step_count, self.milestones)

    def nets(self, s: int) -> tuple[nn.ModuleList, nn.Module]:
        return self.players[f"stage{s}"]["G"], self.players[f"stage{s}"]["D"]

    def faded(self, s: int, step: int) -> tuple[list, nn.Module | "Faded", float]:
        """Stage s's generators and D as the losses call them at generator step ``step``: within fade_steps of
        the switch, at the fade-in alpha (the new block blended with the old path), else the networks."""
        gens, d = self.nets(s)
        alpha = fade_alpha(step, self.milestones[:s], self.fade_steps) if s else 1.0
        if alpha >= 1.0:
            return list(gens), d, 1.0
        return [Faded(g, alpha) for g in gens], Faded(d, alpha), alpha

    def averaged_generators(self) -> list[nn.Module]:
        """Every stage's K generators, stage by stage: G_ema keeps one average per generator."""
        return [g for s in range(len(self.resolutions)) for g in self.nets(s)[0]]

    def trained_generators(self) -> list[int]:
        return list(range(self.stage * self.K, (self.stage + 1) * self.K))

    def build_optimizers(self):
        o, opts = self.ctx.optim, []
        capturable = self.device.type == "cuda"  # Adam's step count on the GPU: masked steps read nothing back
        for s in range(len(self.resolutions)):
            gens, d = self.nets(s)
            opts += [make_optimizer(g.parameters(), o["name"], o["lr_g"], o.get("betas"), capturable) for g in gens]
            opts.append(make_optimizer(d.parameters(), o["name"], o["lr_d"], o.get("betas"), capturable))
        return opts

    @torch.no_grad()
    def switch_to(self, s: int) -> None:
        """Algorithm 1: mix stage s-1's weights into stage s's fresh ones, player by player."""
        (old_g, old_d), (new_g, new_d) = self.nets(s - 1), self.nets(s)
        for old, new in [*zip(old_g, new_g), (old_d, new_d)]:
            mix_weights(old, new, self.mix_alpha)
        if self.g_ema is not None:  # the new stage's averages start from its mixed weights, not from fresh ones
            self.g_ema.restart(self.averaged_generators(), list(range(s * self.K, (s + 1) * self.K)))
        print(f"[stage] step {self.step_count}: stage {s} ({self.resolutions[s]}px) takes over, "
              f"Algorithm 1 with alpha {self.mix_alpha}", flush=True)

    def real_batch(self, s: int, alpha: float = 1.0) -> Tensor:
        real = self.batcher.next()  # (B, C, R, R)
        factor = self.ctx.resolution // self.resolutions[s]
        return fade_reals(F.avg_pool2d(real, factor) if factor > 1 else real, alpha)  # (B, C, r, r)

    def train_step(self, opts) -> dict:
        s = self.stage
        if s and self.step_count == self.milestones[s - 1]:
            self.switch_to(s)
        gens, d, alpha = self.faded(s, self.step_count)
        first = s * (self.K + 1)
        opt_g, opt_d = opts[first:first + self.K], opts[first + self.K]
        d.requires_grad_(True)
        d_updates = 0.0
        for _ in range(self.loss.n_critic):
            logs, scores, outputs, d_loss = self.critic_forward(gens, d, s, alpha)
            d_mask, g_mask, branch = algorithm2_masks(scores, self.d_update, self.judge, outputs)
            self.update(d_loss, opt_d, d_mask)  # D's step from this forward, undone where the branch skips D
            self.loss.after_d_step(d)
            d_updates = d_updates + d_mask
        d.requires_grad_(False)
        self.d_idle = ((0.0 if self.d_idle is None else self.d_idle) + 1.0) * (d_updates == 0)  # no host read
        self.last_branch = branch
        logs.update(self.generator_step(gens, d, g_mask, opt_g))
        logs.update({f"branch_{b}": branch[i] for i, b in enumerate(BRANCHES)}, d_updates=d_updates, stage=float(s),
                    fade_alpha=float(alpha))
        return logs

    def frozen(self, step: int) -> str | None:
        """D not updated for freeze_patience consecutive generator steps: nothing can move it again under the
        gated reading, so the run ends (status ``frozen``) instead of training on as it is."""
        if self.freeze_patience <= 0 or self.d_idle is None:
            return None
        idle = int(self.d_idle.item())
        if idle < self.freeze_patience:
            return None
        branch = BRANCHES[int(self.last_branch.argmax())]
        return (f"D was not updated for {idle} consecutive generator steps (steps {step - idle + 1}-{step}, "
                f"branch {branch}): frozen under system.judge={self.judge}, system.d_update={self.d_update}; "
                f"another reading (system.judge=relative or system.d_update=always) trains D on every step, and "
                f"system.freeze_patience=0 trains on")

    def extra_state(self) -> dict:
        idle = {} if self.d_idle is None else {"d_idle": self.d_idle.detach().cpu(),
                                               "last_branch": self.last_branch.detach().cpu()}
        return {**super().extra_state(), **idle}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        if "d_idle" in state:
            self.d_idle, self.last_branch = state["d_idle"].to(self.device), state["last_branch"].to(self.device)

    def critic_forward(self, gens, d, s: int, alpha: float = 1.0) -> tuple[dict, Tensor, Tensor, Tensor]:
        """One forward of D on x and on each generator's batch: D's loss (the mean of the loss's D loss over
        the K (x, fake_k) pairs), its logs (means over k), the judge scores [x, fake_0 .. fake_{K-1}]
        ((K+1,), > 0: real by the loss's rule) and D's raw outputs on the same inputs ((K+1, B), detached)."""
        real = self.real_batch(s, alpha)
        with torch.no_grad():
            fakes = [g(self.sample_z(real.shape[0])) for g in gens]
        d_real = d(real)  # (B,)
        total, logs, fake_scores, outputs = 0.0, {}, [], [d_real.detach()]
        for fake in fakes:
            loss, lg = self.loss.discriminator_loss(d, real, fake, d_real)
            outputs.append(self.loss.last_outputs[1].detach())  # (B,)
            fake_scores.append(self.loss.judge(self.loss.last_outputs[1]))
            total = total + loss / self.K
            for k, v in lg.items():
                logs[k] = logs.get(k, 0.0) + v.detach() / self.K
        scores = torch.stack([self.loss.judge(d_real.detach()), *fake_scores])  # (K+1,)
        return logs, scores, torch.stack(outputs), total

    def generator_step(self, gens, d, g_mask: Tensor, opt_g) -> dict:
        """Every generator's loss is logged; those with mask 1 step on their mean, the others' steps are
        undone (``masked_step``); g_mask: (K,) 0/1."""
        losses = torch.stack([self.loss.generator_loss(d, g(self.sample_z(self.batch_size)))[0] for g in gens])
        for opt in opt_g:
            opt.zero_grad(set_to_none=True)
        self._backward((g_mask * losses).sum() / g_mask.sum().clamp(min=1.0))  # the chosen ones' mean
        for k, opt in enumerate(opt_g):
            masked_step(opt, g_mask[k], opt.step)
        logs = {f"g_loss_{k}": v for k, v in enumerate(losses.detach())}
        logs["g_loss"] = losses.detach().mean()
        return logs

    def sample_images(self, z: Tensor) -> Tensor:
        last = max(self.step_count - 1, 0)  # the last trained step: its stage, at its fade-in alpha
        gens, _, _ = self.faded(stage_at(last, self.milestones), last)
        parts = [g(c) for g, c in zip(gens, torch.tensor_split(z, self.K)) if c.shape[0]]
        return to_resolution(torch.cat(parts), self.ctx.resolution)
