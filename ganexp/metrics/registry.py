"""The metric registry: every registered metric (the built-in fid, isc, kid, prc modules register themselves on
import; a user's metric module does the same with `register_metric`) and what a recorded key means.

`metrics.names` picks the registered metrics an Evaluator computes (`get_metric`, `validate_names`);
`describe_key` reads any recorded key back (results tables, the summary line, W&B); `summary_text` is the
run's summary line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganexp.metrics import fid, isc, kid, prc  # noqa: F401  (each registers its metric)
from ganexp.metrics.metric import (_BY_PREFIX, FEATURES, KEY_PARTS, REGISTRY, Metric, Output,  # noqa: F401
                                   generator_key, register_metric, unregister_metric)


def get_metric(name: str) -> Metric:
    """The registered metric `name`; ValueError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"metrics.names holds unknown metric {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def known_names() -> list[str]:
    return sorted(REGISTRY)


def validate_names(names: Any) -> None:
    """metrics.names: a non-empty list of distinct registered metrics, else ValueError naming them."""
    known = known_names()
    if not isinstance(names, (list, tuple)) or not names or len(set(names)) != len(names) or \
            any(n not in known for n in names):
        raise ValueError(f"metrics.names must be a list of distinct registered metrics ({', '.join(known)}), "
                         f"got {names!r}")


@dataclass(frozen=True)
class KeyInfo:
    """What a recorded metric key means (``describe_key``)."""

    key: str
    metric: str  # registered metric name (metrics.names entry)
    output: str  # output prefix: fid, is, kid, precision ...
    samples: int  # generated samples the value was computed on
    higher_is_better: bool
    label: str
    extractor: str  # "inception" unless the key names another
    generator: str  # "G", or "G_ema" (the key ends in _ema[_std]): which network was scored
    is_std: bool  # the key is the std of another key
    std_key: str | None  # the key of this value's std, if the metric records one


def sample_count(tag: str) -> int:
    """'10k' -> 10000, '250' -> 250 (the inverse of metric_key's tag)."""
    return int(tag[:-1]) * 1000 if tag.endswith("k") else int(tag)


def describe_key(key: str) -> KeyInfo | None:
    """Any key a metric records (fid10k, is10k, is10k_std, div32, kid1k, kid1k_std, precision250_vgg16, fid10k_ema,
    fid10k_dinov2 (FD_DINOv2), ...) -> KeyInfo; None for keys no registered metric writes (losses, step, ...)."""
    m = KEY_PARTS.match(key)
    if m is None or m["prefix"] not in _BY_PREFIX:
        return None
    metric, out = _BY_PREFIX[m["prefix"]]
    is_std = m["std"] is not None
    if is_std and not out.std:
        return None
    base = key[: -len("_std")] if is_std else key
    generator = "G_ema" if m["generator"] else "G"
    on = f" on {FEATURES.get(m['extractor'], m['extractor'])} features" if m["extractor"] else ""
    return KeyInfo(key=key, metric=metric.name, output=out.prefix, samples=sample_count(m["tag"]),
                   higher_is_better=out.higher_is_better,
                   label=out.label + on + (" of G_ema" if m["generator"] else "") + (" (std)" if is_std else ""),
                   extractor=m["extractor"] or "inception", generator=generator, is_std=is_std,
                   std_key=None if is_std or not out.std else base + "_std")


def _output(key: str) -> Output | None:
    m = KEY_PARTS.match(key)
    return _BY_PREFIX[m["prefix"]][1] if m and m["prefix"] in _BY_PREFIX else None


def summary_text(metrics: dict[str, Any]) -> str:
    """The run's scores as the summary line shows them: headline values of summary outputs, each in its
    output's format, with its std where one is recorded: "fid32=123.45 kid32=0.0812±0.0000"."""
    parts = []
    for k, v in metrics.items():
        d = describe_key(k)
        out = _output(k)
        if d is None or d.is_std or v is None or not out.summary:
            continue
        std = metrics.get(d.std_key) if d.std_key else None
        parts.append(f"{k}={v:{out.fmt}}" + (f"±{std:{out.fmt}}" if std is not None else ""))
    return " ".join(parts)
