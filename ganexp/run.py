"""One run folder's bookkeeping and the one lifecycle every run goes through, alone or as a fused array's
member: ``RunFolder`` (config, hash, log, samples, scores, checkpoints, result.json; no model), ``Training``
(one system and the folders it trains; what ``RunHooks`` asks after each step), ``Builder`` (how a kind of
job builds its data and system: ``RunBuild`` for a single run, ganexp/fusedarray.py's for fused members) and
``train_runs`` (lock, skip / keep / force, build, config.yaml, start or resume, fit under stop signals with
failure containment, the summary line). ``ganexp.train`` calls it for a single run and, through
``fusedarray.run_array``, for a fused array's members."""
from __future__ import annotations

import copy
import errno
import logging
import math
import os
import platform
import shutil
import socket
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from . import checkpoint as ckpt
from .config import building, register_resolvers, to_container
from .identity import config_hash, same_run, without_derived
from .runlock import RunFolderLock
from .stopsignals import StopSignals
from .schema import leaves
from .data.placement import make_batcher, training_device
from .systems import Diverged, Frozen, GANSystem, build_system, chunks, eval_codes, sample_latent
from .systems.base import non_finite
from .systems.captured import check_device
from . import records
from .errors import FOLDER_FAULTS, USER_ERRORS, CheckpointError
from .runlog import (RunLogger, atomic_write_json, folder_fault, human_bytes, remove_stale_temps,
                     save_grid, writing)

register_resolvers()
log = logging.getLogger("ganexp.run")
PROGRESS_EVERY_S = 30.0  # a progress line per run about this often: readable for one run, quiet for 500


class FolderFault(Exception):
    """A run stopped because a write was refused for its folder (errors.FOLDER_FAULTS); the message says
    where, how much is free, the last good checkpoint and what to do. Nothing is torn: every file is
    written atomically or read back by whole lines, so the same command resumes."""


# --- one run folder ------------------------------------------------------------------------------

class RunFolder:
    """What one run records in its folder, whether it trains alone or as a fused array's member: config,
    hash, metrics.jsonl and W&B (``RunLogger``), sample grids, scores and collapse, last.ckpt, result.json,
    and the run's step, training time and training windows. It holds no model: ``Training`` hands it what
    to write (log means, images, scores, the system's checkpoint state) and sets its step after each step."""

    def __init__(self, cfg: DictConfig, run_dir: Path, name: str):
        self.cfg, self.dir, self.name = cfg, run_dir, name
        self.cfg_dict = to_container(cfg)
        self.hash = config_hash(self.cfg_dict)
        self.metrics: dict = {}
        self.metric_info: dict = {}
        self.collapse: dict | None = None  # diversity below metrics.collapse_threshold since {step, epoch}
        self.div_key: str | None = None  # the evaluator's diversity key; None: the run has no evaluations
        self.logger: RunLogger | None = None  # open from start() to close_logger()
        self.step = 0  # generator steps done
        self.train_s = 0.0  # seconds inside training steps, earlier processes' included
        self.train_s_before = 0.0  # ... of the processes before this one (from last.ckpt)
        self.elapsed_before = 0.0
        self.train_windows: list[list[float]] = []  # [start, end] unix times of each process that trained
        self.window_start = self.window_end = None  # this process's training window (unix times)
        self.device: str | None = None  # what trains it, named at each checkpoint (fit() ends on the CPU)
        self.saved_step: int | None = None  # the step of the last good last.ckpt (None: none yet)
        self.last_progress: tuple[float, int] | None = None  # (monotonic time, step) of the last progress line
        self.t0 = time.monotonic()  # start() restarts it; set here so that a failure before it can be timed

    # --- before training ------------------------------------------------------------------------
    def apply_epochs(self, n_images: int) -> None:
        """trainer.steps_per_epoch from the data (an epoch = every real image once through D: N // batch
        real batches, loss.n_critic per generator step; a fraction when they do not divide, e.g. 0.8 for
        4 batches and 5 critic steps); trainer.max_epochs, when set, gives max_steps. Both land in the
        resolved config (config.yaml, result.json); the config hash leaves them out (config.without_derived).
        The config the run was given (and hashed) is left as it was: the run reads a derived, read-only copy."""
        cfg = copy.deepcopy(self.cfg)
        t = cfg.trainer
        steps = steps_per_epoch(n_images, cfg.batch_size, cfg.loss.n_critic)
        with open_dict(t):
            t.steps_per_epoch = steps
            if t.get("max_epochs") is not None:
                t.max_steps = max(1, math.ceil(t.max_epochs * steps))
        OmegaConf.set_readonly(cfg, True)
        self.cfg, self.cfg_dict = cfg, to_container(cfg)

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
        self.t0 = time.monotonic()
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
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.train_windows = [list(w) for w in state.get("train_windows", [])]
        self.device = state.get("device")
        self.train_s = self.train_s_before = float(state.get("train_s", 0.0))
        self.metrics = dict(state.get("metrics", {}))
        self.metric_info = dict(state.get("metric_info", {}))
        self.collapse = state.get("collapse")
        # Set now, not only once the system restores it: after a kill past the final checkpoint no step is left to run.
        self.step = self.saved_step = int(state["step"])
        print(f"[resume] {self.name}: from step {state['step']} of {self.cfg.trainer.max_steps}", flush=True)
        return state

    def close_logger(self) -> None:
        """The log's summary written and W&B closed; again (a run ended, then the lifecycle's exit) is a no-op."""
        if self.logger is None:
            return
        collapse = {"collapse_epoch": self.collapse["epoch"]} if self.collapse else {}
        self.logger.finish({**{k: v for k, v in self.metrics.items() if v is not None}, **collapse}, self.step)
        self.logger = None

    # --- what training hands it -----------------------------------------------------------------
    def log_row(self, step: int, logs: dict) -> None:
        row = {"step": step, "epoch": round(step / self.cfg.trainer.steps_per_epoch, 4),
               "images_seen": step * self.cfg.batch_size * self.cfg.loss.n_critic, "time_s": round(self.elapsed(), 3),
               **logs}
        self.metrics.update(logs)
        self.logger.log(row)

    def progress(self, step: int, now: float) -> None:
        """About every PROGRESS_EVERY_S of training (the first that long after the first step), and at the last
        step, one line through ``logging`` (so it reaches Hydra's train.log and Slurm's logs): step/max, epoch,
        images/s since the last line, the last logged losses and FID/KID, ETA. Host values only: it never waits
        for the device, whatever a step costs and however rarely rows are logged."""
        max_steps = self.cfg.trainer.max_steps
        if self.last_progress is None:
            self.last_progress = (now, step)
            if step < max_steps:
                return
        (then, then_step) = self.last_progress
        if now - then < PROGRESS_EVERY_S and step < max_steps:
            return
        self.last_progress = (now, step)
        per_step = self.cfg.batch_size * self.cfg.loss.n_critic
        rate = (step - then_step) * per_step / (now - then) if now > then and step > then_step else 0.0
        eta = (max_steps - step) * per_step / rate if rate else None
        losses = " ".join(f"{k} {v:.3f}" for k, v in self.metrics.items() if k.endswith("_loss") and isinstance(v, float))
        scores = " ".join(f"{k} {v:.4g}" for k, v in self.metrics.items()
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
        self.metrics.update(scores)
        self.metric_info = dict(info)
        epoch = round(step / self.cfg.trainer.steps_per_epoch, 4)
        collapsed = self.note_collapse(scores.get(self.div_key), step, epoch)
        self.logger.log({"step": step, "epoch": epoch, "time_s": round(self.elapsed(), 3), **scores,
                         "collapsed": collapsed, "eval_s": round(seconds, 3)})

    def note_collapse(self, diversity: float | None, step: int, epoch: float) -> bool:
        """Whether this evaluation's diversity is below metrics.collapse_threshold; ``self.collapse`` keeps
        the first evaluation of the current run of such evaluations (None once one is above again)."""
        threshold = self.cfg.metrics.collapse_threshold
        collapsed = diversity is not None and diversity == diversity and diversity < threshold
        if not collapsed:
            self.collapse = None
        elif self.collapse is None:
            self.collapse = {"step": step, "epoch": epoch}
        return collapsed

    def save_checkpoint(self, state: dict, device: str) -> None:
        """last.ckpt: ``state`` (the system's training state for this run, a separate run's
        ``checkpoint_state``) with the folder's bookkeeping; ``device``: what trains it."""
        self.device = device
        ckpt.save(self.dir / "last.ckpt", state, {
            "train_s": self.train_s, "config": self.cfg_dict, "config_hash": self.hash,
            "wandb_id": self.logger.wandb_id, "elapsed_s": self.elapsed(), "metrics": self.metrics,
            "metric_info": self.metric_info, "train_windows": self.windows(), "device": self.device,
            "collapse": self.collapse})
        self.saved_step = self.step

    # --- result.json ----------------------------------------------------------------------------
    def windows(self) -> list[list[float]]:
        """Earlier processes' training windows plus this one's so far (runs that overlap shared a machine)."""
        now = [[round(self.window_start, 3), round(self.window_end, 3)]] if self.window_end is not None else []
        return self.train_windows + now

    def collapse_record(self) -> dict | None:
        """result.json's ``collapse``: the diversity key, the threshold and where the run collapsed for good
        (epoch/step null when it did not); None without evaluations."""
        if self.div_key is None:
            return None
        where = self.collapse or {"step": None, "epoch": None}
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
        return self.elapsed_before + time.monotonic() - self.t0

    def result(self, status: str, extra: dict, summed_keys: tuple[str, ...] = ()) -> dict:
        """result.json, written, and returned as a dict."""
        res = {"status": status, "name": self.name, "config_hash": self.hash, "config": self.cfg_dict,
               "metrics": self.metrics, "metric_info": self.metric_info, "steps": self.step,
               "wall_s": round(self.elapsed(), 3), "train_s": round(self.train_s, 3),
               "device": self.device or device_name(None),
               "host": socket.gethostname(), "train_windows": self.windows(), "collapse": self.collapse_record(),
               **self.counts(summed_keys), **extra}
        atomic_write_json(self.dir / "result.json", res)
        return res


# --- training: one system and the folders it trains ----------------------------------------------

class Training:
    """One system in training and the run folders it trains: a single run's system and its folder, or a
    fused array and its members' folders (ganexp/fusedarray.py's ``FusedTraining``, which says what each
    member's logs, images, scores and checkpoint state are). It does what ``RunHooks`` asks (log rows,
    sample grids, evaluation, checkpoints, the last step, a stop signal) for each folder still training
    (``active``), keeps their step and training time, and ends each folder with its result."""

    def __init__(self, folders: list[RunFolder], system: GANSystem, batcher, evaluator, trainer: L.Trainer,
                 resume, name: str | None = None):
        self.folders, self.active = folders, list(folders)
        self.cfg = folders[0].cfg  # folders differ at most in seed and learning rates: cadences and metrics agree
        self.name = name or folders[0].name
        self.system, self.batcher, self.evaluator, self.trainer = system, batcher, evaluator, trainer
        self.eval_z = eval_codes(folders[0].cfg_dict)  # the fixed codes of every sample grid
        self.stop: StopSignals | None = None  # while the system trains: SIGTERM / Slurm's warning noted
        self.results: dict[str, dict] = {}
        for f in folders:
            f.div_key = scored_div_key(evaluator, system)
        system.resume_state = resume  # ResumeCallback restores it once Lightning has built the optimizers
        system.hooks = RunHooks(self)

    # --- what the system gives each active folder (a fused array: each member its own part) ------
    def member_logs(self) -> list[dict]:
        """Log means since the last row (a plain system raises Diverged on NaN/inf itself)."""
        return [self.system.pop_logs()]

    def member_images(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [self.system.generate(z)]

    def member_scores(self, average: bool) -> list[dict]:
        """FID/IS of G_ema (``average``) or G on codes from the run's evaluation generator (RunFolder.eval_generator)."""
        (f,), device = self.active, self.system.device
        gen = f.eval_generator(device)
        return [self.evaluator.evaluate(lambda n: self.system.generate(
            sample_latent(n, f.cfg.z_dim, f.cfg.latent, device, gen), average), device)]

    def member_state(self, f: RunFolder) -> dict:
        return self.system.checkpoint_state()

    # --- what RunHooks asks ---------------------------------------------------------------------
    def advance(self) -> None:
        """After each step: each active folder's step, training time and the end of its training window."""
        now, step, train_s = time.time(), self.system.step_count, self.system.train_s
        for f in self.active:
            f.step, f.train_s, f.window_end = step, f.train_s_before + train_s, now

    def log_row(self, step: int) -> None:
        """Each active folder's row; a folder whose logs are NaN/inf ends as diverged (the others train on)."""
        for f, logs in zip(list(self.active), self.member_logs(), strict=True):
            key = non_finite(logs)
            if key is None:
                f.log_row(step, logs)
            else:
                self.end(f, "diverged", {"diverged_at": step, "error": str(Diverged(step, key))})
        if not self.active:
            raise Diverged(step, "every member")  # nothing left to train
        reason = self.system.frozen(step)  # a host read of the system's own counters, at log steps only
        if reason is not None:
            raise Frozen(step, reason)

    def save_samples(self, tag: str, step: int) -> None:
        for f, images in zip(list(self.active), self.member_images(self.eval_z), strict=True):
            f.save_samples(tag, step, images)

    def evaluate(self, step: int) -> None:
        """Each generator the system scores (G_ema's keys end in _ema), on the same codes, into each folder."""
        from .metrics.metric import generator_key  # the metrics package is loaded: the evaluator exists

        t, rows = time.monotonic(), [{} for _ in self.active]
        for generator in self.system.generators_scored():
            for row, scores in zip(rows, self.member_scores(generator == "ema"), strict=True):
                row.update({generator_key(k, generator): v for k, v in scores.items()})
        for f, scores in zip(list(self.active), rows, strict=True):
            f.record_scores(step, scores, time.monotonic() - t, self.evaluator.info)

    def save_checkpoint(self) -> None:
        device = device_name(self.system.device)
        for f in self.active:
            f.save_checkpoint(self.member_state(f), device)

    def finish_training(self) -> None:
        """Final grid, evaluation and checkpoint, run inside the last training step: still on the
        training device (Lightning moves the module to the CPU when fit() returns)."""
        step = self.system.step_count
        self.save_samples("final", step)
        if self.evaluator is not None:
            self.evaluate(step)
        self.save_checkpoint()

    def stop_here(self, step: int) -> None:
        """A stop signal came during this step: save last.ckpt (finish_training already did at the last
        step), then let the signal take its course (ganexp/stopsignals.py)."""
        if step != self.cfg.trainer.max_steps:
            self.save_checkpoint()
        print(f"[stopped] {self.name}: {self.stop.pending.name} at step {step}; last.ckpt saved, the run "
              f"resumes from it", flush=True)
        self.stop.hand_on()

    # --- the fit and its end --------------------------------------------------------------------
    def fit(self, start: int) -> dict[str, dict]:
        """Train from generator step ``start`` under stop signals, then end each folder still training:
        completed, diverged (Diverged), or failed with the error (any other exception: contained, the sweep
        goes on and the folder says what happened). A user error or a refused write goes on up
        (train_runs says the latter in one sentence); each folder's result by name."""
        max_steps = self.cfg.trainer.max_steps
        status, extra = "completed", {}
        try:
            try:
                if start < max_steps:  # else: killed after the final checkpoint; it holds the final metrics
                    now = time.time()
                    for f in self.active:
                        f.window_start = now
                    with StopSignals() as self.stop:
                        fit_steps(self.trainer, self.system, start, max_steps)
            finally:
                self.batcher.close()
        except Diverged as d:
            status, extra = "diverged", {"diverged_at": d.step, "error": str(d)}
        except Frozen as fz:
            status, extra = "frozen", {"frozen_at": fz.step, "error": str(fz)}
        except USER_ERRORS:
            raise
        except Exception as err:
            if folder_fault(err):
                raise
            status, extra = "failed", {"error": f"{type(err).__name__}: {err}"}
        for f in list(self.active):
            self.end(f, status, extra)
        return self.results

    def end(self, f: RunFolder, status: str, extra: dict) -> None:
        """A folder is done: its log closed, its result.json written, its summary line; the others train on."""
        f.close_logger()
        self.results[f.name] = f.result(status, extra, self.system.summed_keys)
        print(summary_line(self.results[f.name]), flush=True)
        self.active.remove(f)


def scored_div_key(evaluator, system: GANSystem) -> str | None:
    """The diversity key the collapse check reads: the first generator scored (G_ema's where it is on)."""
    if evaluator is None:
        return None
    from .metrics.metric import generator_key  # loaded with the evaluator

    return generator_key(evaluator.div_key, system.generators_scored()[0])


class RunHooks:
    """When a training's side work falls due (``StepHooks``, systems/base.py): after each generator step,
    from the trainer.* and metrics.* cadences, it asks its ``Training`` to log, save grids, evaluate,
    checkpoint, finish or stop."""

    def __init__(self, training: Training):
        self.training, self.t = training, training.cfg.trainer
        self.last_ckpt_time = time.monotonic()
        spe, mx = self.t.steps_per_epoch, self.t.max_steps
        self.grid_epochs = epoch_milestones(self.t.get("sample_at_epochs") or [], spe, mx)
        late = [e for e in self.t.get("sample_at_epochs") or [] if e not in sum(self.grid_epochs.values(), [])]
        if late:
            print(f"[note] {training.name}: trainer.sample_at_epochs {late} lie past the run's end "
                  f"({mx / spe:.4g} epochs); no grid for them", flush=True)
        every = training.cfg.metrics.get("every_n_epochs")
        multiples = [every * k for k in range(1, int(mx / (every * spe)) + 2)] if every else []
        self.eval_steps = set(self.grid_epochs) | set(epoch_milestones(multiples, spe, mx))

    def after_step(self, m: GANSystem) -> None:
        step, t, tr = m.step_count, self.t, self.training
        tr.advance()
        if step % t.log_every_n_steps == 0 or step == t.max_steps:
            tr.log_row(step)
        now = time.monotonic()
        for f in tr.active:
            f.progress(step, now)
        if step % t.sample_every_n_steps == 0 and step != t.max_steps:
            tr.save_samples(f"step_{step:06d}", step)
        for epoch in self.grid_epochs.get(step, ()):
            tr.save_samples(f"epoch_{epoch:g}", step)
        every = tr.cfg.metrics.every_n_steps
        due = (every and step % every == 0) or step in self.eval_steps
        if tr.evaluator is not None and due and step != t.max_steps:
            tr.evaluate(step)
        due = time.monotonic() - self.last_ckpt_time > 60 * t.ckpt_every_minutes
        if (step % t.ckpt_every_n_steps == 0 or due) and step != t.max_steps:
            tr.save_checkpoint()
            self.last_ckpt_time = time.monotonic()
        if step == t.max_steps:
            tr.finish_training()
        if tr.stop is not None and tr.stop.pending is not None:
            tr.stop_here(step)


def epoch_milestones(epochs: list, steps_per_epoch: float, max_steps: int) -> dict[int, list]:
    """{generator step: epochs that end there}: epoch e ends after ceil(e * steps_per_epoch) steps
    (rounded to 1e-9 first, so 0.1 * 30 is step 3); epochs past max_steps are left out."""
    out: dict[int, list] = {}
    for e in epochs:
        step = max(1, math.ceil(round(e * steps_per_epoch, 9)))
        if step <= max_steps:
            out.setdefault(step, []).append(e)
    return out


# --- the lifecycle ---------------------------------------------------------------------------------

class Builder(Protocol):
    """How a kind of job builds what its folders train: ``build`` once for all of them (data, systems,
    evaluator), then ``training`` for each group of folders that start at one step."""

    def build(self, folders: list[RunFolder]) -> None: ...

    def training(self, folders: list[RunFolder], resumes: list[dict | None]) -> Training: ...


class RunBuild:
    """A single run: its data placed for training (data/placement.py), its system, evaluator and trainer."""

    def build(self, folders: list[RunFolder]) -> None:
        """Anything that fails here is a user error naming its keys."""
        (f,) = folders
        dataset, images = load_dataset(f)
        cfg = f.cfg  # with the epochs derived from the images
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        with building("batches", "batch_size, data.*"):
            self.batcher, line = make_batcher(images, f.cfg_dict["data"], cfg.batch_size, cfg.seed,
                                              training_device(cfg.trainer.accelerator), cfg.launch.jobs_per_gpu,
                                              dataset.name)
        print(line, flush=True)
        with building("system", SYSTEM_KEYS):
            self.system = build_system(cfg, self.batcher)
        self.evaluator = build_evaluator(cfg, dataset)
        with building("trainer", "trainer.*"):
            self.trainer = make_trainer(cfg.trainer, f.dir)

    def training(self, folders: list[RunFolder], resumes: list[dict | None]) -> Training:
        return Training(folders, self.system, self.batcher, self.evaluator, self.trainer, resumes[0])


SYSTEM_KEYS = "system.*, model.*, norm.*, loss.*, z_dim"  # what a failure to build a system names


def load_dataset(f: RunFolder, dataset=None) -> tuple:
    """(dataset, its training images, uint8 (N, C, H, W)) from ``dataset`` (shared by a fused array) or a new
    one; the folder's epochs follow from the images (RunFolder.apply_epochs)."""
    with building("dataset", "dataset.*"):
        dataset = dataset or instantiate(f.cfg.dataset)
        images = dataset.images("train")
    f.apply_epochs(images.shape[0])
    return dataset, images


def train_runs(folders: list[RunFolder], builder: Builder) -> list[dict]:
    """The lifecycle of runs, one or a fused array's members: each folder locked (a busy one is left to its
    holder), a finished one skipped or kept (``left_alone``), the others built and trained
    (``train_folders``); each run's result, in order (status busy / kept, or the stored result of a
    skipped run, for those left alone). A refused write, here or while training, ends in one FolderFault
    sentence for the folder whose file it was."""
    results: dict[str, dict | None] = {}
    todo: list[RunFolder] = []
    try:
        with ExitStack() as stack:
            for f in folders:
                lock = stack.enter_context(RunFolderLock(f.dir))
                if not lock.held:
                    print(f"[busy] {f.name}: {lock.holder} is training this run folder; left to it", flush=True)
                    results[f.name] = {"status": "busy", "name": f.name}
                    continue
                results[f.name] = left_alone(f)
                if results[f.name] is None:
                    todo.append(f)
            if todo:
                results.update(train_folders(todo, builder))
    except OSError as err:  # a refused write (Training.fit lets it through), a lock file, a build's read
        if err.errno not in FOLDER_FAULTS:
            raise
        where = Path(err.filename or "")
        f = next((f for f in folders if where.is_relative_to(f.dir)), (todo or folders)[0])
        raise FolderFault(fault_sentence(f.name, f.dir, err, f.saved_step, f.cfg.trainer.max_steps)) from None
    return [results[f.name] for f in folders]


def train_folders(folders: list[RunFolder], builder: Builder) -> dict[str, dict]:
    """Build; per folder config.yaml and its start (resumed from its last.ckpt or from scratch); then train,
    in groups of folders at one step (a fused array's members killed between their checkpoints), in
    order. Every open log is closed on any exit (a stopped or failed run's W&B files complete)."""
    try:
        builder.build(folders)
        check_device(folders[0].cfg.trainer)
        resumes = []
        for f in folders:
            f.write_config()
            resumes.append(f.start())
        steps = [r["step"] if r else 0 for r in resumes]
        results: dict[str, dict] = {}
        for step in sorted(set(steps)):
            group = [i for i, s in enumerate(steps) if s == step]
            training = builder.training([folders[i] for i in group], [resumes[i] for i in group])
            results.update(training.fit(step))
        return results
    finally:
        for f in folders:
            f.close_logger()


def build_evaluator(cfg: DictConfig, dataset):
    """The run's FID/IS evaluator (None with metrics=none); its weights are resolved now, so that a
    problem shows before training."""
    if not cfg.metrics.enabled:
        return None
    from .metrics import Evaluator

    with building("evaluator", "metrics.*"):
        evaluator = Evaluator(cfg.metrics, dataset, checked=True)  # the job's config is checked (job_spec)
        evaluator.weights
    return evaluator


def fit_steps(trainer: L.Trainer, module: GANSystem, start: int, stop: int) -> None:
    """Lightning runs generator steps start+1..stop, in chunks (systems.chunks). The loader draws its
    iterator's base seed from a generator of its own, not the run's global RNG: so the first training
    step finds the RNG as the build left it, which a fused array's members reproduce (systems/fused.py)."""
    loader = torch.utils.data.DataLoader(chunks(start, stop), batch_size=None, generator=torch.Generator())
    trainer.fit(module, train_dataloaders=loader)


def steps_per_epoch(n_images: int, batch_size: int, n_critic: int) -> int | float:
    """Generator steps per epoch: (n_images // batch_size) real batches / n_critic; an int when whole."""
    batches = n_images // batch_size
    return batches // n_critic if batches % n_critic == 0 else round(batches / n_critic, 6)


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


class ResumeCallback(L.Callback):
    """Restores the checkpoint's training state (GANSystem.restore) once Lightning has built the optimizers."""

    def on_train_start(self, trainer, module) -> None:
        if getattr(module, "resume_state", None):
            module.restore(module.resume_state)


def make_trainer(t: DictConfig, run_dir: Path) -> L.Trainer:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*`training_step` returned `None`.*")
    # Lightning's hint to prepend srun where Slurm is installed: ganexp's Slurm jobs come through submitit
    # (hydra/launcher=submitit_slurm), and a run started on a login node is meant to run there
    warnings.filterwarnings("ignore", ".*The `srun` command is available on your system but is not used.*")
    return L.Trainer(accelerator=t.accelerator, devices=t.devices, precision=t.precision, max_epochs=1,
                     logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                     default_root_dir=str(run_dir), callbacks=[ResumeCallback()])


FINISHED = ("completed", "diverged", "frozen")  # a re-run skips them unless force=true


def left_alone(r: RunFolder) -> dict | None:
    """The result to report for a run that is not to train (finished with this config: skip; with another
    config and no force=true: kept); None when it trains."""
    prev = read_result(r.dir)
    if prev.get("status") not in FINISHED:
        return None
    if same_run(prev, r.hash):
        print(f"[skip] {r.name}: already {prev['status']}", flush=True)
        return prev
    if not r.cfg.force:
        print(f"[kept] {r.name}: already {prev['status']} with another config (differs in "
              f"{', '.join(config_diff(prev.get('config', {}), r.cfg_dict)) or 'its hash'}); "
              f"add force=true to retrain it", flush=True)
        return {**prev, "status": "kept"}
    print(f"[force] {r.name}: retraining a {prev['status']} run with a new config", flush=True)
    return None


def fault_sentence(name: str, run_dir: Path, err: OSError, saved_step: int | None = None, max_steps: int = 0) -> str:
    """One sentence: which file and folder, how much is free there, the last good checkpoint (``saved_step``;
    None: not known, or none yet), what to do."""
    path = Path(err.filename) if err.filename else run_dir
    folder = next(p for p in (path.parent, *path.parent.parents) if p.is_dir())
    free = shutil.disk_usage(folder).free
    what = FOLDER_FAULTS[err.errno].format(folder)
    fix = "make it writable" if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else "free space"
    if saved_step is not None:
        ckpt_at = (f"it resumes from the last good checkpoint, step {saved_step} of {max_steps} "
                   f"({run_dir / 'last.ckpt'})")
    else:
        ckpt_at = f"it resumes from {run_dir / 'last.ckpt'}" if (run_dir / "last.ckpt").exists() else \
            "no checkpoint yet, so it starts over"
    return (f"{name}: cannot write {path}: {what} ({err.strerror}; {human_bytes(free)} free there); "
            f"{fix} and run the same command: {ckpt_at}")


def read_result(run_dir: Path) -> dict:
    """The run's result.json as a dict; {} when absent, torn, or not a JSON object."""
    return records.read_json_dict(run_dir / records.RESULT) or {}


def config_diff(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two resolved configs (first five)."""
    a, b = (dict(leaves({**c, "trainer": without_derived(c.get("trainer", {}))})) for c in (old, new))
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))[:5]


def summary_line(res: dict) -> str:
    from .metrics.registry import summary_text  # lazily, as build_evaluator: the metrics package loads torch-fidelity

    scores = summary_text(res["metrics"])
    why = f"  error: {res['error']}" if res["status"] in ("failed", "frozen") else ""
    return f"[{res['status']}] {res['name']}  steps={res['steps']}  {scores}  {res['wall_s']:.1f}s{why}".replace("  ", " ")


