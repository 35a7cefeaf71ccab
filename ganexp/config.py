"""Config helpers: OmegaConf resolvers, composing outside a Hydra app, and the command-line checks that run
before Hydra (the schema itself is ganexp/schema.py; a run's identity, its hash, ganexp/identity.py)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .checks import D_BATCHNORM_AS
from .errors import CheckpointError, ConfigError, DatasetError, disk_fault  # noqa: F401 (ConfigError: its home)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def _critic_norm(norm_d: str, d_batchnorm_as: str) -> str:
    """D's norm: ``norm.d`` as requested, except that a requested batch norm becomes the loss's
    ``loss.d_batchnorm_as`` (layer for WGAN-GP's per-sample penalty, none for BEGAN's autoencoder)."""
    if d_batchnorm_as not in D_BATCHNORM_AS:
        raise ConfigError(f"loss.d_batchnorm_as must be one of {', '.join(D_BATCHNORM_AS)} (got {d_batchnorm_as!r})")
    return d_batchnorm_as if norm_d == "batch" else norm_d


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("critic_norm"):
        OmegaConf.register_new_resolver("critic_norm", _critic_norm)


def group_options(group: str) -> list[str] | None:
    """The options of a config group (its yaml files and the options ganexp/settings.py declares); None when
    ``group`` is no group."""
    from .settings import options

    folder = CONF_DIR / group
    declared = options(group)
    if not folder.is_dir() and not declared:
        return None
    return sorted({p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_")} | set(declared))


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose conf/train.yaml with overrides outside of @hydra.main (tests, tools)."""
    from hydra import compose as hcompose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from .settings import register

    register_resolvers()
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hcompose(config_name=config_name, overrides=list(overrides or []))


@contextmanager
def building(what: str, keys: str):
    """Any error while building a run's parts becomes a ConfigError that says which keys to check."""
    try:
        yield
    except (ConfigError, DatasetError, CheckpointError):
        raise
    except Exception as err:  # networks, losses, weights, Lightning's Trainer: all config-driven here
        if disk_fault(err):  # a full disk while writing a cache is no config mistake (train.FolderFault)
            raise
        raise ConfigError(f"cannot build the {what} ({type(err).__name__}: {_one_line(err)}); check {keys}") from None


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()).rstrip(".")


def to_container(cfg: DictConfig) -> dict:
    """Resolved plain dict of the run config (no hydra node)."""
    d = OmegaConf.to_container(cfg, resolve=True)
    d.pop("hydra", None)
    return d


def check_choices(argv: list[str]) -> None:
    """Unknown group options on the command line (loss=foo, or inside a sweep loss=lsgan,foo) end in one
    sentence that lists the choices, before Hydra starts any job."""
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        known = group_options(key)
        if key.startswith("hydra") or known is None or "(" in value:
            continue
        for v in value.split(","):
            if v.strip() not in known and v.strip() != "null":
                raise ConfigError(f"unknown {key} '{v}'; choose one of: {', '.join(known)}")


def output_ancestor(argv: list[str]) -> tuple[str, str, Path]:
    """(the key, its value, the nearest existing ancestor of the run/sweep folder) of a command line."""
    multirun = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    target = next((a.split("=", 1)[1] for a in argv if a.startswith(key + "=")), "multirun" if multirun else "runs")
    path = Path(target.split("${")[0] or ".").expanduser().absolute()
    while not path.exists():
        path = path.parent
    return key, target, path


def check_output_dir(argv: list[str]) -> None:
    """The run/sweep folder's nearest existing ancestor must be a writable folder."""
    import os

    key, target, path = output_ancestor(argv)
    if not path.is_dir() or not os.access(path, os.W_OK):
        raise ConfigError(f"cannot write the output folder {target} ({path} is not a writable folder); "
                          f"choose another with {key}=PATH")
