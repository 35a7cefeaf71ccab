"""Latent-space picture strips from any trained run (DCGAN paper, section 6).

    python -m ganexp.latent interpolate RUN_DIR_OR_CKPT [--steps 10] [--pairs 4] [--seed 0]
    python -m ganexp.latent arithmetic RUN_DIR_OR_CKPT --a 3,17 --b 5,9 --c 40,41,42

``interpolate`` writes rows walking between random code pairs, linearly (lerp) and on the sphere
(slerp). ``arithmetic`` averages a few codes per concept and decodes mean(a) - mean(b) + mean(c); the
indices are positions (row-major, 0..63) in the run's ``samples/final.png``, whose 64 fixed codes are
reproduced here, so you pick the concepts by looking at that grid.
"""
from __future__ import annotations

import sys

import torch

from .checkpoint import CheckpointError, load_generator
from .cliargs import Parser, count, counts, existing, writable_file, written
from .systems import eval_codes
from .runlog import save_grid


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(T, d) points on the segment z0 -> z1."""
    return z0[None] + t[:, None] * (z1 - z0)[None]


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(T, d) points on the great circle z0 -> z1 (Shoemake 1985; White 2016 for GAN latents)."""
    cos = (z0 @ z1 / (z0.norm() * z1.norm())).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:
        return lerp(z0, z1, t)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega)[:, None] * z0 + torch.sin(t * omega)[:, None] * z1) / so


def interpolate(g, cfg: dict, steps: int, pairs: int, seed: int) -> torch.Tensor:
    from .systems import sample_latent

    gen = torch.Generator().manual_seed(seed)
    ends = sample_latent(2 * pairs, cfg["z_dim"], cfg.get("latent", "uniform"), "cpu", gen)
    t = torch.linspace(0, 1, steps)
    rows = []
    for i in range(pairs):
        z0, z1 = ends[2 * i], ends[2 * i + 1]
        rows += [lerp(z0, z1, t), slerp(z0, z1, t)]
    with torch.no_grad():
        return g(torch.cat(rows))


def arithmetic(g, cfg: dict, a: list[int], b: list[int], c: list[int]) -> torch.Tensor:
    codes = eval_codes(cfg)
    means = [codes[idx].mean(0) for idx in (a, b, c)]
    result = means[0] - means[1] + means[2]
    with torch.no_grad():
        return g(torch.stack(means + [result]))


# Each mode's options and their defaults: an option of the other mode is refused, never silently ignored.
MODE_OPTIONS = {"interpolate": {"steps": 10, "pairs": 4, "seed": 0}, "arithmetic": {"a": [0], "b": [1], "c": [2]}}


def parse_args(argv: list[str]):
    """Command-line options; every one checked, each mode's defaults filled in."""
    p = Parser(prog="python -m ganexp.latent", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=list(MODE_OPTIONS))
    p.add_argument("run", type=existing, help="a run folder or its last.ckpt")
    p.add_argument("--steps", type=count(2, 256), default=None, help="interpolate: images per row (default 10)")
    p.add_argument("--pairs", type=count(1, 256), default=None, help="interpolate: rows (default 4)")
    p.add_argument("--seed", type=count(0, 2**32 - 1), default=None, help="interpolate: seed of the codes (default 0)")
    for name, default in MODE_OPTIONS["arithmetic"].items():
        p.add_argument(f"--{name}", type=counts(0, meaning="positions in samples/final.png"), default=None,
                       help=f"arithmetic: comma-separated positions in samples/final.png (default {default[0]})")
    p.add_argument("--out", type=writable_file(".png"), default=None, help="PNG path (default: RUN/latent_<mode>.png)")
    args = p.parse_args(argv)
    for mode, options in MODE_OPTIONS.items():
        for name, default in options.items():
            if getattr(args, name) is None:
                setattr(args, name, default)
            elif mode != args.mode:
                own = ", ".join(f"--{o}" for o in MODE_OPTIONS[args.mode])
                p.error(f"--{name} is an option of {mode}, not of {args.mode}; {args.mode} takes {own} and --out")
    return args


def images_of(args, ckpt) -> tuple[torch.Tensor, int]:
    """(the strip's images, images per row) of ``args.mode``; CheckpointError or ValueError for bad input."""
    g, cfg = load_generator(ckpt)
    if args.mode == "interpolate":
        return interpolate(g, cfg, args.steps, args.pairs, args.seed), args.steps
    idx, n = [args.a, args.b, args.c], len(eval_codes(cfg))
    if any(i >= n for group in idx for i in group):
        raise ValueError(f"--a/--b/--c take comma-separated positions 0..{n - 1} in samples/final.png")
    return arithmetic(g, cfg, *idx), 4


def main(argv: list[str]) -> int:
    """Write the chosen strip (default RUN/latent_<mode>.png); a bad argument or run is one sentence, exit 2."""
    args = parse_args(argv)
    ckpt = args.run / "last.ckpt" if args.run.is_dir() else args.run
    if not ckpt.is_file():
        print(f"error: {args.run} holds no last.ckpt; give a run folder or its last.ckpt",
              file=sys.stderr)
        return 2
    try:
        images, nrow = images_of(args, ckpt)
    except CheckpointError as err:  # checkpoint.load's reason, worded for this command
        print(f"error: {ckpt} is not a ganexp checkpoint ({err.reason}); give a run folder or its last.ckpt",
              file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or ckpt.parent / f"latent_{args.mode}.png"
    with written(out):
        save_grid(images, out, nrow=nrow)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
