"""Log a built report to W&B: tables as ``wandb.Table``, figures as ``wandb.Image``, for any report.

One run of job type "results" in the sweep's group. Project, entity and mode come from the run configs
where they set them, else from ``WANDB_PROJECT`` / ``WANDB_ENTITY`` / ``WANDB_MODE``, else "ganexp", none,
"offline" (``ganexp.wandbenv``); the group is ``logger.group`` or the sweep's name. Kept apart so the aggregation never imports
wandb.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from .. import wandbenv
from .runs import Run

def _most_common(values: list) -> str | None:
    values = [v for v in values if v not in (None, "")]
    return Counter(map(str, values)).most_common(1)[0][0] if values else None


def wandb_settings(runs: list[Run], sweep_dirs: list[Path]) -> dict:
    """``wandb.init`` keyword arguments taken from the run configs (see the module docstring)."""
    loggers = [r.config.get("logger") for r in runs]
    loggers = [lg for lg in loggers if isinstance(lg, dict)]
    group = (_most_common([lg.get("group") for lg in loggers])
             or _most_common([r.config.get("sweep") for r in runs])
             or sweep_dirs[0].name)
    given = {k: _most_common([lg.get(k) for lg in loggers]) for k in wandbenv.DEFAULTS}
    settings = {**wandbenv.target(given), "group": group, "job_type": "results", "name": f"results-{group}"}
    if settings["entity"] is None:
        del settings["entity"]
    return settings


def push_tables(runs: list[Run], sweep_dirs: list[Path], out: Path, tables: dict[str, tuple[list, list]],
                files: dict[str, Path], summary: dict, config: dict) -> str:
    """Log ``tables`` (name -> (columns, rows)), the PNGs among ``files`` and ``summary`` to one W&B run of
    job type "results"; returns a one-line description of where it went."""
    import wandb

    settings = wandb_settings(runs, sweep_dirs)
    run = wandb.init(dir=str(out), config={"sweeps": [str(s) for s in sweep_dirs], **config}, **settings)
    try:
        data = {name: wandb.Table(columns=cols, data=rows, allow_mixed_types=True)
                for name, (cols, rows) in tables.items()}
        data.update({name[:-4]: wandb.Image(str(path)) for name, path in files.items() if name.endswith(".png")})
        run.log(data)
        run.summary.update({k: v for k, v in summary.items() if v is not None})
        where = f"{settings['mode']} run {run.id} in {settings['project']}/{settings['group']}"
        if settings["mode"] == "offline":
            where += f" (upload later: wandb sync {Path(out) / 'wandb' / 'latest-run'})"
    finally:
        run.finish()
    return where
