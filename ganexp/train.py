"""Entry point: ``python -m ganexp.train [-m] key=value ...`` (Hydra). Every job is checked before the
first one trains (ganexp/preflight.py); then per job, one run or a fused array's members, the lifecycle of
ganexp/run.py: lock each folder, skip / keep / resume, build (instantiate), fit, evaluate, write result.json."""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import launch  # noqa: F401  (registers the joblib GPU-slot resolver; quiets a Hydra notice)
from .config import ConfigError, check_choices, check_output_dir, output_ancestor
from .errors import USER_ERRORS
from .preflight import EXIT, check_command, job_spec, overrides_dirname
from .settings import register

register()  # the groups declared as dataclasses, before @hydra.main composes

EXIT_FOLDER_FAULT = 3  # a run stopped because a folder refused a write (full disk, quota, read-only): resumable


def run(cfg: DictConfig, run_dir: Path, name: str) -> dict:
    """Train one configured run in ``run_dir`` unless it is finished or another process holds it
    (``run.train_runs``: the lifecycle a fused array's members share); returns its result dict (``status``
    busy / kept for runs left alone)."""
    from .run import RunBuild, train_runs  # Lightning: not before the checks
    from .runfolder import RunFolder

    return train_runs([RunFolder(job_spec(cfg), run_dir, name)], RunBuild())[0]


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> dict:
    """One job. In a grid, a user error ends only this job (printed; the sweeper sums up and exits 2)."""
    from .runfolder import FolderFault

    hc = HydraConfig.get()
    name = hc.job.override_dirname or "default"
    grid = hc.mode == RunMode.MULTIRUN
    if cfg.launch.get("array_members"):  # the sweeper fused runs of this grid (launch.fuse) into one job
        return array_job(cfg, hc)
    try:
        res = run(cfg, Path(hc.runtime.output_dir), name)
    except USER_ERRORS as err:
        print(f"error: {name}: {err}" if grid else f"error: {err}", file=sys.stderr, flush=True)
        if not grid:
            sys.exit(2)
        return {"name": name, "status": "error", "error": str(err)}
    except FolderFault as err:  # the message names the run
        print(f"error: {err}", file=sys.stderr, flush=True)
        if not grid:
            sys.exit(EXIT_FOLDER_FAULT)
        return {"name": name, "status": "stopped", "error": str(err)}
    return outcome(res)


def outcome(res: dict) -> dict:
    """What a job returns to the sweeper (which sums up the grid)."""
    if res["status"] == "failed":
        EXIT["code"] = 1
    return {"name": res["name"], "status": res["status"], "error": res.get("error")}


def array_job(cfg: DictConfig, hc) -> list[dict]:
    """A fused array's job: each member in the folder and under the name of its separate run."""
    from .fusedarray import member_configs, run_array
    from .runfolder import FolderFault

    cfgs = member_configs(cfg)
    names = [member_dirname(hc, own.split(";")) for own in cfg.launch.array_members]
    try:
        return [outcome(res) for res in run_array(cfgs, [Path(hc.sweep.dir) / n for n in names], names)]
    except USER_ERRORS as err:
        print(f"error: {names[0]} (+ members): {err}", file=sys.stderr, flush=True)
        return [{"name": n, "status": "error", "error": str(err)} for n in names]
    except FolderFault as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return [{"name": n, "status": "stopped", "error": str(err)} for n in names]


def member_dirname(hc, own: list[str]) -> str:
    """Hydra's override_dirname of the job with a member's ``own`` overrides (seed=..., optim.lr_g=...) in place
    of the job's: the member's separate run folder."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = {o.split("=", 1)[0] for o in own}
    lines = [o for o in hc.overrides.task if o.split("=", 1)[0] not in keys] + own
    how = hc.job.config.override_dirname
    return overrides_dirname(OverridesParser.create().parse_overrides(lines), list(how.exclude_keys),
                             how.item_sep, how.kv_sep)


HYDRA_FLAGS_WITHOUT_CHECK = ("-h", "--help", "--hydra-help", "--version", "--cfg", "-c", "--info", "-i",
                             "--shell-completion", "-sc", "--resolve", "--package", "-p")


MIN_FREE = 1 << 20  # bytes: below this on the output folder's disk, Hydra's own first writes may fail


def check_free_space(argv: list[str]) -> None:
    """A command whose output disk is already full ends here with one sentence and exit 3, before Hydra
    writes the job's .hydra/ files (whose failure would be its traceback)."""
    _, _, path = output_ancestor(argv)
    free = shutil.disk_usage(path).free
    if free < MIN_FREE:
        from .runlog import human_bytes

        print(f"error: the disk holding {path} is full ({human_bytes(free)} free there); free space and run the "
              f"same command: finished runs are skipped, the others resume", file=sys.stderr)
        sys.exit(EXIT_FOLDER_FAULT)


def cli() -> None:
    argv = sys.argv[1:]
    # A log file on a full disk (Hydra's train.log beside the run) must not print logging's traceback for each
    # progress line: the refused write of the run's own files ends it with one sentence (FolderFault).
    logging.raiseExceptions = False
    try:
        check_choices(argv)
        check_output_dir(argv)
        if not any(a.split("=")[0] in HYDRA_FLAGS_WITHOUT_CHECK for a in argv):
            check_command(argv)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    check_free_space(argv)
    main()
    sys.exit(EXIT["code"])


if __name__ == "__main__":
    cli()
