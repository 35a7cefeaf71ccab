"""A table cell over seeds: the values averaged and every run that was not, and how a cell reads.

Only *completed* runs with a finite value enter a mean. Diverged, failed and incomplete runs, completed
runs without the metric, and runs a grid expects but nobody started are counted and shown, never
averaged in. The std is the sample std (ddof = 1), undefined (None) for a single value.

A cell reads ``mean ± std (n)``; anything else in the cell follows a semicolon
(``12.00 ± 1.41 (2; 1 diverged)``). A cell without a value says why (``diverged (3/3)``,
``failed (1/3), missing (2/3)``, ``— (0/3)``, ``unavailable (3/3)``).
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from .runs import Run

DECIMALS = 2
STATUSES = ("completed", "diverged", "frozen", "failed", "incomplete")


@dataclass(kw_only=True)
class Cell:
    """One table cell over seeds (a study's subclass adds its coordinates and the paper's value)."""

    values: list[float] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=list)
    n_diverged: int = 0
    n_frozen: int = 0
    n_failed: int = 0
    n_incomplete: int = 0
    n_novalue: int = 0
    n_expected: int | None = None

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
    def n_runs(self) -> int:
        """Run folders found for this cell, whatever their status."""
        return self.n + self.n_novalue + self.n_diverged + self.n_frozen + self.n_failed + self.n_incomplete

    @property
    def n_missing(self) -> int:
        """Expected runs with no folder at all (0 when the expectation is unknown)."""
        return max(0, self.n_expected - self.n_runs) if self.n_expected else 0

    def marks(self) -> tuple[bool, bool]:
        """(underlined, bold): a study's best marks; none by default."""
        return False, False

    def count(self, run: Run, value: float | None) -> bool:
        """Count ``run`` by its status; a completed run's ``value`` is averaged in (True), a completed run
        without one counts as "no value"."""
        if run.status != "completed":
            setattr(self, f"n_{run.status}", getattr(self, f"n_{run.status}") + 1)
            return False
        if value is None:
            self.n_novalue += 1
            return False
        self.values.append(value)
        self.seeds.append(run.seed)
        return True


@dataclass(frozen=True)
class Style:
    """How marks and symbols are written in one output format."""

    bold: Callable[[str], str]
    under: Callable[[str], str]
    pm: str
    dash: str
    delta: str


PLAIN = Style(lambda s: s, lambda s: s, " ± ", "—", "Δ")
MARKDOWN = Style(lambda s: f"**{s}**", lambda s: f"<u>{s}</u>", " ± ", "—", "Δ")
LATEX = Style(lambda s: rf"\textbf{{{s}}}", lambda s: rf"\underline{{{s}}}", r" $\pm$ ", "---", r"$\Delta$")


def num(x: float | None, signed: bool = False, decimals: int = DECIMALS) -> str:
    """A number at the table's precision (``+1.23`` when signed); empty for None."""
    if x is None:
        return ""
    return f"{x:+.{decimals}f}" if signed else f"{x:.{decimals}f}"


def cell_text(cell: Cell, metric: str, style: Style = PLAIN, decimals: int = DECIMALS) -> str:
    """A cell's value with marks and counts, or the reason there is no value; ``decimals``: the metric's own
    precision where it has one (KID's values are hundredths: four decimals)."""
    novalue = "unavailable" if metric == "is" else "no value"
    extra = [(cell.n_diverged, "diverged"), (cell.n_frozen, "frozen"), (cell.n_failed, "failed"),
             (cell.n_incomplete, "incomplete"),
             (cell.n_novalue, novalue), (cell.n_missing, "missing")]
    extra = [(k, label) for k, label in extra if k]
    if cell.n:
        core = num(cell.mean, decimals=decimals) + (style.pm + num(cell.std, decimals=decimals)
                                                    if cell.std is not None else "")
        underline, bold = cell.marks()
        core = style.under(core) if underline else core
        core = style.bold(core) if bold else core
        return f"{core} ({cell.n}{''.join(f'; {k} {label}' for k, label in extra)})"
    total = max(cell.n_expected or 0, cell.n_runs)
    if not cell.n_runs:
        return style.dash + (f" (0/{total})" if total else "")
    if extra == [(total, novalue)]:
        return novalue  # every expected run completed without the metric (e.g. IS without logits)
    return ", ".join(f"{label} ({k}/{total})" for k, label in extra)


def counts_by_status(runs: list[Run]) -> dict[str, int]:
    """Number of runs per status (completed, diverged, frozen, failed, incomplete)."""
    c = Counter(r.status for r in runs)
    return {s: c.get(s, 0) for s in STATUSES}
