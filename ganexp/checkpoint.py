"""last.ckpt: everything needed to resume bit-exactly, loadable with ``weights_only=True``.

Whatever the training system: its state dict (every player), every optimizer's state in the
system's order, its extra state (the loss's, e.g. BEGAN's k_t), the data order, RNG states, the
step, the W&B run id and the resolved config (plain types only, never code). Format 1 (one G/D
pair, before training systems) is read too, as the ``gan`` system's state.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError  # noqa: F401 (raised here; imported from here by callers)
from .runlog import replace_atomically

FORMAT = "ganexp-ckpt/2"
FORMAT_PAIR = "ganexp-ckpt/1"  # G, D, opt_g, opt_d, loss


def save(path: Path, state: dict, extra: dict) -> None:
    """Write a run's training ``state`` (a system's ``checkpoint_state()``, or a fused array's
    ``member_checkpoint(i)``: the same format) and its folder's ``extra`` atomically (temp file + rename):
    a kill never leaves a truncated last.ckpt."""
    write(path, {"format": FORMAT, **state, **extra})


def write(path: Path, state: dict) -> None:
    """torch.save via a temp file and a rename; an error removes the temp file (a kill leaves it for
    runlog.remove_stale_temps)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with replace_atomically(tmp, path), open(tmp, "wb") as f:
        out = _Recorded(f)
        try:
            torch.save(state, out)
        except RuntimeError:  # torch's zip writer reports a failed write as "unexpected pos": raise the cause
            if out.error is None:
                raise
            raise out.error from None


class _Recorded:
    """A file object that keeps the OSError of a failed write (ENOSPC: a full disk must say so)."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.f.flush()


def load(path: Path | str) -> dict:
    """Load with weights_only=True; a file that is not one ends in CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; give the path of a run's last.ckpt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        why = _unreadable_reason(path, err)
        # What to do is the caller's to say (a run sets the file aside; a tool asks for another path): not here.
        raise CheckpointError(f"{path} is not a readable ganexp checkpoint ({why}); give a run's last.ckpt",
                              why) from None
    if isinstance(state, dict) and state.get("format") == FORMAT_PAIR:
        return _from_pair(state)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a ganexp checkpoint (format {FORMAT} expected); "
                              f"give the last.ckpt of a ganexp run", f"format {found!r}, not {FORMAT}")
    return state


def _from_pair(state: dict) -> dict:
    """A format-1 checkpoint (one G/D pair) as the ``gan`` system's format-2 state."""
    pair = {f"players.{p}.{k}": v for p in ("G", "D") for k, v in state.pop(p).items()}
    state.update(format=FORMAT, system=pair, optimizers=[state.pop("opt_g"), state.pop("opt_d")],
                 extra={"loss": state.pop("loss")})
    cfg = state.get("config", {})
    cfg.setdefault("system", {"_target_": "ganexp.systems.gan.GANPair", "name": "gan"})
    if cfg.get("loss", {}).get("name") == "began":  # format 1 kept BEGAN's autoencoder as model.discriminator
        cfg["model"].setdefault("autoencoder", cfg["model"]["discriminator"])
    return state


def _unreadable_reason(path: Path, err: Exception) -> str:
    """One short phrase: torch's messages run to paragraphs, and for a file that is not a zip archive
    they only speak of weights_only."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # every torch.save since torch 1.6 writes a zip archive
            return f"not a zip archive, {size} bytes"
    if not zipfile.is_zipfile(path):  # the directory is a zip's last record: a cut-short file lacks it
        return f"cut short, {size} bytes: a zip archive without its directory"
    return f"{type(err).__name__}: {str(err).split('. ')[0]}"


def set_aside(path: Path) -> Path:
    """Rename a damaged file to <name>.damaged (.damaged.2, ... when taken), so nothing is ever lost."""
    dest, n = path.with_name(f"{path.name}.damaged"), 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.damaged.{n}")
    os.replace(path, dest)
    return dest


def load_generator(path: Path | str, device="cpu"):
    """(the run's system in eval mode, config dict) from a run's last.ckpt; ``system(z)`` gives images
    (a mixture for K generators, the last stage for stepwise systems)."""
    from .systems import build_system

    state = load(path)
    cfg = state["config"]
    system = build_system(cfg)
    system.load_state_dict(state["system"])
    system.load_extra_state(state.get("extra", {}))
    system.step_count = int(state["step"])  # stepwise systems draw with the stage of the last step
    return system.to(device).eval(), cfg


def sample_z(cfg: dict, n: int, device="cpu", generator: torch.Generator | None = None) -> torch.Tensor:
    """Latent codes from the run's prior."""
    from .systems.base import sample_latent

    return sample_latent(n, cfg["z_dim"], cfg.get("latent", "uniform"), device, generator)
