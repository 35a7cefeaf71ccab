"""Launching grids: one GPU per job for ``hydra/launcher=joblib``, and the ``n_jobs`` default.

How a joblib sweep is pinned, and why it is correct
---------------------------------------------------
* ``conf/hydra/launcher/joblib.yaml`` installs the Hydra callback :class:`GpuSlots`. Hydra calls its
  ``on_job_start`` inside the worker process that runs the job, right before the task function, so
  :func:`pin_gpu` sets ``CUDA_VISIBLE_DEVICES`` before the job can initialize CUDA (importing torch does not).
* joblib's loky workers are long-lived processes that run job after job, and CUDA reads
  ``CUDA_VISIBLE_DEVICES`` once, when it is initialized. So the pin belongs to the *process*, not to the job:
  the first job of a worker takes a slot and the process keeps it for its whole life; every later job in the
  same process gets the same slot back (cached in ``_PIN``), so a process never needs re-pinning.
* A slot is a file ``slot-<k>.lock`` held with ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a descriptor the process
  never closes. flock is atomic between processes, so two live processes never hold the same slot, whatever
  the timing. A worker takes the lowest free slot, and slot ``k`` means GPU ``visible[k % n_gpus]``: with
  ``W`` live workers the slots in use are distinct, and when all ``W = n_gpus * jobs_per_gpu`` workers run at
  once (and no other sweep holds slots in the same folder) they hold slots ``0..W-1``, i.e. exactly
  ``jobs_per_gpu`` per GPU, round-robin. Which worker gets which slot depends on timing; the balance does not.
* The kernel drops a flock when its process dies (crash, OOM kill, loky retiring an idle worker), so no lock
  goes stale; a replacement worker takes the lowest free slot, normally the one (and GPU) the dead worker had.
* Slots are shared by every sweep on this machine that sees the same GPUs (the default lock folder is keyed by
  user and visible GPU list), so a second sweep started beside the first takes slots ``W..2W-1``, again
  spread round-robin.
* Visible GPUs are the parent's ``CUDA_VISIBLE_DEVICES`` (inherited by the workers, which loky starts as fresh
  interpreters, so no CUDA state is inherited) when set, else all GPUs counted by ``nvidia-smi -L`` without
  initializing CUDA. With no GPU, jobs are not pinned (CPU jobs).

Limits: Hydra turns an exception raised in a callback into a warning ("Callback GpuSlots.on_job_start
raised ..."), after which that job runs unpinned. pin_gpu refuses a process where torch already initialized
CUDA; that does not happen in a fresh loky worker. Child processes forked by a job (DataLoader workers) share
the slot's lock until they exit.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from .config import ConfigError
from .runlog import atomic_write_json
from .schema import check_value

CPUS_PER_CPU_JOB = 4  # with no GPU, n_jobs defaults to cpu_count // 4: each job's torch uses several threads
MAX_SLOTS = 4096
N_JOBS_RESOLVER = "ganexp_n_jobs"


@dataclass(frozen=True)
class Pin:
    """What a worker process was given: its slot and GPU (both None when there is no GPU)."""

    slot: int | None
    gpu: str | None
    visible: tuple[str, ...]
    slot_dir: str | None


_PIN: Pin | None = None  # this process's pin, taken once and kept for the process lifetime
_SLOT_FD: int | None = None  # the open, flock-ed slot file; never closed, so the lock lives as long as we do


# --- visible GPUs --------------------------------------------------------------------------------------------
def parse_visible(value: str) -> list[str]:
    """Device ids in a ``CUDA_VISIBLE_DEVICES`` value; like CUDA, a negative index ends the list."""
    ids: list[str] = []
    for token in (t.strip() for t in value.split(",")):
        if not token or (token.lstrip("-").isdigit() and int(token) < 0):
            break
        ids.append(token)
    return ids


def count_gpus_smi() -> int:
    """Number of GPUs listed by ``nvidia-smi -L`` (0 without the tool or a driver); never touches CUDA."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def visible_gpus(environ: dict | None = None) -> list[str]:
    """GPU ids jobs may use: ``CUDA_VISIBLE_DEVICES`` when set, else ``0..n-1`` for the GPUs nvidia-smi lists."""
    env = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in env:
        return parse_visible(env["CUDA_VISIBLE_DEVICES"])
    return [str(i) for i in range(count_gpus_smi())]


# --- how many jobs -------------------------------------------------------------------------------------------
def check_jobs_per_gpu(value: Any) -> int:
    """``launch.jobs_per_gpu`` by the schema's rule (this resolver runs before a job's config is checked)."""
    return check_value("launch.jobs_per_gpu", value)


def usable_cpus() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_n_jobs(jobs_per_gpu: Any = 1, n_gpus: int | None = None, n_cpus: int | None = None) -> int:
    """Concurrent jobs: ``n_gpus * jobs_per_gpu``, or ``max(1, n_cpus // 4)`` when there is no GPU."""
    per_gpu = check_jobs_per_gpu(jobs_per_gpu)
    n_gpus = len(visible_gpus()) if n_gpus is None else n_gpus
    if n_gpus > 0:
        return n_gpus * per_gpu
    return max(1, (usable_cpus() if n_cpus is None else n_cpus) // CPUS_PER_CPU_JOB)


def register_resolvers() -> None:
    """``${ganexp_n_jobs:J}``: the joblib launcher's default n_jobs for J jobs per GPU."""
    if not OmegaConf.has_resolver(N_JOBS_RESOLVER):
        OmegaConf.register_new_resolver(N_JOBS_RESOLVER, lambda j=1: default_n_jobs(j))


# --- slots ---------------------------------------------------------------------------------------------------
def slot_gpu(slot: int, gpus: list[str] | tuple[str, ...]) -> str:
    """The GPU of a slot: round-robin, ``gpus[slot % len(gpus)]``."""
    if not gpus:
        raise ValueError("slot_gpu needs at least one GPU id")
    return gpus[slot % len(gpus)]


def default_slot_dir(gpus: list[str] | tuple[str, ...]) -> Path:
    """Lock folder shared by this user's processes that see the same GPUs."""
    key = hashlib.sha256(",".join(gpus).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"ganexp-gpu-slots-{os.getuid()}-{key}"


def acquire_slot(slot_dir: Path, max_slots: int = MAX_SLOTS) -> tuple[int, int]:
    """Lock the lowest free slot file in ``slot_dir``; returns ``(slot, fd)``. Keep fd open to keep the slot."""
    slot_dir.mkdir(parents=True, exist_ok=True)
    for slot in range(max_slots):
        fd = os.open(slot_dir / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for humans: who holds the slot
        return slot, fd
    raise RuntimeError(f"all {max_slots} GPU slots in {slot_dir} are taken; remove stray ganexp processes")


def cuda_initialized() -> bool:
    """Whether this process has already initialized CUDA through torch (without importing torch)."""
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


def pin_gpu(slot_dir: str | Path | None = None) -> Pin:
    """Pin this process to one GPU (once; later calls return the same Pin) by setting CUDA_VISIBLE_DEVICES.

    Call it before anything initializes CUDA in the process. No GPU visible: nothing is pinned."""
    global _PIN, _SLOT_FD
    if _PIN is not None:
        return _PIN
    gpus = tuple(visible_gpus())
    if not gpus:
        _PIN = Pin(None, None, gpus, None)
        return _PIN
    if cuda_initialized():
        raise RuntimeError("CUDA is already initialized in this process, so it cannot be pinned to one GPU; "
                           "call ganexp.launch.pin_gpu before anything touches CUDA")
    folder = Path(slot_dir) if slot_dir else default_slot_dir(gpus)
    slot, _SLOT_FD = acquire_slot(folder)
    os.environ["CUDA_VISIBLE_DEVICES"] = slot_gpu(slot, gpus)
    _PIN = Pin(slot, slot_gpu(slot, gpus), gpus, str(folder))
    return _PIN


# --- Hydra callback ------------------------------------------------------------------------------------------
class GpuSlots(Callback):
    """Installed by ``hydra/launcher=joblib``: pins each worker to a GPU before its job runs and writes
    ``launch.json`` (slot, GPU, pid, CUDA_VISIBLE_DEVICES, start/end times) into the job's run folder."""

    def __init__(self, slot_dir: str | None = None, jobs_per_gpu: Any = 1):
        """Built by Hydra in the launching process before the launcher, so bad input stops the sweep here."""
        try:
            check_jobs_per_gpu(jobs_per_gpu)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)
        self.slot_dir = slot_dir

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Pin (Hydra runs this in the worker, before the task function) and record it."""
        pin = pin_gpu(self.slot_dir)
        record = {**asdict(pin), "visible": list(pin.visible), "pid": os.getpid(),
                  "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"), "started": time.time()}
        atomic_write_json(_record_path(config), record)

    def on_job_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Add the end time to launch.json (what tells concurrent jobs apart in a post-mortem)."""
        path = _record_path(config)
        if path.is_file():
            atomic_write_json(path, {**json.loads(path.read_text()), "ended": time.time()})


def _record_path(config: DictConfig) -> Path:
    """``launch.json`` in the job's run folder (created if Hydra has not made it yet)."""
    out = Path(config.hydra.runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out / "launch.json"



def quiet_schema_notice() -> None:
    """Hide Hydra's "validated against ConfigStore schema with the same name" notice for our launcher files:
    they share the plugins' names on purpose (hydra/launcher=joblib, ...) and set only the plugins' own keys."""
    warnings.filterwarnings("ignore", category=UserWarning, message=r"\s*'hydra/launcher/(joblib|submitit_local|"
                            r"submitit_slurm)' is validated against ConfigStore schema")


register_resolvers()
quiet_schema_notice()
