"""What a run *is*: the hash of what determines its result, and whether a finished run or a checkpoint is the
same run as a config (``same_run``).

A key added after runs were first hashed carries, in its declaration (``settings.setting(..., before=)``, or
``checks.added_later`` for a key schema.py lists), the value runs made before it had, their behaviour; a config holding that value hashes as it did without the key, so
finished runs of every earlier version are still skipped and their checkpoints resumed. A value renamed since
(``system.d_update``'s ``gated`` was ``paper``) is hashed in the spelling runs were made with. A node of an
earlier version is read in today's keys first (``upgrade_metrics``). ``same_run`` also recomputes the hash
of the config a record holds, so a record whose hash an earlier version computed differently (a node hashed
whole where its keys are now dropped one by one) is still recognised.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace

from omegaconf import DictConfig, OmegaConf

from .checks import NEW
from .schema import SCHEMA

# dotted key -> the value runs made before the key existed had (from its declaration, through SCHEMA)
ADDED_LATER = {key: check.before for key, check in SCHEMA.items() if check.before is not NEW}
# dotted key -> {today's spelling: the spelling hashed}
HASH_SPELLINGS = {key: check.spellings for key, check in SCHEMA.items() if check.spellings}
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


def same_run(record: dict, digest: str) -> bool:
    """Whether a result.json or a checkpoint's state (``config_hash``, ``config``) is the run whose hash is
    ``digest``: by its stored hash, or by the hash of the config it holds (see the module docstring)."""
    if record.get("config_hash") == digest:
        return True
    config = record.get("config")
    return isinstance(config, dict) and bool(config) and config_hash(config) == digest


def without_added_later(cfg: dict) -> dict:
    """``cfg`` without the ADDED_LATER keys (dotted paths, any depth) that hold their ADDED_LATER value; a node
    left empty by that (gan's ``system``: both its keys came later) is dropped too."""
    out = cfg
    for dotted, value in ADDED_LATER.items():
        out = _without(out, dotted.split("."), value)
    return out


def _without(node: dict, path: list[str], value) -> dict:
    """A copy of ``node`` without ``path`` when it holds ``value`` (and without a node that this empties);
    ``node`` itself when nothing is dropped."""
    key, rest = path[0], path[1:]
    if not isinstance(node, dict) or key not in node:
        return node
    if not rest:
        return {k: v for k, v in node.items() if k != key} if node[key] == value else node
    inner = _without(node[key], rest, value)
    if inner is node[key]:
        return node
    return {k: v for k, v in node.items() if k != key} if inner == {} else {**node, key: inner}


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


@dataclass(frozen=True)
class RunSpec:
    """A job's configuration, checked once (``preflight.job_spec``) and frozen: the resolved config as a
    read-only OmegaConf node (no interpolations left; setting a key raises) and its hash. A run reads only
    this; what follows from the data, trainer.steps_per_epoch and max_steps from max_epochs, comes from one
    function, ``with_data``, and leaves the hash as it was (``without_derived``)."""

    config: DictConfig
    hash: str

    @classmethod
    def of(cls, resolved: dict) -> "RunSpec":
        """The spec of a resolved, checked config (a plain dict without the ``hydra`` node)."""
        return cls(_frozen(resolved), config_hash(resolved))

    def plain(self) -> dict:
        """A plain, mutable copy of the config (for config.yaml, result.json, W&B)."""
        return OmegaConf.to_container(self.config)

    def with_data(self, n_images: int) -> "RunSpec":
        """The spec once the training set's size is known: trainer.steps_per_epoch (an epoch = every real
        image once through D: N // batch real batches, loss.n_critic per generator step; a fraction when they
        do not divide, e.g. 0.8 for 4 batches and 5 critic steps) and, when trainer.max_epochs is set,
        max_steps = ceil(max_epochs x steps_per_epoch), at least 1."""
        cfg = self.plain()
        trainer = cfg["trainer"]
        steps = steps_per_epoch(n_images, cfg["batch_size"], cfg["loss"]["n_critic"])
        trainer["steps_per_epoch"] = steps
        if trainer.get("max_epochs") is not None:
            trainer["max_steps"] = max(1, math.ceil(trainer["max_epochs"] * steps))
        return replace(self, config=_frozen(cfg))


def steps_per_epoch(n_images: int, batch_size: int, n_critic: int) -> int | float:
    """Generator steps per epoch: (n_images // batch_size) real batches / n_critic; an int when whole."""
    batches = n_images // batch_size
    return batches // n_critic if batches % n_critic == 0 else round(batches / n_critic, 6)


def _frozen(cfg: dict) -> DictConfig:
    node = OmegaConf.create(cfg)  # a copy: later changes to ``cfg`` do not reach it
    OmegaConf.set_readonly(node, True)
    return node
