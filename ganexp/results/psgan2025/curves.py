"""Curves behind Figures 4-6 (mean G and D loss per epoch) and FID over training (Byeon et al. 2025).

Read from each run's ``metrics.jsonl``: training rows carry losses (``d_loss``, ``g_loss``,
PS-GAN's ``g_loss_0`` .. ``g_loss_{K-1}``) and ``epoch``; evaluation rows carry ``fid{N}`` and no
loss. Loss curves bin training rows by epoch (runs shorter than ``MIN_EPOCHS`` in bins of a
fraction of an epoch, ``bin_width``, so that a short run still draws a curve), average within a
run's bin, then average the runs (seeds) that have the bin. FID curves put each evaluation at epoch = step /
``trainer.steps_per_epoch`` and average the seeds evaluated at that epoch.
"""
from __future__ import annotations

import math
import re
import statistics

from ..runs import finite, read_rows
from .runs import StudyRun

G_KEY = re.compile(r"^g_loss_(\d+)$")


def row_epoch(row: dict, steps_per_epoch: int | None = None) -> float | None:
    """A row's epoch: its ``epoch``, else step / steps_per_epoch."""
    epoch = finite(row.get("epoch"))
    step = finite(row.get("step"))
    if epoch is None and step is not None and steps_per_epoch:
        epoch = step / steps_per_epoch
    return epoch


MIN_EPOCHS = 5
FRACTIONS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)


def bin_width(last_epoch: float) -> float:
    """1 epoch, or for a run of fewer than MIN_EPOCHS epochs the largest fraction giving >= 10 bins."""
    if last_epoch >= MIN_EPOCHS:
        return 1.0
    return next((f for f in FRACTIONS if last_epoch / f >= 10), FRACTIONS[-1])


def epoch_means(rows: list[dict], key: str, steps_per_epoch: int | None = None, width: float = 1.0
                ) -> dict[float, float]:
    """Mean of ``key`` over the rows of each bin [b, b + width) of epochs, keyed by b."""
    bins: dict[float, list[float]] = {}
    for row in rows:
        v, e = finite(row.get(key)), row_epoch(row, steps_per_epoch)
        if v is not None and e is not None:
            bins.setdefault(round(math.floor(e / width + 1e-9) * width, 6), []).append(v)
    return {b: statistics.fmean(vs) for b, vs in sorted(bins.items())}


def mean_over_runs(curves: list[dict]) -> dict:
    """Per x: the mean over the curves that have x."""
    xs = sorted({x for c in curves for x in c})
    return {x: statistics.fmean(c[x] for c in curves if x in c) for x in xs}


def loss_keys(rows: list[dict]) -> list[str]:
    """``d_loss`` and the generator losses: ``g_loss_k`` per generator if logged, else ``g_loss``."""
    per_g = sorted({k for r in rows for k in r if G_KEY.match(k)},
                   key=lambda k: int(G_KEY.match(k).group(1)))
    return ["d_loss", *(per_g or ["g_loss"])]


def last_epoch(runs: list[StudyRun]) -> float:
    """The latest epoch any of the runs' rows reached."""
    epochs = [row_epoch(row, r.steps_per_epoch) for r in runs for row in read_rows(r.run.path / "metrics.jsonl")]
    return max((e for e in epochs if e is not None), default=0.0)


def loss_curves(runs: list[StudyRun], width: float = 1.0) -> dict[str, dict[float, float]]:
    """Figures 4-6 for one model: per loss key, the mean over runs of the per-bin means."""
    rows = {id(r): read_rows(r.run.path / "metrics.jsonl") for r in runs}
    keys = list(dict.fromkeys(k for r in runs for k in loss_keys(rows[id(r)])))
    out = {}
    for key in keys:
        curves = [epoch_means(rows[id(r)], key, r.steps_per_epoch, width) for r in runs]
        curve = mean_over_runs([c for c in curves if c])
        if curve:
            out[key] = curve
    return out


def fid_curve(rows: list[dict], key: str, steps_per_epoch: int | None) -> dict[float, float]:
    """One run's FID over training: epoch (step / steps_per_epoch) -> ``key``."""
    out = {}
    for row in rows:
        v = finite(row.get(key))
        step = finite(row.get("step"))
        e = step / steps_per_epoch if step is not None and steps_per_epoch else \
            finite(row.get("epoch"))
        if v is not None and e is not None:
            out[round(e, 6)] = v
    return out


def mean_fid_curve(runs: list[StudyRun], key: str) -> dict[float, float]:
    """FID over training for one model: per epoch, the mean over the seeds evaluated there."""
    curves = [fid_curve(read_rows(r.run.path / "metrics.jsonl"), key, r.steps_per_epoch)
              for r in runs]
    return mean_over_runs([c for c in curves if c])
