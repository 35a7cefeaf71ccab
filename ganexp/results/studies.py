"""Reports by study: the grid's own report by default, a paper's plug-in for its experiment's runs.

Every run's resolved config names its study: ``study: null`` (the default: a researcher's own grid,
reported by ``gridreport``), ``lee2018`` for Study A (Lee & Seok 2018), ``kwak_ko`` for Study B (Kwak &
Ko, spectral norm and AdaIN for faces), ``psgan2025`` for Study C (Byeon, Park & Yang 2025); a paper's
experiment file sets it. A run whose config lacks the key predates it and is a Study A run; a folder
with no config at all (killed before it wrote one) says nothing and is not counted. A sweep whose runs
name several studies is refused (``--study grid`` reports any sweep as a grid).

A plug-in is a ``Plugin``: ``build(sweep_dirs, args) -> report``, ``has_runs(report)``,
``write(report, out_dir) -> Path`` and ``summary_lines(report)`` (printed before the report
path), optionally ``push(report, out_dir) -> str`` for ``--wandb``. A new study is one module
defining a ``Plugin`` plus one line in ``REGISTRY``.
"""
from __future__ import annotations

import argparse
import importlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .runs import find_run_dirs, load_run

GRID = "grid"
OLDEST_STUDY = "lee2018"  # runs from before the `study` key were all Study A's
# Study name -> "module:attribute" of its Plugin (imported only when that study is reported).
REGISTRY = {GRID: "ganexp.results.studies:GRID_REPORT", "lee2018": "ganexp.results.studies:LEE2018",
            "psgan2025": "ganexp.results.psgan:PLUGIN",
            "kwak_ko": "ganexp.results.norms:PLUGIN"}


@dataclass(frozen=True)
class Plugin:
    """The results layer of one study (see the module docstring)."""

    name: str
    title: str
    build: Callable[[list[Path], argparse.Namespace], Any]
    has_runs: Callable[[Any], bool]
    write: Callable[[Any, Path], Path]
    summary_lines: Callable[[Any], list[str]]
    push: Callable[[Any, Path], str] | None = None


class StudyError(ValueError):
    """The sweep cannot be reported by one plug-in (mixed or unknown studies)."""


def plugin(name: str) -> Plugin:
    """The registered plug-in of study ``name``."""
    if name not in REGISTRY:
        raise StudyError(f"no results plug-in for study {name!r} (known: {', '.join(REGISTRY)}).")
    module, attr = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)


def study_of(config: dict) -> str | None:
    """The study a run config belongs to: ``grid`` for ``study: null``, ``lee2018`` without the key,
    None without a config."""
    if not config:
        return None
    if "study" not in config:
        return OLDEST_STUDY
    return str(config["study"] or GRID)


def studies_found(sweep_dirs: list[Path]) -> Counter:
    """Runs per study under the sweep folders (folders without a config are not counted)."""
    found = (study_of(load_run(d).config) for s in sweep_dirs for d in find_run_dirs(Path(s)))
    return Counter(s for s in found if s is not None)


def choose(sweep_dirs: list[Path], forced: str | None = None) -> Plugin:
    """The plug-in for ``sweep_dirs``: ``forced`` if given, else the one study the runs name."""
    if forced:
        return plugin(forced)
    found = studies_found(sweep_dirs)
    if len(found) > 1:
        names = " and ".join(f"{s} ({n} runs)" for s, n in sorted(found.items()))
        raise StudyError(f"the sweep mixes runs of the studies {names}; pass one study's sweep "
                         "folder (or --study NAME).")
    return plugin(next(iter(found), GRID))


def _lee2018_build(sweep_dirs: list[Path], args: argparse.Namespace):
    """Study A (Lee & Seok 2018, Tables 3.1/3.2): ``report.build_report`` with the CLI options."""
    from .report import build_report

    return build_report(sweep_dirs, paper_grid=getattr(args, "paper_grid", False),
                        seeds=getattr(args, "seeds", None), fid_key=getattr(args, "fid_key", None))


def _lee2018_write(report, out: Path) -> Path:
    from .report import write_report

    return write_report(report, out)


def _lee2018_lines(report) -> list[str]:
    """Study A's run counts and one line per claim."""
    c = report.counts
    lines = [f"runs: {c['completed']} completed, {c['diverged']} diverged, {c['failed']} failed, "
             f"{c['incomplete']} incomplete, {c['missing']} missing"]
    return lines + [f"claim {f.claim}: {f.verdict}" + (f": {f.reason}" if f.reason else "")
                    for f in report.findings]


def _lee2018_push(report, out: Path) -> str:
    from .wandb_push import push  # imported only here: aggregation never imports wandb

    return push(report, out)


LEE2018 = Plugin(name="lee2018", title="Study A — loss × latent dimension (Lee & Seok 2018)",
                 build=_lee2018_build, has_runs=lambda report: bool(report.runs),
                 write=_lee2018_write, summary_lines=_lee2018_lines, push=_lee2018_push)


def _grid_build(sweep_dirs: list[Path], args: argparse.Namespace):
    from . import gridreport

    return gridreport.build(sweep_dirs, args)


def _grid_write(report, out: Path) -> Path:
    from . import gridreport

    return gridreport.write(report, out)


def _grid_lines(report) -> list[str]:
    from . import gridreport

    return gridreport.summary_lines(report)


def _grid_push(report, out: Path) -> str:
    from . import gridreport

    return gridreport.push(report, out)


GRID_REPORT = Plugin(name=GRID, title="A grid, reported as it was run", build=_grid_build,
                     has_runs=lambda report: bool(report.runs), write=_grid_write,
                     summary_lines=_grid_lines, push=_grid_push)
