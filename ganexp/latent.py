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
from .cliargs import Parser, count, existing, writable_file
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


def _indices(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str]) -> int:
    p = Parser(prog="python -m ganexp.latent", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["interpolate", "arithmetic"])
    p.add_argument("run", type=existing, help="a run folder or its last.ckpt")
    p.add_argument("--steps", type=count(2, 256), default=10, help="images per interpolation row")
    p.add_argument("--pairs", type=count(1, 256), default=4, help="interpolation rows")
    p.add_argument("--seed", type=count(0, 2**32 - 1), default=0)
    p.add_argument("--a", default="0")
    p.add_argument("--b", default="1")
    p.add_argument("--c", default="2")
    p.add_argument("--out", type=writable_file(".png"), default=None, help="PNG path (default: RUN/latent_<mode>.png)")
    args = p.parse_args(argv)
    path = args.run
    ckpt = path / "last.ckpt" if path.is_dir() else path
    try:
        g, cfg = load_generator(ckpt)
        if args.mode == "interpolate":
            images, nrow = interpolate(g, cfg, args.steps, args.pairs, args.seed), args.steps
        else:
            idx = [_indices(args.a), _indices(args.b), _indices(args.c)]
            n = len(eval_codes(cfg))
            if not all(idx) or any(i < 0 or i >= n for group in idx for i in group):
                raise ValueError(f"--a/--b/--c take comma-separated positions 0..{n - 1} in samples/final.png")
            images, nrow = arithmetic(g, cfg, *idx), 4
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or ckpt.parent / f"latent_{args.mode}.png"
    save_grid(images, out, nrow=nrow)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
