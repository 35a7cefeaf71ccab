"""Figures of Kwak & Ko (Study B) as PNG (matplotlib Agg, via ``results.figures``).

Figure 1 (the paper's sample comparison) is one image: rows = the four variants, columns = the
epochs of ``trainer.sample_at_epochs``; each cell is ``samples/epoch_<e>.png`` of the variant's
first completed seed (every run draws from the same fixed codes), a gray cell saying "missing"
where there is none. Grids are resized to one cell size (the first grid's, at most ``CELL_MAX``
pixels a side) and joined with ``GAP`` white pixels (``mosaic``). FID and diversity over training
share one figure: thin lines per seed, thick lines the mean over the seeds evaluated at each
epoch, the collapse threshold dashed, each run's collapse epoch an X.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from PIL import Image

from ..plotting import DPI, plt, save_figure
from .runs import LABELS, ORDER, StudyRun, fmt_epoch, sample_name

CELL_MAX, GAP, MISSING_GRAY = 512, 4, 200
CELL_IN, LEFT_IN, TOP_IN, BOTTOM_IN = 2.4, 1.5, 0.8, 0.15
COLORS = {v: plt.get_cmap("tab10")(i) for i, v in enumerate(ORDER)}


def first_completed(runs: list[StudyRun]) -> StudyRun | None:
    """The completed run with the lowest seed."""
    done = [r for r in runs if r.run.status == "completed"]
    return min(done, key=lambda r: (r.run.seed is None, r.run.seed or 0, str(r.run.path)),
               default=None)


def grid_path(run: StudyRun | None, epoch) -> Path | None:
    """``samples/epoch_<e>.png`` (``final.png`` for epoch "final") of ``run`` if it exists."""
    if run is None:
        return None
    path = run.run.path / "samples" / ("final.png" if epoch == "final" else sample_name(epoch))
    return path if path.is_file() else None


def cell_size(paths: list[list[Path | None]]) -> tuple[int, int]:
    """(height, width) of a cell: the first grid's, scaled to at most CELL_MAX; 64×64 if none."""
    first = next((p for row in paths for p in row if p is not None), None)
    if first is None:
        return 64, 64
    with Image.open(first) as img:
        w, h = img.size
    scale = min(1.0, CELL_MAX / max(w, h))
    return max(1, round(h * scale)), max(1, round(w * scale))


def cell_origin(r: int, c: int, size: tuple[int, int]) -> tuple[int, int]:
    """(y, x) of the top-left pixel of cell (r, c) in the mosaic."""
    return r * (size[0] + GAP), c * (size[1] + GAP)


def mosaic(paths: list[list[Path | None]]) -> tuple[np.ndarray, tuple[int, int]]:
    """Figure 1's pixels: the grids of ``paths`` (rows × columns) as one uint8 RGB array, missing
    cells gray, GAP white pixels between cells; returns (array, cell size)."""
    size = cell_size(paths)
    n_rows, n_cols = len(paths), max((len(row) for row in paths), default=0)
    out = np.full((n_rows * (size[0] + GAP) - GAP, n_cols * (size[1] + GAP) - GAP, 3), 255,
                  np.uint8)
    for r, row in enumerate(paths):
        for c, path in enumerate(row):
            y, x = cell_origin(r, c, size)
            out[y:y + size[0], x:x + size[1]] = _cell(path, size)
    return out, size


def _cell(path: Path | None, size: tuple[int, int]) -> np.ndarray:
    if path is None:
        return np.full((*size, 3), MISSING_GRAY, np.uint8)
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize(size[::-1], Image.NEAREST))


def figure1(by_variant: dict[str, list[StudyRun]], epochs: list, path: Path) -> Path:
    """Kwak & Ko's Figure 1: samples of each variant (rows) at each sample epoch (columns)."""
    columns = list(epochs) or ["final"]
    runs = {v: first_completed(by_variant.get(v, [])) for v in ORDER}
    paths = [[grid_path(runs[v], e) for e in columns] for v in ORDER]
    arr, size = mosaic(paths)
    w_in = CELL_IN * len(columns)
    h_in = w_in * arr.shape[0] / arr.shape[1]
    fw, fh = LEFT_IN + w_in + 0.2, TOP_IN + h_in + BOTTOM_IN
    fig = plt.figure(figsize=(fw, fh), dpi=DPI)
    ax = fig.add_axes([LEFT_IN / fw, BOTTOM_IN / fh, w_in / fw, h_in / fh])
    ax.imshow(arr, interpolation="nearest", aspect="auto")
    ys = [cell_origin(r, 0, size)[0] + size[0] / 2 for r in range(len(ORDER))]
    xs = [cell_origin(0, c, size)[1] + size[1] / 2 for c in range(len(columns))]
    ax.set_yticks(ys, [_row_label(v, runs[v]) for v in ORDER], fontsize=10)
    ax.set_xticks(xs, [e if e == "final" else f"epoch {fmt_epoch(e)}" for e in columns])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for r, row in enumerate(paths):
        for c, p in enumerate(row):
            if p is None:
                ax.text(xs[c], ys[r], "missing", ha="center", va="center", fontsize=11)
    fig.suptitle("Figure 1 (Kwak & Ko): samples from the same fixed codes, first completed seed",
                 fontsize=10, y=1 - 0.15 / fh, va="top")
    return save_figure(fig, path)


def _row_label(variant: str, run: StudyRun | None) -> str:
    return f"{LABELS[variant]}\n" + (f"seed {run.run.seed}" if run else "no completed run")


def mean_curve(curves: list[dict[float, float]]) -> dict[float, float]:
    """Per epoch, the mean over the curves evaluated there."""
    xs = sorted({x for c in curves for x in c})
    return {x: statistics.fmean(c[x] for c in curves if x in c) for x in xs}


def _panel(ax, by_variant: dict[str, list[StudyRun]], key: str | None) -> None:
    """Per-seed (thin) and mean (thick) curves of ``key``; an X at each run's collapse epoch."""
    for v, runs in by_variant.items():
        curves = [r.curve(key) for r in runs]
        for r, c in zip(runs, curves):
            ax.plot(list(c), list(c.values()), color=COLORS[v], lw=0.8, alpha=0.35)
            e = r.collapse.epoch
            if e is not None and c:
                near = min(c, key=lambda x: abs(x - e))
                ax.plot([e], [c[near]], marker="X", ms=9, color=COLORS[v], mec="k", ls="none",
                        zorder=5)
        mean = mean_curve([c for c in curves if c])
        if mean:
            ax.plot(list(mean), list(mean.values()), color=COLORS[v], lw=2, marker="o", ms=3,
                    label=f"{LABELS[v]} ({len(runs)} seeds)")
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    if not ax.lines:
        ax.text(0.5, 0.5, "no evaluations", ha="center", va="center", transform=ax.transAxes)


def fid_diversity_figure(by_variant: dict[str, list[StudyRun]], fid_key: str | None,
                         div_key: str | None, thresholds: list[float], path: Path) -> Path:
    """FID over training and diversity over training with the collapse threshold (Kwak & Ko)."""
    fig, (ax_fid, ax_div) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=DPI)
    _panel(ax_fid, by_variant, fid_key)
    _panel(ax_div, by_variant, div_key)
    ax_fid.set(ylabel=f"FID ({fid_key or 'none'})", title="FID over training (lower is better)")
    ax_div.set(ylabel=f"diversity ({div_key or 'none'}; 1 = as diverse as the data)",
               title="Diversity over training")
    for t in thresholds:
        ax_div.axhline(t, color="0.3", ls="--", lw=1.2, label=f"collapse threshold {t:g}")
    extra = [Line2D([], [], marker="X", ms=9, color="0.5", mec="k", ls="none",
                    label="collapse epoch (per run)")]
    for ax in (ax_fid, ax_div):
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles=handles + extra, fontsize=8)
    fig.suptitle("Completed runs; thin lines = seeds, thick = mean over seeds", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
