"""Images to Inception features through torch-fidelity's FeatureExtractorInceptionV3.

The extractor takes uint8 (N, 3, H, W) and resizes to 299x299 internally with its TF1-compatible bilinear
interpolation, exactly as torch-fidelity does for its own inputs; this module only converts to uint8 RGB.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, Iterable, Iterator

import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from ganexp.metrics.weights import InceptionWeights

log = logging.getLogger("ganexp.metrics")

POOL3 = "2048"
LOGITS = "logits_unbiased"  # what torch-fidelity's ISC uses: pool3 @ fc.weight, no bias, as in Salimans' code
EXTRACTOR_ID = "torch-fidelity/inception-v3-compat/tf-2015-12-05/pool3"
VGG16_FEATURES = "vgg16.fc2_relu"  # key of the VGG16 features in a features dict (PRC's reference extractor)
VGG16_ID = "torch-fidelity/vgg16/imagenet1k-v1/fc2_relu"
PROGRESS_EVERY_S = 30.0  # a line while images go through Inception (a CPU does ~7 images/s: 10k is ~25 min)


def feature_key(extractor: str) -> str:
    """Where an extractor's rows are in a features dict: Inception's pool3 under POOL3, VGG16's fc2_relu under
    VGG16_FEATURES, a DINOv2 backbone's CLS token under "<name>.cls" (DINOv2Features.name)."""
    return {"inception": POOL3, "vgg16": VGG16_FEATURES}.get(extractor, f"{extractor}.cls")


def to_uint8(x: torch.Tensor, mode: str = "round") -> torch.Tensor:
    """Generator output in [-1, 1] (float) to uint8 pixels, same shape.

    round: clamp, (x+1)/2*255, round half up - what torchvision.utils.save_image(normalize=True,
           value_range=(-1, 1)) writes to PNG, and the exact inverse of ToTensor+Normalize(0.5, 0.5).
    trunc: 255*(clamp(x)*0.5+0.5) truncated - torch-fidelity's SNGAN example and torchmetrics' FID(normalize=True).
    """
    x = x.detach().clamp(-1, 1)
    if mode == "trunc":
        return (255 * (x * 0.5 + 0.5)).to(torch.uint8)
    if mode == "round":
        return ((x + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    raise ValueError(f"to_uint8 mode must be 'round' or 'trunc', not {mode!r}")


def to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(N, 1|3, H, W) -> (N, 3, H, W); gray is repeated over the three channels (as PIL's convert('RGB'))."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}")
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@contextlib.contextmanager
def full_fp32(enabled: bool = True) -> Iterator[None]:
    """Disable TF32 in cuDNN convolutions and matmuls for the duration (restored afterwards)."""
    if not enabled:
        yield
        return
    try:
        old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    except RuntimeError:  # the process uses torch's newer fp32_precision API; leave its choice alone
        yield
        return
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


class InceptionFeatures:
    """Lazily built, reusable Inception feature extractor with the FID (and, with logits, IS) outputs."""

    def __init__(self, weights: InceptionWeights, tf32: bool = False, channels_last: bool = False):
        self.weights = weights
        self.tf32, self.channels_last = tf32, channels_last
        self.names = [POOL3, LOGITS] if weights.has_logits else [POOL3]
        self._module: FeatureExtractorInceptionV3 | None = None
        self.images_seen = 0  # images passed through the network, for tests and benchmarks
        self.extra: list = []  # more extractors fed the same batches (VGG16Features, DINOv2Features)

    @property
    def module(self) -> FeatureExtractorInceptionV3:
        """The torch-fidelity extractor (built on first use)."""
        if self._module is None:
            # Its layers draw random initial weights before the file's replace them: keep the caller's RNG,
            # so a run's training stream never depends on when (or whether) it first built the extractor.
            with torch.random.fork_rng(devices=[]):
                self._module = FeatureExtractorInceptionV3(
                    "inception-v3-compat", self.names, feature_extractor_weights_path=str(self.weights.path))
            if self.channels_last:  # NHWC weights: every convolution after the 299x299 resize runs NHWC
                self._module.to(memory_format=torch.channels_last)
        return self._module

    def to(self, device: torch.device) -> "InceptionFeatures":
        """Move the network to `device` (no-op when already there)."""
        module = self.module
        if next(module.parameters()).device != device:
            module.to(device)
        return self

    @torch.no_grad()
    def batch(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """uint8 (N, 1|3, H, W) on the extractor's device -> {'2048': (N, 2048) float32, ...}."""
        if images.dtype != torch.uint8:
            raise TypeError(f"expected uint8 images, got {images.dtype}")
        with full_fp32(not self.tf32):
            out = self.module(to_rgb(images))
        self.images_seen += images.shape[0]
        return dict(zip(self.names, out, strict=True))

    def run(self, batches: Iterable[torch.Tensor], device: torch.device, with_extra: bool = True,
            total: int | None = None, what: str = "images") -> dict[str, torch.Tensor]:
        """Features of all uint8 batches, concatenated on `device` (those of `extra` extractors too, unless not
        `with_extra`); a progress line about every PROGRESS_EVERY_S of ``total`` ``what``."""
        extra = self.extra if with_extra else []
        self.to(device)
        for e in extra:
            e.to(device)
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in self.names + [e.name for e in extra]}
        progress = Progress(what, total)
        for b in batches:
            b = b.to(device, non_blocking=True)
            for k, v in self.batch(b).items():
                parts[k].append(v)
            for e in extra:
                parts[e.name].append(e.batch(b))
            progress.add(b.shape[0])
        if not parts[POOL3]:
            raise ValueError("no images to extract features from")
        return {k: torch.cat(v) for k, v in parts.items()}

    def from_uint8(self, images: torch.Tensor, device: torch.device, batch_size: int) -> dict[str, torch.Tensor]:
        """Inception features of a uint8 (N, C, H, W) tensor (any device), in batches of `batch_size`."""
        return self.run(images.split(batch_size), device, with_extra=False, total=images.shape[0],
                        what="real images")

    def from_sampler(self, sample_fn: Callable[[int], torch.Tensor], n: int, device: torch.device,
                     batch_size: int, mode: str = "round",
                     check: Callable[[torch.Tensor, int], None] | None = None) -> dict[str, torch.Tensor] | None:
        """Features of `n` generated images; sample_fn(m) -> float (m, C, H, W) in [-1, 1].

        Returns None (after one warning) when the generator produced a non-finite value.
        """
        def batches() -> Iterator[torch.Tensor]:
            for start in range(0, n, batch_size):
                m = min(batch_size, n - start)
                with torch.no_grad():
                    x = sample_fn(m)
                if check is not None:
                    check(x, m)
                if not bool(torch.isfinite(x).all()):
                    raise _NonFinite
                yield to_uint8(x, mode)

        try:
            return self.run(batches(), device, total=n, what="generated images")
        except _NonFinite:
            log.warning("The generator produced NaN or inf; FID/IS of this evaluation are NaN.")
            return None


class Progress:
    """One ``logging`` line (so it reaches Hydra's train.log and Slurm's logs) about every PROGRESS_EVERY_S while
    images go through the extractors: how many of how many, images/s and the ETA. Silent when the pass is
    shorter than that."""

    def __init__(self, what: str, total: int | None):
        self.what, self.total, self.done = what, total, 0
        self.t0 = self.last = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        rate = self.done / max(now - self.t0, 1e-9)
        of = f" of {self.total:,}" if self.total else ""
        eta = f", ETA {time.strftime('%H:%M:%S', time.gmtime((self.total - self.done) / rate))}" if self.total else ""
        log.info("Inception: %s%s %s, %.1f images/s%s", f"{self.done:,}", of, self.what, rate, eta)


class VGG16Features:
    """torch-fidelity's VGG16 fc2_relu features (4096-d, the PRC reference) from a torchvision state dict."""

    name = VGG16_FEATURES

    def __init__(self, weights_path: str, tf32: bool = False):
        self.weights_path, self.tf32 = weights_path, tf32
        self._module = None
        self.images_seen = 0

    @property
    def module(self):
        if self._module is None:
            from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

            with torch.random.fork_rng(devices=[]):  # as InceptionFeatures.module: the caller's RNG untouched
                self._module = FeatureExtractorVGG16("vgg16", ["fc2_relu"],
                                                     feature_extractor_weights_path=str(self.weights_path))
        return self._module

    def to(self, device: torch.device) -> "VGG16Features":
        if next(self.module.parameters()).device != device:
            self.module.to(device)
        return self

    @torch.no_grad()
    def batch(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 1|3, H, W) -> (N, 4096) float32."""
        with full_fp32(not self.tf32):
            out = self.module(to_rgb(images))[0]
        self.images_seen += images.shape[0]
        return out

    def from_uint8(self, images: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
        self.to(device)
        return torch.cat([self.batch(b.to(device)) for b in images.split(batch_size)])


class _NonFinite(Exception):
    pass
