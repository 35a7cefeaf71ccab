"""Data-path throughput: decode-and-cache images/s (every core vs one) and images/s fed to the training
device by the streamed path vs the device-resident one, on a folder of synthetic CelebA-sized JPEGs
(178x218) that the bench writes itself (kept in ``--folder`` for the next time).

Both feeding paths run in this process on the same cached array, batch size and seed, so their ratio
is measured, not assumed. The streamed figure is with the cache in the page cache (a second epoch on a
machine with enough RAM); the first epoch after a reboot reads the disk.
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ganexp.bench import user_errors
from ganexp.cliargs import Parser, count, device, writable_file, writable_folder, written
from ganexp.data import FolderSet, StreamBatcher, TensorBatcher, decoded


BENCH_IMAGE = re.compile(r"\d{6}\.jpg")  # the names write_jpegs gives: the only files the bench ever removes


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options, every one checked before any work; ``folder`` resolved and found to hold nothing
    but the bench's own images."""
    p = Parser(prog="python -m ganexp.bench data", description=__doc__.split("\n")[0])
    p.add_argument("--images", type=count(1, 999_999), default=20_000, help="synthetic 178x218 JPEGs (default 20000)")
    p.add_argument("--folder", type=writable_folder, default=None,
                   help="where they are written and reused; it must hold nothing else (default: "
                        "<cache>/bench/faces-<images>)")
    p.add_argument("--resolution", type=int, default=64, choices=(64, 128))
    p.add_argument("--single-core-images", type=count(1), default=None,
                   help="images decoded by the one-core run (default: all; fewer for a quicker bench)")
    p.add_argument("--batch-size", type=count(1), default=64)
    p.add_argument("--batches", type=count(1), default=300, help="batches fed per path (after 20 of warm-up)")
    p.add_argument("--device", type=device, default="auto", help="auto | cpu | cuda[:N] (default: cuda if available)")
    p.add_argument("--out", type=writable_file(".json"), default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if args.folder is None:
        from ganexp.metrics.config import default_cache_dir

        args.folder = default_cache_dir() / "bench" / f"faces-{args.images}"
    others = foreign(args.folder)
    if others:
        p.error(f"{args.folder} holds files the bench did not write ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}); name a new or empty folder for --folder")
    return args


def foreign(folder: Path) -> list[str]:
    """Names in ``folder`` that are not the bench's own images (sorted; none for a folder not made yet)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not (BENCH_IMAGE.fullmatch(p.name) and p.is_file()))


def write_jpegs(folder: Path, n: int) -> float:
    """n JPEGs 000001.jpg... (178x218, quality 90) unless already there; seconds spent. Removes only its own
    images (a count other than n: another --images, or a write cut short), never anything else in ``folder``."""
    own = [p for p in folder.glob("*.jpg") if BENCH_IMAGE.fullmatch(p.name)] if folder.is_dir() else []
    if len(own) == n:
        return 0.0
    for p in own:
        p.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    spans = [(lo, min(lo + 500, n)) for lo in range(0, n, 500)]
    with ProcessPoolExecutor(decoded.default_workers()) as pool:
        list(pool.map(_write_span, [folder] * len(spans), spans))
    return time.perf_counter() - t


def _write_span(folder: Path, span: tuple[int, int]) -> None:
    """Smooth colour fields plus grain, not pure noise: a photo's file size and decode time, roughly."""
    from PIL import Image

    for i in range(*span):
        rng = np.random.default_rng(i)
        coarse = Image.fromarray(rng.integers(0, 256, (11, 9, 3), dtype=np.uint8)).resize((178, 218), Image.BICUBIC)
        grain = rng.normal(0, 8, (218, 178, 3))
        arr = np.clip(np.asarray(coarse, np.float64) + grain, 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i + 1:06d}.jpg", quality=90)


def decode_rate(folder: Path, resolution: int, workers: int, limit: int | None,
                work: Path) -> tuple[float, torch.Tensor, int]:
    """(images/s of decode-and-cache with ``workers`` processes into a fresh cache under ``work``, the
    cached tensor, images decoded)."""
    src = folder
    if limit is not None and limit < len(list(folder.glob("*.jpg"))):
        src = Path(tempfile.mkdtemp(prefix="subset-", dir=work))
        for p in sorted(folder.glob("*.jpg"))[:limit]:
            (src / p.name).symlink_to(p)
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    ds = FolderSet("bench", resolution, 3, folder=str(src), crop=178, cache_dir=str(cache), decode_workers=workers)
    t = time.perf_counter()
    x = ds.images("train")
    dt = time.perf_counter() - t
    return x.shape[0] / dt, x, x.shape[0]


def feed_rate(batcher, batches: int, device: torch.device) -> float:
    """Images/s that ``batcher`` delivers as float batches on ``device`` (20 batches of warm-up)."""
    for _ in range(20):
        batcher.next()
    sync(device)
    t = time.perf_counter()
    total = torch.zeros((), device=device)
    for _ in range(batches):
        total += batcher.next()[0, 0, 0, 0]  # touch each batch on the device, no host sync
    sync(device)
    return batches * batcher.batch_size / (time.perf_counter() - t)


def feed_rates(images: torch.Tensor, batch_size: int, batches: int, device: torch.device) -> tuple[float, float]:
    """(resident, streamed) images/s on the same array, batch size and seed."""
    resident = TensorBatcher(images, batch_size, seed=0).to(device)
    resident_rate = feed_rate(resident, batches, device)
    del resident
    streamed = StreamBatcher(images, batch_size, seed=0).to(device)
    try:
        return resident_rate, feed_rate(streamed, batches, device)
    finally:
        streamed.close()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    """Write (or reuse) the images, measure, print the table; a bad argument is one sentence, exit 2."""
    args = parse_args(argv or [])
    folder = args.folder
    with user_errors():
        made = write_jpegs(folder, args.images)
        workers = decoded.default_workers()
        with tempfile.TemporaryDirectory(prefix="ganexp-bench-data-") as work:
            all_rate, images, _ = decode_rate(folder, args.resolution, workers, None, Path(work))
            one_rate, _, n_one = decode_rate(folder, args.resolution, 1, args.single_core_images, Path(work))
            resident_rate, streamed_rate = feed_rates(images, args.batch_size, args.batches, args.device)
            del images
    res = {"images": args.images, "resolution": args.resolution, "cores": workers, "device": str(args.device),
           "jpeg_write_s": round(made, 1), "decode_all_cores_images_per_s": round(all_rate, 1),
           "decode_one_core_images_per_s": round(one_rate, 1), "decode_one_core_images": n_one,
           "decode_speedup": round(all_rate / one_rate, 2), "fed_resident_images_per_s": round(resident_rate, 1),
           "fed_streamed_images_per_s": round(streamed_rate, 1),
           "streamed_over_resident": round(streamed_rate / resident_rate, 3), "batch_size": args.batch_size}
    print_table(res)
    if args.out:
        with written(args.out):
            args.out.write_text(json.dumps(res, indent=1))
    return 0


def print_table(r: dict) -> None:
    print(f"data path, {r['images']:,} synthetic 178x218 JPEGs -> {r['resolution']}x{r['resolution']}, "
          f"{r['cores']} cores, device {r['device']}, batch {r['batch_size']}")
    print("| measure | images/s | ratio |\n|---|---|---|")
    print(f"| decode + cache, {r['cores']} processes | {r['decode_all_cores_images_per_s']:,.0f} | "
          f"{r['decode_speedup']:.2f}x one core |")
    print(f"| decode + cache, one core ({r['decode_one_core_images']:,} images) | "
          f"{r['decode_one_core_images_per_s']:,.0f} | 1 |")
    print(f"| fed to {r['device']}: device-resident | {r['fed_resident_images_per_s']:,.0f} | 1 |")
    print(f"| fed to {r['device']}: streamed from the cache | {r['fed_streamed_images_per_s']:,.0f} | "
          f"{r['streamed_over_resident']:.3f}x resident |")
