"""Collect finished run folders into a study's tables, figures and findings: one plug-in per study
(``studies.py``: ``lee2018`` = Study A, whose modules are the ones imported below; ``psgan2025`` =
Study C in ``psgan/``).

``python -m ganexp.results SWEEP_DIR... [--out DIR] [--study NAME] [--wandb]``; see ``__main__.py``.
Reads run folders only; W&B is touched only by ``ganexp.results.wandb_push`` (``--wandb``).
"""
from .aggregate import Cell, Table, build_table
from .findings import Finding, all_findings
from .grid import Grid, infer_grid
from .report import Report, build_report, write_report
from .runs import Run, collect_runs, find_run_dirs, load_run

__all__ = ["Cell", "Table", "build_table", "Finding", "all_findings", "Grid", "infer_grid",
           "Report", "build_report", "write_report", "Run", "collect_runs", "find_run_dirs",
           "load_run"]
