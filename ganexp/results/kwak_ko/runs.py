"""Study B (Kwak & Ko) run folders: the variant a run trains, its evaluations and its collapse.

Variant of a run, from ``(norm.g, norm.d)`` of its resolved config: (batch, none) -> baseline,
(batch, spectral) -> sn, (adain, none) -> adain, (adain, spectral) -> sn_adain; any other pair is
not a Study B run. Seeds are replicates. ``dataset_size`` is ``dataset.num_images``, else
steps_per_epoch · batch_size · loss.n_critic (images one epoch draws). An evaluation is a
``metrics.jsonl`` row with a finite FID or diversity; its epoch is the row's ``epoch``, else
step / steps_per_epoch. ``collapse`` is result.json's; without one it is recomputed from the
rows' ``collapsed`` flags (first evaluation from which every later one is collapsed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..runs import (STATUS_RANK, Run, dotted, dedupe_by, find_run_dirs, finite, load_run,
                    read_result, read_rows)

ORDER = ("baseline", "sn", "adain", "sn_adain")
LABELS = {"baseline": "Baseline", "sn": "SN", "adain": "AdaIN", "sn_adain": "SN + AdaIN"}
NORMS = {("batch", "none"): "baseline", ("batch", "spectral"): "sn",
         ("adain", "none"): "adain", ("adain", "spectral"): "sn_adain"}


def variant_of(cfg: dict) -> str | None:
    """The Study B variant of a resolved config; None for any other norm pair."""
    return NORMS.get((dotted(cfg, "norm.g"), dotted(cfg, "norm.d")))


def sample_name(epoch: float) -> str:
    """The trainer's grid file of ``epoch``: ``epoch_5.png``, ``epoch_62.5.png``."""
    return f"epoch_{epoch:g}.png"


def fmt_epoch(epoch: float | None) -> str:
    """An epoch as printed (``12.5``, ``5``), ``—`` for None."""
    return "—" if epoch is None else f"{round(epoch, 3):g}"


@dataclass(frozen=True)
class Collapse:
    """result.json's ``collapse``: the first evaluation from which ``key`` stays below
    ``threshold`` (epoch/step None = never collapsed)."""

    key: str | None = None
    threshold: float | None = None
    epoch: float | None = None
    step: int | None = None

    @property
    def collapsed(self) -> bool:
        """Whether the run collapsed."""
        return self.epoch is not None or self.step is not None


@dataclass(frozen=True)
class Eval:
    """One evaluation row: epoch, step and the metric values it carries."""

    epoch: float
    step: int | None
    values: dict

    def get(self, key: str | None) -> float | None:
        """Finite value of ``key`` at this evaluation, else None."""
        return finite(self.values.get(key)) if key else None


@dataclass
class StudyRun:
    """One Study B run folder: the shared ``Run`` plus variant, evaluations and collapse."""

    run: Run
    variant: str | None
    evals: list[Eval] = field(default_factory=list)
    collapse: Collapse = Collapse()
    train_s: float | None = None
    device: str | None = None

    def cfg(self, key: str):
        """A value of the resolved config (``trainer.max_epochs``), None when absent."""
        return dotted(self.run.config, key)

    @property
    def steps_per_epoch(self) -> float | None:
        """``trainer.steps_per_epoch`` (generator steps per epoch; may be below 1)."""
        spe = finite(self.cfg("trainer.steps_per_epoch"))
        return spe if spe and spe > 0 else None

    @property
    def dataset_size(self) -> int | None:
        """Training images: ``dataset.num_images``, else steps_per_epoch · batch · n_critic."""
        n = self.cfg("dataset.num_images")
        if isinstance(n, int) and not isinstance(n, bool):
            return n
        spe, batch = self.steps_per_epoch, finite(self.run.config.get("batch_size"))
        critic = finite(self.cfg("loss.n_critic")) or 1.0
        return round(spe * batch * critic) if spe and batch else None

    @property
    def sample_epochs(self) -> list[float]:
        """``trainer.sample_at_epochs`` as numbers (ints stay ints, for file names)."""
        value = self.cfg("trainer.sample_at_epochs")
        return [v for v in value if finite(v) is not None] if isinstance(value, list) else []

    @property
    def planned_epochs(self) -> float | None:
        """``trainer.max_epochs``, else max_steps / steps_per_epoch."""
        epochs = finite(self.cfg("trainer.max_epochs"))
        steps, spe = finite(self.cfg("trainer.max_steps")), self.steps_per_epoch
        return epochs if epochs is not None else steps / spe if steps and spe else None

    @property
    def epochs(self) -> float | None:
        """Epochs trained: steps / steps_per_epoch."""
        spe, steps = self.steps_per_epoch, self.run.steps
        return steps / spe if spe and steps is not None else None

    def curve(self, key: str | None) -> dict[float, float]:
        """epoch -> ``key`` over the run's evaluations that have it."""
        return {e.epoch: e.get(key) for e in self.evals if e.get(key) is not None}


def is_eval(row: dict) -> bool:
    """Whether a metrics row is an evaluation (a finite ``fid*`` or ``div*`` value)."""
    return any(k[:3] in ("fid", "div") and finite(v) is not None for k, v in row.items())


def evaluations(rows: list[dict], steps_per_epoch: float | None) -> list[Eval]:
    """The evaluation rows in epoch order."""
    out = []
    for row in filter(is_eval, rows):
        step = finite(row.get("step"))
        epoch = finite(row.get("epoch"))
        if epoch is None and step is not None and steps_per_epoch:
            epoch = step / steps_per_epoch
        if epoch is not None:
            out.append(Eval(round(epoch, 6), None if step is None else int(step), row))
    return sorted(out, key=lambda e: e.epoch)


def collapse_from_rows(evals: list[Eval]) -> Collapse:
    """The first evaluation from which every later one has ``collapsed: true``."""
    flagged = [e for e in evals if isinstance(e.values.get("collapsed"), bool)]
    first = None
    for e in flagged:
        first = (first or e) if e.values["collapsed"] else None
    return Collapse(epoch=first.epoch, step=first.step) if first else Collapse()


def read_collapse(value, evals: list[Eval], steps_per_epoch: float | None) -> Collapse:
    """result.json's ``collapse`` dict (epoch from step when only the step is given)."""
    if not isinstance(value, dict):
        return collapse_from_rows(evals)
    step = finite(value.get("step"))
    epoch = finite(value.get("epoch"))
    if epoch is None and step is not None and steps_per_epoch:
        epoch = step / steps_per_epoch
    key = value.get("key") if isinstance(value.get("key"), str) else None
    return Collapse(key, finite(value.get("threshold")), epoch,
                    None if step is None else int(step))


def load(run_dir: Path) -> StudyRun:
    """Read one run folder: ``runs.load_run`` plus evaluations, collapse, time and device."""
    run, result = load_run(run_dir), read_result(run_dir)
    r = StudyRun(run, variant_of(run.config), train_s=finite(result.get("train_s")),
                 device=str(result["device"]) if result.get("device") else None)
    r.evals = evaluations(read_rows(Path(run_dir) / "metrics.jsonl"), r.steps_per_epoch)
    r.collapse = read_collapse(result.get("collapse"), r.evals, r.steps_per_epoch)
    return r


def order(r: StudyRun) -> tuple:
    """Sort key: variant order, seed, status, path."""
    rank = ORDER.index(r.variant) if r.variant in ORDER else len(ORDER)
    return (rank, r.run.seed is None, r.run.seed or 0, STATUS_RANK[r.run.status], str(r.run.path))


def dedupe(runs: list[StudyRun]) -> tuple[list[StudyRun], list[StudyRun]]:
    """One run per (variant, seed): best status, then newest (``runs.dedupe_by``)."""
    return dedupe_by(runs, lambda r: None if r.run.seed is None else (r.variant, r.run.seed),
                     lambda r: r.run)


def collect(sweep_dirs: list[Path]) -> tuple[list[StudyRun], list[StudyRun], list[StudyRun]]:
    """Study B runs under the sweep folders: (runs, dropped duplicates, other norm pairs)."""
    found = [load(d) for s in sweep_dirs for d in find_run_dirs(Path(s))]
    other = [r for r in found if r.variant is None]
    kept, dropped = dedupe([r for r in found if r.variant is not None])
    return sorted(kept, key=order), dropped, sorted(other, key=lambda r: str(r.run.path))
