"""The `metrics` config group's defaults (declared in ganexp/settings.py) and helpers to read a metrics config node."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any, Mapping

from ganexp.cachefiles import default_cache_dir
from ganexp.config import ConfigError
from ganexp.identity import upgrade_metrics
from ganexp.metrickeys import KEY_RE, metric_key  # noqa: F401 (the key grammar lives there, torch-free)
from ganexp.checks import METRIC_MODES as MODES  # noqa: F401 (the command's --mode choices)
from ganexp.schema import check_value
from ganexp.settings import GROUPS, defaults

# The `metrics` group's defaults from its one source (ganexp/settings.py, no Hydra), so a partial dict (tests, the
# library, the CLI) behaves like the Hydra config; cache_dir's interpolation (GANEXP_CACHE, else ~/.cache/ganexp)
# is None here, resolved by `resolve` the same way.
DEFAULTS: dict[str, Any] = {**defaults(GROUPS["metrics", "fid"]), "cache_dir": None}

FAST_CUDA_BATCH = 500  # fast mode's smallest Inception batch on a GPU (the default 100 leaves an H100 idle)


def extractor_settings(cfg: Mapping[str, Any], device_type: str) -> dict[str, Any]:
    """How the Inception network runs under ``metrics.mode``: exact keeps fp32 convolutions (unless
    metrics.tf32), NCHW and metrics.batch_size; fast allows TF32, uses channels-last weights and, on a GPU,
    batches of at least FAST_CUDA_BATCH. Part of metric_info and of the real statistics' cache key."""
    fast = cfg["mode"] == "fast"
    batch = int(cfg["batch_size"])
    return {"mode": cfg["mode"], "tf32": bool(cfg["tf32"]) or fast, "channels_last": fast,
            "batch_size": max(batch, FAST_CUDA_BATCH) if fast and device_type == "cuda" else batch}


def as_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict from an OmegaConf node, a mapping or None (interpolations resolved)."""
    if cfg is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except ImportError:  # OmegaConf is optional for library use
        pass
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise TypeError(f"metrics config must be a mapping or an OmegaConf node, not {type(cfg).__name__}")


def resolve(cfg: Any, checked: bool = False) -> dict[str, Any]:
    """Merge `cfg` over DEFAULTS and validate (unless `checked`: a run's node, checked with its config by
    preflight.job_spec); returns a new dict with `cache_dir` as a Path. A node of an earlier
    version is read in today's keys (metrics.prc_extractor: identity.upgrade_metrics); `extractors` merges per
    metric ({"fid": [...]} keeps the defaults of kid and prc)."""
    given = upgrade_metrics({k: v for k, v in as_dict(cfg).items() if v is not None})
    if not isinstance(given.get("extractors", {}), Mapping):
        raise ConfigError(f"metrics.extractors={given['extractors']!r} is not allowed: metrics.extractors must map "
                          "metrics to lists of extractors, e.g. {fid: [inception, dinov2]}")
    out = {**DEFAULTS, **given, "extractors": {**DEFAULTS["extractors"], **dict(given.get("extractors") or {})}}
    if not checked:
        _validate(out)
    out["cache_dir"] = Path(out["cache_dir"]).expanduser() if out["cache_dir"] else default_cache_dir()
    if out["num_real"] is None:
        out["num_real"] = out["num_samples"]
    return out


def _validate(c: dict[str, Any]) -> None:
    """Each key by the schema's rule (ganexp/schema.py, the one place a metrics key's rule lives), also for
    a dict given to the library outside a run (the names against the registry: registry.validate_names)."""
    for key, value in c.items():
        if key == "extractors":  # a node: each metric's list by its own rule
            for metric, names in value.items():
                check_value(f"metrics.extractors.{metric}", list(names) if isinstance(names, tuple) else names)
            continue
        check_value(f"metrics.{key}", str(value) if isinstance(value, PathLike) else value)
