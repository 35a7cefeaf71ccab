"""Which keys a grid varied, and which configuration each run belongs to.

A run's *configuration* is its resolved config without the seed and without the keys that never change
a result (where it ran, where it logged, folders; ``NOT_IDENTITY``). Runs of one configuration are the
seeds of one table row; runs whose configurations differ are never merged, whatever their folder names.

The *swept keys* name the rows: every override key that takes more than one value over the runs (each
run's ``.hydra/overrides.yaml``, else its folder name) or that ``multirun.yaml`` sweeps, in the order
the command line gave them. Where two configurations still share every swept value (a yaml edited
between runs, a key the command did not name), the config leaves that tell them apart become columns too.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .runs import Run, read_yaml

SEED = "seed"
# Top-level keys or key prefixes that never change what a run computes (Hydra's override_dirname
# exclusions in conf/train.yaml, plus the report-only ``study``).
NOT_IDENTITY = ("experiment", "sweep", "data_root", "force", "study", "logger", "hydra", "launch", "data",
                "dataset.root", "dataset.decode_workers", "trainer.accelerator", "trainer.devices",
                "trainer.compile", "metrics.cache_dir", "metrics.inception_weights")


def is_identity(key: str) -> bool:
    """Whether a dotted key can change a run's result (so it separates configurations)."""
    key = key.lstrip("+~")
    return not any(key == p or key.startswith(p + ".") or key.startswith(p + "/") for p in NOT_IDENTITY)


def flatten(node, prefix: str = "") -> dict[str, str]:
    """``{"a.b": "1", ...}``: every leaf of a nested config as a string."""
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: str(node)}


def identity(run: Run) -> tuple:
    """The run's configuration: its identity leaves without the seed, as a sorted tuple."""
    leaves = flatten(run.config)
    return tuple(sorted((k, v) for k, v in leaves.items() if k != SEED and is_identity(k)))


def parse_overrides(items) -> dict[str, str]:
    """``["loss=lsgan", "+x=1"]`` -> ``{"loss": "lsgan", "x": "1"}`` (Hydra's own keys dropped)."""
    out = {}
    for item in items or []:
        key, eq, value = str(item).partition("=")
        key = key.lstrip("+~")
        if eq and not key.startswith("hydra"):
            out[key] = value
    return out


def folder_overrides(name: str) -> dict[str, str]:
    """Overrides read back from a folder named by Hydra's override_dirname (``a=1,b=x,y,c=2``: a
    value may hold commas, so a piece without ``=`` belongs to the value before it)."""
    items: list[str] = []
    for piece in name.split(","):
        if "=" in piece or not items:
            items.append(piece)
        else:
            items[-1] += "," + piece
    return parse_overrides(items)


def run_overrides(run: Run) -> dict[str, str]:
    """The run's command-line overrides: ``.hydra/overrides.yaml``, else its folder name."""
    listed = read_yaml(run.path / ".hydra" / "overrides.yaml")
    return parse_overrides(listed) if isinstance(listed, list) else folder_overrides(run.path.name)


def multirun_sweeps(sweep_dir: Path) -> dict[str, list[str]]:
    """Keys a sweep folder's ``multirun.yaml`` sweeps (command line and ``hydra.sweeper.params``), in order,
    with their values; only keys given more than one value."""
    cfg = read_yaml(Path(sweep_dir) / "multirun.yaml")
    hydra = cfg.get("hydra") or {} if isinstance(cfg, dict) else {}
    params = {k: str(v) for k, v in ((hydra.get("sweeper") or {}).get("params") or {}).items()}
    params.update(parse_overrides((hydra.get("overrides") or {}).get("task")))
    out = {}
    for key, text in params.items():
        values = sweep_values(text)
        if values and len(values) > 1:
            out[key.lstrip("+~")] = values
    return out


def sweep_values(text: str) -> list[str] | None:
    """Values of a Hydra sweep override (``1,2,3``, ``range(a,b[,step])``, ``choice(a,b)``); None when
    the text is not one of those (an interpolation, a function Hydra alone can expand)."""
    import re

    text = str(text).strip()
    m = re.fullmatch(r"range\((-?\d+)\s*,\s*(-?\d+)(?:\s*,\s*(-?\d+))?\)", text)
    if m:
        return [str(v) for v in range(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))]
    m = re.fullmatch(r"choice\((.*)\)", text)
    if m:
        text = m.group(1)
    elif "(" in text or "$" in text:
        return None
    return [v.strip().strip("'\"") for v in text.split(",") if v.strip()]


@dataclass
class Configuration:
    """One row of a grid's table: the runs (one per seed) of one configuration."""

    values: dict[str, str]            # swept key -> value, in column order
    runs: list[Run] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``loss=lsgan, norm=spectral`` (``all runs`` when nothing was swept)."""
        return ", ".join(f"{k}={v}" for k, v in self.values.items()) or "all runs"

    @property
    def completed(self) -> list[Run]:
        """Completed runs, by seed."""
        return sorted((r for r in self.runs if r.status == "completed"),
                      key=lambda r: (r.seed is None, r.seed or 0))


@dataclass
class Layout:
    """The grid as run: its columns (swept keys) and its configurations in display order."""

    columns: list[str]
    configurations: list[Configuration]
    seeds: list[int]


def layout(runs: list[Run], sweep_dirs: list[Path]) -> Layout:
    """Group ``runs`` (duplicates already removed) into configurations named by the swept keys."""
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        groups[identity(run)].append(run)
    overrides = {r.path: run_overrides(r) for r in runs}
    columns = swept_columns(runs, overrides, sweep_dirs)
    values = {ident: _values(members, columns, overrides) for ident, members in groups.items()}
    columns += telling_leaves(groups, values)
    configs = [Configuration({c: _value(ms, c, overrides) for c in columns}, ms) for ms in groups.values()]
    configs.sort(key=lambda c: [_order_key(v) for v in c.values.values()])
    seeds = sorted({r.seed for r in runs if r.seed is not None})
    return Layout(columns, configs, seeds)


def swept_columns(runs: list[Run], overrides: dict[Path, dict], sweep_dirs: list[Path]) -> list[str]:
    """Override keys with more than one value over the runs or swept by a multirun.yaml (seed excepted)."""
    seen: dict[str, set] = defaultdict(set)
    for run in runs:
        for k, v in overrides[run.path].items():
            seen[k].add(v)
    order = [k for s in sweep_dirs for k in multirun_sweeps(s)] + [k for o in overrides.values() for k in o]
    varied = {k for k, vals in seen.items() if len(vals) > 1}
    varied |= {k for s in sweep_dirs for k in multirun_sweeps(s) if k in seen}
    return [k for k in dict.fromkeys(order) if k in varied and k != SEED and is_identity(k)]


def telling_leaves(groups: dict[tuple, list[Run]], values: dict[tuple, tuple]) -> list[str]:
    """Config leaves that separate configurations whose swept values coincide."""
    by_values: dict[tuple, list[tuple]] = defaultdict(list)
    for ident, vals in values.items():
        by_values[vals].append(ident)
    extra: list[str] = []
    for idents in by_values.values():
        if len(idents) > 1:
            leaves = [dict(i) for i in idents]
            keys = sorted(set().union(*leaves))
            extra += [k for k in keys if len({d.get(k) for d in leaves}) > 1 and k not in extra]
    return extra


def _values(members: list[Run], columns: list[str], overrides: dict[Path, dict]) -> tuple:
    return tuple(_value(members, c, overrides) for c in columns)


def _value(members: list[Run], key: str, overrides: dict[Path, dict]) -> str:
    """The configuration's value of ``key``: its override text, else the config leaf (``key.name`` for a
    config group), else ``—``."""
    for run in members:
        if key in overrides[run.path]:
            return overrides[run.path][key]
    leaves = flatten(members[0].config)
    return leaves.get(key, leaves.get(f"{key}.name", "—"))


def _order_key(value: str) -> tuple:
    """Numbers in numeric order, before text."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)
