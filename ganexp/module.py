"""GANModule: one generic adversarial step for every loss, with manual optimization.

Per generator step: ``loss.n_critic`` critic updates on fresh real batches, then one generator
update. Everything loss-specific (penalties, clipping, BEGAN's k_t) comes from the loss object.
Lightning drives the loop; each of its batches is a chunk of generator steps (``chunks``), so its
per-batch bookkeeping is paid once per chunk rather than once per step. Host syncs happen only at
logging steps.
"""
from __future__ import annotations

import time

import lightning as L
import torch
from torch import Tensor, nn

from .data import TensorBatcher
from .losses import AdversarialLoss


class Diverged(RuntimeError):
    """A loss or output became NaN/inf."""

    def __init__(self, step: int, key: str):
        super().__init__(f"non-finite {key} at step {step}")
        self.step, self.key = step, key


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


def make_optimizer(params, name: str, lr: float, betas=None) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas or (0.9, 0.999)))
    return torch.optim.RMSprop(params, lr=lr)


class GANModule(L.LightningModule):
    """Generic GAN training: ``training_step`` = one generator step (n_critic critic steps first)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss: AdversarialLoss, optim: dict,
                 batcher: TensorBatcher, z_dim: int, latent: str = "uniform", batch_size: int = 64,
                 hooks=None):
        super().__init__()
        self.automatic_optimization = False
        self.G, self.D, self.loss, self.optim_cfg = generator, discriminator, loss, dict(optim)
        self.batcher, self.z_dim, self.latent, self.batch_size = batcher, z_dim, latent, batch_size
        self.hooks = hooks  # RunHooks: logging, sampling, evaluation, checkpoints (train.py)
        self.step_count = 0  # generator steps done
        self._acc: dict[str, Tensor] = {}
        self._acc_n = 0
        self._t_last = time.perf_counter()

    def configure_optimizers(self):
        o = self.optim_cfg
        opt_g = make_optimizer(self.G.parameters(), o["name"], o["lr_g"], o.get("betas"))
        opt_d = make_optimizer(self.D.parameters(), o["name"], o["lr_d"], o.get("betas"))
        return [opt_g, opt_d]

    def on_fit_start(self) -> None:
        self.batcher.to(self.device)
        # Without a grad scaler (32-true, bf16) backward/step need none of Lightning's wrapping:
        # call them directly and save its per-call overhead (~0.1 ms each, measured in the bench).
        self._direct = getattr(self.trainer.precision_plugin, "scaler", None) is None

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # a chunk size (int); the real data already live on the device

    def sample_z(self, n: int) -> Tensor:
        return sample_latent(n, self.z_dim, self.latent, self.device)

    def training_step(self, n_steps, batch_idx):
        """``n_steps`` generator steps (a chunk)."""
        opt_g, opt_d = self.trainer.optimizers if self._direct else self.optimizers()
        for _ in range(int(n_steps)):
            logs: dict[str, Tensor] = {}
            self.D.requires_grad_(True)
            for _ in range(self.loss.n_critic):
                logs.update(self.critic_step(opt_d))
            self.D.requires_grad_(False)  # G step: no gradients into D's parameters
            logs.update(self.generator_step(opt_g))
            self.step_count += 1
            self._accumulate(logs)
            if self.hooks is not None:
                self.hooks.after_step(self)

    def _update(self, loss: Tensor, opt) -> None:
        opt.zero_grad(set_to_none=True)
        if self._direct:
            loss.backward()
        else:
            self.manual_backward(loss)
        opt.step()

    def critic_step(self, opt_d) -> dict:
        real = self.batcher.next()  # (B, C, H, W) in [-1, 1]
        with torch.no_grad():
            fake = self.G(self.sample_z(real.shape[0]))
        loss, logs = self.loss.discriminator_loss(self.D, real, fake)
        self._update(loss, opt_d)
        self.loss.after_d_step(self.D)
        return logs

    def generator_step(self, opt_g) -> dict:
        fake = self.G(self.sample_z(self.batch_size))
        loss, logs = self.loss.generator_loss(self.D, fake)
        self._update(loss, opt_g)
        self.loss.after_g_step(logs)
        return logs

    def _accumulate(self, logs: dict) -> None:
        """Running sums on the device; no host sync until ``pop_logs``."""
        for k, v in logs.items():
            v = v.detach()
            self._acc[k] = self._acc[k] + v if k in self._acc else v.clone()
        self._acc_n += 1

    def pop_logs(self) -> dict:
        """Means since the last call (one host sync), real images/s; raises Diverged on NaN/inf."""
        n = max(self._acc_n, 1)
        keys = list(self._acc)
        values = torch.stack([self._acc[k].float() for k in keys]).div_(n).tolist() if keys else []
        out = dict(zip(keys, values))
        now = time.perf_counter()
        out["images_per_s"] = self._acc_n * self.batch_size * self.loss.n_critic / max(now - self._t_last, 1e-9)
        self._acc, self._acc_n, self._t_last = {}, 0, now
        for k, v in out.items():
            if v != v or v in (float("inf"), float("-inf")):
                raise Diverged(self.step_count, k)
        return out

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        """Images for fixed codes, in eval mode (running norm statistics)."""
        was_training = self.G.training
        self.G.eval()
        out = torch.cat([self.G(c) for c in z.to(self.device).split(256)])
        self.G.train(was_training)
        return out
