"""Training throughput of ganexp against a minimal hand-written PyTorch loop, same process.

    python -m ganexp.bench train                                  # every loss; fused arrays of 1, 4, 16 seeds
    python -m ganexp.bench train --losses gan_ns --sizes 1,4 --steps 40 --log-every 10 --device cpu

Every row builds the same networks from the same config and seed and runs the same algorithm (n_critic
critic steps on fresh real batches from a device-resident tensor, then one G step), counting real images
through the critic per second after warm-up:

* plain: a minimal hand-written loop (the reference of every ratio);
* eager: ganexp's real run path (Lightning, hooks, logging every ``log_every`` steps); its figure is the
  median images/s of its log intervals after the first;
* captured: the same run path with ``trainer.compile=--compile`` (default: graphs on CUDA, inductor on
  the CPU; ``none`` leaves the row out); its first log interval, which holds the compilation, is left out;
* fused S: a fused seed array of S members (launch.fuse=seed), the members' images together, its steps
  compiled as ``--fused-compile`` says (default none); the ratio ``vs S runs`` compares it with S separate
  eager runs one after another (whose joint rate is eager's).

Peak memory is the CUDA allocator's peak per row (not measured on the CPU). The projected device-hours
are the full ``experiment=table31`` grid's real images through the critic (its schedule, n_critic per loss)
divided by each mode's mean rate over the losses measured here: a projection at this bench's resolution and
network (DCGAN at the dataset's resolution; CIFAR-10 and CelebA cost more per image), without evaluations.
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
from omegaconf import OmegaConf, open_dict

from ganexp.bench import user_errors
from ganexp.checks import CAPTURE_MODES
from ganexp.cliargs import Parser, count, counts, device, names, writable_file, written
from ganexp.config import CONF_DIR, compose, group_options
from ganexp.preflight import check_command
from ganexp.systems import make_optimizer, sample_latent
from ganexp.train import run

ALL = ["gan_mm", "gan_ns", "lsgan", "wgan", "wgan_gp", "dragan", "began", "hinge", "r3gan"]


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
            l_d, logs_d = loss.discriminator_loss(d, real, fake)
            opt_d.zero_grad(set_to_none=True)
            l_d.backward()
            opt_d.step()
            loss.after_d_step(d)
        d.requires_grad_(False)
        l_g, logs = loss.generator_loss(d, g(sample_latent(b, cfg.z_dim, cfg.latent, device)),
                                        real if loss.needs_real_for_g else None)
        opt_g.zero_grad(set_to_none=True)
        l_g.backward()
        opt_g.step()
        loss.after_g_step({**logs_d, **logs})

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
        return median_rate(Path(tmp))


def fused_run(cfg, size: int) -> float:
    """Real images/s of a fused array of ``size`` seeds, all members together."""
    from ganexp.fusedarray import member_configs, run_array

    with open_dict(cfg):
        cfg.launch.array_members = [f"seed={s}" for s in range(size)]
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / f"seed={s}" for s in range(size)]
        run_array(member_configs(cfg), dirs, [d.name for d in dirs])
        return size * median_rate(dirs[0])


def median_rate(run_dir: Path) -> float:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return statistics.median([r["images_per_s"] for r in rows if "images_per_s" in r][1:])


def measured(fn, device: torch.device) -> tuple[float, float | None]:
    """(fn's images/s, the CUDA allocator's peak GiB during it; None on the CPU)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    rate = fn()
    return rate, (torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def table31_images() -> dict[str, float]:
    """Real images through the critic of the whole experiment=table31 grid, per loss (its schedule and n_critic)."""
    grid = compose(["experiment=table31"])
    params = OmegaConf.load(CONF_DIR / "experiment" / "table31.yaml").hydra.sweeper.params  # compose drops hydra
    datasets, seeds = str(params.dataset).split(","), len(str(params.seed).split(","))
    z_dims = len(str(params.z_dim).split(","))
    steps = sum(grid.schedule[d] for d in datasets)
    return {loss: steps * z_dims * seeds * grid.batch_size * compose([f"loss={loss}"]).loss.n_critic
            for loss in str(params.loss).split(",")}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options, every one checked (names, counts, device, output file) before any work."""
    p = Parser(prog="python -m ganexp.bench train", description=__doc__.splitlines()[0])
    p.add_argument("--losses", type=names(group_options("loss"), "loss"), default=",".join(ALL),
                   help="comma-separated loss names")
    p.add_argument("--dataset", choices=group_options("dataset"), default="digits")
    p.add_argument("--batch-size", type=count(1), default=64)
    p.add_argument("--z-dim", type=count(1), default=100)
    p.add_argument("--steps", type=count(1), default=200, help="timed generator steps per row")
    p.add_argument("--log-every", type=count(1), default=50)
    p.add_argument("--sizes", type=counts(1, empty=True), default="1,4,16",
                   help="fused array sizes S (comma-separated; empty: none)")
    p.add_argument("--device", type=device, default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--compile", choices=("auto", *CAPTURE_MODES), default="auto",
                   help="trainer.compile of the captured row: auto (graphs on CUDA, inductor on the CPU) | "
                   "inductor | graphs | aot_eager | none (no captured row)")
    p.add_argument("--fused-compile", choices=CAPTURE_MODES, default="none", help="trainer.compile of the fused rows")
    p.add_argument("--out", type=writable_file(".json"), default=None, help="also write the figures as JSON here")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. dataset.root=PATH model.width=32")
    a = p.parse_args(argv)
    if a.steps < a.log_every:  # eager's figure is the median of the log intervals after the first
        p.error(f"--steps {a.steps} is fewer than --log-every {a.log_every}: the eager row needs two log intervals; "
                "raise --steps or lower --log-every")
    a.capture = a.compile if a.compile != "auto" else ("graphs" if a.device.type == "cuda" else "inductor")
    return a


def row_overrides(a: argparse.Namespace, loss: str) -> list[str]:
    """The eager row's overrides for ``loss``."""
    return [f"loss={loss}", f"dataset={a.dataset}", f"batch_size={a.batch_size}", f"z_dim={a.z_dim}",
            "metrics=none", "logger=none", f"trainer.accelerator={'gpu' if a.device.type == 'cuda' else 'cpu'}",
            f"trainer.max_steps={a.steps + a.log_every}", f"trainer.log_every_n_steps={a.log_every}",
            "trainer.sample_every_n_steps=1000000", "trainer.ckpt_every_n_steps=1000000",
            "trainer.ckpt_every_minutes=1000000", *a.overrides]


def check_rows(a: argparse.Namespace) -> None:
    """Every row's config checked as ``python -m ganexp.train`` checks one (ConfigError), before the first row
    trains: a bad override or a compile mode the device cannot run is one sentence, not a traceback an hour in."""
    for loss in a.losses:
        overrides = row_overrides(a, loss)
        check_command(overrides)
        if a.capture != "none":
            check_command([*overrides, f"trainer.compile={a.capture}"])
        if a.sizes:
            check_command([*overrides, f"trainer.compile={a.fused_compile}"])


def main(argv: list[str]) -> int:
    """Run every row and print the table; a bad argument or config is one sentence, exit 2."""
    a = parse_args(argv)
    with user_errors():
        check_rows(a)
        rates, peaks, modes = measure_rows(a)
        report(rates, peaks, a.losses)
    if a.out:
        with written(a.out):
            a.out.write_text(json.dumps({
                "device": torch.cuda.get_device_name(a.device) if a.device.type == "cuda" else "CPU",
                "batch_size": a.batch_size, "steps": a.steps, "captured": a.capture, "fused_compile": a.fused_compile,
                "images_per_s": {name: {m: rates[m][i] for m in modes} for i, name in enumerate(a.losses)},
                "peak_gib": peaks}, indent=1))
    return 0


def measure_rows(a: argparse.Namespace) -> tuple[dict, dict, list[str]]:
    """(images/s per mode and loss, peak GiB per mode, the modes), printing each loss's row when it is done."""
    device, sizes, capture = a.device, a.sizes, a.capture
    print(f"device={device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}, "
          f"{torch.get_num_threads()} threads) dataset={a.dataset} batch={a.batch_size} z_dim={a.z_dim} "
          f"steps={a.steps} captured={capture} fused={a.fused_compile}; images/s of real images through the "
          f"critic (x: ratio to plain)")
    modes = ["plain", "eager", *(["captured"] if capture != "none" else []), *(f"fused{s}" for s in sizes)]
    print(f"{'loss':8s} {'plain':>8s} {'eager':>14s} {'captured':>14s} " +
          " ".join(f"{f'fused S={s}':>16s} {'vs S runs':>9s}" for s in sizes))
    rates: dict[str, list[float]] = {m: [] for m in modes}
    peaks: dict[str, float | None] = {}
    for name in a.losses:
        overrides = row_overrides(a, name)
        row = {"plain": measured(lambda: plain_loop(compose(overrides), a.steps, a.log_every, device), device),
               "eager": measured(lambda: ganexp_run(compose(overrides), a.log_every), device)}
        if capture != "none":
            row["captured"] = measured(lambda: ganexp_run(compose([*overrides, f"trainer.compile={capture}"]),
                                                          a.log_every), device)
        fused_overrides = [*overrides, f"trainer.compile={a.fused_compile}"]
        for s in sizes:  # a run completes its config in place (trainer.steps_per_epoch): a fresh one per row
            row[f"fused{s}"] = measured(lambda: fused_run(compose(fused_overrides), s), device)
        for m, (rate, peak) in row.items():
            rates[m].append(rate)
            peaks[m] = max(peaks.get(m) or 0.0, peak) if peak is not None else None
        print_row(name, row, sizes)
    return rates, peaks, modes


def print_row(name: str, row: dict, sizes: list[int]) -> None:
    """One loss's images/s per mode and its ratios."""
    plain, eager = row["plain"][0], row["eager"][0]
    captured = f"{row['captured'][0]:8.0f} {row['captured'][0] / plain:4.2f}x" if "captured" in row else "not run"
    print(f"{name:8s} {plain:8.0f} {eager:8.0f} {eager / plain:4.2f}x {captured:>14s} " +
          " ".join(f"{row[f'fused{s}'][0]:10.0f} {row[f'fused{s}'][0] / plain:4.2f}x "
                   f"{row[f'fused{s}'][0] / eager:8.2f}x" for s in sizes), flush=True)


def report(rates: dict[str, list[float]], peaks: dict, losses: list[str]) -> None:
    """Peak memory per mode and the projected device-hours of the table31 grid."""
    images = table31_images()
    measured_losses = [x for x in losses if x in images]
    print("peak memory (GiB): " + ", ".join(f"{m} {'n/a on the CPU' if p is None else f'{p:.2f}'}"
                                            for m, p in peaks.items()))
    if not measured_losses:
        return
    total = sum(images.values())
    print(f"experiment=table31: {total / 1e9:.2f}G real images through the critic (504 runs); projected "
          f"device-hours at the mean rate over {','.join(measured_losses)}:")
    for m, r in rates.items():
        mean = statistics.mean(v for v, x in zip(r, losses) if x in images)
        print(f"  {m:8s} {total / mean / 3600:10.1f} h", flush=True)
