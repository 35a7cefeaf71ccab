"""Pictures of any grid, read from its run folders: curves over training, a sample mosaic, and latent
interpolation strips of the best configuration.

Layouts by the number of configurations n:
- curves: n ≤ ``MAX_LINES``: one panel, a line per configuration (the mean over seeds at each logged
  point) with a band from the lowest to the highest seed; n > MAX_LINES: small multiples, a panel per
  configuration drawn in color over every other configuration's mean in gray, on shared axes;
- mosaic: a row per configuration (the top rows of its lowest completed seed's ``samples/final.png``,
  the same fixed codes for every configuration of one z_dim), in columns of ``ROWS_PER_COLUMN``;
- past ``MAX_PANELS`` configurations both show the ``MAX_PANELS`` best by the report's primary metric,
  and the report names how many were left out.
"""
from __future__ import annotations

import functools
import math
import subprocess
import sys
import textwrap
from pathlib import Path

from .plotting import DPI, plt, save_figure
from .runs import finite, read_rows
from .sweep import Configuration

BOOKKEEPING = frozenset({"step", "epoch", "images_seen", "time_s", "images_per_s", "eval_s", "collapsed",
                         "stage", "alpha"})
X_AXES = {"step": "step", "epoch": "epoch", "images": "images_seen"}
X_LABELS = {"step": "generator step", "epoch": "epoch", "images": "real images seen"}
MAX_LINES = 10
MAX_PANELS = 48
ROWS_PER_COLUMN = 16
GRID_ROWS_SHOWN = 2  # rows of the 8 x 8 final grid shown per configuration (16 fixed codes)


def run_rows(run_dir: Path) -> list[dict]:
    """A run's metrics.jsonl rows, read once per file version for all the curves of a report."""
    path = run_dir / "metrics.jsonl"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return []
    return _rows(str(path), mtime)


@functools.lru_cache(maxsize=4096)
def _rows(path: str, mtime: int) -> list[dict]:
    return read_rows(Path(path))


def curve_keys(configs: list[Configuration]) -> list[str]:
    """Every numeric key that metrics.jsonl rows carry (bookkeeping columns and a metric's std over subsets
    aside), losses first."""
    keys: dict[str, None] = {}
    for c in configs:
        for run in c.completed:
            for row in run_rows(run.path):
                keys.update({k: None for k, v in row.items()
                             if k not in BOOKKEEPING and not k.endswith("_std") and finite(v) is not None})
    return sorted(keys, key=lambda k: (not k.endswith("_loss"), k))


def run_points(run_dir: Path, key: str, x: str) -> dict[float, float]:
    """``{x: value}`` of ``key`` in one run's metrics.jsonl; an evaluation row without ``x`` (images
    seen) takes it from the training row of its step."""
    rows = run_rows(run_dir)
    col = X_AXES[x]
    x_of_step = {r.get("step"): r[col] for r in rows if finite(r.get(col)) is not None}
    out = {}
    for r in rows:
        v, xv = finite(r.get(key)), x_of_step.get(r.get("step"))
        if v is not None and xv is not None:
            out[float(xv)] = v
    return out


def seed_band(config: Configuration, key: str, x: str) -> tuple[list, list, list, list]:
    """``(xs, mean, low, high)`` over the configuration's completed seeds at each logged point."""
    per_x: dict[float, list[float]] = {}
    for run in config.completed:
        for xv, v in run_points(run.path, key, x).items():
            per_x.setdefault(xv, []).append(v)
    xs = sorted(per_x)
    return (xs, [sum(per_x[v]) / len(per_x[v]) for v in xs], [min(per_x[v]) for v in xs],
            [max(per_x[v]) for v in xs])


def curve_figure(configs: list[Configuration], key: str, x: str, path: Path) -> Path | None:
    """One figure of ``key`` over training (layout in the module docstring); None when no run has it."""
    bands = [seed_band(c, key, x) for c in configs[:MAX_PANELS]]
    if not any(b[0] for b in bands):
        return None
    if len(bands) <= MAX_LINES:
        return _one_panel(configs, bands, key, x, path)
    return _small_multiples(configs[:MAX_PANELS], bands, key, x, path)


def _one_panel(configs, bands, key: str, x: str, path: Path) -> Path:
    legend_rows = math.ceil(len(configs) / 2)
    fig, ax = plt.subplots(figsize=(8.0, 4.2 + 0.22 * legend_rows))
    colors = plt.get_cmap("tab10")
    for i, (c, (xs, mean, lo, hi)) in enumerate(zip(configs, bands)):
        if xs:
            ax.plot(xs, mean, color=colors(i), label=c.label, marker="." if len(xs) < 20 else None)
            ax.fill_between(xs, lo, hi, color=colors(i), alpha=0.18, linewidth=0)
    _axes_labels(ax, key, x)
    fig.legend(loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=(0.12 + 0.22 * legend_rows) / (4.2 + 0.22 * legend_rows) + 0.08, top=0.9)
    ax.set_title(f"{key} over training: mean over seeds, band from lowest to highest seed", fontsize=10)
    return save_figure(fig, path)


def _small_multiples(configs, bands, key: str, x: str, path: Path) -> Path:
    cols = min(6, math.ceil(math.sqrt(len(configs))))
    rows = math.ceil(len(configs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.3 * rows + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(configs):
            ax.set_visible(False)
            continue
        for j, (xs, mean, _, _) in enumerate(bands):
            if j != i and xs:
                ax.plot(xs, mean, color="0.82", linewidth=0.7)
        xs, mean, lo, hi = bands[i]
        if xs:
            ax.fill_between(xs, lo, hi, color="C0", alpha=0.25, linewidth=0)
            ax.plot(xs, mean, color="C0", linewidth=1.4)
        ax.set_title("\n".join(textwrap.wrap(configs[i].label, 34)), fontsize=7)
        ax.tick_params(labelsize=7)
    fig.supxlabel(X_LABELS[x], fontsize=8)
    fig.supylabel(key, fontsize=8)
    fig.suptitle(f"{key} over {X_LABELS[x]}s: one panel per configuration (blue: mean and seed range; "
                 "gray: the other configurations)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save_figure(fig, path)


def _axes_labels(ax, key: str, x: str) -> None:
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)


def sample_strip(run_dir: Path, rows: int = GRID_ROWS_SHOWN):
    """The top ``rows`` rows of a run's ``samples/final.png`` (an 8 x 8 grid) as an image array."""
    path = run_dir / "samples" / "final.png"
    if not path.is_file():
        return None
    image = plt.imread(path)
    per_row = (image.shape[0] - 2) / 8  # save_grid: 8 rows of (h + 2 padding) plus 2
    return image[: int(round(per_row * rows)) + 2]


def mosaic(configs: list[Configuration], path: Path) -> Path | None:
    """A row per configuration: the same fixed codes through each configuration's generator."""
    shown = [(c, sample_strip(c.completed[0].path)) for c in configs[:MAX_PANELS] if c.completed]
    shown = [(c, s) for c, s in shown if s is not None]
    if not shown:
        return None
    cols = math.ceil(len(shown) / ROWS_PER_COLUMN)
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 1.25 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (c, strip) in enumerate(shown):
        ax = axes[i % rows][i // rows]
        ax.imshow(strip, cmap="gray" if strip.ndim == 2 else None, interpolation="nearest")
        ax.set_title(f"{c.label} (seed {c.completed[0].seed})", fontsize=7, loc="left")
    fig.suptitle("Final samples (fixed codes per z_dim), best first", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save_figure(fig, path)


def interpolation(run_dir: Path, path: Path) -> tuple[Path | None, str]:
    """Latent interpolation strips (``python -m ganexp.latent interpolate``) of one run, in its own
    process: the results layer never imports training code. ``(path, "")`` or ``(None, why)``."""
    if not (run_dir / "last.ckpt").is_file():
        return None, f"no last.ckpt in {run_dir}"
    cmd = [sys.executable, "-m", "ganexp.latent", "interpolate", str(run_dir), "--pairs", "3", "--steps", "10",
           "--out", str(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "the interpolation took over 10 minutes"
    if done.returncode != 0 or not path.is_file():
        last = (done.stderr or done.stdout).strip().splitlines()
        return None, last[-1] if last else f"exit code {done.returncode}"
    return path, ""


__all__ = ["DPI", "curve_keys", "curve_figure", "mosaic", "interpolation", "MAX_LINES", "MAX_PANELS"]
