"""Figures 3.1 (log FID vs d), 3.2 (IS vs d) and 3.3-3.6 (sample grids by d) as PNG.

Sizes are fixed (no tight bounding box) so a figure's pixel size depends only on its panel
count: metric figures are ``PANEL_W × PANEL_H`` inches per panel (two panels per row) plus a
``LEGEND_H`` strip; sample figures are ``SAMPLE_W × SAMPLE_H`` inches per d; all at ``DPI``.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

from ..plotting import DPI, plt, save_figure
from matplotlib import ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from . import paper, protocol  # noqa: E402
from .aggregate import Table  # noqa: E402
from ..runs import Run  # noqa: E402
from .runs import cell_of  # noqa: E402

PANEL_W, PANEL_H, LEGEND_H = 5.0, 3.6, 0.8
SAMPLE_W, SAMPLE_H = 3.0, 3.4
COLUMNS = 2
FIGURE_NUMBER = {"fid": "3.1", "is": "3.2"}


def metric_figure_size(n_panels: int) -> tuple[int, int]:
    """Pixel size (width, height) of Figure 3.1/3.2 with ``n_panels`` data sets."""
    cols, rows = min(COLUMNS, n_panels), math.ceil(n_panels / COLUMNS)
    return round(PANEL_W * cols * DPI), round((PANEL_H * rows + LEGEND_H) * DPI)


def sample_figure_size(n_z: int) -> tuple[int, int]:
    """Pixel size (width, height) of a sample figure with ``n_z`` latent dimensions."""
    return round(SAMPLE_W * n_z * DPI), round(SAMPLE_H * DPI)


def loss_color(loss: str):
    """A fixed color per loss (paper order first) so every figure agrees."""
    order = list(paper.LOSSES) + ["hinge"]
    idx = order.index(loss) if loss in order else hash(loss) % 10
    return plt.get_cmap("tab10")(idx % 10)


def _series(table: Table, d: str, loss: str, attr: str) -> list[float]:
    vals = [getattr(table.cell(d, loss, z), attr) for z in table.grid.z_dims]
    return [math.nan if v is None else v for v in vals]


def _panel(ax, table: Table, d: str) -> None:
    """One data set: our mean ± std (solid, error bars) and the paper (dashed) per loss."""
    xs = range(len(table.grid.z_dims))
    for loss in table.grid.losses:
        color = loss_color(loss)
        ours, std = _series(table, d, loss, "mean"), _series(table, d, loss, "std")
        keep = [i for i in xs if not math.isnan(ours[i])]  # the line bridges missing cells
        if keep:
            ax.errorbar(keep, [ours[i] for i in keep], color=color, marker="o", ms=3, lw=1.5,
                        yerr=[0 if math.isnan(std[i]) else std[i] for i in keep], capsize=2)
        ax.plot(xs, _series(table, d, loss, "paper"), color=color, ls="--", lw=1, alpha=0.6)
    if table.metric == "fid":
        ax.set_yscale("log")
        # Plain numbers at 1-2-5 steps read better than 2×10¹ on a log axis.
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    has_ours = any(table.cell(d, loss, z).n
                   for loss in table.grid.losses for z in table.grid.z_dims)
    ax.set_xticks(list(xs), [str(z) for z in table.grid.z_dims])
    ax.set_xlabel("latent dimension d")
    ax.set_ylabel("FID (log scale)" if table.metric == "fid" else "Inception Score")
    has_paper = any(table.cell(d, loss, z).paper is not None
                    for loss in table.grid.losses for z in table.grid.z_dims)
    notes = [] if has_ours else ["ours: unavailable"]
    notes += [] if has_paper else ["paper: no values"]
    ax.set_title(paper.dataset_label(d) + (f" ({'; '.join(notes)})" if notes else ""))
    ax.grid(True, which="both", alpha=0.3)


def metric_figure(table: Table, path: Path) -> Path:
    """Figure 3.1 (FID, log y) or 3.2 (IS): one panel per data set, one line per loss."""
    n = max(1, len(table.grid.datasets))
    w, h = metric_figure_size(n)
    cols, rows = min(COLUMNS, n), math.ceil(n / COLUMNS)
    fig, axes = plt.subplots(rows, cols, figsize=(w / DPI, h / DPI), squeeze=False)
    for ax, d in zip(axes.flat, table.grid.datasets):
        _panel(ax, table, d)
    for ax in list(axes.flat)[len(table.grid.datasets):]:
        ax.axis("off")
    handles = [Line2D([], [], color=loss_color(loss), lw=2, label=paper.loss_label(loss))
               for loss in table.grid.losses]
    handles.append(Line2D([], [], color="k", marker="o", ms=3, label="ours (mean ± std)"))
    if any(c.paper is not None for c in table.cells.values()):
        handles.append(Line2D([], [], color="k", ls="--", alpha=0.6, label="paper"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5 if cols > 1 else 4), fontsize=8,
               frameon=False)
    name = "log FID" if table.metric == "fid" else "IS"
    fig.suptitle(f"Figure {FIGURE_NUMBER[table.metric]}: {name} vs latent dimension d")
    note = protocol.short_note(list(table.cells.values()), table.metric)
    top = 0.75
    if note:  # ours and the paper's come from different protocols: say so under the title
        note = textwrap.fill(note, width=int(w / DPI * 17))
        fig.text(0.5, 1 - 0.42 / (h / DPI), note, ha="center", va="top", fontsize=7.5,
                 color="0.3")
        top += 0.13 * (note.count("\n") + 1)
    fig.subplots_adjust(left=0.08, right=0.98, top=1 - top / (h / DPI), hspace=0.45,
                        wspace=0.28, bottom=(LEGEND_H + 0.45) / (h / DPI))
    return save_figure(fig, path)


def sample_run(runs: list[Run], dataset: str, loss: str, z: int) -> Run | None:
    """The run whose ``samples/final.png`` shows a cell: completed first, then the lowest seed."""
    cands = [r for r in runs if cell_of(r) == (dataset, loss, z)
             and (r.path / "samples" / "final.png").is_file()]
    key = lambda r: (r.status != "completed", r.seed is None, r.seed or 0, str(r.path))  # noqa
    return min(cands, key=key, default=None)


def sample_loss(runs: list[Run], dataset: str, losses: list[str]) -> str | None:
    """The paper's loss for a data set's sample figure if it has samples, else the first with."""
    have = {r.loss for r in runs
            if r.dataset == dataset and (r.path / "samples" / "final.png").is_file()}
    first = paper.SAMPLE_LOSS.get(dataset, "gan_ns")
    return first if first in have else next((loss for loss in losses if loss in have), None)


def sample_figure(runs: list[Run], dataset: str, loss: str, z_dims: list[int], path: Path) -> Path:
    """Figures 3.3-3.6: each d's final sample grid side by side, labelled with d and the seed."""
    w, h = sample_figure_size(len(z_dims))
    fig, axes = plt.subplots(1, len(z_dims), figsize=(w / DPI, h / DPI), squeeze=False)
    for ax, z in zip(axes.flat, z_dims):
        run = sample_run(runs, dataset, loss, z)
        ax.set_xticks([])
        ax.set_yticks([])
        if run is None:
            ax.set_aspect("equal")
            ax.text(0.5, 0.5, "missing", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"d = {z}", fontsize=10)
            continue
        img = plt.imread(run.path / "samples" / "final.png")
        gray = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if img.ndim == 2 else {}  # no stretch
        ax.imshow(img, interpolation="nearest", **gray)
        status = "" if run.status == "completed" else f", {run.status}"
        ax.set_title(f"d = {z}", fontsize=10)
        ax.set_xlabel(f"seed {run.seed}{status}", fontsize=8)
    number = paper.SAMPLE_FIGURE.get(dataset)
    label = f"Figure {number}: " if number else ""
    fig.suptitle(f"{label}{paper.dataset_label(dataset)}, {paper.loss_label(loss)} — samples by d")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.8, bottom=0.1, wspace=0.05)
    return save_figure(fig, path)
