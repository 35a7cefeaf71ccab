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
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ganexp.data import FolderSet, StreamBatcher, TensorBatcher, decoded


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m ganexp.bench data", description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=20_000, help="synthetic 178x218 JPEGs (default 20000)")
    p.add_argument("--folder", type=Path, default=None,
                   help="where they are written and reused (default: <cache>/bench/faces-<images>)")
    p.add_argument("--resolution", type=int, default=64, choices=(64, 128))
    p.add_argument("--single-core-images", type=int, default=None,
                   help="images decoded by the one-core run (default: all; fewer for a quicker bench)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batches", type=int, default=300, help="batches fed per path (after 20 of warm-up)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    return p.parse_args(argv)


def write_jpegs(folder: Path, n: int) -> float:
    """n JPEGs 000001.jpg... (178x218, quality 90) unless already there; seconds spent."""
    have = len(list(folder.glob("*.jpg"))) if folder.is_dir() else 0
    if have == n:
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
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


def main(argv=None) -> int:
    args = parse_args(argv or [])
    from ganexp.metrics.config import default_cache_dir

    folder = args.folder or default_cache_dir() / "bench" / f"faces-{args.images}"
    made = write_jpegs(folder, args.images)
    workers = decoded.default_workers()
    with tempfile.TemporaryDirectory(prefix="ganexp-bench-data-") as work:
        all_rate, images, _ = decode_rate(folder, args.resolution, workers, None, Path(work))
        one_rate, _, n_one = decode_rate(folder, args.resolution, 1, args.single_core_images, Path(work))
        resident_rate, streamed_rate = feed_rates(images, args.batch_size, args.batches, torch.device(args.device))
        del images
    res = {"images": args.images, "resolution": args.resolution, "cores": workers, "device": args.device,
           "jpeg_write_s": round(made, 1), "decode_all_cores_images_per_s": round(all_rate, 1),
           "decode_one_core_images_per_s": round(one_rate, 1), "decode_one_core_images": n_one,
           "decode_speedup": round(all_rate / one_rate, 2), "fed_resident_images_per_s": round(resident_rate, 1),
           "fed_streamed_images_per_s": round(streamed_rate, 1),
           "streamed_over_resident": round(streamed_rate / resident_rate, 3), "batch_size": args.batch_size}
    print_table(res)
    if args.out:
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
