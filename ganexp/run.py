"""The one lifecycle every run goes through, alone or as a fused array's member: ``train_runs`` (lock, skip /
keep / force, build, config.yaml, start or resume, fit under stop signals with failure containment) and ``Builder`` (how a kind of job builds its data and system: ``RunBuild`` for a single run,
ganexp/fusedarray.py's for fused members). A folder's files and state are ganexp/runfolder.py's; the system
in training and what each step reports, ganexp/training.py's. ``ganexp.train`` calls it for a single run
and, through ``fusedarray.run_array``, for a fused array's members."""
from __future__ import annotations

import errno
import logging
import shutil
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from .config import building, register_resolvers
from .data.placement import make_batcher, training_device
from .errors import FOLDER_FAULTS
from .identity import same_run, without_derived
from .runfolder import FolderFault, RunFolder, read_result
from .runlock import RunFolderLock
from .runlog import human_bytes
from .schema import leaves
from .systems import build_system
from .systems.captured import check_device
from .training import Training

register_resolvers()


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
        raise FolderFault(fault_sentence(f.name, f.dir, err, f.state.saved_step, f.cfg.trainer.max_steps)) from None
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



def config_diff(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two resolved configs (first five)."""
    a, b = (dict(leaves({**c, "trainer": without_derived(c.get("trainer", {}))})) for c in (old, new))
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))[:5]

