"""Fused arrays at the level of runs (``launch.fuse=seed|hparams``; the model: ganexp/systems/fused.py).

The grid sweeper hands one job the runs of a grid that differ only in seed (launch.fuse=seed), or in seed and
learning rates (launch.fuse=hparams): ``launch.array_members``, each member's own overrides.
Each member keeps everything a separate run has: its folder, lock, config.yaml, result.json,
metrics.jsonl, sample grids, last.ckpt (in a separate run's format) and W&B run. Per member:

* a finished run is skipped (or kept) as by ``train.run``; a busy folder is left to its holder;
* resume: members resume from their own last.ckpt; members at different steps (a kill between their
  checkpoints) train as separate arrays, one per step, in order;
* divergence ends only that member (its result says ``diverged``, as a separate run's would); the
  others train on. Its networks stay in the array (disjoint, so they change nothing for the others)
  until the array ends;
* evaluation scores all members in one pass through Inception (``Evaluator.evaluate_members``), each on
  the codes its separate run would draw.
"""
from __future__ import annotations

import copy
import time
from contextlib import ExitStack
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from .config import building
from .preflight import check_job
from .runlock import RunFolderLock
from .stopsignals import StopSignals
from .systems import Diverged, sample_latent
from .systems.base import non_finite
from .systems.fused import FusedGANPair, MemberBatcher, capture_rng
from .systems.captured import check_device
from .runlog import folder_fault
from .run import (USER_ERRORS, FolderFault, Run, RunActions, RunHooks, build_evaluator, fit_steps,
                  folder_fault_message, left_alone, make_trainer, summary_line)


class Member:
    """What a member's Run reads of its module: the array's step, device and its own slice of the state."""

    def __init__(self):
        self.system: FusedGANPair | None = None
        self.index = 0
        self._step = 0  # while detached (before training, after the member ended)
        self.train_s_before = 0.0

    def attach(self, system: FusedGANPair, index: int) -> None:
        self.system, self.index = system, index

    def detach(self) -> None:
        """The member stops (diverged, or the array ended): keep its step and training time."""
        if self.system is not None:
            self._step, self.train_s_before = self.system.step_count, self.train_s
            self.system = None

    @property
    def step_count(self) -> int:
        return self.system.step_count if self.system is not None else self._step

    @step_count.setter
    def step_count(self, value: int) -> None:
        self._step = value

    @property
    def train_s(self) -> float:
        """Seconds of training steps that trained this member (the array's, shared by its members)."""
        return self.train_s_before + (self.system.train_s if self.system is not None else 0.0)

    @train_s.setter
    def train_s(self, value: float) -> None:
        self.train_s_before = value

    @property
    def device(self) -> torch.device:
        return self.system.device if self.system is not None else torch.device("cpu")

    def checkpoint_state(self) -> dict:
        return {**self.system.member_checkpoint(self.index), "train_s": self.train_s}


class FusedArray(RunActions):
    """The member runs of one fused system, seen by RunHooks as one run: each action is done per
    member that still trains (``active``)."""

    def __init__(self, runs: list[Run], evaluator):
        self.runs, self.active, self.evaluator = runs, list(runs), evaluator
        self.cfg = runs[0].cfg  # all but the seed agree: cadence, schedule, metrics
        self.name = f"fused array of seeds {','.join(str(r.cfg.seed) for r in runs)}"
        self.module: FusedGANPair | None = None
        self.stop: StopSignals | None = None
        self.results: dict[str, dict] = {}

    @property
    def window_end(self):
        return self.runs[0].window_end

    @window_end.setter
    def window_end(self, value) -> None:
        for r in self.active:
            r.window_end = value

    def log_row(self, step: int, member_logs: list[dict]) -> None:
        for r in list(self.active):
            logs = member_logs[r.module.index]
            key = non_finite(logs)
            if key is None:
                r.log_row(step, logs)
            else:
                self.end(r, "diverged", {"diverged_at": step, "error": str(Diverged(step, key))})
        if not self.active:
            raise Diverged(step, "every member")  # nothing left to train

    def save_samples(self, tag: str, step: int) -> None:
        images = self.module.generate(self.runs[0].eval_z)  # (n, S, C, H, W): the same codes for every member
        for r in self.active:
            r.save_samples(tag, step, images[:, r.module.index])

    def evaluate(self, step: int) -> None:
        t = time.monotonic()
        scores = self.evaluator.evaluate_members(self.samplers(self.module.device), self.module.device)
        for r, s in zip(self.active, scores):
            r.record_scores(step, s, time.monotonic() - t)

    def samplers(self, device) -> list:
        """Per active member: n -> its next n images, on the codes its separate run would draw (drawn up
        front in that run's chunks, since a chunk's size can change the numbers on CUDA); every call
        round generates all members at once."""
        cfg, n, chunk = self.cfg, self.evaluator.cfg["num_samples"], self.evaluator.batch_size(device)
        codes = {r.module.index: torch.cat([sample_latent(min(chunk, n - a), cfg.z_dim, cfg.latent, device, g)
                                            for a in range(0, n, chunk)])
                 for r, g in ((r, r.eval_generator(device)) for r in self.active)}
        pos, ready = [0], {}

        def sample(i: int, m: int):
            if i not in ready:
                z = torch.zeros(m, self.module.s, cfg.z_dim, device=device)
                for j, c in codes.items():
                    z[:, j] = c[pos[0]:pos[0] + m]
                images = self.module.generate(z)
                ready.update({j: images[:, j] for j in codes})
                pos[0] += m
            return ready.pop(i)

        return [lambda m, i=r.module.index: sample(i, m) for r in self.active]

    def save_checkpoint(self) -> None:
        for r in self.active:
            r.save_checkpoint()

    def end(self, r: Run, status: str, extra: dict | None = None) -> None:
        """A member is done: its log closed, its result.json written, the array trains on without it."""
        r.module.detach()
        r.close_logger()
        self.results[r.name] = r.result(status, extra or {})
        print(summary_line(self.results[r.name]), flush=True)
        self.active.remove(r)


def member_configs(cfg: DictConfig) -> list[DictConfig]:
    """A fused job's config -> one config per member of ``launch.array_members`` (each member's own overrides,
    e.g. 'seed=1;optim.lr_g=1e-4'), each as its separate run's."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out = []
    for own in cfg.launch.array_members:
        c = copy.deepcopy(cfg)
        with open_dict(c):
            for o in OverridesParser.create().parse_overrides(own.split(";")):
                OmegaConf.update(c, o.key_or_group, o.value(), merge=False)
            c.launch.array_members = None
        out.append(c)
    return out


def run_array(cfgs: list[DictConfig], dirs: list[Path], names: list[str]) -> list[dict]:
    """Train the runs (configs that differ only in seed and learning rates) that are not finished or busy as
    fused arrays; returns each run's result (status busy / skip / kept as ``train.run`` reports them)."""
    results: dict[str, dict] = {}
    with ExitStack() as stack:
        runs = []
        for cfg, run_dir, name in zip(cfgs, dirs, names, strict=True):
            check_job(cfg)
            check_device(cfg.trainer)
            lock = stack.enter_context(RunFolderLock(run_dir))
            if not lock.held:
                print(f"[busy] {name}: {lock.holder} is training this run folder; left to it", flush=True)
                results[name] = {"status": "busy", "name": name}
                continue
            r = Run(cfg, run_dir, name)
            results[name] = left_alone(r)
            if results[name] is None:
                runs.append(r)
        if runs:
            try:
                results.update(train_members(runs))
            except OSError as err:
                if not folder_fault(err):
                    raise
                where = Path(err.filename or "")
                r = next((r for r in runs if where.is_relative_to(r.dir)), runs[0])  # the member whose file it is
                raise FolderFault(folder_fault_message(r, err)) from None
    return [results[n] for n in names]


def train_members(runs: list[Run]) -> dict[str, dict]:
    """Build every member as its separate run would, then train them in arrays of members at one step."""
    images, dataset = None, None
    for r in runs:
        images = r.load_dataset(dataset)
        dataset = r.dataset
    systems, rng = {}, {}
    for r in runs:
        L.seed_everything(r.cfg.seed, workers=True, verbose=False)
        r.build_system(None, None)
        systems[r.name], rng[r.name] = r.module, capture_rng()  # the RNG as the run's first step finds it
        r.module = Member()
    evaluator = build_evaluator(runs[0].cfg, dataset)
    print(f"[data] {dataset.name}: {images.shape[0]:,} images, one copy on the training device for "
          f"{len(runs)} fused members", flush=True)
    resumes = {}
    for r in runs:
        r.evaluator = evaluator
        (r.dir / "config.yaml").write_text(OmegaConf.to_yaml(r.cfg_dict))
        resumes[r.name] = r.start()
    results: dict[str, dict] = {}
    try:
        for step in sorted({s["step"] if s else 0 for s in resumes.values()}):
            group = [r for r in runs if (resumes[r.name]["step"] if resumes[r.name] else 0) == step]
            array = FusedArray(group, evaluator)
            if step < group[0].cfg.trainer.max_steps:  # else killed after the final checkpoint: it holds the result
                train_array(array, [systems[r.name] for r in group], [rng[r.name] for r in group], images,
                            [resumes[r.name] for r in group] if step else None, step)
            for r in list(array.active):
                array.end(r, "completed")
            results.update(array.results)
    except BaseException:  # a stop signal or a user error: every open log is closed (W&B files complete)
        for r in runs:
            if r.name not in results:
                r.close_logger()
        raise
    return results


def train_array(array: FusedArray, members: list, rng: list[dict], images: torch.Tensor, resume, start: int) -> None:
    """One fused system for the array's members, trained from ``start``; a failure ends every member
    still training as failed (its folder says why), a user error is raised as for a separate run."""
    runs, cfg = array.runs, array.cfg
    batcher = MemberBatcher(images, cfg.batch_size, [r.cfg.seed for r in runs])
    with building("fused array", "launch.fuse, model.*, norm.*"):
        array.module = FusedGANPair(members, rng, batcher, RunHooks(array))
    array.module.resume_state = resume
    for i, r in enumerate(runs):
        r.module.attach(array.module, i)
        r.window_start = time.time()
    try:
        with StopSignals() as array.stop:
            fit_steps(make_trainer(cfg.trainer, runs[0].dir), array.module, start, cfg.trainer.max_steps)
    except Diverged:
        pass  # every member diverged; each has its result
    except USER_ERRORS:
        raise
    except Exception as err:  # contained, as for a separate run
        if folder_fault(err):
            raise  # run_array says it in one sentence
        for r in list(array.active):
            array.end(r, "failed", {"error": f"{type(err).__name__}: {err}"})
