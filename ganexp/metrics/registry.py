"""The metric registry: a metric is one module that registers a `Metric` by name.

    @register_metric
    class KID(Metric):
        name = "kid"
        outputs = (Output("kid", "KID (Binkowski et al. 2018)", higher_is_better=False, std=True),)
        needs = frozenset({"real_features"})
        def compute(self, ctx): return {"kid": mean, "kid_std": std}

`metrics.names` picks the registered metrics an Evaluator computes; each reads the features the evaluator
extracted once per evaluation (`ganexp.metrics.evaluator.Context`). Every output is recorded under
``<prefix><sample tag>[_<extractor>][_std]`` (fid10k, kid1k, kid1k_std, precision10k_vgg16): config.metric_key
writes the sample tag, `describe_key` reads any recorded key back (results tables, summary line, W&B).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ganexp.metrics.config import KEY_RE, metric_key

if TYPE_CHECKING:
    from ganexp.metrics.evaluator import Context, Evaluator

PREFIX_RE = re.compile(r"^[a-z]+$")  # letters only: the sample tag that follows starts with a digit
KEY_PARTS = re.compile(r"^(?P<prefix>[a-z]+)(?P<tag>\d+k?)(?:_(?P<extractor>[a-z][a-z0-9]*?))??(?P<std>_std)?$")


@dataclass(frozen=True)
class Output:
    """One value a metric records: its key prefix, a human label, its direction and whether a std goes with it."""

    prefix: str
    label: str
    higher_is_better: bool
    std: bool = False
    fmt: str = ".4f"  # how the summary line prints it
    summary: bool = True  # shown in the run's summary line


class Metric:
    """Base class of registered metrics. Subclasses set the class attributes and implement `compute`.

    needs: what of the real side the metric reads: "real_stats" (mu, sigma of pool3), "real_features"
    (the real feature rows of `extractor`), "logits" (Inception logits of the generated images).
    """

    name: ClassVar[str]
    outputs: ClassVar[tuple[Output, ...]]
    needs: ClassVar[frozenset[str]] = frozenset()

    def extractor(self, cfg: dict[str, Any]) -> str:
        """The feature set this metric reads under `cfg`: "inception" or another registered extractor."""
        return "inception"

    def key_suffix(self, cfg: dict[str, Any]) -> str:
        """"" for Inception pool3 features, "_<extractor>" otherwise: values of two extractors never share a key."""
        ext = self.extractor(cfg)
        return "" if ext == "inception" else f"_{ext}"

    def keys(self, cfg: dict[str, Any]) -> dict[str, str]:
        """{output prefix (and prefix + "_std"): recorded key} at cfg's num_samples."""
        n, suffix = int(cfg["num_samples"]), self.key_suffix(cfg)
        out = {}
        for o in self.outputs:
            out[o.prefix] = metric_key(o.prefix, n) + suffix
            if o.std:
                out[o.prefix + "_std"] = out[o.prefix] + "_std"
        return out

    def info(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """This metric's entry of metric_info (the settings its values depend on)."""
        return {"extractor": self.extractor(cfg), "n": int(cfg["num_samples"])}

    def compute(self, ctx: "Context") -> dict[str, float | None]:
        """Values by output prefix (and prefix + "_std")."""
        raise NotImplementedError

    def non_finite(self, ev: "Evaluator") -> dict[str, float | None]:
        """Values of a generator that produced NaN or inf."""
        return {k: float("nan") for k in self.keys(ev.cfg)}


REGISTRY: dict[str, Metric] = {}
_BY_PREFIX: dict[str, tuple[Metric, Output]] = {}


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator: register one instance of `cls` under cls.name (its output prefixes must be new)."""
    metric = cls()
    if not PREFIX_RE.match(metric.name):
        raise ValueError(f"metric name {metric.name!r} must be lowercase letters")
    taken = [o.prefix for o in metric.outputs if o.prefix in _BY_PREFIX and _BY_PREFIX[o.prefix][0].name != cls.name]
    if taken or any(not PREFIX_RE.match(o.prefix) for o in metric.outputs):
        raise ValueError(f"metric {cls.name}: output prefixes must be new lowercase words, not {taken}")
    REGISTRY[cls.name] = metric
    for o in metric.outputs:
        _BY_PREFIX[o.prefix] = (metric, o)
        KEY_RE[o.prefix] = re.compile(rf"^{o.prefix}(\d+k?)$")
    return cls


def unregister_metric(name: str) -> None:
    """Remove a registered metric (tests register their own)."""
    metric = REGISTRY.pop(name)
    for o in metric.outputs:
        _BY_PREFIX.pop(o.prefix, None)
        KEY_RE.pop(o.prefix, None)


def get_metric(name: str) -> Metric:
    """The registered metric `name`; ValueError naming the known ones otherwise."""
    _load_builtins()
    if name not in REGISTRY:
        raise ValueError(f"metrics.names holds unknown metric {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def known_names() -> list[str]:
    _load_builtins()
    return sorted(REGISTRY)


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
    is_std: bool  # the key is the std of another key
    std_key: str | None  # the key of this value's std, if the metric records one


def sample_count(tag: str) -> int:
    """'10k' -> 10000, '250' -> 250 (the inverse of metric_key's tag)."""
    return int(tag[:-1]) * 1000 if tag.endswith("k") else int(tag)


def describe_key(key: str) -> KeyInfo | None:
    """Any key a metric records (fid10k, is10k, is10k_std, div32, kid1k, kid1k_std, precision250_vgg16, ...)
    -> KeyInfo; None for keys no registered metric writes (losses, step, ...)."""
    _load_builtins()
    m = KEY_PARTS.match(key)
    if m is None or m["prefix"] not in _BY_PREFIX:
        return None
    metric, out = _BY_PREFIX[m["prefix"]]
    is_std = m["std"] is not None
    if is_std and not out.std:
        return None
    base = key[: -len("_std")] if is_std else key
    return KeyInfo(key=key, metric=metric.name, output=out.prefix, samples=sample_count(m["tag"]),
                   higher_is_better=out.higher_is_better, label=out.label + (" (std)" if is_std else ""),
                   extractor=m["extractor"] or "inception", is_std=is_std,
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


_BUILTINS_LOADED = False


def _load_builtins() -> None:
    """Import the built-in metric modules once (each registers itself)."""
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from ganexp.metrics import fid, isc, kid, prc  # noqa: F401
