"""What a metric is: `Metric` (one module per metric registers one with `register_metric`), its `Output`s, and
the `Context` it reads at each evaluation. The built-in metrics (fid, isc, kid, prc) build on this module;
ganexp.metrics.registry holds them all and answers questions about recorded keys.

    @register_metric
    class KID(Metric):
        name = "kid"
        outputs = (Output("kid", "KID (Binkowski et al. 2018)", higher_is_better=False, std=True),)
        needs = frozenset({"real_features"})
        def compute(self, ctx): return {"kid": mean, "kid_std": std}

Every output is recorded under ``<prefix><sample tag>[_<extractor>][_<generator>][_std]`` (fid10k, kid1k,
kid1k_std, precision10k_vgg16, fid10k_ema: G_ema's): config.metric_key writes the sample tag, ``generator_key`` the
generator, registry.describe_key reads any key back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Protocol

import torch

from ganexp.metrics.config import KEY_RE, metric_key
from ganexp.metrics.stats import feature_stats
from ganexp.metrics.extractor import POOL3


class Scorer(Protocol):
    """What a metric reads of the evaluator that runs it (ganexp.metrics.evaluator.Evaluator)."""

    cfg: dict[str, Any]
    weights: Any  # InceptionWeights: has_logits says whether an Inception Score can be computed

    def real_features(self, extractor: str, device: torch.device | str = "cpu") -> torch.Tensor: ...

    def inception_score_or_none(self, logits: torch.Tensor | None) -> tuple[float | None, float | None]: ...


PREFIX_RE = re.compile(r"^[a-z]+$")  # letters only: the sample tag that follows starts with a digit
# <prefix><tag>[_<extractor>][_<generator>][_std]: "ema" and "std" are reserved words, never an extractor's name,
# so fid10k_ema (G_ema, Inception) and precision250_vgg16_ema_std parse one way only.
GENERATORS = ("ema",)  # "": the generator G itself (no suffix); "ema": its weight average G_ema
KEY_PARTS = re.compile(r"^(?P<prefix>[a-z]+)(?P<tag>\d+k?)(?:_(?!(?:ema|std)(?:_|$))(?P<extractor>[a-z][a-z0-9]*))?"
                       r"(?:_(?P<generator>ema))?(?P<std>_std)?$")


def generator_key(key: str, generator: str) -> str:
    """The key of ``key``'s value scored on ``generator`` ("" for G: unchanged; "ema": fid10k -> fid10k_ema,
    kid1k_std -> kid1k_ema_std)."""
    if not generator:
        return key
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; known: {', '.join(GENERATORS)}")
    base, std = (key[:-4], "_std") if key.endswith("_std") else (key, "")
    return f"{base}_{generator}{std}"


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

    def non_finite(self, ev: "Scorer") -> dict[str, float | None]:
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


class Context:
    """What the metrics of one generated set read: `gen`, the features extracted once ({POOL3: (N, 2048),
    LOGITS: (N, 1008) with the official weights, VGG16_FEATURES: (N, 4096) when a metric reads VGG16}), the
    generated pool3 statistics (computed on first use, shared by FID and div) and the real side."""

    def __init__(self, ev: Scorer, gen: dict[str, torch.Tensor], sqrt_real: Callable[[], torch.Tensor] | None):
        self.ev, self.gen, self.sqrt_real = ev, gen, sqrt_real  # sqrt_real(): √Σ_real, computed on first call
        self._gen_stats: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def cfg(self) -> dict[str, Any]:
        return self.ev.cfg

    def gen_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu (2048,), sigma (2048, 2048)) of the generated pool3 features, float64."""
        if self._gen_stats is None:
            self._gen_stats = feature_stats(self.gen[POOL3])
        return self._gen_stats

    def real_stats(self) -> dict:
        """{'mu', 'sigma', 'n', 'path'} of the real pool3 features."""
        return self.ev._real

    def real_features(self, extractor: str) -> torch.Tensor:
        """The real feature rows (num_real, D) of `extractor` ("inception" or "vgg16") on the features' device."""
        return self.ev.real_features(extractor, self.gen[POOL3].device)
