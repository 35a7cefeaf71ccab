"""ganexp's Hydra sweeper (``hydra/sweeper=ganexp``, the default of conf/train.yaml); see ganexp/preflight.py."""
from __future__ import annotations

import re
import sys
from typing import Any, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from ganexp.config import ConfigError
from ganexp.preflight import EXIT, GridChecker, summarize


class GridSweeper(BasicSweeper):
    """Hydra's basic sweeper, checking every job before the first one runs and summing up after."""

    def sweep(self, arguments: list[str]) -> Any:
        params = [f"{k}={v}" for k, v in (self.params or {}).items()] + list(arguments)
        overrides = OverridesParser.create(config_loader=self.hydra_context.config_loader).parse_overrides(params)
        jobs = [job for batch in self.split_arguments(overrides, None) for job in batch]
        checker = GridChecker(self.hydra_context.config_loader, self.config)
        varying = [len({job[i] for job in jobs}) > 1 for i in range(len(jobs[0]))] if jobs else []
        try:
            for job in jobs:
                checker.check(job, [o for o, v in zip(job, varying) if v])
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            EXIT["code"] = 2
            return []
        try:
            returns = super().sweep(arguments)
        except Exception as err:  # noqa: BLE001 (only submitit's UncompletedJobError is ours to explain)
            if type(err).__name__ != "UncompletedJobError":
                raise
            print(f"error: {unfinished_job(str(err))}", file=sys.stderr, flush=True)
            EXIT["code"] = 1
            return []
        outcomes = [r.return_value for batch in returns for r in batch if r is not None]
        EXIT["code"] = summarize([o for o in outcomes if isinstance(o, dict)])
        return returns

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Done for the whole grid in ``sweep`` before anything launches."""


def unfinished_job(message: str) -> str:
    """One sentence for submitit's UncompletedJobError: a Slurm job ended with no result (scancel, node
    failure, out of time too often). Its message starts "Job 22_1 (task: 0) with path ... (state: CANCELLED ...)"."""
    job = re.search(r"Job (\S+)", message)
    state = re.search(r"\(state: ([^)]*)\)", message)
    return (f"Slurm job {job.group(1) if job else '?'} ended without a result"
            f"{f' ({state.group(1)})' if state else ''}; runs that finished are kept and the others resume from "
            f"their last.ckpt when you run the same command again (job logs: the sweep's .submitit folder)")
