"""The published numbers of Lee & Seok 2018 (Tables 3.1 and 3.2), names and display order.

The CSVs ship as package data under ``ganexp/reference/`` and are read with importlib.resources,
so an installed wheel finds them as well as an editable checkout.
"""
from __future__ import annotations

import csv
import functools
import io
from importlib import resources

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


def read_reference_text(name: str) -> str:
    """Return the text of a shipped reference CSV (``ganexp/reference/<name>``)."""
    return resources.files("ganexp").joinpath(f"reference/{name}").read_text(encoding="utf-8")


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
