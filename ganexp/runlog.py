"""Run outputs: metrics.jsonl (always), W&B or CSV, atomic JSON writes and sample grids.

metrics.jsonl, last.ckpt and result.json are the run's own record; W&B, the CSV log and the sample grids
are side channels (RunLogger.guard): an error in one is one warning line and the channel is off for the
rest of the run. A full, over-quota, read-only or unwritable folder is not a side channel's fault
(``folder_fault``): it ends the run (ganexp/train.py: one sentence, exit code 3). docs/faults.md lists
every fault and its message."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

from . import wandbenv
from .errors import FOLDER_FAULTS, disk_fault
from .records import append_row, clean, whole_lines

# The temp files of the atomic writers below and of checkpoint.write: ".last.ckpt.tmp<pid>",
# ".result.json.tmp<pid>", ".<stem>.tmp<pid>.png".
TEMP_NAME = re.compile(r"\..+\.tmp\d+(\.png)?")


@contextmanager
def writing(path: Path):
    """A write of the run's own record: an OSError of the block names ``path`` (a failed write() or close()
    names no file: the message of a full disk says where) and is marked as a write's (``folder_fault``)."""
    try:
        yield
    except OSError as err:
        if err.filename is None:
            err.filename = str(path)
        err.in_write = True
        raise


@contextmanager
def replace_atomically(tmp: Path, path: Path):
    """Write ``tmp`` in the block, then rename it to ``path``: readers never see a partial file. An error
    removes ``tmp``; a kill cannot, so remove_stale_temps does when the run starts again."""
    try:
        with writing(path):
            yield tmp
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temps(run_dir: Path) -> list[Path]:
    """Delete temp files that killed atomic writes left in a run folder (only names TEMP_NAME matches)."""
    stale = [p for d in (run_dir, run_dir / "samples") if d.is_dir()
             for p in d.iterdir() if TEMP_NAME.fullmatch(p.name) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


# What a user does when a side channel fails ({dir}: the run folder)
ADVICE = {"W&B": "upload what it recorded later with `wandb sync {dir}/wandb/{runs}`; metrics.jsonl has every row",
          "W&B start": "this run is not in W&B; metrics.jsonl has every row",
          "CSV log": "metrics.jsonl has every row",
          "sample grids": "draw them later from last.ckpt (ganexp.checkpoint.load_generator)"}


def folder_fault(err: BaseException) -> bool:
    """A disk fault, or a write of the run's own record (``writing``) refused permission."""
    return disk_fault(err) or (isinstance(err, OSError) and err.errno in FOLDER_FAULTS
                               and getattr(err, "in_write", False))


def human_bytes(n: float) -> str:
    """``0 bytes``, ``812.0 KiB``, ``3.2 GiB``: free space in a message."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{int(n)} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # not reached


def atomic_write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with replace_atomically(tmp, path):
        tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(v):
    if hasattr(v, "item"):
        return v.item()
    return str(v)


class RunLogger:
    """Writes one JSON line per log/eval point and forwards to W&B or CSV."""

    def __init__(self, run_dir: Path, logger_cfg: dict, run_cfg: dict, name: str, resume_id: str | None = None,
                 truncate_after: int | None = None):
        self.run_dir, self.cfg, self.name = run_dir, logger_cfg, name
        self.off: set[str] = set()  # side channels that failed: not used again in this run
        self.jsonl, self.csv = run_dir / "metrics.jsonl", run_dir / "metrics.csv"
        # Offline, what the W&B run (the same id, resumed) has already: every step of metrics.jsonl, as each
        # row reaches the file just before W&B; read before the truncation drops the redone steps.
        jsonl_through = self._last_step() if resume_id is not None and truncate_after is not None else -1
        if truncate_after is not None:
            self._truncate(truncate_after)
        else:  # a fresh start: rows of an earlier attempt would mix with this one's
            self.jsonl.unlink(missing_ok=True)
            if self.csv.exists():
                self.guard("CSV log", 0, lambda: self.csv.unlink(missing_ok=True))
        self.wandb_run, self.wandb_through = None, -1  # W&B gets steps above wandb_through only
        self.wandb_id = resume_id  # kept when W&B fails: a later resume continues the same W&B run
        if logger_cfg.get("name") == "wandb" and wandbenv.target(logger_cfg)["mode"] != "disabled":
            self.guard("W&B start", truncate_after or 0, lambda: self._start_wandb(run_cfg, resume_id, jsonl_through))

    def _start_wandb(self, run_cfg: dict, resume_id: str | None, jsonl_through: int) -> None:
        self.wandb_run = _init_wandb(self.run_dir, self.cfg, run_cfg, self.name, resume_id)
        self.wandb_id = self.wandb_run.id
        # Online, the server knows: run.step is the next step it takes (it has the rows it got, which
        # a kill may have cut short of metrics.jsonl). Offline, each attempt writes a file of its own.
        self.wandb_through = jsonl_through if self.wandb_run.offline else self.wandb_run.step - 1

    def guard(self, channel: str, step: int, write, contain_all: bool = False) -> bool:
        """Call ``write()`` for a side channel; False when the channel is off or fails now (one warning line,
        then off). A disk fault is raised unless ``contain_all`` (closing a run that already ends)."""
        if channel in self.off:
            return False
        try:
            write()
            return True
        except Exception as err:
            if disk_fault(err) and not contain_all:
                raise
            self.off.add(channel)
            if channel.startswith("W&B"):
                self._drop_wandb()
            runs = "offline-run-*" if wandbenv.target(self.cfg)["mode"] == "offline" else "run-*"  # wandb's folders
            print(f"[warning] {self.name}: {channel} failed at step {step} ({type(err).__name__}: {err}); off for "
                  f"the rest of this run, training goes on; {ADVICE[channel].format(dir=self.run_dir, runs=runs)}",
                  flush=True)
            return False

    def _drop_wandb(self) -> None:
        """Close a failed W&B run as crashed. When its service process is gone, finish() fails too: then
        wandb.teardown() drops the connection, whose exit hook would otherwise print a traceback (and a
        later job of a grid gets a new service)."""
        run, self.wandb_run = self.wandb_run, None
        if run is None:
            return
        try:
            run.finish(exit_code=1)
        except Exception:  # noqa: BLE001 (the service is gone; nothing more to tell)
            import wandb

            with contextlib.suppress(Exception):
                wandb.teardown()

    def _last_step(self) -> int:
        """The highest step of a whole row in metrics.jsonl; -1 when there is none."""
        steps = [_jsonl_step(ln) for ln in whole_lines(self.jsonl)] if self.jsonl.exists() else []
        return max((s for s in steps if s is not None), default=-1)

    def _to_wandb(self, step: int) -> bool:
        """Whether a row or image of ``step`` goes to W&B: not when the W&B run has that step already (the
        resumed run redoes the steps after its checkpoint bit-exactly; sending them again would log them
        twice, and wandb sync uploads both offline files)."""
        return self.wandb_run is not None and step > self.wandb_through

    def _truncate(self, step: int) -> None:
        """On resume: drop rows written after the checkpoint's step (they will be redone) and rows a kill
        tore or that do not parse (they would stop every later resume)."""
        if self.jsonl.exists():
            keep = "".join(ln + "\n" for ln in whole_lines(self.jsonl) if _le(_jsonl_step(ln), step))
            _rewrite(self.jsonl, keep)
        if self.csv.exists():
            self.guard("CSV log", step, lambda: self._truncate_csv(step))

    def _truncate_csv(self, step: int) -> None:
        rows = [r for r in csv.reader(ln.rstrip("\r") for ln in whole_lines(self.csv))
                if len(r) == 3 and _le(_int(r[2]), step)]
        text = io.StringIO(newline="")
        csv.writer(text).writerows([["key", "value", "step"], *rows])
        _rewrite(self.csv, text.getvalue())

    def log(self, row: dict) -> None:
        row = {k: clean(v) for k, v in row.items()}
        step = row["step"]
        with writing(self.jsonl):
            append_row(self.jsonl, row)
        if self.cfg.get("name") == "csv":
            self.guard("CSV log", step, lambda: self._csv_append([k, v, step] for k, v in row.items() if k != "step"))
        if self._to_wandb(step):
            self.guard("W&B", step, lambda: self.wandb_run.log(
                {k: v for k, v in row.items() if v is not None and k != "step"}, step=step))

    def _csv_append(self, rows) -> None:
        """Long format, one row per key: key, value, step (header first in a new file)."""
        new = not self.csv.exists()
        with open(self.csv, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["key", "value", "step"])
            w.writerows(rows)

    def image(self, key: str, path: Path, step: int) -> None:
        if self._to_wandb(step):
            import wandb

            self.guard("W&B", step, lambda: self.wandb_run.log({key: wandb.Image(str(path))}, step=step))

    def finish(self, summary: dict | None = None, step: int = 0) -> None:
        """The W&B run's summary and finish; never raises (the run's own record is written by then, or
        the run ends for another reason)."""
        if self.wandb_run is not None:
            self.guard("W&B", step, lambda: self._finish_wandb(summary or {}), contain_all=True)
            self.wandb_run = None

    def _finish_wandb(self, summary: dict) -> None:
        for k, v in summary.items():
            self.wandb_run.summary[k] = v
        self.wandb_run.finish()


def _rewrite(path: Path, text: str) -> None:
    """Replace a log with ``text`` (its rows up to a resume's checkpoint) atomically: a full disk midway
    leaves the old file whole. Unchanged, it is not written; read-only, it stays so (PermissionError)."""
    if path.read_text(errors="replace") == text:
        return
    with writing(path):  # a rename would replace even a read-only file: refused here as a write would be
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with replace_atomically(tmp, path):
        tmp.write_text(text)


def _jsonl_step(line: str) -> int | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return _int(row.get("step")) if isinstance(row, dict) else None


def _int(v) -> int | None:
    if isinstance(v, str):
        return int(v) if v.isascii() and v.isdigit() else None  # isdigit alone admits '²'
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _le(step: int | None, limit: int) -> bool:
    return step is not None and step <= limit


def _init_wandb(run_dir: Path, lcfg: dict, run_cfg: dict, name: str, resume_id: str | None):
    import wandb

    keys = ("loss", "z_dim", "dataset", "norm", "seed")
    flat = {"loss": run_cfg["loss"]["name"], "z_dim": run_cfg["z_dim"], "dataset": run_cfg["dataset"]["name"],
            "norm": f"{run_cfg['norm']['g']}/{run_cfg['model']['discriminator'].get('norm', run_cfg['norm']['d'])}",
            "seed": run_cfg["seed"]}  # norm: the effective G/D norms (WGAN-GP's critic: layer, not batch)
    system = run_cfg.get("system", {})
    flat.update(system=system.get("name", "gan"), study=run_cfg.get("study") or "grid",
                **{k: system[k] for k in ("num_generators",) if k in system})
    tags = [f"{k}={flat[k]}" for k in (*keys, "system")] + list(lcfg.get("tags") or [])
    os.environ.setdefault("WANDB_SILENT", "true")
    where = wandbenv.target(lcfg)
    return wandb.init(project=where["project"], entity=where["entity"], group=run_cfg["sweep"],
                      name=name, tags=tags, config={**flat, "full": run_cfg}, dir=str(run_dir),
                      mode=where["mode"], id=resume_id, resume="allow" if resume_id else None,
                      reinit="create_new")  # a fused array holds its members' runs open at once


def save_grid(images, path: Path, nrow: int = 8) -> None:
    """images: float (N, C, H, W) in [-1, 1] -> PNG grid, written atomically."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")  # ends in .png: save_image picks the format by it
    with replace_atomically(tmp, path):
        save_image(images.detach().float().cpu(), str(tmp), nrow=nrow, normalize=True, value_range=(-1, 1),
                   padding=2)
