"""Study A's Tables 3.1/3.2: runs -> cells (``cells.Cell``: mean ± sample std over seeds, status
counts) at (dataset, loss, z_dim), with the paper's values and best marks.

Best marks (as in the paper's tables, best = lowest FID / highest IS, compared at the displayed
two decimals so ties show as ties):
- ``best_dataset`` (rendered **bold**): best of all losses of one data set in one z_dim column;
- ``best_loss`` (rendered underlined): best z_dim of one loss on one data set (its row).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..cells import Cell as CoreCell
from ..cells import DECIMALS
from ..keys import describe_samples
from . import paper, protocol
from ..runs import Run
from .grid import Grid
from .runs import cell_of



@dataclass
class Cell(CoreCell):
    """One cell of Table 3.1/3.2: a (dataset, loss, z_dim) over seeds, beside the paper's value."""

    dataset: str
    loss: str
    z_dim: int
    paper: float | None = None
    best_loss: bool = False
    best_dataset: bool = False
    # How the averaged runs depart from the full protocol (protocol.differences); empty = matches.
    differences: list = field(default_factory=list)

    def marks(self) -> tuple[bool, bool]:
        """Underlined = best d of its loss; bold = best loss of its data set at that d."""
        return self.best_loss, self.best_dataset

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
    def label(self) -> str:
        """The metric's name as the findings print it: FID, KID, IS."""
        return self.metric.upper()

    @property
    def available(self) -> bool:
        """Whether any cell has a value (IS is unavailable without the official weights)."""
        return any(c.n for c in self.cells.values())

    def cell(self, dataset: str, loss: str, z_dim: int) -> Cell:
        """The cell of (dataset, loss, z_dim)."""
        return self.cells[(dataset, loss, z_dim)]


def build_table(runs: list[Run], metric: str, key: str | None, grid: Grid) -> Table:
    """Aggregate ``runs`` into a table of ``metric`` ("fid", "is", or "kid": no published values) read from ``key``."""
    ref = paper.paper_table(metric) if metric in ("fid", "is") else {}
    cells = {(d, loss, z): Cell(d, loss, z, n_expected=grid.seeds_per_cell,
                                paper=ref.get((d, loss, z)))
             for d, loss in grid.rows() for z in grid.z_dims}
    for run in sorted(runs, key=lambda r: (r.seed is None, r.seed or 0)):
        cell = cells.get(cell_of(run)) if cell_of(run) else None
        if cell is not None:
            _add(cell, run, metric, key)
    table = Table(metric, key, grid, cells, higher_is_better=(metric == "is"),
                  info=describe_samples(runs, key))
    mark_best(table)
    return table


def _add(cell: Cell, run: Run, metric: str, key: str | None) -> None:
    """Count ``run`` into ``cell``; an averaged run's departures from the protocol are noted."""
    if cell.count(run, run.value(key) if key else None) and cell.paper is not None:
        for d in protocol.differences(run, metric, key):
            if d not in cell.differences:
                cell.differences.append(d)


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
