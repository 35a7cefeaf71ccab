"""Figures of Byeon, Park & Yang 2025 as PNG (matplotlib Agg, via ``results.figures``).

Figures 4-6: mean G and D loss per epoch, one panel per model, stage switches as dotted lines;
Figures 7-9: the final sample grid (same fixed codes in every run) of each model's first seed;
FID over training: every model in one figure.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..plotting import DPI, plt, save_figure
from ..runs import dotted
from .curves import MIN_EPOCHS, bin_width, last_epoch, loss_curves, mean_fid_curve
from .runs import Model, StudyRun

PANEL_W, PANEL_H, COLUMNS = 4.5, 3.2, 3


def stage_epochs(runs: list[StudyRun]) -> list[float]:
    """``system.stage_epochs`` of the model's runs (the first run that has them)."""
    for r in runs:
        value = dotted(r.run.config, "system.stage_epochs")
        if isinstance(value, list):
            return [float(v) for v in value if isinstance(v, (int, float))]
    return []


def _grid(n: int):
    cols, rows = min(COLUMNS, max(n, 1)), math.ceil(max(n, 1) / COLUMNS)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_W * cols, PANEL_H * rows + 0.6),
                             squeeze=False, dpi=DPI)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)


def _loss_panel(ax, model: Model, runs: list[StudyRun], width: float) -> None:
    curves = loss_curves(runs, width)
    for key, curve in curves.items():
        style = {"color": "k", "lw": 1.8} if key == "d_loss" else {"lw": 1.3}
        label = "D" if key == "d_loss" else "G" if key == "g_loss" else f"G{key[7:]}"
        ax.plot(list(curve), list(curve.values()), marker="o", ms=2.5, label=label, **style)
    for e in stage_epochs(runs):
        ax.axvline(e, color="0.4", ls=":", lw=1)
    ax.set_title(f"{model.label} ({len(runs)} seeds)", fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no loss rows", ha="center", va="center", transform=ax.transAxes)


def loss_figure(by_model: dict[Model, list[StudyRun]], path: Path) -> Path:
    """Figures 4-6: mean G and D loss per epoch of each model (dotted: stage switches)."""
    fig, axes = _grid(len(by_model))
    width = bin_width(max((last_epoch(runs) for runs in by_model.values()), default=0.0))
    for ax, (model, runs) in zip(axes, by_model.items()):
        _loss_panel(ax, model, runs, width)
    per = "epoch" if width == 1 else f"{width:g} epoch (runs shorter than {MIN_EPOCHS} epochs)"
    fig.suptitle(f"Figures 4-6: mean G and D loss per {per}; mean over seeds; dotted = new stage")
    fig.tight_layout()
    return save_figure(fig, path)


def sample_run(runs: list[StudyRun]) -> StudyRun | None:
    """The run whose ``samples/final.png`` shows a model: completed first, then lowest seed."""
    cands = [r for r in runs if (r.run.path / "samples" / "final.png").is_file()]
    return min(cands, key=lambda r: (r.run.status != "completed", r.run.seed is None,
                                     r.run.seed or 0, str(r.run.path)), default=None)


def sample_figure(by_model: dict[Model, list[StudyRun]], path: Path) -> Path:
    """Figures 7-9: the final sample grid of each model's first seed, side by side."""
    n = max(len(by_model), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.4), squeeze=False, dpi=DPI)
    for ax, (model, runs) in zip(axes.flat, by_model.items()):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(model.label, fontsize=10)
        run = sample_run(runs)
        if run is None:
            ax.text(0.5, 0.5, "missing", ha="center", va="center", transform=ax.transAxes)
            continue
        img = plt.imread(run.run.path / "samples" / "final.png")
        gray = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if img.ndim == 2 else {}
        ax.imshow(img, interpolation="nearest", **gray)
        ax.set_xlabel(f"seed {run.run.seed}", fontsize=8)
    fig.suptitle("Figures 7-9: samples at fixed codes (final)")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.8, bottom=0.1, wspace=0.05)
    return save_figure(fig, path)


def fid_figure(by_model: dict[Model, list[StudyRun]], key: str | None, path: Path) -> Path:
    """FID (``key``) over training, x = epoch, mean over seeds; one line per model."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=DPI)
    for model, runs in by_model.items():
        curve = mean_fid_curve(runs, key) if key else {}
        if curve:
            ax.plot(list(curve), list(curve.values()), marker="o", ms=3, label=model.label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"FID ({key or 'none'}, mean over seeds)")
    ax.set_title("FID over training")
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
