"""Benchmark: ganexp's FID and KID pipeline next to torch_fidelity.calculate_metrics on the same generator and data.

    python -m ganexp.bench fid                       # GPU defaults: 10k generated, 10k real
    python -m ganexp.bench fid --num-samples 64 --device cpu

Prints Inception feature extraction (images/s) and end-to-end FID seconds (generator -> features -> FID)
against cached real statistics and including them, for ganexp's exact mode, its fast mode
(metrics.mode=fast: TF32, channels-last, GPU batches >= 500) and torch-fidelity, with each ganexp mode's
speedup over torch-fidelity, and the three FID values with their relative differences to torch-fidelity's
(exact agrees to float noise: same z stream, same uint8 conversion, same network; fast must stay within 1e-3).
KID (on by default beside FID) is in every end-to-end time; its own seconds (the metric on the features)
and values are printed too (torch-fidelity computes KID in float32: ~1e-5 relative from ganexp's float64).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganexp.bench import user_errors
from ganexp.checks import TO_UINT8_MODES
from ganexp.cliargs import Parser, count, device, existing, writable_file, written
from ganexp.errors import ConfigError
from ganexp.metrics import Evaluator, config, metric_key, resolve_weights, to_uint8
from ganexp.metrics.extractor import InceptionFeatures, full_fp32
from ganexp.metrics.imagesource import load_images
from ganexp.metrics.weights import expected_keys


def fits(resolution: int) -> bool:
    """Whether ``RandomDCGAN`` makes this size: 28 (7 doubled twice) or a multiple of 8 (doubled thrice)."""
    return resolution == 28 or (resolution >= 8 and resolution % 8 == 0)


class RandomDCGAN(torch.nn.Module):
    """Untrained DCGAN-style generator z (n, z_dim) -> tanh images (n, C, R, R), R = 28 or a multiple of 8."""

    def __init__(self, z_dim: int = 100, channels: int = 3, resolution: int = 32, width: int = 64):
        super().__init__()
        if not fits(resolution):  # real images of --data decide it too: a user's input
            raise ConfigError(f"the images are {resolution}x{resolution}; the bench's generator makes 28x28 or a "
                              "multiple of 8: give images of such a size")
        ups = 2 if resolution % 8 else 3
        s0 = resolution // 2**ups
        widths = [width * 2 ** (ups - i) for i in range(ups + 1)]
        layers: list[torch.nn.Module] = [torch.nn.ConvTranspose2d(z_dim, widths[0], s0),
                                         torch.nn.BatchNorm2d(widths[0]), torch.nn.ReLU()]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [torch.nn.ConvTranspose2d(a, b, 4, 2, 1), torch.nn.BatchNorm2d(b), torch.nn.ReLU()]
        layers += [torch.nn.Conv2d(widths[-1], channels, 3, 1, 1), torch.nn.Tanh()]
        self.net = torch.nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Uint8Generator(torch.nn.Module):
    """What torch-fidelity expects from a generative model: uint8 RGB output (same conversion as ganexp)."""

    def __init__(self, g: torch.nn.Module, mode: str):
        super().__init__()
        self.g, self.mode = g, mode

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = to_uint8(self.g(z), self.mode)
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class ArrayDataset:
    """ganexp's dataset interface over a uint8 tensor."""

    def __init__(self, images: torch.Tensor, name: str):
        self.x, self.name, self.preprocessing = images, name, "bench"
        self.channels, self.resolution = images.shape[1], images.shape[2]

    def images(self, split: str) -> torch.Tensor:
        return self.x


class RGBDataset(torch.utils.data.Dataset):
    """torch-fidelity's input: uint8 (3, H, W) items."""

    def __init__(self, images: torch.Tensor):
        self.x = images

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i].expand(3, -1, -1)


def random_inception_weights(path: Path, seed: int) -> Path:
    """A seeded random Inception-v3 in torch-fidelity's state-dict layout at ``path``: torchvision's architecture
    holds the same tensors under the same names; convolutions He-initialised (activations keep their scale through
    the 94 layers), batch norm at its identity, fc zeroed as in the pool3-only file. Features cost what the real
    network's cost; their values mean nothing."""
    import torchvision

    gen = torch.Generator().manual_seed(seed)
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    state = net.state_dict()
    out = {k: torch.zeros_like(state[k]) if k.startswith("fc.") else state[k].clone() for k in expected_keys()}
    for k, v in out.items():
        if k.endswith("conv.weight"):  # (out, in, kh, kw)
            v.normal_(0.0, (2.0 / v[0].numel()) ** 0.5, generator=gen)
    torch.save(out, path)
    return path


def _z_sampler(g: torch.nn.Module, device: torch.device, seed: int) -> Callable[[int], torch.Tensor]:
    """sample_fn drawing z exactly as torch-fidelity does (numpy RandomState(seed), 'normal' noise)."""
    from torch_fidelity.noise import random_normal

    rng = np.random.RandomState(seed)
    return lambda n: g(random_normal(rng, (n, g.z_dim)).to(device))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable, device: torch.device):
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t0


def resolution(text: str) -> int:
    """An argument type: a resolution ``RandomDCGAN`` can make."""
    value = count(8)(text)
    if not fits(value):
        raise argparse.ArgumentTypeError(f"must be 28 or a multiple of 8, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m ganexp.bench fid", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-samples", type=count(2), default=10000, help="generated images (default 10000)")
    p.add_argument("--num-real", type=count(2), default=None, help="real images (default: num-samples)")
    p.add_argument("--device", type=device, default="auto", help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--batch-size", type=count(1), default=200)
    p.add_argument("--resolution", type=resolution, default=32, help="28 or a multiple of 8 (default 32)")
    p.add_argument("--channels", type=int, default=3, choices=(1, 3))
    p.add_argument("--data", type=existing, default=None,
                   help="real images (.npz or folder); default: seeded random images")
    p.add_argument("--weights", type=existing, default=None,
                   help="Inception weights (default: resolved from the cache)")
    p.add_argument("--to-uint8", default="round", choices=TO_UINT8_MODES)
    p.add_argument("--tf32", action="store_true", help="allow TF32 convolutions in ganexp's extractor")
    p.add_argument("--skip-torch-fidelity", action="store_true")
    p.add_argument("--seed", type=count(0, 2**32 - 1), default=0)
    p.add_argument("--random-weights", action="store_true",
                   help="seeded random Inception weights (--seed) instead of the real ones: a speed figure needs no "
                        "trained network, and the 96 MB file cannot travel everywhere; FID values are then meaningless")
    p.add_argument("--out", type=writable_file(".json"), default=None, help="also write the figures as JSON here")
    return p


def _real_images(args, n: int) -> torch.Tensor:
    if args.data:
        x = load_images(args.data)
        return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))[:n]]
    g = torch.Generator().manual_seed(args.seed)
    return torch.randint(0, 256, (n, args.channels, args.resolution, args.resolution), dtype=torch.uint8, generator=g)


def _bench_ganexp(args, g, ds, weights_path: Path, device, cache_dir: Path, mode: str) -> dict:
    cfg = {"num_samples": args.num_samples, "num_real": len(ds.x), "batch_size": args.batch_size,
           "inception_weights": str(weights_path), "cache_dir": str(cache_dir), "real_split": "train",
           "to_uint8": args.to_uint8, "tf32": args.tf32, "mode": mode}
    ev = Evaluator(cfg, ds)
    # The generator also runs without TF32 (as inside torch-fidelity below), so both score the same images.
    with full_fp32(not args.tf32):
        cold, t_cold = _timed(lambda: ev.evaluate(_z_sampler(g, device, args.seed), device), device)
        warm, t_warm = _timed(lambda: ev.evaluate(_z_sampler(g, device, args.seed), device), device)
        fresh = Evaluator(cfg, ds)  # a new job: cached stats from disk, extractor built again
        _, t_fresh = _timed(lambda: fresh.evaluate(_z_sampler(g, device, args.seed), device), device)
    key, kid = metric_key("fid", args.num_samples), metric_key("kid", args.num_samples)
    return {"fid": warm[key], "kid": warm[kid], "t_kid": ev.last_details["seconds_kid"], "t_cold": t_cold,
            "t_warm": t_warm, "t_fresh": t_fresh, "real": ev.real_features("inception")}


def _bench_torch_fidelity(args, g, ds, weights_path: Path, device, cache_root: Path) -> dict:
    import torch_fidelity

    wrapped = torch_fidelity.GenerativeModelModuleWrapper(Uint8Generator(g, args.to_uint8), g.z_dim, "normal", 0)
    kw = dict(input1=wrapped, input1_model_num_samples=args.num_samples, input2=RGBDataset(ds.x), fid=True, kid=True,
              kid_subset_size=min(config.DEFAULTS["kid_subset_size"], args.num_samples, len(ds.x)),
              feature_extractor_weights_path=str(weights_path), cuda=device.type == "cuda", batch_size=args.batch_size,
              rng_seed=args.seed, verbose=False, cache_root=str(cache_root), input2_cache_name="ganexp-bench-real")
    with full_fp32(not args.tf32):
        cold, t_cold = _timed(lambda: torch_fidelity.calculate_metrics(**kw), device)  # fills its cache of input2
        warm, t_warm = _timed(lambda: torch_fidelity.calculate_metrics(**kw), device)
    return {"fid": warm["frechet_inception_distance"], "fid_cold": cold["frechet_inception_distance"],
            "kid": warm["kernel_inception_distance_mean"], "t_cold": t_cold, "t_warm": t_warm}


def _torch_fidelity_kid_seconds(args, real: torch.Tensor) -> float:
    """torch-fidelity's KID alone on features of the benchmark's shapes (the real rows stand in for both sets:
    the cost does not depend on the values)."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    gen = real[torch.arange(args.num_samples) % len(real)]
    kw = dict(kid_subsets=config.DEFAULTS["kid_subsets"], kid_kernel="poly", kid_kernel_poly_degree=3,
              kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, verbose=False, rng_seed=2020,
              kid_subset_size=min(config.DEFAULTS["kid_subset_size"], len(gen), len(real)))
    return _timed(lambda: kid_features_to_metric(gen.float(), real.float(), **kw), torch.device("cpu"))[1]


def _our_extraction_rate(args, real: torch.Tensor, weights, device, mode: str) -> float:
    how = config.extractor_settings({"mode": mode, "tf32": args.tf32, "batch_size": args.batch_size}, device.type)
    ours = InceptionFeatures(weights, tf32=how["tf32"], channels_last=how["channels_last"]).to(device)
    ours.from_uint8(real[: how["batch_size"]], device, how["batch_size"])  # warm-up (cuDNN autotune, allocations)
    _, t = _timed(lambda: ours.from_uint8(real, device, how["batch_size"]), device)
    return len(real) / t


def _extraction_rate(args, real: torch.Tensor, weights, device) -> tuple[float, float, float | None]:
    exact, fast = (_our_extraction_rate(args, real, weights, device, m) for m in config.MODES)
    if args.skip_torch_fidelity:
        return exact, fast, None
    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

    cuda = device.type == "cuda"
    fe = create_feature_extractor("inception-v3-compat", ["2048"], cuda=cuda, verbose=False,
                                  feature_extractor_weights_path=str(weights.path))
    data = RGBDataset(real)
    with full_fp32(not args.tf32):
        get_featuresdict_from_dataset(RGBDataset(real[: args.batch_size]), fe, args.batch_size, cuda, False, False)
        _, t_tf = _timed(lambda: get_featuresdict_from_dataset(data, fe, args.batch_size, cuda, False, False), device)
    return exact, fast, len(real) / t_tf


def _row(label: str, exact: float, fast: float, theirs: float | None, fmt: str, higher_is_better: bool) -> str:
    """One line: both ganexp modes, torch-fidelity, and each mode's speedup over torch-fidelity."""
    cells = f"{label:<38}{exact:>12{fmt}}{fast:>12{fmt}}"
    if theirs is None:
        return cells + f"{'-':>16}{'-':>10}{'-':>10}"
    ratios = [(v / theirs if higher_is_better else theirs / v) for v in (exact, fast)]
    return cells + f"{theirs:>16{fmt}}" + "".join(f"{r:>9.2f}x" for r in ratios)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.getLogger("ganexp.metrics").setLevel(logging.ERROR)  # no "IS unavailable" lines in the table
    with tempfile.TemporaryDirectory(prefix="ganexp-bench-weights-") as tmp, user_errors():
        if args.random_weights:
            args.weights = str(random_inception_weights(Path(tmp) / "inception-random.pth", args.seed))
        return _run(args)


def _run(args) -> int:
    """The benchmark with resolved weights: prints its table (and writes --out)."""
    device = args.device
    num_real = args.num_real or args.num_samples
    weights = resolve_weights(args.weights, config.default_cache_dir())
    torch.manual_seed(args.seed)
    real = _real_images(args, num_real)
    g = RandomDCGAN(channels=real.shape[1], resolution=real.shape[2]).to(device).eval()
    ds = ArrayDataset(real, name=f"bench-{Path(args.data).name if args.data else 'random'}")

    rate_exact, rate_fast, rate_tf = _extraction_rate(args, real, weights, device)
    with tempfile.TemporaryDirectory(prefix="ganexp-bench-") as tmp:
        with torch.no_grad():
            exact, fast = (_bench_ganexp(args, g, ds, weights.path, device, Path(tmp) / f"ganexp-{m}", m)
                           for m in config.MODES)
            tf = None if args.skip_torch_fidelity else _bench_torch_fidelity(args, g, ds, weights.path, device,
                                                                             Path(tmp) / "tf")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    key = metric_key("fid", args.num_samples)
    fast_batch = config.extractor_settings({"mode": "fast", "tf32": True, "batch_size": args.batch_size},
                                           device.type)["batch_size"]
    print(f"FID benchmark on {device} ({name}), torch {torch.__version__}: {args.num_samples} generated, {num_real} "
          f"real {tuple(real.shape[1:])} images, batch {args.batch_size} (fast mode: {fast_batch}), weights "
          f"{'seeded random (speed only: FID values meaningless)' if args.random_weights else weights.kind}, TF32 "
          f"{'on' if args.tf32 else 'off'} in exact mode and torch-fidelity")
    print(f"{'':<38}{'exact':>12}{'fast':>12}{'torch-fidelity':>16}{'exact/tf':>10}{'fast/tf':>10}")
    print(_row("Inception features [images/s]", rate_exact, rate_fast, rate_tf, ".1f", True))
    print(_row(f"{key}, real stats cached [s]", exact["t_warm"], fast["t_warm"], tf and tf["t_warm"], ".2f", False))
    print(_row(f"{key}, including real stats [s]", exact["t_cold"], fast["t_cold"], tf and tf["t_cold"], ".2f",
               False))
    print(f"{'  (ganexp new job, stats from disk [s])':<38}{exact['t_fresh']:>12.2f}{fast['t_fresh']:>12.2f}")
    for k, name in ((key, "fid"), (metric_key("kid", args.num_samples), "kid")):
        print(f"{k + ' value':<38}{exact[name]:>12.6f}{fast[name]:>12.6f}"
              f"{tf[name] if tf else float('nan'):>16.6f}"
              + ("".join(f"{abs(v[name] - tf[name]) / abs(tf[name]):>10.1e}" for v in (exact, fast)) if tf else ""))
    t_kid_tf = None if args.skip_torch_fidelity else _torch_fidelity_kid_seconds(args, exact["real"])
    print(_row(f"{metric_key('kid', args.num_samples)} alone, on features [s]", exact["t_kid"], fast["t_kid"],
               t_kid_tf, ".3f", False))
    if args.out:
        figures = {"features_per_s": (rate_exact, rate_fast, rate_tf),
                   "fid_cached_s": (exact["t_warm"], fast["t_warm"], tf and tf["t_warm"]),
                   "fid_with_real_s": (exact["t_cold"], fast["t_cold"], tf and tf["t_cold"]),
                   "fid": (exact["fid"], fast["fid"], tf and tf["fid"])}
        shown = {k: dict(zip(("exact", "fast", "torch_fidelity"), v)) for k, v in figures.items()}
        with written(args.out):
            args.out.write_text(json.dumps({"device": name, "num_samples": args.num_samples,
                                            "random_weights": args.random_weights, **shown}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
