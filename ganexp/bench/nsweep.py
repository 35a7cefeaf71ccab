"""What the sample count does to FID and KID: one trained generator, n generated vs n real images, repeated draws.

    python -m ganexp.bench nsweep RUN/last.ckpt --ns 32,250,1000 --draws 3 --device cpu

Inception runs once over draws x max(ns) generated images and max(ns) real ones (a seeded subset of the run's
dataset split, cached like the evaluator's real features); draw d at count n scores the first n images of the
d-th block of generated images against the first n real ones (a seeded random subset of size n, fixed across
draws, as a profile's cached real statistics are). Prints mean ± sd over the draws of FID and KID (KID with
torch-fidelity's subsets: min(1000, n) rows, 100 subsets), and the mean of KID's within-draw subset std.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from ganexp.metrics import Evaluator, config, feature_stats, frechet_distance
from ganexp.metrics.extractor import POOL3
from ganexp.metrics.kid import kernel_inception_distance


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ganexp.bench nsweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a run's last.ckpt")
    p.add_argument("--ns", default="32,250,1000", help="sample counts, comma-separated")
    p.add_argument("--draws", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--split", default="train")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated draws' codes")
    p.add_argument("--weights", default=None)
    p.add_argument("--cache-dir", default=None)
    return p


def _scores(gen: torch.Tensor, real: torch.Tensor) -> tuple[float, float, float]:
    """(FID, KID mean, KID subset std) of gen (n, 2048) against real (n, 2048)."""
    fid = frechet_distance(*feature_stats(real), *feature_stats(gen))
    kid, kid_std = kernel_inception_distance(gen, real)
    return fid, kid, kid_std


def main(argv: list[str] | None = None) -> int:
    from ganexp.checkpoint import load_generator, sample_z
    from ganexp.data import build_dataset

    args = _parser().parse_args(argv)
    logging.getLogger("ganexp.metrics").setLevel(logging.ERROR)
    ns, device = sorted(int(n) for n in args.ns.split(",")), torch.device(args.device)
    generator, run_cfg = load_generator(args.checkpoint, device)
    dataset = build_dataset(run_cfg["dataset"]["name"], root=None)
    cfg = {"num_samples": ns[-1], "num_real": ns[-1], "real_split": args.split, "batch_size": args.batch_size,
           "names": ["fid", "kid"], "inception_weights": args.weights, "cache_dir": args.cache_dir}
    ev = Evaluator({k: v for k, v in cfg.items() if v is not None}, dataset)
    t0 = time.perf_counter()
    real = ev.real_features("inception", device).double()  # (max n, 2048), seeded subset of the split
    g = torch.Generator(device=device).manual_seed(args.seed)
    with torch.no_grad():
        gen = ev.features.from_sampler(lambda m: generator(sample_z(run_cfg, m, device, g)), args.draws * ns[-1],
                                       device, args.batch_size)[POOL3].double()
    t_feat = time.perf_counter() - t0
    print(f"{args.checkpoint}: {dataset.name}/{args.split}, {args.draws} draws, Inception on {len(gen)} generated "
          f"+ {len(real)} real images in {t_feat:.0f} s")
    print(f"{'n':>6} {'FID mean ± sd':>20} {'KID mean ± sd':>22} {'KID subset std':>15}")
    for n in ns:
        rows = np.array([_scores(gen[d * ns[-1]: d * ns[-1] + n], real[:n]) for d in range(args.draws)])
        fid, kid, within = rows[:, 0], rows[:, 1], rows[:, 2]
        print(f"{n:>6} {fid.mean():>11.2f} ± {fid.std(ddof=1):<6.2f} {kid.mean():>11.5f} ± {kid.std(ddof=1):<8.5f}"
              f" {within.mean():>15.5f}")
    print(f"(KID: {config.DEFAULTS['kid_subsets']} subsets of min({config.DEFAULTS['kid_subset_size']}, n) rows; "
          f"sd over draws with ddof=1; total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
