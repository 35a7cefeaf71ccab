"""``python -m ganexp``: the entry points, one line each."""
from __future__ import annotations

import sys

ENTRY_POINTS = [
    ("python -m ganexp.train", "train one run, or a grid with -m (Hydra overrides: loss=lsgan z_dim=1,10 ...)"),
    ("python -m ganexp.results SWEEP_DIR", "a sweep's report: the grid's own, or its paper's (tables, figures)"),
    ("python -m ganexp.metrics", "FID and the other metrics of two image folders or a checkpoint; setup"),
    ("python -m ganexp.latent", "latent interpolation and vector arithmetic strips of a trained run"),
    ("python -m ganexp.bench", "benchmarks: train, fid, data (ratios against a reference in the same command)"),
]


def main() -> int:
    """Print the entry points; each answers ``--help``."""
    width = max(len(cmd) for cmd, _ in ENTRY_POINTS)
    print("ganexp: compare GAN variants over a grid. Entry points (each takes --help):")
    for cmd, what in ENTRY_POINTS:
        print(f"  {cmd:<{width}}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
