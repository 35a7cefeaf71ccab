"""Study A's report to W&B: Tables 3.1/3.2 cell by cell and the findings (``wandb_push.push_tables``)."""
from __future__ import annotations

from pathlib import Path

from ..wandb_push import push_tables
from . import render
from .aggregate import Table
from .report import TABLE_FILES, Report

CELL_COLUMNS = ["dataset", "loss", "z_dim", "key", "mean", "std", "n", "n_expected", "n_diverged",
                "n_failed", "n_incomplete", "n_novalue", "n_missing", "paper", "diff",
                "protocol_match", "protocol_differences", "best_loss", "best_dataset", "text"]


def cell_rows(table: Table) -> list[list]:
    """Typed rows (numbers or None) of every cell, columns ``CELL_COLUMNS``."""
    rows = []
    for d, loss in table.grid.rows():
        for z in table.grid.z_dims:
            c = table.cell(d, loss, z)
            rows.append([d, loss, z, table.key, c.mean, c.std, c.n, c.n_expected, c.n_diverged,
                         c.n_failed, c.n_incomplete, c.n_novalue, c.n_missing, c.paper, c.diff,
                         c.comparable if c.paper is not None and c.mean is not None else None,
                         render.differences_text(c), c.best_loss, c.best_dataset,
                         render.cell_text(c, table.metric)])
    return rows


def push(report: Report, out: Path) -> str:
    """Log Study A's ``report`` (already written to ``out``) to W&B; returns a one-line description."""
    tables = {TABLE_FILES[t.metric]: (CELL_COLUMNS, cell_rows(t)) for t in (report.fid, report.inception)}
    tables["findings"] = (["claim", "title", "ours", "paper", "criterion", "details"],
                          [[f.claim, f.title, f.verdict, p.verdict, f.criterion, "\n".join(f.details) or f.reason]
                           for f, p in zip(report.findings, report.paper_findings)])
    return push_tables(report.runs, report.sweep_dirs, out, tables, report.files,
                       {f"runs/{k}": v for k, v in report.counts.items()}, {"fid_key": report.fid.key})
