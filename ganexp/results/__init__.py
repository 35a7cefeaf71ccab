"""Finished run folders -> a report: the grid's own by default, a paper's for its experiment's runs.

The study-free core, whose public names the study plug-ins import: ``runs`` (find and read run folders),
``sweep`` (swept keys, configurations), ``cells`` and ``stats`` (values over seeds, Welch intervals),
``keys`` (metric keys), ``tables`` (csv / Markdown / LaTeX), ``findings`` (verdicts, findings.json),
``report`` (assembly), ``plotting``, ``reference`` (published numbers), ``wandb_push``; ``gridreport`` and
``gridfigures`` (the default report). One package per paper: ``lee2018`` (Study A), ``kwak_ko`` (Study B),
``psgan2025`` (Study C), found by ``studies``.

``python -m ganexp.results SWEEP_DIR... [--out DIR] [--study NAME] [--wandb]``; see ``__main__.py``.
Reads run folders only; W&B is touched only by ``wandb_push`` (``--wandb``).
"""
from .findings import Finding
from .runs import Run, collect_all, find_run_dirs, load_run
from .studies import Plugin, choose, known, plugin
from .tables import Table

__all__ = ["Finding", "Run", "collect_all", "find_run_dirs", "load_run", "Plugin", "choose", "known",
           "plugin", "Table"]
