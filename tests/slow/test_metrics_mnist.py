"""Real data against published reference values (../shared/assets/README.md): with 256 images per side,
FID(MNIST test, MNIST train) is about 31 and FID(MNIST, Fashion-MNIST) about 216 (measured here: 31.37
and 216.99 with the first 256 images of each file). CPU, ~2 minutes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from ganexp.metrics import Evaluator

pytestmark = pytest.mark.slow
ASSETS = Path(__file__).resolve().parents[2].parent / "shared/assets"
WEIGHTS = ASSETS / "inception/inception-2015-12-05-pool3-fc-zeroed.pth"
N = 256


def idx_images(path: Path, count: int) -> torch.Tensor:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    h, w = np.frombuffer(data[8:16], ">i4")
    return torch.from_numpy(np.frombuffer(data[16:16 + count * h * w], np.uint8).reshape(count, 1, h, w).copy())


class MnistTest:
    name, resolution, channels, preprocessing = "mnist-test-first256", 28, 1, "none"

    def images(self, split):
        return idx_images(ASSETS / "datasets/MNIST/raw/t10k-images-idx3-ubyte", N)


def as_sampler(images: torch.Tensor):
    x, pos = images.float() / 127.5 - 1, [0]

    def sample(n):
        pos[0] += n
        return x[pos[0] - n: pos[0]]

    return sample


def test_fid_reference_values(tmp_path):
    if not WEIGHTS.is_file():
        pytest.skip(f"offline assets not found under {ASSETS}")
    cfg = {"num_samples": N, "batch_size": 64, "inception_weights": str(WEIGHTS), "cache_dir": str(tmp_path),
           "real_split": "test"}
    train = idx_images(ASSETS / "datasets/MNIST/raw/train-images-idx3-ubyte", N)
    fashion = idx_images(ASSETS / "datasets/FashionMNIST/raw/t10k-images-idx3-ubyte.gz", N)
    same_domain = Evaluator(cfg, MnistTest()).evaluate(as_sampler(train), "cpu")["fid256"]
    other = Evaluator(cfg, MnistTest()).evaluate(as_sampler(fashion), "cpu")["fid256"]  # real stats from cache
    print({"fid256(mnist train, mnist test)": same_domain, "fid256(fashion test, mnist test)": other})
    assert same_domain == pytest.approx(31, rel=0.05)
    assert other == pytest.approx(216, rel=0.05)
