"""Runs -> per-cell statistics (mean +- sample std over seeds), paper values and best marks.

Only *completed* runs with a finite value enter a mean. Diverged, failed and incomplete runs,
completed runs without the metric, and runs the grid expects but nobody started are counted per
cell and shown, never averaged in. The std is the sample std (ddof=1); it is undefined (None)
for a single value.

Best marks (as in the paper's tables, best = lowest FID / highest IS, compared at the displayed
two decimals so ties show as ties):
- ``best_dataset`` (rendered **bold**): best of all losses of one data set in one z_dim column;
- ``best_loss`` (rendered underlined): best z_dim of one loss on one data set (its row).
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from ..metrics.config import KEY_RE  # the key format is defined once, beside metric_key
from . import paper, protocol
from .grid import Grid
from .runs import Run

DECIMALS = 2


@dataclass
class Cell:
    """One table cell: a (dataset, loss, z_dim) over seeds."""

    dataset: str
    loss: str
    z_dim: int
    values: list[float] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=list)
    n_diverged: int = 0
    n_failed: int = 0
    n_incomplete: int = 0
    n_novalue: int = 0
    n_expected: int | None = None
    paper: float | None = None
    best_loss: bool = False
    best_dataset: bool = False
    # How the averaged runs depart from the full protocol (protocol.differences); empty = matches.
    differences: list = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of values averaged (completed runs with the metric)."""
        return len(self.values)

    @property
    def mean(self) -> float | None:
        """Mean over the completed seeds, None when there is none."""
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof=1) over the completed seeds; None below two."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def comparable(self) -> bool:
        """Whether the paper has a value, we have one, and every averaged run matches the
        full protocol (see ``protocol``)."""
        return self.mean is not None and self.paper is not None and not self.differences

    @property
    def diff(self) -> float | None:
        """Ours minus the paper (FID: positive = worse than published; IS: positive = better);
        None unless ``comparable``."""
        return self.mean - self.paper if self.comparable else None

    @property
    def n_runs(self) -> int:
        """Run folders found for this cell, whatever their status."""
        return self.n + self.n_novalue + self.n_diverged + self.n_failed + self.n_incomplete

    @property
    def n_missing(self) -> int:
        """Expected runs with no folder at all (0 when the expectation is unknown)."""
        return max(0, self.n_expected - self.n_runs) if self.n_expected else 0


@dataclass
class Table:
    """Table 3.1 (FID) or 3.2 (IS): cells over a grid, with what the values mean."""

    metric: str
    key: str | None
    grid: Grid
    cells: dict[tuple[str, str, int], Cell]
    higher_is_better: bool
    info: list[str]
    from_paper: bool = False  # cells hold the published means (one value each), not runs

    @property
    def available(self) -> bool:
        """Whether any cell has a value (IS is unavailable without the official weights)."""
        return any(c.n for c in self.cells.values())

    def cell(self, dataset: str, loss: str, z_dim: int) -> Cell:
        """The cell of (dataset, loss, z_dim)."""
        return self.cells[(dataset, loss, z_dim)]


def sample_count(tag: str) -> int:
    """Number of samples a key tag stands for: ``10k`` -> 10000, ``500`` -> 500."""
    return int(tag[:-1]) * 1000 if tag.endswith("k") else int(tag)


def choose_fid_key(runs: list[Run]) -> str | None:
    """The FID key most completed runs report (ties: more samples), e.g. ``fid10k``; else None."""
    counts = Counter(k for r in runs if r.status == "completed" for k in r.metrics
                     if KEY_RE["fid"].match(k) and r.value(k) is not None)
    if not counts:
        return None
    return max(counts, key=lambda k: (counts[k], sample_count(KEY_RE["fid"].match(k).group(1))))


def is_key_for(fid_key: str | None) -> str | None:
    """The IS key with the same sample tag as ``fid_key`` (``fid10k`` -> ``is10k``)."""
    return None if fid_key is None else "is" + fid_key[3:]


def build_table(runs: list[Run], metric: str, key: str | None, grid: Grid) -> Table:
    """Aggregate ``runs`` into a table of ``metric`` ("fid" or "is") read from ``key``."""
    ref = paper.paper_table(metric)
    cells = {(d, loss, z): Cell(d, loss, z, n_expected=grid.seeds_per_cell,
                                paper=ref.get((d, loss, z)))
             for d, loss in grid.rows() for z in grid.z_dims}
    for run in sorted(runs, key=lambda r: (r.seed is None, r.seed or 0)):
        cell = cells.get(run.cell) if run.cell else None
        if cell is not None:
            _add(cell, run, metric, key)
    table = Table(metric, key, grid, cells, higher_is_better=(metric == "is"),
                  info=describe_samples(runs, key))
    mark_best(table)
    return table


def _add(cell: Cell, run: Run, metric: str, key: str | None) -> None:
    """Count ``run`` into ``cell`` by its status; a completed value is averaged in."""
    if run.status == "completed":
        value = run.value(key) if key else None
        if value is None:
            cell.n_novalue += 1
        else:
            cell.values.append(value)
            cell.seeds.append(run.seed)
            if cell.paper is not None:
                for d in protocol.differences(run, metric, key):
                    if d not in cell.differences:
                        cell.differences.append(d)
    else:
        attr = f"n_{run.status}"
        setattr(cell, attr, getattr(cell, attr) + 1)


def mark_best(table: Table) -> None:
    """Set ``best_loss`` (per row across z) and ``best_dataset`` (per z across losses)."""
    groups: dict[tuple, list[Cell]] = {}
    for c in table.cells.values():
        if c.mean is not None:
            groups.setdefault(("loss", c.dataset, c.loss), []).append(c)
            groups.setdefault(("dataset", c.dataset, c.z_dim), []).append(c)
    pick = max if table.higher_is_better else min
    for (kind, *_), cells in groups.items():
        best = pick(round(c.mean, DECIMALS) for c in cells)
        for c in cells:
            if round(c.mean, DECIMALS) == best:
                setattr(c, f"best_{kind}", True)


def describe_samples(runs: list[Run], key: str | None) -> list[str]:
    """One line per distinct sample setting behind ``key`` (samples, real, split, weights)."""
    if key is None:
        return []
    seen = Counter()
    for r in runs:
        if r.status == "completed" and r.value(key) is not None:
            i = r.metric_info
            keys = ("num_samples", "num_real", "real_split", "weights", "mode")
            seen[tuple(i.get(k) for k in keys)] += 1
    return [f"{key}: {s} generated vs {nr} real images ({sp} split), Inception weights {w}"
            f"{', fast mode (TF32, channels-last)' if mode == 'fast' else ''} ({n} runs)"
            for (s, nr, sp, w, mode), n in sorted(seen.items(), key=str)]


def counts_by_status(runs: list[Run]) -> dict[str, int]:
    """Number of runs per status (completed, diverged, failed, incomplete)."""
    c = Counter(r.status for r in runs)
    return {s: c.get(s, 0) for s in ("completed", "diverged", "failed", "incomplete")}
