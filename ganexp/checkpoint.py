"""last.ckpt: everything needed to resume bit-exactly, loadable with ``weights_only=True``.

Holds G, D, both optimizers, the loss state (BEGAN's k_t), the data order, RNG states, the step,
the W&B run id and the resolved config (plain types only, never code).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

FORMAT = "ganexp-ckpt/1"


class CheckpointError(RuntimeError):
    """A file that is not a ganexp checkpoint; the message says what to do."""


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
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load(path: Path | str) -> dict:
    """Load with weights_only=True; a file that is not one ends in CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; give the path of a run's last.ckpt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable ganexp checkpoint ({type(err).__name__}); "
                              f"delete it to start the run over, or give a run's last.ckpt") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganexp checkpoint (format {FORMAT} expected); "
                              f"give the last.ckpt of a ganexp run")
    return state


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
