"""Study C (Byeon, Park & Yang 2025) run folders: the model a run trains, its timing and machine.

Model of a run (from its resolved config): ``system.name`` gan with ``norm.d`` spectral ->
SNGAN, gan otherwise -> SNGAN without SN, progan -> ProGAN, psgan -> PS-GAN with K =
``system.num_generators``. Runs that differ from the paper's model in what the comparison is about are
a *variant* of it, never merged with it: PS-GAN under another reading of Algorithm 2 than the default
(relative judge, D every step, stage switches faded in: ``READING``): ``system.judge=threshold`` (also every
run from before the key) / ``relative_vote``, D updated only in the listing's branches
(``system.d_update=gated``, alias ``paper``), a switch without fade-in
(``system.fade_epochs`` 0 or absent: every run from before the fade), or with a normalized D (``norm.d``), ProGAN without equalized
learning rate (the hinge + spectral-norm baseline of earlier versions). Seeds are replicates. Two runs *shared a machine* when one of their
``train_windows`` (unix start/end of each process that trained them) overlaps one of the other's
on the same ``host``; their ``train_s`` then measures contention as much as the model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ..runs import (STATUS_RANK, Run, dotted, as_int, group_name, dedupe_by, find_run_dirs, finite,
                    load_run, read_result)

ORDER = ("sngan", "sngan_without_sn", "progan", "psgan")
LABELS = {"sngan": "SNGAN", "sngan_without_sn": "SNGAN without SN", "progan": "ProGAN",
          "psgan": "PS-GAN"}


VARIANTS = {"judge_threshold": "threshold judge", "judge_vote": "relative judge per image",
            "d_gated": "D gated as listed", "no_fade": "stage switch without fade-in",
            "d_spectral": "spectral-norm D", "hinge_sn": "hinge + spectral norm"}
# PS-GAN's default reading of Algorithm 2 (ganexp/settings.py PSGANSettings): the model without a variant
READING = "system.judge=relative, system.d_update=always, stage switches faded in (system.fade_epochs > 0)"
JUDGE_VARIANTS = {"threshold": "judge_threshold", "relative_vote": "judge_vote"}
READING_PARTS = ("judge_threshold", "judge_vote", "d_gated", "no_fade")  # variants that read the paper otherwise


class Model(NamedTuple):
    """A compared model: ``name`` in ORDER, ``k`` = number of generators (PS-GAN only), ``variant`` = how
    it departs from the paper's model ("" = as the paper describes it; keys of VARIANTS joined by "+")."""

    name: str
    k: int | None = None
    variant: str = ""

    @property
    def id(self) -> str:
        """``psgan_k2``, ``sngan``, ``psgan_k2_d_gated``: the model column of the csv files."""
        base = f"psgan_k{self.k}" if self.name == "psgan" else self.name
        return f"{base}_{self.variant.replace('+', '_')}" if self.variant else base

    @property
    def label(self) -> str:
        """``PS-GAN (K=2)``, ``SNGAN``, ``PS-GAN (K=2, D gated as listed)``, ..."""
        parts = [f"K={self.k}"] if self.name == "psgan" else []
        parts += [VARIANTS.get(v, v) for v in self.variant.split("+") if v]
        base = LABELS.get(self.name, self.name)
        return f"{base} ({', '.join(parts)})" if parts else base


def order(model: Model) -> tuple:
    """Sort key: the paper's model order, then K, the paper's model before its variants."""
    rank = ORDER.index(model.name) if model.name in ORDER else len(ORDER)
    return (rank, model.name, model.k or 0, model.variant)


def model_of(cfg: dict) -> Model | None:
    """The model a resolved config trains (see the module docstring); None when unknown."""
    system = group_name(cfg, "system")
    if system == "gan":
        return Model("sngan" if dotted(cfg, "norm.d") == "spectral" else "sngan_without_sn")
    if system == "progan":
        return Model("progan", variant="" if dotted(cfg, "model.equalized_lr") else "hinge_sn")
    k = as_int(dotted(cfg, "system.num_generators"))
    if system != "psgan" or not k:
        return None
    # absent keys: runs from before them judged by threshold and stepped D always (identity.ADDED_LATER)
    judge = JUDGE_VARIANTS.get(dotted(cfg, "system.judge") or "threshold") if k > 1 else None
    variant = [judge] if judge else []
    variant += ["d_gated"] if (dotted(cfg, "system.d_update") or "always") != "always" and k > 1 else []
    stages = as_int(dotted(cfg, "system.stages")) or 3
    variant += ["no_fade"] if stages > 1 and not dotted(cfg, "system.fade_epochs") else []
    variant += ["d_spectral"] if dotted(cfg, "norm.d") == "spectral" else []
    return Model("psgan", k, "+".join(variant))


@dataclass
class StudyRun:
    """One Study C run folder: the shared ``Run`` plus model, timing and machine."""

    run: Run
    model: Model | None
    train_s: float | None = None
    device: str | None = None
    host: str | None = None
    windows: list[tuple[float, float]] = field(default_factory=list)
    shared_with: list[Path] = field(default_factory=list)
    counts: dict = field(default_factory=dict)  # result.json's per-run totals (PS-GAN: branch_*, d_updates)

    @property
    def shared(self) -> bool:
        """Whether another run trained on the same host at the same time."""
        return bool(self.shared_with)

    @property
    def steps_per_epoch(self) -> int | None:
        """``trainer.steps_per_epoch`` of the config."""
        return as_int(dotted(self.run.config, "trainer.steps_per_epoch"))

    @property
    def d_share(self) -> float | None:
        """Share of generator steps on which D learned (PS-GAN's Algorithm 2 gates D); None without counts."""
        d, steps = finite(self.counts.get("d_updates")), self.run.steps
        return d / steps if d is not None and steps else None

    @property
    def epochs(self) -> float | None:
        """Epochs trained: steps / trainer.steps_per_epoch."""
        spe, steps = self.steps_per_epoch, self.run.steps
        return steps / spe if spe and steps is not None else None


def _windows(value) -> list[tuple[float, float]]:
    """Valid [start, end] pairs of ``train_windows``."""
    pairs = value if isinstance(value, list) else []
    out = [(finite(p[0]), finite(p[1])) for p in pairs if isinstance(p, list) and len(p) == 2]
    return [(a, b) for a, b in out if a is not None and b is not None and b >= a]


def load(run_dir: Path) -> StudyRun:
    """Read one run folder (``runs.load_run`` plus result.json's timing fields)."""
    run, result = load_run(run_dir), read_result(run_dir)
    text = lambda k: str(result[k]) if result.get(k) else None  # noqa: E731
    counts = result.get("counts") if isinstance(result.get("counts"), dict) else {}
    return StudyRun(run, model_of(run.config), finite(result.get("train_s")), text("device"),
                    text("host"), _windows(result.get("train_windows")), counts=counts)


def overlap(a: StudyRun, b: StudyRun) -> bool:
    """Whether ``a`` and ``b`` trained on the same host at overlapping times."""
    if a.host is None or a.host != b.host:
        return False
    return any(s1 < e2 and s2 < e1 for s1, e1 in a.windows for s2, e2 in b.windows)


def mark_shared(runs: list[StudyRun]) -> None:
    """Fill ``shared_with`` of every run from every other run's windows."""
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            if overlap(a, b):
                a.shared_with.append(b.run.path)
                b.shared_with.append(a.run.path)


def dedupe(runs: list[StudyRun]) -> tuple[list[StudyRun], list[StudyRun]]:
    """One run per (model, seed): best status, then newest (``runs.dedupe_by``)."""
    return dedupe_by(runs, lambda r: None if r.model is None or r.run.seed is None
                     else (r.model, r.run.seed), lambda r: r.run)


def collect(sweep_dirs: list[Path]) -> tuple[list[StudyRun], list[StudyRun]]:
    """All Study C runs under the sweep folders: (runs, dropped duplicates); machine sharing is
    checked over every folder found, duplicates included (they used the machine too)."""
    runs = [load(d) for s in sweep_dirs for d in find_run_dirs(Path(s))]
    mark_shared(runs)
    kept, dropped = dedupe(runs)
    kept.sort(key=lambda r: (r.model is None, order(r.model) if r.model else (), r.run.seed or 0,
                             STATUS_RANK[r.run.status], str(r.run.path)))
    return kept, dropped
