"""Study A's runs: a run's cell is its (dataset, loss, z_dim); one run per cell and seed is kept."""
from __future__ import annotations

from pathlib import Path

from ..runs import Run, collect_all, dedupe_by


def cell_of(run: Run) -> tuple | None:
    """(dataset, loss, z_dim), or None when the config does not say."""
    if None in (run.dataset, run.loss, run.z_dim):
        return None
    return (run.dataset, run.loss, run.z_dim)


def dedupe(runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """Keep one run per (cell, seed): the best status, then the newest folder.

    Returns (kept, dropped); runs without a cell or seed are always kept.
    """
    return dedupe_by(runs, lambda r: None if cell_of(r) is None or r.seed is None
                     else (*cell_of(r), r.seed), lambda r: r)


def collect_runs(sweep_dirs: list[Path]) -> tuple[list[Run], list[Run]]:
    """All runs under the sweep folders, deduplicated: (runs, dropped duplicates)."""
    return dedupe(collect_all(sweep_dirs))
