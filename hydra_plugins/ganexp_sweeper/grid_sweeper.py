"""ganexp's Hydra sweeper (``hydra/sweeper=ganexp``, the default of conf/train.yaml); see ganexp/preflight.py."""
from __future__ import annotations

import errno
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from ganexp.config import ConfigError
from ganexp.preflight import EXIT, GridChecker, spec_digest, summarize
from ganexp.errors import FOLDER_FAULTS
from ganexp.runlog import human_bytes


class GridSweeper(BasicSweeper):
    """Hydra's basic sweeper, checking every job before the first one runs and summing up after."""

    def sweep(self, arguments: list[str]) -> Any:
        params = [f"{k}={v}" for k, v in (self.params or {}).items()] + list(arguments)
        overrides = OverridesParser.create(config_loader=self.hydra_context.config_loader).parse_overrides(params)
        jobs = [job for batch in self.split_arguments(overrides, None) for job in batch]
        checker = GridChecker(self.hydra_context.config_loader, self.config)
        varying = [len({job[i] for job in jobs}) > 1 for i in range(len(jobs[0]))] if jobs else []
        try:
            cfgs = [checker.check(job, [o for o, v in zip(job, varying) if v]) for job in jobs]
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            EXIT["code"] = 2
            return []
        try:
            returns = self.launch_jobs(fuse_jobs(jobs, cfgs))  # each job carries launch.checked
        except Exception as err:  # noqa: BLE001 (only submitit's UncompletedJobError is ours to explain)
            if isinstance(err, OSError) and err.errno in FOLDER_FAULTS:  # Hydra could not write a job's .hydra/
                print(f"error: {grid_stops(err, Path(self.config.hydra.sweep.dir))}", file=sys.stderr, flush=True)
                EXIT["code"] = 3
                return []
            if type(err).__name__ != "UncompletedJobError":
                raise
            print(f"error: {unfinished_job(str(err))}", file=sys.stderr, flush=True)
            EXIT["code"] = 1
            return []
        outcomes = [r.return_value for batch in returns for r in batch if r is not None]
        flat = [o for out in outcomes for o in (out if isinstance(out, list) else [out])]  # a fused job: its members
        EXIT["code"] = summarize([o for o in flat if isinstance(o, dict)])
        return returns

    def launch_jobs(self, jobs: list[list[str]]) -> list:
        """BasicSweeper.sweep's launch loop, on the given jobs: multirun.yaml, then batches of max_batch_size."""
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        size = self.max_batch_size or len(jobs) or 1
        returns, first = [], 0
        for batch in (jobs[i:i + size] for i in range(0, len(jobs), size)):
            results = self.launcher.launch(batch, initial_job_idx=first)
            for r in results:
                _ = r.return_value  # raises a job's exception, as BasicSweeper does
            first += len(batch)
            returns.append(results)
        return returns

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Done for the whole grid in ``sweep`` before anything launches."""


# launch.fuse -> the keys in which the members of one fused job may differ (ganexp/systems/fused.py)
FUSED_KEYS = {"seed": ("seed",), "hparams": ("seed", "optim.lr_g", "optim.lr_d")}


def fuse_jobs(jobs: list[list[str]], cfgs: list[dict]) -> list[list[str]]:
    """Under launch.fuse=seed (hparams), the jobs that differ only in their seed= (and learning-rate)
    overrides become one job that trains them as a fused array: ``launch.array_members`` lists each
    member's own overrides of those keys, in grid order. Every job gets ``launch.checked``: the digests of the
    configs checked here (one per member), which its job takes as checked (``preflight.job_spec``)."""
    groups: dict[tuple, list[int]] = {}
    members: dict[int, str] = {}
    for i, (job, cfg) in enumerate(zip(jobs, cfgs)):
        keys = FUSED_KEYS.get(cfg["launch"].get("fuse", "none"), ())
        own = [o for o in job if o.split("=", 1)[0] in keys]
        members[i] = ";".join(own)
        groups.setdefault((tuple(o for o in job if o not in own),) if own else (i,), []).append(i)
    out = []
    for group in groups.values():
        job = list(jobs[group[0]])
        if len(group) > 1:
            job.append(f"launch.array_members=[{','.join(repr(members[i]) for i in group)}]")
        # the configs checked here, so the job (in this process or another) does not walk the schema again
        job.append(f"launch.checked=[{','.join(repr(spec_digest(cfgs[i])) for i in group)}]")
        out.append(job)
    return out


def grid_stops(err: OSError, sweep_dir: Path) -> str:
    """One sentence when Hydra cannot write a job's folder (its .hydra files) for a full or read-only disk."""
    where = Path(err.filename).parent if err.filename else sweep_dir
    fix = "free space" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
    return (f"the grid stops before its next job: {FOLDER_FAULTS[err.errno].format(where)} ({err.strerror}; "
            f"{human_bytes(shutil.disk_usage(where).free)} free there); {fix} and run the same command: finished "
            f"runs are skipped, the others resume")


def unfinished_job(message: str) -> str:
    """One sentence for submitit's UncompletedJobError: a Slurm job ended with no result (scancel, node
    failure, out of time too often). Its message starts "Job 22_1 (task: 0) with path ... (state: CANCELLED ...)"."""
    job = re.search(r"Job (\S+)", message)
    state = re.search(r"\(state: ([^)]*)\)", message)
    return (f"Slurm job {job.group(1) if job else '?'} ended without a result"
            f"{f' ({state.group(1)})' if state else ''}; runs that finished are kept and the others resume from "
            f"their last.ckpt when you run the same command again (job logs: the sweep's .submitit folder)")
