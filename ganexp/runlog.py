"""Run outputs: metrics.jsonl (always), W&B or CSV, atomic JSON writes and sample grids."""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path


def atomic_write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(v):
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def clean(v):
    """JSON-safe float: NaN/inf become None (strict JSON)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class RunLogger:
    """Writes one JSON line per log/eval point and forwards to W&B or CSV."""

    def __init__(self, run_dir: Path, logger_cfg: dict, run_cfg: dict, name: str, resume_id: str | None = None,
                 truncate_after: int | None = None):
        self.run_dir, self.cfg = run_dir, logger_cfg
        self.jsonl = run_dir / "metrics.jsonl"
        if truncate_after is not None:
            self._truncate(truncate_after)
        else:
            self.jsonl.unlink(missing_ok=True)
        self.wandb_run = None
        if logger_cfg.get("name") == "wandb" and logger_cfg.get("mode", "offline") != "disabled":
            self.wandb_run = _init_wandb(run_dir, logger_cfg, run_cfg, name, resume_id)

    @property
    def wandb_id(self) -> str | None:
        return self.wandb_run.id if self.wandb_run is not None else None

    def _truncate(self, step: int) -> None:
        """On resume: drop lines written after the checkpoint's step (they will be redone)."""
        if not self.jsonl.exists():
            return
        keep = [ln for ln in self.jsonl.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        self.jsonl.write_text("".join(ln + "\n" for ln in keep))

    def log(self, row: dict) -> None:
        row = {k: clean(v) for k, v in row.items()}
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.cfg.get("name") == "csv":
            self._csv(row)
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in row.items() if v is not None and k != "step"}, step=row["step"])

    def _csv(self, row: dict) -> None:
        path = self.run_dir / "metrics.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["key", "value", "step"])
            w.writerows([k, v, row["step"]] for k, v in row.items() if k != "step")

    def image(self, key: str, path: Path, step: int) -> None:
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({key: wandb.Image(str(path))}, step=step)

    def finish(self, summary: dict | None = None) -> None:
        if self.wandb_run is not None:
            for k, v in (summary or {}).items():
                self.wandb_run.summary[k] = v
            self.wandb_run.finish()
            self.wandb_run = None


def _init_wandb(run_dir: Path, lcfg: dict, run_cfg: dict, name: str, resume_id: str | None):
    import wandb

    keys = ("loss", "z_dim", "dataset", "norm", "seed")
    flat = {"loss": run_cfg["loss"]["name"], "z_dim": run_cfg["z_dim"], "dataset": run_cfg["dataset"]["name"],
            "norm": f"{run_cfg['norm']['g']}/{run_cfg['model']['discriminator'].get('norm', run_cfg['norm']['d'])}",
            "seed": run_cfg["seed"]}  # norm: the effective G/D norms (WGAN-GP's critic: layer, not batch)
    tags = [f"{k}={flat[k]}" for k in keys] + list(lcfg.get("tags") or [])
    os.environ.setdefault("WANDB_SILENT", "true")
    return wandb.init(project=lcfg.get("project", "ganexp"), entity=lcfg.get("entity"), group=run_cfg["sweep"],
                      name=name, tags=tags, config={**flat, "full": run_cfg}, dir=str(run_dir),
                      mode=lcfg.get("mode", "offline"), id=resume_id, resume="allow" if resume_id else None,
                      reinit="finish_previous")


def save_grid(images, path: Path, nrow: int = 8) -> None:
    """images: float (N, C, H, W) in [-1, 1] -> PNG grid, written atomically."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    save_image(images.detach().float().cpu(), str(tmp), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
    os.replace(tmp, path)
