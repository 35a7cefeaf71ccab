"""Study A results plug-in: loss × latent dimension (Lee & Seok 2018, Tables 3.1/3.2, Figures 3.1-3.6).

Its cell is (dataset, loss, z_dim) (``runs.py``); ``aggregate.py`` and ``render.py`` make the paper's
tables beside its numbers (``paper.py``, under the protocol of ``protocol.py``), ``figures.py`` its
figures, ``claims.py`` checks its four claims; ``report.py`` assembles them, ``push.py`` sends them to W&B.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..studies import Plugin
from ..report import counts_line
from .report import Report, build_report, write_report

TITLE = "Study A — loss × latent dimension (Lee & Seok 2018)"


def build(sweep_dirs: list[Path], args: argparse.Namespace | None = None) -> Report:
    """``report.build_report`` with the CLI options."""
    return build_report(sweep_dirs, paper_grid=getattr(args, "paper_grid", False),
                        seeds=getattr(args, "seeds", None), fid_key=getattr(args, "fid_key", None))


def summary_lines(report: Report) -> list[str]:
    """Study A's run counts and one line per claim."""
    c = report.counts
    lines = [f"{counts_line(c)}, {c['missing']} missing"]
    return lines + [f"claim {f.claim}: {f.verdict}" + (f": {f.reason}" if f.reason else "")
                    for f in report.findings]


def push(report: Report, out: Path) -> str:
    """Tables, findings and figures to W&B (wandb is imported only here)."""
    from .push import push as push_report

    return push_report(report, out)


PLUGIN = Plugin(name="lee2018", title=TITLE, build=build, has_runs=lambda report: bool(report.runs),
                write=write_report, summary_lines=summary_lines, push=push)

__all__ = ["PLUGIN", "Report", "build", "build_report", "write_report", "summary_lines"]
