"""Training throughput of ganexp against a minimal hand-written PyTorch loop, same process.

Both sides build the same networks from the same config and seed, run the same algorithm
(n_critic critic steps on fresh real batches from a device-resident tensor, then one G step) and
count real images through the critic per second, after warm-up. ganexp's side is the real run path
(Lightning, hooks, logging every ``log_every`` steps); its figure is the median images/s of its log
intervals after the first.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from hydra.utils import instantiate

from ganexp.config import compose
from ganexp.systems import make_optimizer, sample_latent
from ganexp.train import run

ALL = ["gan_mm", "gan_ns", "lsgan", "wgan", "wgan_gp", "dragan", "began", "hinge"]


def plain_loop(cfg, steps: int, warmup: int, device: torch.device) -> float:
    """Real images/s of the reference loop."""
    torch.manual_seed(cfg.seed)
    g, d = instantiate(cfg.model.generator).to(device), instantiate(cfg.model.discriminator).to(device)
    loss = instantiate(cfg.loss)
    o = cfg.optim
    opt_g, opt_d = make_optimizer(g.parameters(), o.name, o.lr_g, o.betas), make_optimizer(d.parameters(), o.name, o.lr_d, o.betas)
    images = instantiate(cfg.dataset).images("train").to(device)
    b, n = cfg.batch_size, images.shape[0]

    def step():
        d.requires_grad_(True)
        for _ in range(loss.n_critic):
            real = images[torch.randint(0, n, (b,), device=device)].float().div_(127.5).sub_(1)
            with torch.no_grad():
                fake = g(sample_latent(b, cfg.z_dim, cfg.latent, device))
            l_d, _ = loss.discriminator_loss(d, real, fake)
            opt_d.zero_grad(set_to_none=True)
            l_d.backward()
            opt_d.step()
            loss.after_d_step(d)
        d.requires_grad_(False)
        l_g, logs = loss.generator_loss(d, g(sample_latent(b, cfg.z_dim, cfg.latent, device)))
        opt_g.zero_grad(set_to_none=True)
        l_g.backward()
        opt_g.step()
        loss.after_g_step(logs)

    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * b * loss.n_critic / (time.perf_counter() - t0)


def ganexp_run(cfg, log_every: int) -> float:
    """Real images/s of ganexp's run path: median over log intervals after the first (warm-up)."""
    with tempfile.TemporaryDirectory() as tmp:
        run(cfg, Path(tmp), "bench")
        rows = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    rates = [r["images_per_s"] for r in rows if "images_per_s" in r][1:]
    return statistics.median(rates)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m ganexp.bench train", description=__doc__.splitlines()[0])
    p.add_argument("--losses", default=",".join(ALL), help="comma-separated loss names")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--z-dim", type=int, default=100)
    p.add_argument("--steps", type=int, default=200, help="timed generator steps per side")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. dataset.root=PATH model.width=32")
    a = p.parse_args(argv)
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    accel = "gpu" if device.type == "cuda" else "cpu"
    print(f"device={device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}) "
          f"dataset={a.dataset} batch={a.batch_size} z_dim={a.z_dim} steps={a.steps}")
    print(f"{'loss':10s} {'plain img/s':>12s} {'ganexp img/s':>13s} {'ratio':>6s}")
    for name in a.losses.split(","):
        cfg = compose([f"loss={name}", f"dataset={a.dataset}", f"batch_size={a.batch_size}", f"z_dim={a.z_dim}",
                       "metrics=none", "logger=none", f"trainer.accelerator={accel}",
                       f"trainer.max_steps={a.steps + a.log_every}", f"trainer.log_every_n_steps={a.log_every}",
                       "trainer.sample_every_n_steps=1000000", "trainer.ckpt_every_n_steps=1000000",
                       "trainer.ckpt_every_minutes=1000000", *a.overrides])
        plain = plain_loop(cfg, a.steps, a.log_every, device)
        ours = ganexp_run(cfg, a.log_every)
        print(f"{name:10s} {plain:12.0f} {ours:13.0f} {ours / plain:6.2f}", flush=True)
    return 0
