"""What the sample count does to FID and KID: one trained generator, n generated vs n real images, repeated draws.

    python -m ganexp.bench nsweep RUN/last.ckpt --ns 32,250,1000 --draws 3 --device cpu

Counts are done in increasing order and each row is printed when it is done: going from n to the next n'
extracts only the n' - n new real images and, per draw, the n' - n new generated ones. The real images are
a seeded random order of the run's dataset split (their first n are a random subset of size n, fixed across
draws, as a profile's cached real statistics are); draw d draws its codes from its own generator (seed + d).
Prints mean ± sd (ddof=1) over the draws of FID and KID (torch-fidelity's subsets: min(1000, n) rows, 100
subsets), and the mean of KID's within-draw subset std (0 at n <= 1000: every subset is the whole set).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np
import torch

from ganexp.bench import user_errors
from ganexp.cliargs import Parser, count, counts, device, existing, existing_folder, writable_folder
from ganexp.metrics import Evaluator, config, feature_stats, frechet_distance
from ganexp.metrics.extractor import POOL3
from ganexp.metrics.kid import kernel_inception_distance


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m ganexp.bench nsweep", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=existing, help="a run's last.ckpt")
    p.add_argument("--ns", type=counts(2), default="32,250,1000", help="sample counts, comma-separated (each >= 2)")
    p.add_argument("--draws", type=count(2), default=3, help="draws per count (>= 2: the sd needs two)")
    p.add_argument("--device", type=device, default="cpu", help="auto | cpu | cuda[:N] (default cpu)")
    p.add_argument("--batch-size", type=count(1), default=50)
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--seed", type=count(0, 2**32 - 1), default=0, help="seed of the real order and of draw 0's codes")
    p.add_argument("--weights", type=existing, default=None)
    p.add_argument("--cache-dir", type=writable_folder, default=None)
    p.add_argument("--data-root", type=existing_folder(), default=None,
                   help="the dataset's folder (default: the run's dataset.root)")
    return p


def _scores(gen: torch.Tensor, real: torch.Tensor) -> tuple[float, float, float]:
    """(FID, KID mean, KID subset std) of gen (n, 2048) against real (n, 2048)."""
    fid = frechet_distance(*feature_stats(real), *feature_stats(gen))
    kid, kid_std = kernel_inception_distance(gen, real)
    return fid, kid, kid_std


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and print its rows; a bad argument or input is one sentence, exit 2."""
    args = _parser().parse_args(argv)
    logging.getLogger("ganexp.metrics").setLevel(logging.ERROR)
    with user_errors():
        return _sweep(args)


def _sweep(args: argparse.Namespace) -> int:
    """The sweep of checked arguments (user errors raised as such)."""
    from ganexp.checkpoint import load_generator, sample_z
    from ganexp.data import build_dataset

    ns, device = sorted(set(args.ns)), args.device
    generator, run_cfg = load_generator(args.checkpoint, device)
    dataset = build_dataset(run_cfg["dataset"]["name"], root=args.data_root or run_cfg["dataset"].get("root"))
    images = dataset.images(args.split)
    if len(images) < ns[-1]:
        print(f"error: {dataset.name}/{args.split} has {len(images)} images, fewer than n = {ns[-1]}; give --ns "
              f"counts up to {len(images)}", file=sys.stderr)
        return 2
    cfg = {"num_samples": ns[-1], "batch_size": args.batch_size, "names": ["fid", "kid"],
           "inception_weights": args.weights and str(args.weights), "cache_dir": args.cache_dir and str(args.cache_dir)}
    ev = Evaluator({k: v for k, v in cfg.items() if v is not None}, dataset)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))
    gens = [torch.Generator(device=device).manual_seed(args.seed + d) for d in range(args.draws)]
    real, gen = torch.zeros(0, 2048, dtype=torch.float64), [torch.zeros(0, 2048, dtype=torch.float64)] * args.draws
    t0 = time.perf_counter()
    print(f"{args.checkpoint}: {dataset.name}/{args.split}, {args.draws} draws", flush=True)
    print(f"{'n':>6} {'FID mean ± sd':>20} {'KID mean ± sd':>22} {'KID subset std':>15} {'elapsed':>8}", flush=True)
    for n in ns:
        new = images[order[len(real):n]]
        real = torch.cat([real, ev.features.from_uint8(new, device, args.batch_size)[POOL3].double().cpu()])
        for d in range(args.draws):
            def sample(m, g=gens[d]):
                return generator(sample_z(run_cfg, m, device, g))
            with torch.no_grad():
                more = ev.features.from_sampler(sample, n - len(gen[d]), device, args.batch_size)[POOL3]
            gen[d] = torch.cat([gen[d], more.double().cpu()])
        rows = np.array([_scores(gen[d], real) for d in range(args.draws)])
        fid, kid, within = rows[:, 0], rows[:, 1], rows[:, 2]
        print(f"{n:>6} {fid.mean():>11.2f} ± {fid.std(ddof=1):<6.2f} {kid.mean():>11.5f} ± {kid.std(ddof=1):<8.5f}"
              f" {within.mean():>15.5f} {time.perf_counter() - t0:>7.0f}s", flush=True)
    print(f"(KID: {config.DEFAULTS['kid_subsets']} subsets of min({config.DEFAULTS['kid_subset_size']}, n) rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
