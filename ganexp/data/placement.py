"""Where the training set lives: resident on the training device, or streamed from the host.

``data.placement=auto`` keeps a set resident when its uint8 bytes fit ``data.resident_fraction`` of
the device's memory shared among the jobs of that device (``launch.jobs_per_gpu``), and streams it
otherwise. Both paths give the same batches (sampler.py), so the choice never changes a result and
is not part of a run's identity; it is printed as one ``[data]`` line.
"""
from __future__ import annotations

import os

import torch

from .sampler import StreamBatcher, TensorBatcher

GB = 1e9


def training_device(accelerator: str) -> torch.device:
    """The device a run on ``trainer.accelerator`` trains on (Lightning's auto picks CUDA when present)."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    return torch.device("mps" if accelerator == "mps" else "cpu")


def device_memory(device: torch.device) -> float | None:
    """Bytes of memory of ``device`` (host RAM for the CPU); None when unknown."""
    if device.type == "cuda" and torch.cuda.is_available():
        return float(torch.cuda.get_device_properties(device).total_memory)
    if device.type == "cpu":
        try:
            return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return None
    return None


def make_batcher(images: torch.Tensor, data: dict, batch_size: int, seed: int, device: torch.device,
                 jobs_per_device: int, name: str):
    """(batcher, the line saying which path was chosen and why)."""
    size = images.numel() * images.element_size()
    memory = device_memory(device)
    budget = None if memory is None else data["resident_fraction"] * memory / max(1, jobs_per_device)
    placement = data["placement"]
    if placement == "auto":
        placement = "streamed" if budget is not None and size > budget else "resident"
    why = ("set by data.placement" if data["placement"] != "auto" else
           f"budget {budget / GB:.2f} GB = {data['resident_fraction']:g} x {memory / GB:.1f} GB / {jobs_per_device} "
           f"job(s) on the device" if budget is not None else "device memory unknown")
    n = images.shape[0]
    if placement == "streamed":
        batcher = StreamBatcher(images, batch_size, seed, prefetch=data["prefetch"])
        what = f"streamed to {device.type} from the host, {data['prefetch']} batches ahead"
    else:
        batcher = TensorBatcher(images, batch_size, seed)
        what = f"resident on {device.type}"
    return batcher, f"[data] {name}: {n:,} images, {size / GB:.2f} GB as uint8: {what} ({why})"
