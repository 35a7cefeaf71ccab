"""One system in training and the run folders it trains: ``Training`` (a single run's system and its folder,
or a fused array and its members' folders) and ``RunHooks`` (what falls due after each generator step: log
rows, sample grids, evaluations, checkpoints, the last step, a stop signal). ganexp/run.py builds it and
ends it; each folder's files are ganexp/runfolder.py's."""
from __future__ import annotations

import math
import time

import lightning as L
import torch

from .errors import USER_ERRORS
from .runfolder import RunFolder, device_name, summary_line
from .runlog import folder_fault
from .stopsignals import StopSignals
from .systems import Diverged, Frozen, GANSystem, chunks, eval_codes, sample_latent
from .systems.base import non_finite


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
            f.state.step, f.state.train_s, f.state.window_end = step, f.state.train_s_before + train_s, now

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
                        f.state.window_start = now
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



def fit_steps(trainer: L.Trainer, module: GANSystem, start: int, stop: int) -> None:
    """Lightning runs generator steps start+1..stop, in chunks (systems.chunks). The loader draws its
    iterator's base seed from a generator of its own, not the run's global RNG: so the first training
    step finds the RNG as the build left it, which a fused array's members reproduce (systems/fused.py)."""
    loader = torch.utils.data.DataLoader(chunks(start, stop), batch_size=None, generator=torch.Generator())
    trainer.fit(module, train_dataloaders=loader)

