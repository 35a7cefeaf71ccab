"""Reports by study: the grid's own report by default, a paper's plug-in for its experiment's runs.

Every run's resolved config names its study: ``study: null`` (the default: a researcher's own grid,
reported by ``gridreport``), ``lee2018`` for Study A (Lee & Seok 2018), ``kwak_ko`` for Study B (Kwak &
Ko, spectral norm and AdaIN for faces), ``psgan2025`` for Study C (Byeon, Park & Yang 2025); a paper's
experiment file sets it. A run whose config lacks the key predates it and is a Study A run; a folder
with no config at all (killed before it wrote one) says nothing and is not counted. A sweep whose runs
name several studies is refused (``--study grid`` reports any sweep as a grid).

A plug-in is a ``Plugin``: ``build(sweep_dirs, args) -> report``, ``has_runs(report)``,
``write(report, out_dir) -> Path`` and ``summary_lines(report)`` (printed before the report
path), optionally ``push(report, out_dir) -> str`` for ``--wandb``. A new study is one package
``ganexp/results/<study>/`` whose ``__init__`` defines ``PLUGIN`` (found by its folder, no list to
edit), plus the experiment file that sets ``study: <study>``.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .runs import find_run_dirs, load_run

GRID = "grid"
OLDEST_STUDY = "lee2018"  # runs from before the `study` key were all Study A's
RESULTS = Path(__file__).parent


def known() -> list[str]:
    """``grid`` and every study plug-in: each package under ganexp/results is one (its ``PLUGIN``)."""
    return [GRID] + sorted(m.name for m in pkgutil.iter_modules([str(RESULTS)]) if m.ispkg)


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
    """The plug-in of study ``name`` (``grid``: the grid's own report)."""
    if name == GRID:
        return GRID_REPORT
    if name not in known():
        raise StudyError(f"no results plug-in for study {name!r} (known: {', '.join(known())}).")
    return importlib.import_module(f"{__package__}.{name}").PLUGIN


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
