"""One run: its folder's bookkeeping (``Run``: config, hash, log, samples, evaluation, checkpoints,
result.json), the hooks a system calls back (``RunHooks``), Lightning's glue, and the lifecycle around a
run that may train (``left_alone``: skip / keep; ``train``: build, config.yaml, fit with failure
containment, the summary line). A single run (``ganexp.train``) and a fused array's members
(``ganexp.fusedarray``) both use it."""
from __future__ import annotations

import errno
import logging
import math
import os
import platform
import shutil
import socket
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from . import checkpoint as ckpt
from .config import building, config_hash, register_resolvers, to_container, without_derived
from .stopsignals import StopSignals
from .schema import leaves
from .data.placement import make_batcher, training_device
from .systems import Diverged, GANSystem, build_system, chunks, eval_codes, sample_latent
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


class RunHooks:
    """Per-step side work of a run: logging, sample grids, evaluation, checkpoints."""

    def __init__(self, run: "Run"):
        self.run, self.t = run, run.cfg.trainer
        self.last_ckpt_time = time.monotonic()
        spe, mx = self.t.steps_per_epoch, self.t.max_steps
        self.grid_epochs = epoch_milestones(self.t.get("sample_at_epochs") or [], spe, mx)
        late = [e for e in self.t.get("sample_at_epochs") or [] if e not in sum(self.grid_epochs.values(), [])]
        if late:
            print(f"[note] {run.name}: trainer.sample_at_epochs {late} lie past the run's end "
                  f"({mx / spe:.4g} epochs); no grid for them", flush=True)
        every = run.cfg.metrics.get("every_n_epochs")
        multiples = [every * k for k in range(1, int(mx / (every * spe)) + 2)] if every else []
        self.eval_steps = set(self.grid_epochs) | set(epoch_milestones(multiples, spe, mx))

    def after_step(self, m: GANSystem) -> None:
        step, t = m.step_count, self.t
        self.run.window_end = time.time()
        if step % t.log_every_n_steps == 0 or step == t.max_steps:
            self.run.log_row(step, m.pop_logs())
        if step % t.sample_every_n_steps == 0 and step != t.max_steps:
            self.run.save_samples(f"step_{step:06d}", step)
        for epoch in self.grid_epochs.get(step, ()):
            self.run.save_samples(f"epoch_{epoch:g}", step)
        every = self.run.cfg.metrics.every_n_steps
        due = (every and step % every == 0) or step in self.eval_steps
        if self.run.evaluator is not None and due and step != t.max_steps:
            self.run.evaluate(step)
        due = time.monotonic() - self.last_ckpt_time > 60 * t.ckpt_every_minutes
        if (step % t.ckpt_every_n_steps == 0 or due) and step != t.max_steps:
            self.run.save_checkpoint()
            self.last_ckpt_time = time.monotonic()
        if step == t.max_steps:
            self.run.finish_training()
        if self.run.stop is not None and self.run.stop.pending is not None:
            self.run.stop_here(step)


def epoch_milestones(epochs: list, steps_per_epoch: float, max_steps: int) -> dict[int, list]:
    """{generator step: epochs that end there}: epoch e ends after ceil(e * steps_per_epoch) steps
    (rounded to 1e-9 first, so 0.1 * 30 is step 3); epochs past max_steps are left out."""
    out: dict[int, list] = {}
    for e in epochs:
        step = max(1, math.ceil(round(e * steps_per_epoch, 9)))
        if step <= max_steps:
            out.setdefault(step, []).append(e)
    return out


class RunActions:
    """What RunHooks asks of a run at its last step and at a stop signal; shared by a Run and a fused
    array of runs (ganexp/fusedarray.py), which implement save_samples, evaluate and save_checkpoint."""

    def finish_training(self) -> None:
        """Final grid, evaluation and checkpoint, run inside the last training step: still on the
        training device (Lightning moves the module to the CPU when fit() returns)."""
        step = self.module.step_count
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


class Run(RunActions):
    """One training run in its folder."""

    def __init__(self, cfg: DictConfig, run_dir: Path, name: str):
        self.cfg, self.dir, self.name = cfg, run_dir, name
        self.cfg_dict = to_container(cfg)
        self.hash = config_hash(self.cfg_dict)
        self.metrics: dict = {}
        self.metric_info: dict = {}
        self.collapse: dict | None = None  # diversity below metrics.collapse_threshold since {step, epoch}
        self.evaluator = self.module = self.batcher = None
        self.elapsed_before = 0.0
        self.train_windows: list[list[float]] = []  # [start, end] unix times of each process that trained
        self.window_start = self.window_end = None  # this process's training window (unix times)
        self.device: str | None = None  # set while training (Lightning moves the module to the CPU after fit)
        self.saved_step: int | None = None  # the step of the last good last.ckpt (None: none yet)
        self.stop: StopSignals | None = None  # while trainer.fit runs: SIGTERM / Slurm's warning noted
        self.t0 = time.monotonic()  # fit() restarts it; set here so that a failure before fit can be timed

    # --- lifecycle -------------------------------------------------------------------------
    def build(self) -> None:
        """Data, networks, loss and evaluator; anything that fails here is a user error naming its keys."""
        cfg = self.cfg
        images = self.load_dataset()
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        with building("batches", "batch_size, data.*"):
            self.batcher, line = make_batcher(images, self.cfg_dict["data"], cfg.batch_size, cfg.seed,
                                              training_device(cfg.trainer.accelerator), cfg.launch.jobs_per_gpu,
                                              self.dataset.name)
        print(line, flush=True)
        self.build_system(self.batcher, RunHooks(self))
        self.evaluator = build_evaluator(cfg, self.dataset)
        with building("trainer", "trainer.*"):
            self.trainer = make_trainer(cfg.trainer, self.dir)
        check_device(cfg.trainer)

    def load_dataset(self, dataset=None):
        """The training images, uint8 (N, C, H, W), from ``dataset`` (shared by a fused array) or a new one."""
        with building("dataset", "dataset.*"):
            self.dataset = dataset or instantiate(self.cfg.dataset)
            images = self.dataset.images("train")
        self.apply_epochs(images.shape[0])
        return images

    def build_system(self, batcher, hooks) -> None:
        """The training system (the global RNG seeded first) and the fixed codes of the sample grids."""
        with building("system", "system.*, model.*, norm.*, loss.*, z_dim"):
            self.module = build_system(self.cfg, batcher, hooks)
        self.eval_z = eval_codes(self.cfg_dict)

    def apply_epochs(self, n_images: int) -> None:
        """trainer.steps_per_epoch from the data (an epoch = every real image once through D: N // batch
        real batches, loss.n_critic per generator step; a fraction when they do not divide, e.g. 0.8 for
        4 batches and 5 critic steps); trainer.max_epochs, when set, gives max_steps. Both land in the
        resolved config (config.yaml, result.json); the config hash leaves them out (config.without_derived)."""
        t = self.cfg.trainer
        steps = steps_per_epoch(n_images, self.cfg.batch_size, self.cfg.loss.n_critic)
        with open_dict(t):
            t.steps_per_epoch = steps
            if t.get("max_epochs") is not None:
                t.max_steps = max(1, math.ceil(t.max_epochs * steps))
        self.cfg_dict = to_container(self.cfg)

    def fit(self) -> dict:
        resume = self.start()
        self.module.resume_state = resume
        start = resume["step"] if resume else 0
        status, extra = "completed", {}
        try:
            if start < self.cfg.trainer.max_steps:  # else: killed after the final checkpoint; it holds the final metrics
                self.window_start = time.time()
                with StopSignals() as self.stop:
                    fit_steps(self.trainer, self.module, start, self.cfg.trainer.max_steps)
        except Diverged as d:
            status, extra = "diverged", {"diverged_at": d.step, "error": str(d)}
        finally:  # a failed run's W&B run is closed too
            self.batcher.close()
            self.close_logger()
        return self.result(status, extra)

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

    def close_logger(self) -> None:
        collapse = {"collapse_epoch": self.collapse["epoch"]} if self.collapse else {}
        step = self.module.step_count if self.module is not None else 0
        self.logger.finish({**{k: v for k, v in self.metrics.items() if v is not None}, **collapse}, step)

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
        if state.get("config_hash") != self.hash:
            print(f"[restart] {self.name}: last.ckpt belongs to another config; training from scratch", flush=True)
            return None
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.train_windows = [list(w) for w in state.get("train_windows", [])]
        self.device = state.get("device")
        self.module.train_s = float(state.get("train_s", 0.0))
        self.metrics = dict(state.get("metrics", {}))
        self.metric_info = dict(state.get("metric_info", {}))
        self.collapse = state.get("collapse")
        # Set now, not only by ResumeCallback: after a kill past the final checkpoint no step is left to run.
        self.module.step_count = self.saved_step = int(state["step"])
        print(f"[resume] {self.name}: from step {state['step']} of {self.cfg.trainer.max_steps}", flush=True)
        return state

    # --- side work ---------------------------------------------------------------------------
    def log_row(self, step: int, logs: dict) -> None:
        row = {"step": step, "epoch": round(step / self.cfg.trainer.steps_per_epoch, 4),
               "images_seen": step * self.cfg.batch_size * self.cfg.loss.n_critic, "time_s": round(self.elapsed(), 3),
               **logs}
        self.metrics.update(logs)
        self.logger.log(row)
        self.progress(row)

    def progress(self, row: dict) -> None:
        """About every PROGRESS_EVERY_S (and at the last step), one line through ``logging`` (so it reaches
        Hydra's train.log and Slurm's logs): step/max, epoch, images/s, the losses, the last FID/KID, ETA."""
        now, last = time.monotonic(), getattr(self, "last_progress", None)
        max_steps = self.cfg.trainer.max_steps
        if last is not None and now - last < PROGRESS_EVERY_S and row["step"] < max_steps:
            return
        self.last_progress = now
        rate = row.get("images_per_s") or 0.0
        per_step = self.cfg.batch_size * self.cfg.loss.n_critic
        eta = (max_steps - row["step"]) * per_step / rate if rate else None
        losses = " ".join(f"{k} {v:.3f}" for k, v in row.items() if k.endswith("_loss") and isinstance(v, float))
        scores = " ".join(f"{k} {v:.4g}" for k, v in self.metrics.items()
                          if k.startswith(("fid", "kid")) and not k.endswith("_std") and isinstance(v, float))
        log.info("%s: step %d/%d, epoch %.2f, %.0f images/s, %s%s, ETA %s", self.name, row["step"], max_steps,
                 row["epoch"], rate, losses or "no losses yet", f", {scores}" if scores else "",
                 "-" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta)))

    def save_samples(self, tag: str, step: int, images: torch.Tensor | None = None) -> None:
        """samples/<tag>.png of the fixed codes (``images``: already generated by a fused array)."""
        path = self.dir / "samples" / f"{tag}.png"
        images = self.module.generate(self.eval_z) if images is None else images
        if self.logger.guard("sample grids", step, lambda: save_grid(images, path)):
            self.logger.image("samples", path, step)

    def evaluate(self, step: int) -> None:
        """FID/IS on codes from a dedicated generator: the same codes at every evaluation, and the
        training RNG untouched (evaluating more or less often never changes the training run)."""
        t, device = time.monotonic(), self.module.device
        gen = self.eval_generator(device)
        scores = self.evaluator.evaluate(lambda n: self.module.generate(
            sample_latent(n, self.cfg.z_dim, self.cfg.latent, device, gen)), device)
        self.record_scores(step, scores, time.monotonic() - t)

    def eval_generator(self, device) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(10_000 + self.cfg.seed)

    def record_scores(self, step: int, scores: dict, seconds: float) -> None:
        """An evaluation's scores into the run's metrics and log; notes a collapse."""
        self.metrics.update(scores)
        self.metric_info = dict(self.evaluator.info)
        epoch = round(step / self.cfg.trainer.steps_per_epoch, 4)
        collapsed = self.note_collapse(scores.get(self.evaluator.div_key), step, epoch)
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

    def save_checkpoint(self) -> None:
        self.device = device_name(self.module.device)
        ckpt.save(self.dir / "last.ckpt", self.module, {
            "config": self.cfg_dict, "config_hash": self.hash, "wandb_id": self.logger.wandb_id,
            "elapsed_s": self.elapsed(), "metrics": self.metrics, "metric_info": self.metric_info,
            "train_windows": self.windows(), "device": self.device, "collapse": self.collapse})
        self.saved_step = self.module.step_count

    def windows(self) -> list[list[float]]:
        """Earlier processes' training windows plus this one's so far (runs that overlap shared a machine)."""
        now = [[round(self.window_start, 3), round(self.window_end, 3)]] if self.window_end is not None else []
        return self.train_windows + now

    def collapse_record(self) -> dict | None:
        """result.json's ``collapse``: the diversity key, the threshold and where the run collapsed for good
        (epoch/step null when it did not); None without evaluations."""
        if self.evaluator is None:
            return None
        where = self.collapse or {"step": None, "epoch": None}
        return {"key": self.evaluator.div_key, "threshold": self.cfg.metrics.collapse_threshold, **where}

    def counts(self) -> dict:
        """result.json's ``counts``: the system's per-interval counts (``summed_keys``, e.g. PS-GAN's branches
        and D steps) totalled over metrics.jsonl; nothing for systems without counts."""
        keys, path = getattr(self.module, "summed_keys", ()), self.dir / records.METRICS
        if not keys or not path.exists():
            return {}
        rows = records.read_rows(path)
        return {"counts": {k: round(sum(r.get(k) or 0 for r in rows)) for k in keys}}

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    def result(self, status: str, extra: dict) -> dict:
        res = {"status": status, "name": self.name, "config_hash": self.hash, "config": self.cfg_dict,
               "metrics": self.metrics, "metric_info": self.metric_info,
               "steps": self.module.step_count if self.module is not None else 0,
               "wall_s": round(self.elapsed(), 3),
               "train_s": round(self.module.train_s, 3) if self.module is not None else 0.0,
               "device": self.device or device_name(None),
               "host": socket.gethostname(), "train_windows": self.windows(), "collapse": self.collapse_record(),
               **self.counts(), **extra}
        atomic_write_json(self.dir / "result.json", res)
        return res


def build_evaluator(cfg: DictConfig, dataset):
    """The run's FID/IS evaluator (None with metrics=none); its weights are resolved now, so that a
    problem shows before training."""
    if not cfg.metrics.enabled:
        return None
    from .metrics import Evaluator

    with building("evaluator", "metrics.*"):
        evaluator = Evaluator(cfg.metrics, dataset)
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


FINISHED = ("completed", "diverged")


def left_alone(r: Run) -> dict | None:
    """The result to report for a run that is not to train (finished with this config: skip; with another
    config and no force=true: kept); None when it trains."""
    prev = read_result(r.dir)
    if prev.get("status") not in FINISHED:
        return None
    if prev.get("config_hash") == r.hash:
        print(f"[skip] {r.name}: already {prev['status']}", flush=True)
        return prev
    if not r.cfg.force:
        print(f"[kept] {r.name}: already {prev['status']} with another config (differs in "
              f"{', '.join(config_diff(prev.get('config', {}), r.cfg_dict)) or 'its hash'}); "
              f"add force=true to retrain it", flush=True)
        return {**prev, "status": "kept"}
    print(f"[force] {r.name}: retraining a {prev['status']} run with a new config", flush=True)
    return None


def train(r: Run, run_dir: Path) -> dict:
    try:
        r.build()
        with writing(run_dir / "config.yaml"):
            (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(r.cfg_dict))
        try:
            res = r.fit()
        except USER_ERRORS:
            raise
        except Exception as err:  # contained: the sweep goes on, the folder says what happened
            if folder_fault(err):
                raise
            res = r.result("failed", {"error": f"{type(err).__name__}: {err}"})
    except OSError as err:
        if not folder_fault(err):
            raise
        raise FolderFault(folder_fault_message(r, err)) from None
    print(summary_line(res), flush=True)
    return res


def folder_fault_message(r: Run, err: OSError) -> str:
    return fault_sentence(r.name, r.dir, err, r.saved_step, r.cfg.trainer.max_steps)


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
    why = f"  error: {res['error']}" if res["status"] == "failed" else ""
    return f"[{res['status']}] {res['name']}  steps={res['steps']}  {scores}  {res['wall_s']:.1f}s{why}".replace("  ", " ")


