"""The experiment grid a sweep was meant to cover, so missing runs are counted, not ignored.

Sources, merged per axis (dataset, loss, z_dim, seed):
1. Hydra's ``multirun.yaml`` in a sweep folder: ``hydra.sweeper.params`` and the sweep overrides
   in ``hydra.overrides.task`` (``a,b,c``, ``range(a,b[,step])``, ``choice(a,b)``).
2. The values seen in the run folders themselves.
3. With ``paper=True``, the paper's whole grid (4 data sets x 7 losses x d in 1..100).
The expected cells are the product of the axes; the expected seeds per cell are the number of
distinct seeds (or the explicit ``seeds`` count).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import paper
from ..runs import Run
from ..sweep import sweep_values

AXES = ("dataset", "loss", "z_dim", "seed")


@dataclass
class Grid:
    """Expected rows, columns and seeds of a results table."""

    datasets: list[str]
    losses: list[str]
    z_dims: list[int]
    seeds_per_cell: int | None
    source: str

    def rows(self) -> list[tuple[str, str]]:
        """(dataset, loss) rows in the paper's order."""
        return [(d, loss) for d in self.datasets for loss in self.losses]


parse_sweep_value = sweep_values  # the core's reader of Hydra's sweep syntax


def _multirun_axes(sweep_dir: Path) -> dict[str, list[str]]:
    """Axis values from a sweep folder's ``multirun.yaml`` (empty when absent/unreadable)."""
    import yaml

    path = Path(sweep_dir) / "multirun.yaml"
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    hydra = cfg.get("hydra") or {}
    params = dict(((hydra.get("sweeper") or {}).get("params") or {}))
    for item in ((hydra.get("overrides") or {}).get("task") or []):
        key, _, value = str(item).partition("=")
        params[key] = value
    axes: dict[str, list[str]] = {}
    for key, value in params.items():
        key = key.lstrip("+~")
        if key in AXES and (values := parse_sweep_value(value)):
            axes[key] = values
    return axes


def infer_grid(runs: list[Run], sweep_dirs: list[Path], paper_grid: bool = False,
               seeds: int | None = None) -> Grid:
    """The grid the sweeps were meant to cover (see the module docstring)."""
    sets: dict[str, set] = {a: set() for a in AXES}
    sources = ["run folders"]
    for run in runs:
        for axis, value in zip(AXES, (run.dataset, run.loss, run.z_dim, run.seed)):
            if value is not None:
                sets[axis].add(value)
    for sweep in sweep_dirs:
        axes = _multirun_axes(sweep)
        if axes:
            sources.append(f"{Path(sweep).name}/multirun.yaml")
        for axis, values in axes.items():
            sets[axis].update(_typed(axis, v) for v in values)
    for values in sets.values():
        values.discard(None)
    if paper_grid:
        sets["dataset"].update(paper.DATASETS)
        sets["loss"].update(paper.LOSSES)
        sets["z_dim"].update(paper.Z_DIMS)
        sources.append("paper grid")
    n_seeds = seeds if seeds is not None else (len(sets["seed"]) or None)
    return Grid(datasets=sorted(sets["dataset"], key=lambda d: paper.order_key(paper.DATASETS, d)),
                losses=sorted(sets["loss"], key=lambda loss: paper.order_key(paper.LOSSES, loss)),
                z_dims=sorted(sets["z_dim"]), seeds_per_cell=n_seeds, source=" + ".join(sources))


def _typed(axis: str, value: str):
    """z_dim and seed are integers; unparsable values are dropped (None)."""
    if axis in ("z_dim", "seed"):
        try:
            return int(value)
        except ValueError:
            return None
    return value
