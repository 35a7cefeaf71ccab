"""GANSystem: the surface every training system shows to the run (train.py), whatever its players.

A system declares its players (``self.players``, an nn.ModuleDict), its optimizers
(``build_optimizers``), one generator step (``train_step``), how it makes images (``generate``) and
any extra state (``extra_state``). The run around it (logging, sample grids, evaluation, checkpoints,
result.json, W&B) only calls this surface. Lightning drives the loop; each of its batches is a chunk
of generator steps (``chunks``), so its per-batch bookkeeping is paid once per chunk. Host syncs
happen only at logging steps (PS-GAN's Algorithm 2 decides with 0/1 masks on the device).
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Protocol

import lightning as L
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from ..data import TensorBatcher
from ..losses import AdversarialLoss
from .average import AverageSettings, GeneratorAverage
from .captured import Capture


class Diverged(RuntimeError):
    """A loss or output became NaN/inf."""

    def __init__(self, step: int, key: str):
        super().__init__(f"non-finite {key} at step {step}")
        self.step, self.key = step, key


class Frozen(RuntimeError):
    """Training stopped moving (PS-GAN: D not updated for system.freeze_patience steps); the message says why."""

    def __init__(self, step: int, reason: str):
        super().__init__(reason)
        self.step = step


def sample_latent(n: int, z_dim: int, prior: str, device, generator: torch.Generator | None = None) -> Tensor:
    """z ~ U(-1, 1)^d ('uniform', Study A) or N(0, I) ('normal'); (n, z_dim)."""
    if prior == "uniform":
        return torch.rand(n, z_dim, device=device, generator=generator).mul_(2).sub_(1)
    return torch.randn(n, z_dim, device=device, generator=generator)


EVAL_SEED = 1234  # the same evaluation codes for every run of a z_dim


def eval_codes(cfg: dict) -> Tensor:
    """The fixed codes behind every run's sample grids (samples/*.png), on the CPU; (n, z_dim)."""
    n = cfg["trainer"].get("num_eval_samples", 64)
    gen = torch.Generator().manual_seed(EVAL_SEED)
    return sample_latent(n, cfg["z_dim"], cfg.get("latent", "uniform"), "cpu", gen)


def chunks(start: int, stop: int, size: int = 32) -> list[int]:
    """Generator steps per Lightning batch: [size, size, ..., rest] covering start..stop."""
    n = max(stop - start, 0)
    return [size] * (n // size) + ([n % size] if n % size else [])


def make_optimizer(params, name: str, lr: float, betas=None, capturable: bool = False) -> torch.optim.Optimizer:
    """Adam or RMSprop; ``capturable`` keeps the step count on the parameters' device (no host read per step)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas or (0.9, 0.999)), capturable=capturable)
    return torch.optim.RMSprop(params, lr=lr, capturable=capturable)


@torch.no_grad()
def masked_step(opt: torch.optim.Optimizer, mask: Tensor, step) -> None:
    """``step()`` (one step of ``opt``) kept where ``mask`` (0-d, 1.0 or 0.0, on the parameters' device)
    is 1; where it is 0, every parameter and optimizer-state tensor (Adam's moments and step count) gets
    its value from before the step back, bit for bit, and the mask is never read on the host. State that
    did not exist yet comes back as zeros (step 0, zero moments), which Adam and RMSprop treat as fresh."""
    params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]  # what step() touches
    params_before = [p.clone() for p in params]
    state_before = [{k: v.clone() for k, v in opt.state.get(p, {}).items() if torch.is_tensor(v)} for p in params]
    step()
    keep = mask.bool()
    for p, p_old, s_old in zip(params, params_before, state_before):
        p.copy_(torch.where(keep, p, p_old))
        for k, v in opt.state.get(p, {}).items():
            if torch.is_tensor(v):
                v.copy_(torch.where(keep.to(v.device), v, s_old[k] if k in s_old else torch.zeros_like(v)))


class StepHooks(Protocol):
    """What a system calls back after each generator step; the training around it implements it
    (``ganexp.training.RunHooks``: logging, sample grids, evaluation, checkpoints and stop signals, for each run
    folder the system trains)."""

    def after_step(self, system: "GANSystem") -> None: ...


@dataclass
class SystemContext:
    """What every system gets from the run: the model family, the shared loss, the optimizer
    settings, the data and the schedule. ``batcher`` is None when a system is only loaded to generate
    images (latent tools, FID of a checkpoint)."""

    model: DictConfig
    loss: AdversarialLoss
    optim: dict
    z_dim: int
    latent: str = "uniform"
    batch_size: int = 64
    resolution: int = 28
    steps_per_epoch: float = 1.0  # generator steps per epoch; a fraction on small sets with n_critic > 1
    batcher: TensorBatcher | None = None
    compile: str = "none"  # trainer.compile (captured.py)
    ema: AverageSettings = AverageSettings()  # the generator's weight average (average.py)


class GANSystem(L.LightningModule):
    """Base class: the generic loop (chunks of ``train_step``), running log means and divergence."""

    #: log keys that are counts per logging interval (summed, not averaged)
    summed_keys: tuple[str, ...] = ()
    #: why trainer.compile leaves this system's steps eager (None: it captures them, ``capture_steps``)
    eager_reason: str | None = "this system does not define which pieces to compile"

    def __init__(self, ctx: SystemContext):
        super().__init__()
        self.automatic_optimization = False
        self.ctx, self.loss, self.batcher = ctx, ctx.loss, ctx.batcher
        self.hooks: StepHooks | None = None  # set by the training around it (ganexp/training.py); None: no call back
        self.z_dim, self.latent, self.batch_size = ctx.z_dim, ctx.latent, ctx.batch_size
        self.players = nn.ModuleDict()
        self.step_count = 0  # generator steps done
        self._acc: dict[str, Tensor] = {}
        self._acc_n = 0
        self._t_last = time.perf_counter()
        self.train_s = 0.0  # seconds inside train_step calls in this process (no evaluation, grids or
        # checkpoints); a run's earlier processes' seconds stay with its folder (ganexp/runfolder.py, last.ckpt)
        self.capture = Capture("none")
        self.capture_steps(self.capture)
        self.g_ema: GeneratorAverage | None = None  # attach_average(), once the players exist

    # --- what a system defines -------------------------------------------------------------------
    def build_optimizers(self) -> list[torch.optim.Optimizer]:  # pragma: no cover - abstract
        raise NotImplementedError

    def train_step(self, opts: list) -> dict[str, Tensor]:  # pragma: no cover - abstract
        """One generator step (its critic steps first); device tensors for logging."""
        raise NotImplementedError

    def sample_images(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Images at the dataset's resolution for codes z (B, z_dim), players in eval mode."""
        raise NotImplementedError

    def capture_steps(self, capture: Capture) -> None:
        """Take the step's pieces from ``capture`` (trainer.compile); systems with ``eager_reason`` have none."""

    def averaged_generators(self) -> list[nn.Module]:
        """Every generator network G_ema averages, in a fixed order (PS-GAN: each stage's K)."""
        return [self.players["G"]]

    def trained_generators(self) -> list[int]:
        """Which of ``averaged_generators`` this step trained (PS-GAN: the current stage's)."""
        return list(range(len(self.averaged_generators())))

    def extra_state(self) -> dict:
        """State beyond the players' and optimizers' (the loss's, a system's own); plain types/tensors."""
        return {"loss": self.loss.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.loss.load_state_dict(state.get("loss", {}))

    def frozen(self, step: int) -> str | None:
        """Why training has stopped moving at generator step ``step`` (one sentence), or None; asked at log steps."""
        return None

    # --- the loop ----------------------------------------------------------------------------------
    def configure_optimizers(self):
        return self.build_optimizers()

    def on_fit_start(self) -> None:
        self.batcher.to(self.device)
        # Without a grad scaler (32-true, bf16) backward/step need none of Lightning's wrapping:
        # call them directly and save its per-call overhead (~0.1 ms each, measured in the bench).
        self._direct = getattr(self.trainer.precision_plugin, "scaler", None) is None
        self.capture = Capture(self.ctx.compile)
        if self.eager_reason and self.capture.on:
            self.capture.eager(f"{type(self).__name__}'s training step", self.eager_reason)
            self.capture = Capture("none")
        self.capture_steps(self.capture)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # a chunk size (int); the real data already live on the device

    def sample_z(self, n: int) -> Tensor:
        return sample_latent(n, self.z_dim, self.latent, self.device)

    def training_step(self, n_steps, batch_idx):
        """``n_steps`` generator steps (a chunk)."""
        opts = self.trainer.optimizers if self._direct else self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        for _ in range(int(n_steps)):
            t = time.perf_counter()
            logs = self.train_step(opts)
            if self.g_ema is not None:
                self.g_ema.update(self.averaged_generators(), self.trained_generators(), self.step_count)
            self.step_count += 1
            self._accumulate(logs)
            self.train_s += time.perf_counter() - t
            if self.hooks is not None:
                self.hooks.after_step(self)

    def update(self, loss: Tensor, opt, mask: Tensor | None = None) -> None:
        """zero_grad, backward, step for one player's optimizer; with ``mask`` (0-d 0/1 on the device)
        the step is kept or undone by it (``masked_step``)."""
        opt.zero_grad(set_to_none=True)
        self._backward(loss)
        if mask is None:
            self.capture.step(opt)()
        else:
            masked_step(opt, mask, self.capture.step(opt))

    def _backward(self, loss: Tensor) -> None:
        if self._direct:
            loss.backward()
        else:
            self.manual_backward(loss)

    def _accumulate(self, logs: dict) -> None:
        """Running sums on the device; no host sync until ``pop_logs``."""
        for k, v in logs.items():
            v = v.detach() if isinstance(v, Tensor) else torch.tensor(float(v), device=self.device)
            self._acc[k] = self._acc[k] + v if k in self._acc else v.clone()
        self._acc_n += 1

    def pop_logs(self) -> dict:
        """Means since the last call (counts summed; one host sync), real images/s; raises Diverged on NaN/inf."""
        keys = list(self._acc)
        values = torch.stack([self._acc[k].float() for k in keys]).tolist() if keys else []
        out = {**self._means(keys, values), "images_per_s": self._pop_rate()}
        key = non_finite(out)
        if key is not None:
            raise Diverged(self.step_count, key)
        return out

    def _means(self, keys: list[str], sums: list[float]) -> dict:
        n = max(self._acc_n, 1)
        return {k: v if k in self.summed_keys else v / n for k, v in zip(keys, sums)}

    def _pop_rate(self) -> float:
        """Real images through the critic per second since the last call; starts the next interval."""
        now = time.perf_counter()
        rate = self._acc_n * self.batch_size * self.loss.n_critic / max(now - self._t_last, 1e-9)
        self._acc, self._acc_n, self._t_last = {}, 0, now
        return rate

    # --- checkpoints (ganexp/checkpoint.py writes and reads the file) ------------------------------
    def checkpoint_state(self) -> dict:
        """Everything needed to resume bit-exactly, plain types and tensors only."""
        return {
            "step": self.step_count,
            "system": self.state_dict(),
            "optimizers": [opt.state_dict() for opt in self.trainer.optimizers],
            "extra": self.extra_state(),
            "batcher": self.batcher.state_dict(),
            "acc": {k: v.detach().cpu() for k, v in self._acc.items()},  # partial log interval
            "acc_n": self._acc_n,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def restore(self, state: dict, rng: bool = True) -> None:
        """Put a checkpoint's training state back (the optimizers exist: called once training starts)."""
        self.load_state_dict(state["system"])
        for opt, saved in zip(self.trainer.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(saved)
        self.load_extra_state(state["extra"])
        self.batcher.load_state_dict(state["batcher"])
        self.step_count = int(state["step"])
        self._acc = {k: v.to(self.device) for k, v in state["acc"].items()}
        self._acc_n = int(state["acc_n"])
        if rng:
            torch.set_rng_state(state["rng_cpu"])
            if state["rng_cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng_cuda"])

    # --- the generator's weight average (average.py) ----------------------------------------------
    def attach_average(self) -> None:
        """G_ema from the generators as built (ema.enabled); its copies join the state dict. Called once the
        system's players exist (build_system, the fused array's build)."""
        if self.ctx.ema.enabled:
            self.g_ema = GeneratorAverage(self.averaged_generators(), self.ctx.ema, self.batch_size)

    def generators_scored(self) -> list[str]:
        """What evaluations score, as the suffix of their keys: "" (G) and/or "ema" (G_ema)."""
        if self.g_ema is None:
            return [""]
        return ["ema", ""] if self.ctx.ema.score == "both" else ["ema"]

    @torch.no_grad()
    def generate(self, z: Tensor, average: bool | None = None) -> Tensor:
        """Images for codes z (n, z_dim) at the dataset's resolution, in eval mode (running norm
        statistics), in batches of 256; from G_ema when it is on (``average`` None) or asked (True), else G."""
        use = self.g_ema is not None if average is None else average
        if use and self.g_ema is None:
            raise ValueError("this run keeps no generator average (ema.enabled=false); score G instead")
        was_training = self.players.training
        self.players.eval()
        with self.g_ema.swapped_into(self.averaged_generators()) if use else nullcontext():
            out = torch.cat([self.sample_images(c) for c in z.to(self.device, self.dtype).split(256)])
        self.players.train(was_training)
        return out

    def forward(self, z: Tensor) -> Tensor:
        return self.generate(z)


def non_finite(logs: dict) -> str | None:
    """The first key whose value is NaN or inf, else None."""
    return next((k for k, v in logs.items() if v != v or v in (float("inf"), float("-inf"))), None)


def discriminator_config(ctx: SystemContext) -> DictConfig:
    """The model family's D for this loss: its autoencoder form when the loss needs one (BEGAN)."""
    if not ctx.loss.autoencoder_d:
        return ctx.model.discriminator
    ae = ctx.model.get("autoencoder")
    if ae is None:
        raise ValueError(f"loss={ctx.loss.name} needs an autoencoder discriminator, which "
                         f"model={ctx.model.name} does not define; use model=dcgan")
    return ae


def build_net(cfg: DictConfig, **overrides) -> nn.Module:
    """Instantiate one network config, with some constructor arguments replaced (a stage's resolution)."""
    from hydra.utils import instantiate

    return instantiate(cfg, **overrides)


def to_resolution(images: Tensor, resolution: int) -> Tensor:
    """Images of a lower stage (B, C, r, r) upsampled (nearest) to the dataset's resolution, for grids and FID."""
    factor = resolution // images.shape[-1]
    return torch.nn.functional.interpolate(images, scale_factor=factor, mode="nearest") if factor > 1 else images
