"""The FID table of Study B (Kwak & Ko): per variant, final and best FID, diversity and collapse.

Final FID: mean ± sample std (ddof=1) over the completed seeds of result.json's ``fid<N>`` (the
last evaluation's when result.json has none), ``(n)`` = seeds averaged; the cell reads like Study
A's (``cells.cell_text``). Best FID: the mean over completed seeds of each run's minimum over its
evaluations, with the epoch(s) at which those minima fell. Diversity: the mean final ``div<N>``.
Collapse: result.json's ``collapse.epoch`` per completed seed, ``—`` when the run never collapsed.
There are no published numbers for this study, so nothing stands beside ours.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from .. import cells
from ..cells import Cell
from ..keys import choose_fid_key, judging_key, sample_count
from ..tables import Table
from ..keys import KEY_RE
from .runs import LABELS, ORDER, StudyRun, fmt_epoch

DASH = "—"


def choose_div_key(runs: list[StudyRun]) -> str | None:
    """The ``div<N>`` key most completed runs report (ties: more samples), else a collapse key."""
    counts = Counter(k for r in runs if r.run.status == "completed" for k in r.run.metrics
                     if KEY_RE["div"].match(k) and r.run.value(k) is not None)
    if counts:
        return max(counts, key=lambda k: (counts[k],
                                          sample_count(KEY_RE["div"].match(k).group(1))))
    return next((r.collapse.key for r in runs if r.collapse.key), None)


def final(r: StudyRun, key: str | None) -> float | None:
    """The run's final ``key``: result.json's metric, else its last evaluation's value."""
    if key is None:
        return None
    value = r.run.value(key)
    curve = r.curve(key)
    return value if value is not None else curve[max(curve)] if curve else None


def best(r: StudyRun, key: str | None) -> tuple[float, float] | None:
    """(minimum ``key`` over the run's evaluations, first epoch it was reached), None if none."""
    curve = r.curve(key)
    if not curve:
        return None
    low = min(curve.values())
    return low, min(e for e, v in curve.items() if v == low)


@dataclass
class Stats:
    """Study B runs (any status) and the metric keys the report reads."""

    runs: list[StudyRun]
    fid_key: str | None
    div_key: str | None
    judged_on: str | None = None  # what the FID observations are judged on when not fid_key: at small n, KID
    judged: str = ""  # the report's note when that is not FID at full scale (keys.judging_key)

    @property
    def judge_key(self) -> str | None:
        return self.judged_on or self.fid_key

    @property
    def judge_label(self) -> str:
        return "KID" if (self.judge_key or "").startswith("kid") else "FID"

    def of(self, variant: str, completed: bool = True) -> list[StudyRun]:
        """Runs of ``variant`` (completed ones only by default), in seed order."""
        return [r for r in self.runs if r.variant == variant
                and (r.run.status == "completed" or not completed)]

    def fid_cell(self, variant: str) -> Cell:
        """Final FID over seeds; runs that did not complete are counted, not averaged."""
        cell = Cell()
        for r in self.of(variant, completed=False):
            cell.count(r.run, final(r, self.fid_key) if r.run.status == "completed" else None)
        return cell

    def mean_final(self, variant: str, key: str | None) -> float | None:
        """Mean final ``key`` over the completed seeds of ``variant``."""
        vals = [v for r in self.of(variant) if (v := final(r, key)) is not None]
        return statistics.fmean(vals) if vals else None

    def best_fid(self, variant: str) -> tuple[float | None, list[float]]:
        """(mean over seeds of each run's best FID, the distinct epochs of those bests)."""
        bests = [b for r in self.of(variant) if (b := best(r, self.fid_key))]
        if not bests:
            return None, []
        return statistics.fmean(v for v, _ in bests), sorted({e for _, e in bests})

    @property
    def sample_epochs(self) -> list[float]:
        """Sorted union of every run's ``trainer.sample_at_epochs``."""
        return sorted({e for r in self.runs for e in r.sample_epochs})

    @property
    def dataset_size(self) -> int | None:
        """The smallest training set any run used (None when no run says)."""
        sizes = [r.dataset_size for r in self.runs if r.dataset_size is not None]
        return min(sizes) if sizes else None

    @property
    def thresholds(self) -> list[float]:
        """Distinct collapse thresholds of the runs."""
        return sorted({r.collapse.threshold for r in self.runs
                       if r.collapse.threshold is not None})


def collapse_text(runs: list[StudyRun]) -> str:
    """``seed 0: 15; seed 1: —``: each run's collapse epoch."""
    return "; ".join(f"seed {r.run.seed}: {fmt_epoch(r.collapse.epoch)}" for r in runs) or DASH


def epochs_text(epochs: list[float]) -> str:
    """``epoch 10`` / ``epochs 10, 20`` / empty."""
    if not epochs:
        return ""
    return ("epoch " if len(epochs) == 1 else "epochs ") + ", ".join(map(fmt_epoch, epochs))


def _row(stats: Stats, v: str) -> tuple[list, list]:
    """(Markdown row, csv row) of variant ``v``."""
    done, every = stats.of(v), stats.of(v, completed=False)
    cell, (best_mean, best_epochs) = stats.fid_cell(v), stats.best_fid(v)
    div = stats.mean_final(v, stats.div_key)
    fid_text, collapsed = cells.cell_text(cell, "fid"), sum(r.collapse.collapsed for r in done)
    best_text = f"{cells.num(best_mean)} ({epochs_text(best_epochs)})" \
        if best_mean is not None else DASH
    md = [LABELS[v], f"{len(done)}/{len(every)}", fid_text, best_text,
          cells.num(div) or DASH, collapse_text(done), f"{collapsed}/{len(done)}"]
    csv_row = [v, LABELS[v], len(done), len(every), stats.fid_key or "", cells.num(cell.mean),
               cells.num(cell.std), cell.n, fid_text, cells.num(best_mean),
               ", ".join(map(fmt_epoch, best_epochs)), stats.div_key or "", cells.num(div),
               collapse_text(done), collapsed, cell.n_diverged, cell.n_failed, cell.n_incomplete]
    return md, csv_row


def table_fid(stats: Stats) -> Table:
    """Final and best FID, diversity and collapse per variant (Kwak & Ko's FID over training)."""
    rows = [_row(stats, v) for v in ORDER]
    fid, div = f"`{stats.fid_key or 'none'}`", f"`{stats.div_key or 'none'}`"
    header = ["Variant", "runs (completed/all)", f"final FID ({fid})", "best FID (epoch)",
              f"final diversity ({div})", "collapse epoch per seed", "collapsed seeds"]
    csv_header = ["variant", "label", "completed", "runs", "fid_key", "fid_mean", "fid_sd",
                  "fid_n", "fid_text", "best_fid_mean", "best_fid_epochs", "div_key", "div_mean",
                  "collapse_epochs", "collapsed", "n_diverged", "n_failed", "n_incomplete"]
    notes = ["Final FID: mean ± sample std (ddof=1) over completed seeds, (n) = seeds averaged. "
             "Best FID: mean over seeds of each run's lowest FID over its evaluations, at the "
             "epoch(s) where those lows fell. Diversity: tr(cov) of generated over real pool3 "
             "features (1 = as diverse as the real data). Collapse: the first evaluation from "
             "which diversity stays below the threshold "
             f"({', '.join(f'{t:g}' for t in stats.thresholds) or 'not recorded'}); — = never. "
             "Kwak & Ko publish no numbers for this study."]
    return Table("table_fid", "FID, diversity and collapse per variant (FID lower is better)",
                    header, [m for m, _ in rows], csv_header, [c for _, c in rows], notes)


def build_stats(runs: list[StudyRun], fid_key: str | None = None) -> Stats:
    """Stats of ``runs`` with the FID key most runs report (or ``fid_key``), and the key its observations are
    judged on (keys.judging_key: KID on the same samples where FID's n is small)."""
    fid_key = fid_key or choose_fid_key([r.run for r in runs])
    judge_key, judged = judging_key([r.run for r in runs], fid_key)
    return Stats(runs, fid_key, choose_div_key(runs), judge_key if judge_key != fid_key else None, judged)
