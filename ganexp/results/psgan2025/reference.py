"""The published numbers of Byeon, Park & Yang 2025 (``reference/psgan2025_tables.csv``).

Table 2: FID and IS per model; Table 3: training time (s) and ratio to SNGAN; Table 4: per number
of generators K, time, ratio to K = 2, FID ± sd and IS ± sd. Values keep the CSV's text for
display (``0.78`` stays ``0.78``).
"""
from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass, field

from ..reference import read_reference_text
from .runs import Model

CSV = "psgan2025_tables.csv"
COLUMNS = {"time": "train_time_s", "ratio": "relative_time", "fid": "fid", "fid_sd": "fid_sd",
           "is": "is", "is_sd": "is_sd"}


@dataclass(frozen=True)
class Published:
    """One row of one published table: numbers by field name (``COLUMNS``) and their text."""

    values: dict = field(default_factory=dict)
    text: dict = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        """The published number, None where the table has none."""
        return self.values.get(name)


def _model(row: dict) -> Model:
    k = row.get("generators")
    return Model(row["model"], int(k) if row["model"] == "psgan" and k else None)


@functools.lru_cache(maxsize=None)
def published(table: int) -> dict[Model, Published]:
    """Rows of the paper's Table ``table`` (2, 3 or 4) by model."""
    out = {}
    for row in csv.DictReader(io.StringIO(read_reference_text(CSV))):
        if int(row["table"]) == table:
            cols = {n: row[c].strip() for n, c in COLUMNS.items() if (row.get(c) or "").strip()}
            out[_model(row)] = Published({n: float(t) for n, t in cols.items()}, cols)
    return out


def lee2018_mnist_is_max() -> float:
    """The highest MNIST Inception Score in Lee & Seok 2018's Table 3.2 (any loss, any d)."""
    rows = csv.DictReader(io.StringIO(read_reference_text("lee2018_table3_2_is.csv")))
    return max(float(v) for r in rows if r["dataset"] == "mnist" for k, v in r.items() if k.startswith("z") and v)


def paper_is_range() -> tuple[float, float]:
    """Lowest and highest IS the paper publishes (Tables 2 and 4)."""
    vals = [p.get("is") for t in (2, 4) for p in published(t).values() if p.get("is") is not None]
    return min(vals), max(vals)
