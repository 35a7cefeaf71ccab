"""The published numbers of Lee & Seok 2018 (Tables 3.1 and 3.2), names and display order.

The CSVs ship as package data under ``ganexp/reference/`` and are read with importlib.resources,
so an installed wheel finds them as well as an editable checkout.
"""
from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass

from ..reference import read_reference_text

FID_CSV = "lee2018_table3_1_fid.csv"
IS_CSV = "lee2018_table3_2_is.csv"

DATASETS = ("mnist", "fashion_mnist", "cifar10", "celeba")
LOSSES = ("gan_mm", "gan_ns", "lsgan", "wgan", "wgan_gp", "dragan", "began")
Z_DIMS = (1, 2, 3, 10, 50, 100)

DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "celeba": "CelebA"}
LOSS_NAMES = {"gan_mm": "GAN-MM", "gan_ns": "GAN-NS", "lsgan": "LSGAN", "wgan": "WGAN",
              "wgan_gp": "WGAN-GP", "dragan": "DRAGAN", "began": "BEGAN", "hinge": "Hinge"}
# Gray (1-channel) and color data sets of the paper, for claim 3; other data sets use config.
GRAY = frozenset({"mnist", "fashion_mnist"})
COLOR = frozenset({"cifar10", "celeba"})
# The loss whose sample grids the paper shows per data set (Figures 3.3-3.6).
SAMPLE_LOSS = {"mnist": "lsgan", "fashion_mnist": "lsgan", "cifar10": "gan_ns", "celeba": "gan_ns"}
SAMPLE_FIGURE = {"mnist": "3.3", "fashion_mnist": "3.4", "cifar10": "3.5", "celeba": "3.6"}


@dataclass(frozen=True)
class Protocol:
    """How a run must have been trained and scored for ``ours − paper`` to be printed.

    Lee & Seok 2018 publish their means but neither their training length nor the number of
    generated images behind each FID/IS. ganexp's full Study A grid (conf/experiment/table31.yaml,
    which tests/test_results.py checks against this object) fixes both; a difference to the paper
    is printed only for runs that followed it, and every caption says that the paper's own sample
    count is not published.
    """

    name: str
    generator_steps: dict  # data set -> trainer.max_steps (generator steps, n_critic critic steps each)
    num_samples: int  # generated images per FID/IS (the metric key: fid10k / is10k)
    num_real: int  # real images behind the cached statistics
    real_split: str
    latent: str  # prior of z

    def key(self, metric: str) -> str:
        """Metric key of this protocol (``fid10k``), as ganexp.metrics.metric_key writes it."""
        n = self.num_samples
        return f"{metric}{n // 1000}k" if n % 1000 == 0 else f"{metric}{n}"


# The full grid of conf/experiment/table31.yaml: the only protocol with a printed Δ.
TABLE31 = Protocol(name="table31",
                   generator_steps={"mnist": 20000, "fashion_mnist": 20000, "cifar10": 40000,
                                    "celeba": 40000},
                   num_samples=10000, num_real=10000, real_split="train", latent="uniform")


@functools.lru_cache(maxsize=None)
def paper_table(metric: str) -> dict[tuple[str, str, int], float]:
    """Published mean per (dataset, loss, z_dim) for ``metric`` "fid" (Table 3.1) or "is" (3.2)."""
    name = {"fid": FID_CSV, "is": IS_CSV}[metric]
    table = {}
    for row in csv.DictReader(io.StringIO(read_reference_text(name))):
        for col, value in row.items():
            if col.startswith("z") and value not in ("", None):
                table[(row["dataset"], row["model"], int(col[1:]))] = float(value)
    return table


def order_key(order: tuple, value) -> tuple:
    """Sort key: the paper's order first, then anything else by its text."""
    return (order.index(value), "") if value in order else (len(order), str(value))


def dataset_label(name: str) -> str:
    """Display name of a data set (``fashion_mnist`` -> ``Fashion-MNIST``)."""
    return DATASET_NAMES.get(name, name)


def loss_label(name: str) -> str:
    """Display name of a loss (``wgan_gp`` -> ``WGAN-GP``)."""
    return LOSS_NAMES.get(name, name)
