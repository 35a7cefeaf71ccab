"""Config helpers: OmegaConf resolvers, composing outside a Hydra app, the config hash, and the
command-line checks that run before Hydra (the schema itself is ganexp/schema.py)."""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .errors import CheckpointError, ConfigError, DatasetError, disk_fault  # noqa: F401 (ConfigError: its home)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


D_BATCHNORM_AS = ("batch", "layer", "none")


def _critic_norm(norm_d: str, d_batchnorm_as: str) -> str:
    """D's norm: ``norm.d`` as requested, except that a requested batch norm becomes the loss's
    ``loss.d_batchnorm_as`` (layer for WGAN-GP's per-sample penalty, none for BEGAN's autoencoder)."""
    if d_batchnorm_as not in D_BATCHNORM_AS:
        raise ConfigError(f"loss.d_batchnorm_as must be one of {', '.join(D_BATCHNORM_AS)} (got {d_batchnorm_as!r})")
    return d_batchnorm_as if norm_d == "batch" else norm_d


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("critic_norm"):
        OmegaConf.register_new_resolver("critic_norm", _critic_norm)


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose conf/train.yaml with overrides outside of @hydra.main (tests, tools)."""
    from hydra import compose as hcompose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
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


# Keys (dotted paths) added after runs were first hashed, at the values that give those runs' behaviour:
# a config holding them hashes as it did without them, so finished runs of earlier versions are still skipped.
ADDED_LATER = {"study": "lee2018", "system": {"_target_": "ganexp.systems.gan.GANPair", "name": "gan"},
               "trainer.sample_at_epochs": [], "metrics.every_n_epochs": None, "metrics.collapse_threshold": 0.3,
               "system.d_update": "always",  # PS-GAN's D was updated every step before Algorithm 2 gated it
               "model.equalized_lr": False, "model.minibatch_stddev": False, "model.generator.equalized_lr": False,
               "model.discriminator.equalized_lr": False, "model.discriminator.minibatch_stddev": False,
               "loss.drift": 0.0,
               "system.judge": "threshold",  # PS-GAN judged each batch by the loss's threshold before the readings
               "system.fade_epochs": 0.0,  # PS-GAN switched stages without a fade-in before it had one
               "system.freeze_patience": 0,  # ... and trained on when D stopped learning
               "system.opt_reset": "growth",  # ProGAN reset Adam at growths only before it also did at fade ends
               # metrics.prc_extractor X was this key with prc: [X] (upgrade_metrics); fid and kid read Inception
               "metrics.extractors": {"fid": ["inception"], "kid": ["inception"], "prc": ["auto"]}}
# Values hashed in the spelling runs were made with: `gated` was `paper` when those runs were hashed.
HASH_SPELLINGS = {"system.d_update": {"gated": "paper"}}
WHERE_FROM = ("root", "cache_dir", "path", "folder")  # where a set is read from, not what it holds
FOLDER_SOURCE = ("decode_workers", "download", "tv_class")  # a folder set's pixels are whatever the folder holds


def upgrade_metrics(node: dict) -> dict:
    """A ``metrics`` node of an earlier version in today's keys: ``prc_extractor: X`` (before one setting said
    which extractors each metric reads) is ``extractors: {fid: [inception], kid: [inception], prc: [X]}``; the
    node itself when it holds no earlier key."""
    if "prc_extractor" not in node:
        return node
    out = {k: v for k, v in node.items() if k != "prc_extractor"}
    out.setdefault("extractors", {"fid": ["inception"], "kid": ["inception"], "prc": [node["prc_extractor"]]})
    return out


def config_hash(cfg: dict) -> str:
    """Stable hash of what determines a run's result (logger, paths and data placement excluded)."""
    if isinstance(cfg.get("metrics"), dict):
        cfg = {**cfg, "metrics": upgrade_metrics(cfg["metrics"])}
    keep = without_added_later({k: v for k, v in cfg.items()
                                if k not in ("logger", "data_root", "sweep", "launch", "force", "data")})
    for dotted, spellings in HASH_SPELLINGS.items():
        group, key = dotted.split(".")
        value = keep.get(group, {}).get(key) if isinstance(keep.get(group), dict) else None
        if isinstance(value, str) and value in spellings:
            keep = {**keep, group: {**keep[group], key: spellings[value]}}
    if not (keep.get("ema") or {}).get("enabled", False):  # no average: its settings change nothing (runs before it)
        keep.pop("ema", None)
    if keep.get("study", "") is None:  # no study (the grid report) hashes as lee2018, the default of earlier runs
        keep.pop("study")
    if isinstance(keep.get("model"), dict) and "autoencoder" in keep["model"]:
        keep["model"] = effective_model(keep["model"], keep.get("loss", {}))
    if isinstance(keep.get("trainer"), dict):  # where and with which kernels a run trains does not change what it is
        keep["trainer"] = {k: v for k, v in without_derived(keep["trainer"]).items()
                           if k not in ("accelerator", "devices", "compile")}
    if isinstance(keep.get("dataset"), dict):
        where = WHERE_FROM + (FOLDER_SOURCE if str(keep["dataset"].get("_target_", "")).endswith("FolderSet") else ())
        keep["dataset"] = {k: v for k, v in keep["dataset"].items() if k not in where}
    if isinstance(keep.get("metrics"), dict):
        keep["metrics"] = {k: v for k, v in keep["metrics"].items()
                           if k not in ("cache_dir", "inception_weights", "dinov2_weights")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def without_added_later(cfg: dict) -> dict:
    """``cfg`` without the ADDED_LATER keys (dotted paths, any depth) that hold their ADDED_LATER value."""
    out = cfg
    for dotted, value in ADDED_LATER.items():
        out = _without(out, dotted.split("."), value)
    return out


def _without(node: dict, path: list[str], value) -> dict:
    """A copy of ``node`` without ``path`` when it holds ``value``; ``node`` itself when nothing is dropped."""
    key, rest = path[0], path[1:]
    if not isinstance(node, dict) or key not in node:
        return node
    if not rest:
        return {k: v for k, v in node.items() if k != key} if node[key] == value else node
    inner = _without(node[key], rest, value)
    return node if inner is node[key] else {**node, key: inner}


def effective_model(model: dict, loss: dict) -> dict:
    """The model with the D the loss trains as ``discriminator`` (BEGAN: the autoencoder), as configs
    said before a model family carried its ``autoencoder``."""
    from hydra.utils import get_class

    model = dict(model)
    autoencoder = model.pop("autoencoder")
    try:
        uses_it = get_class(loss["_target_"]).autoencoder_d
    except Exception:  # an unimportable loss never trains; its hash only has to be stable
        uses_it = False
    return {**model, "discriminator": autoencoder} if uses_it else model


def without_derived(trainer: dict) -> dict:
    """The trainer settings as the user gave them: steps_per_epoch comes from the data, and max_steps
    from max_epochs when that is set (RunFolder.apply_epochs), so neither is part of what a run is."""
    epochs = trainer.get("max_epochs") is not None
    return {k: v for k, v in trainer.items()
            if k != "steps_per_epoch" and not (k == "max_steps" and epochs) and not (k == "max_epochs" and not epochs)}


def check_choices(argv: list[str]) -> None:
    """Unknown group options on the command line (loss=foo, or inside a sweep loss=lsgan,foo) end in one
    sentence that lists the choices, before Hydra starts any job."""
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        group = CONF_DIR / key
        if key.startswith("hydra") or not group.is_dir() or "(" in value:
            continue
        known = sorted(p.stem for p in group.glob("*.yaml") if not p.stem.startswith("_"))
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
