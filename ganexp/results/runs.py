"""Find and read run folders of one or more sweep folders (read-only).

A run folder holds ``result.json`` once the run ended (status completed / diverged / frozen / failed).
A folder that looks like a run (``metrics.jsonl``, ``.hydra/``, ``samples/``, ``config.yaml``,
``last.ckpt``) but has no readable ``result.json`` is counted as *incomplete* (running or killed);
its cell is recovered from its config when one is there.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable, TypeVar

from .. import records

STATUSES = ("completed", "diverged", "frozen", "failed", "incomplete")
RUN_MARKERS = ("result.json", "metrics.jsonl", ".hydra", "samples", "config.yaml", "last.ckpt")
SKIP_DIRS = frozenset({"wandb", "report", "reports", ".hydra", "samples", "__pycache__"})
CONFIG_FILES = ("config.yaml", "config.json", ".hydra/config.yaml")  # resolved ones first
MAX_DEPTH = 4
STATUS_RANK = {"completed": 0, "diverged": 1, "frozen": 2, "failed": 3, "incomplete": 4}
T = TypeVar("T")


@dataclass
class Run:
    """One run folder: its status, config (dataset, loss, z_dim and seed read out), final metrics."""

    path: Path
    status: str
    dataset: str | None = None
    loss: str | None = None
    z_dim: int | None = None
    seed: int | None = None
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    metric_info: dict = field(default_factory=dict)
    steps: int | None = None
    wall_s: float | None = None
    diverged_at: int | None = None
    frozen_at: int | None = None  # the step a frozen run stopped at (D not updated for system.freeze_patience steps)
    note: str = ""

    def value(self, key: str) -> float | None:
        """Finite metric value ``key`` (e.g. ``fid10k``), else None."""
        return finite(self.metrics.get(key))


def find_run_dirs(sweep_dir: Path) -> list[Path]:
    """Run folders under ``sweep_dir`` (recursively; a run's own subfolders are not searched)."""
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        # The sweep folder itself is a run only when given a single run folder.
        markers = ("result.json",) if depth == 0 else RUN_MARKERS
        if any((d / m).exists() for m in markers):
            found.append(d)
            return
        if depth >= MAX_DEPTH:
            return
        for child in sorted(p for p in d.iterdir() if p.is_dir()):
            if child.name not in SKIP_DIRS and not child.name.startswith("."):
                walk(child, depth + 1)

    walk(Path(sweep_dir), 0)
    return found


def finite(value) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def dotted(cfg: dict, dotted: str):
    """``cfg["a"]["b"]`` for ``"a.b"``; None when any part is missing."""
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def group_name(cfg: dict, group: str) -> str | None:
    """A config group's name: ``cfg[group]["name"]`` or a plain string ``cfg[group]``."""
    node = cfg.get(group)
    if isinstance(node, str):
        return node
    name = dotted(cfg, f"{group}.name")
    return str(name) if name is not None else None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def read_yaml(path: Path):
    """A YAML (or JSON) file's content; None when absent or unreadable."""
    import yaml  # PyYAML ships with Hydra/OmegaConf

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None


def read_config(run_dir: Path) -> dict:
    """The config an unfinished run left behind (Hydra's or ours), or {}."""
    for rel in CONFIG_FILES:
        cfg = read_yaml(run_dir / rel)  # JSON is YAML
        if isinstance(cfg, dict):
            return cfg
    return {}


def read_result(run_dir: Path) -> dict:
    """``result.json`` of a run folder as a dict; {} when missing, unreadable or not an object."""
    return records.read_json_dict(Path(run_dir) / records.RESULT) or {}


read_rows = records.read_rows


def load_run(run_dir: Path) -> Run:
    """Read one run folder; a missing or unreadable result.json gives status "incomplete"."""
    run_dir = Path(run_dir)
    result, note = records.read_result(run_dir)
    status = result.get("status") if not note else "incomplete"
    cfg = result.get("config") if isinstance(result.get("config"), dict) else read_config(run_dir)
    return Run(path=run_dir, status=status, dataset=group_name(cfg, "dataset"), loss=group_name(cfg, "loss"),
               z_dim=as_int(cfg.get("z_dim")), seed=as_int(cfg.get("seed")), config=cfg,
               metrics=_dict(result.get("metrics")), metric_info=_dict(result.get("metric_info")),
               steps=as_int(result.get("steps")), wall_s=result.get("wall_s"),
               diverged_at=as_int(result.get("diverged_at")), frozen_at=as_int(result.get("frozen_at")),
               note=note or str(result.get("error") or ""))


def dedupe_by(items: list[T], key: Callable[[T], Hashable | None], run: Callable[[T], Run]
              ) -> tuple[list[T], list[T]]:
    """One item per ``key``: the best status of ``run(item)``, then the newest folder.

    Returns (kept, dropped); items whose key is None are always kept, ahead of the others.
    """
    best: dict[Hashable, T] = {}
    kept, dropped = [], []
    for item in items:
        k = key(item)
        if k is None:
            kept.append(item)
            continue
        other = best.get(k)
        if other is None or _preference(run(item)) < _preference(run(other)):
            if other is not None:
                dropped.append(other)
            best[k] = item
        else:
            dropped.append(item)
    return kept + list(best.values()), dropped


def _preference(run: Run) -> tuple:
    try:
        mtime = os.path.getmtime(run.path / "result.json")
    except OSError:
        mtime = 0.0
    return (STATUS_RANK[run.status], -mtime)


def collect_all(sweep_dirs: list[Path]) -> list[Run]:
    """Every run folder under the sweep folders, read."""
    return [load_run(d) for s in sweep_dirs for d in find_run_dirs(Path(s))]
