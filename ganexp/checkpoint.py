"""last.ckpt: everything needed to resume bit-exactly, loadable with ``weights_only=True``.

Holds G, D, both optimizers, the loss state (BEGAN's k_t), the data order, RNG states, the step,
the W&B run id and the resolved config (plain types only, never code).
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch

from .runlog import replace_atomically

FORMAT = "ganexp-ckpt/1"


class CheckpointError(RuntimeError):
    """A file that is not a ganexp checkpoint; the message says what to do, ``reason`` says why, briefly."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


def save(path: Path, module, extra: dict) -> None:
    """Write atomically (temp file + rename): a kill never leaves a truncated last.ckpt."""
    opt_g, opt_d = module.trainer.optimizers
    state = {
        "format": FORMAT,
        "step": module.step_count,
        "G": module.G.state_dict(),
        "D": module.D.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "loss": module.loss.state_dict(),
        "batcher": module.batcher.state_dict(),
        "acc": {k: v.detach().cpu() for k, v in module._acc.items()},  # partial log interval
        "acc_n": module._acc_n,
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        **extra,
    }
    write(path, state)


def write(path: Path, state: dict) -> None:
    """torch.save via a temp file and a rename; an error removes the temp file (a kill leaves it for
    runlog.remove_stale_temps)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with replace_atomically(tmp, path):
        torch.save(state, tmp)


def load(path: Path | str) -> dict:
    """Load with weights_only=True; a file that is not one ends in CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; give the path of a run's last.ckpt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        why = _unreadable_reason(path, err)
        raise CheckpointError(f"{path} is not a readable ganexp checkpoint ({why}); "
                              f"delete it to start the run over, or give a run's last.ckpt", why) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a ganexp checkpoint (format {FORMAT} expected); "
                              f"give the last.ckpt of a ganexp run", f"format {found!r}, not {FORMAT}")
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


def restore(module, state: dict) -> None:
    """Put a checkpoint's training state back into a module whose optimizers exist."""
    module.G.load_state_dict(state["G"])
    module.D.load_state_dict(state["D"])
    opt_g, opt_d = module.trainer.optimizers
    opt_g.load_state_dict(state["opt_g"])
    opt_d.load_state_dict(state["opt_d"])
    module.loss.load_state_dict(state["loss"])
    module.batcher.load_state_dict(state["batcher"])
    module.step_count = int(state["step"])
    module._acc = {k: v.to(module.device) for k, v in state["acc"].items()}
    module._acc_n = int(state["acc_n"])
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])


def load_generator(path: Path | str, device="cpu"):
    """(generator in eval mode, config dict) from a run's last.ckpt."""
    from hydra.utils import instantiate

    from .config import register_resolvers

    register_resolvers()
    state = load(path)
    cfg = state["config"]
    g = instantiate(cfg["model"]["generator"]).to(device)
    g.load_state_dict(state["G"])
    return g.eval(), cfg


def sample_z(cfg: dict, n: int, device="cpu", generator: torch.Generator | None = None) -> torch.Tensor:
    """Latent codes from the run's prior."""
    from .module import sample_latent

    return sample_latent(n, cfg["z_dim"], cfg.get("latent", "uniform"), device, generator)
