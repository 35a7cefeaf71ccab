"""One run folder and what it records, whether the run trains alone or as a fused array's member:
``RunFolder`` (config, hash, metrics.jsonl and W&B, sample grids, scores and collapse, last.ckpt, result.json,
the progress line) and ``RunState`` (what changes while it trains: step, times, windows, scores). No model:
ganexp/training.py hands it what to write; ganexp/run.py is the lifecycle around it."""
from __future__ import annotations

import logging
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import OmegaConf

from . import checkpoint as ckpt
from . import records
from .errors import CheckpointError
from .identity import RunSpec, same_run, steps_per_epoch  # noqa: F401 (steps_per_epoch: read from here too)
from .runlog import RunLogger, atomic_write_json, remove_stale_temps, save_grid, writing

log = logging.getLogger("ganexp.run")  # the progress line's logger (Hydra's train.log, Slurm's logs)
PROGRESS_EVERY_S = 30.0  # a progress line per run about this often: readable for one run, quiet for 500


class FolderFault(Exception):
    """A run stopped because a write was refused for its folder (errors.FOLDER_FAULTS); the message says
    where, how much is free, the last good checkpoint and what to do. Nothing is torn: every file is
    written atomically or read back by whole lines, so the same command resumes."""


# --- one run folder ------------------------------------------------------------------------------

@dataclass
class RunState:
    """What changes in a run folder while it trains, in one place: ``Training`` advances it after each step,
    ``RunFolder`` adds scores and checkpoints to it, and last.ckpt carries it to the next process."""

    step: int = 0  # generator steps done
    saved_step: int | None = None  # the step of the last good last.ckpt (None: none yet)
    train_s: float = 0.0  # seconds inside training steps, earlier processes' included
    train_s_before: float = 0.0  # ... of the processes before this one (from last.ckpt)
    elapsed_before: float = 0.0  # wall seconds of the processes before this one
    train_windows: list = field(default_factory=list)  # [start, end] unix times of each earlier process that trained
    window_start: float | None = None  # this process's training window (unix times)
    window_end: float | None = None
    device: str | None = None  # what trains it, named at each checkpoint (fit() ends on the CPU)
    metrics: dict = field(default_factory=dict)  # the last logged value of every loss and score
    metric_info: dict = field(default_factory=dict)  # the evaluator's notes on the scores
    collapse: dict | None = None  # diversity below metrics.collapse_threshold since {step, epoch}
    last_progress: tuple | None = None  # (monotonic time, step) of the last progress line
    t0: float = field(default_factory=time.monotonic)  # this process's start; RunFolder.start() restarts it

    @classmethod
    def resumed(cls, state: dict) -> "RunState":
        """The state a checkpoint carried (``checkpoint_fields``); its step is set now, not only once the system
        restores it: after a kill past the final checkpoint no step is left to run."""
        step = int(state["step"])
        return cls(step=step, saved_step=step, train_s=float(state.get("train_s", 0.0)),
                   train_s_before=float(state.get("train_s", 0.0)), elapsed_before=float(state.get("elapsed_s", 0.0)),
                   train_windows=[list(w) for w in state.get("train_windows", [])], device=state.get("device"),
                   metrics=dict(state.get("metrics", {})), metric_info=dict(state.get("metric_info", {})),
                   collapse=state.get("collapse"))

    def checkpoint_fields(self, elapsed: float, windows: list) -> dict:
        """What last.ckpt keeps of it (``elapsed``: wall seconds so far; ``windows``: every training window)."""
        return {"train_s": self.train_s, "elapsed_s": elapsed, "metrics": self.metrics, "metric_info": self.metric_info,
                "train_windows": windows, "device": self.device, "collapse": self.collapse}


class RunFolder:
    """What one run records in its folder, whether it trains alone or as a fused array's member: config,
    hash, metrics.jsonl and W&B (``RunLogger``), sample grids, scores and collapse, last.ckpt, result.json,
    and the run's ``RunState``. It holds no model: ``Training`` hands it what to write (log means, images,
    scores, the system's checkpoint state) and advances its state after each step."""

    def __init__(self, spec: RunSpec, run_dir: Path, name: str):
        self.dir, self.name = run_dir, name
        self._take(spec)
        self.div_key: str | None = None  # the evaluator's diversity key; None: the run has no evaluations
        self.logger: RunLogger | None = None  # open from start() to close_logger()
        self.state = RunState()

    def _take(self, spec: RunSpec) -> None:
        """``cfg``: the read-only config every part of the run reads; ``cfg_dict``: its plain copy for the
        files; ``hash``: the run's identity (the same for the spec with its data-derived fields)."""
        self.spec, self.cfg, self.cfg_dict, self.hash = spec, spec.config, spec.plain(), spec.hash

    # --- before training ------------------------------------------------------------------------
    def apply_epochs(self, n_images: int) -> None:
        """The run's epochs from its training set's size (``RunSpec.with_data``); they land in config.yaml and
        result.json, not in the hash."""
        self._take(self.spec.with_data(n_images))

    def write_config(self) -> None:
        with writing(self.dir / "config.yaml"):
            (self.dir / "config.yaml").write_text(OmegaConf.to_yaml(self.cfg_dict))

    def start(self) -> dict | None:
        """Before training: stale temp files gone, the checkpoint's state read (None: from scratch), the
        run's log (metrics.jsonl, W&B) opened where the checkpoint left it."""
        remove_stale_temps(self.dir)
        resume = self._resume_state()
        self.logger = RunLogger(self.dir, self.cfg_dict["logger"], self.cfg_dict, self.name,
                                resume_id=resume.get("wandb_id") if resume else None,
                                truncate_after=resume["step"] if resume else None)
        self.state.t0 = time.monotonic()
        return resume

    def _resume_state(self) -> dict | None:
        path = self.dir / "last.ckpt"
        if not path.exists():
            return None
        try:
            state = ckpt.load(path)
        except CheckpointError as err:  # our own file, damaged (disk, a cut-short copy): keep it, start over
            kept = ckpt.set_aside(path)
            print(f"[restart] {self.name}: last.ckpt is unreadable ({err.reason}); kept as {kept.name}, "
                  "training from scratch", flush=True)
            return None
        if not same_run(state, self.hash):
            print(f"[restart] {self.name}: last.ckpt belongs to another config; training from scratch", flush=True)
            return None
        self.state = RunState.resumed(state)
        print(f"[resume] {self.name}: from step {state['step']} of {self.cfg.trainer.max_steps}", flush=True)
        return state

    def close_logger(self) -> None:
        """The log's summary written and W&B closed; again (a run ended, then the lifecycle's exit) is a no-op."""
        if self.logger is None:
            return
        collapse = {"collapse_epoch": self.state.collapse["epoch"]} if self.state.collapse else {}
        self.logger.finish({**{k: v for k, v in self.state.metrics.items() if v is not None}, **collapse}, self.state.step)
        self.logger = None

    # --- what training hands it -----------------------------------------------------------------
    def log_row(self, step: int, logs: dict) -> None:
        row = {"step": step, "epoch": round(step / self.cfg.trainer.steps_per_epoch, 4),
               "images_seen": step * self.cfg.batch_size * self.cfg.loss.n_critic, "time_s": round(self.elapsed(), 3),
               **logs}
        self.state.metrics.update(logs)
        self.logger.log(row)

    def progress(self, step: int, now: float) -> None:
        """About every PROGRESS_EVERY_S of training (the first that long after the first step), and at the last
        step, one line through ``logging`` (so it reaches Hydra's train.log and Slurm's logs): step/max, epoch,
        images/s since the last line, the last logged losses and FID/KID, ETA. Host values only: it never waits
        for the device, whatever a step costs and however rarely rows are logged."""
        max_steps = self.cfg.trainer.max_steps
        if self.state.last_progress is None:
            self.state.last_progress = (now, step)
            if step < max_steps:
                return
        (then, then_step) = self.state.last_progress
        if now - then < PROGRESS_EVERY_S and step < max_steps:
            return
        self.state.last_progress = (now, step)
        per_step = self.cfg.batch_size * self.cfg.loss.n_critic
        rate = (step - then_step) * per_step / (now - then) if now > then and step > then_step else 0.0
        eta = (max_steps - step) * per_step / rate if rate else None
        losses = " ".join(f"{k} {v:.3f}" for k, v in self.state.metrics.items() if k.endswith("_loss") and isinstance(v, float))
        scores = " ".join(f"{k} {v:.4g}" for k, v in self.state.metrics.items()
                          if k.startswith(("fid", "kid")) and not k.endswith("_std") and isinstance(v, float))
        log.info("%s: step %d/%d, epoch %.2f, %.0f images/s, %s%s, ETA %s", self.name, step, max_steps,
                 step / self.cfg.trainer.steps_per_epoch, rate, losses or "no losses yet",
                 f", {scores}" if scores else "", "-" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta)))

    def save_samples(self, tag: str, step: int, images: torch.Tensor) -> None:
        """samples/<tag>.png of the run's images of the fixed codes."""
        path = self.dir / "samples" / f"{tag}.png"
        if self.logger.guard("sample grids", step, lambda: save_grid(images, path)):
            self.logger.image("samples", path, step)

    def eval_generator(self, device) -> torch.Generator:
        """The run's evaluation codes come from a generator of their own: the same codes at every evaluation,
        and the training RNG untouched (evaluating more or less often never changes the training run)."""
        return torch.Generator(device=device).manual_seed(10_000 + self.cfg.seed)

    def record_scores(self, step: int, scores: dict, seconds: float, info: dict) -> None:
        """An evaluation's scores (``info``: the evaluator's notes on them) into the run's metrics and log;
        notes a collapse."""
        self.state.metrics.update(scores)
        self.state.metric_info = dict(info)
        epoch = round(step / self.cfg.trainer.steps_per_epoch, 4)
        collapsed = self.note_collapse(scores.get(self.div_key), step, epoch)
        self.logger.log({"step": step, "epoch": epoch, "time_s": round(self.elapsed(), 3), **scores,
                         "collapsed": collapsed, "eval_s": round(seconds, 3)})

    def note_collapse(self, diversity: float | None, step: int, epoch: float) -> bool:
        """Whether this evaluation's diversity is below metrics.collapse_threshold; ``self.state.collapse`` keeps
        the first evaluation of the current run of such evaluations (None once one is above again)."""
        threshold = self.cfg.metrics.collapse_threshold
        collapsed = diversity is not None and diversity == diversity and diversity < threshold
        if not collapsed:
            self.state.collapse = None
        elif self.state.collapse is None:
            self.state.collapse = {"step": step, "epoch": epoch}
        return collapsed

    def save_checkpoint(self, state: dict, device: str) -> None:
        """last.ckpt: ``state`` (the system's training state for this run, a separate run's
        ``checkpoint_state``) with the folder's bookkeeping; ``device``: what trains it."""
        self.state.device = device
        ckpt.save(self.dir / "last.ckpt", state, {
            "config": self.cfg_dict, "config_hash": self.hash, "wandb_id": self.logger.wandb_id,
            **self.state.checkpoint_fields(self.elapsed(), self.windows())})
        self.state.saved_step = self.state.step

    # --- result.json ----------------------------------------------------------------------------
    def windows(self) -> list[list[float]]:
        """Earlier processes' training windows plus this one's so far (runs that overlap shared a machine)."""
        now = [[round(self.state.window_start, 3), round(self.state.window_end, 3)]] if self.state.window_end is not None else []
        return self.state.train_windows + now

    def collapse_record(self) -> dict | None:
        """result.json's ``collapse``: the diversity key, the threshold and where the run collapsed for good
        (epoch/step null when it did not); None without evaluations."""
        if self.div_key is None:
            return None
        where = self.state.collapse or {"step": None, "epoch": None}
        return {"key": self.div_key, "threshold": self.cfg.metrics.collapse_threshold, **where}

    def counts(self, summed_keys: tuple[str, ...]) -> dict:
        """result.json's ``counts``: the system's per-interval counts (``summed_keys``, e.g. PS-GAN's branches
        and D steps) totalled over metrics.jsonl; nothing for systems without counts."""
        path = self.dir / records.METRICS
        if not summed_keys or not path.exists():
            return {}
        rows = records.read_rows(path)
        return {"counts": {k: round(sum(r.get(k) or 0 for r in rows)) for k in summed_keys}}

    def elapsed(self) -> float:
        return self.state.elapsed_before + time.monotonic() - self.state.t0

    def result(self, status: str, extra: dict, summed_keys: tuple[str, ...] = ()) -> dict:
        """result.json, written, and returned as a dict."""
        res = {"status": status, "name": self.name, "config_hash": self.hash, "config": self.cfg_dict,
               "metrics": self.state.metrics, "metric_info": self.state.metric_info, "steps": self.state.step,
               "wall_s": round(self.elapsed(), 3), "train_s": round(self.state.train_s, 3),
               "device": self.state.device or device_name(None),
               "host": socket.gethostname(), "train_windows": self.windows(), "collapse": self.collapse_record(),
               **self.counts(summed_keys), **extra}
        atomic_write_json(self.dir / "result.json", res)
        return res



def device_name(device) -> str:
    """What trained the run, for comparing training times: "cuda: NVIDIA H100 ..." or "cpu: <model>"."""
    if device is not None and device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    model = next((ln.split(":", 1)[1].strip() for ln in _cpuinfo() if ln.startswith("model name")), platform.machine())
    return f"cpu: {model} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []



def read_result(run_dir: Path) -> dict:
    """The run's result.json as a dict; {} when absent, torn, or not a JSON object."""
    return records.read_json_dict(run_dir / records.RESULT) or {}



def summary_line(res: dict) -> str:
    from .metrics.registry import summary_text  # lazily, as build_evaluator: the metrics package loads torch-fidelity

    scores = summary_text(res["metrics"])
    why = f"  error: {res['error']}" if res["status"] in ("failed", "frozen") else ""
    return f"[{res['status']}] {res['name']}  steps={res['steps']}  {scores}  {res['wall_s']:.1f}s{why}".replace("  ", " ")

