"""Matplotlib without a display, one resolution and one way to save, for every report figure."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 100

__all__ = ["DPI", "plt", "save_figure"]


def save_figure(fig, path: Path) -> Path:
    """Save ``fig`` as a PNG at ``DPI`` (fixed size, no tight box) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
