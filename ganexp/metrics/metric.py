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
kid1k_std, precision10k_vgg16, fid10k_dinov2: FD_DINOv2, fid10k_ema: G_ema's): ganexp.metrickeys (torch-free) holds
the grammar, the built-in outputs and describe_key. A metric with ``any_features`` is
computed once per extractor that metrics.extractors.<name> lists, from the features of one pass per extractor.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import torch

from ganexp.metrickeys import (FEATURES, GENERATORS, KEY_PARTS, KEY_RE, OUTPUTS, PREFIX_RE, Output,  # noqa: F401
                               generator_key, key_re, metric_key)
from ganexp.metrics.stats import feature_stats
from ganexp.metrics.extractor import POOL3, feature_key


class Scorer(Protocol):
    """What a metric reads of the evaluator that runs it (ganexp.metrics.evaluator.Evaluator)."""

    cfg: dict[str, Any]
    weights: Any  # InceptionWeights: has_logits says whether an Inception Score can be computed

    def real_features(self, extractor: str, device: torch.device | str = "cpu") -> torch.Tensor: ...

    def real_stats_of(self, extractor: str, device: torch.device) -> dict: ...

    def sqrt_real(self, extractor: str, device: torch.device) -> torch.Tensor: ...

    def inception_score_or_none(self, logits: torch.Tensor | None) -> tuple[float | None, float | None]: ...


class Metric:
    """Base class of registered metrics. Subclasses set the class attributes and implement `compute`.

    needs: what of the real side the metric reads: "real_stats" (mu, sigma of the real features: Inception's
    from the cached pool3 statistics, another extractor's from its real feature rows), "real_features" (the
    real feature rows of the extractor), "logits" (Inception logits of the generated images).
    any_features: the metric is defined on any feature space (FID's Fréchet distance, KID, PRC), so
    metrics.extractors.<name> may list other extractors than Inception; otherwise it reads Inception only.
    """

    name: ClassVar[str]
    outputs: ClassVar[tuple[Output, ...]]
    needs: ClassVar[frozenset[str]] = frozenset()
    any_features: ClassVar[bool] = False

    def extractors(self, cfg: dict[str, Any]) -> tuple[str, ...]:
        """The feature sets this metric is computed on under `cfg`, each recorded under its own keys:
        metrics.extractors.<name> as the Evaluator resolved it (prc's auto decided), else ("inception",)."""
        if not self.any_features:
            return ("inception",)
        return tuple(cfg.get("extractors_resolved", {}).get(self.name, ("inception",)))

    def keys(self, cfg: dict[str, Any]) -> dict[str, dict[str, str]]:
        """{extractor: {output prefix (and prefix + "_std"): recorded key}} at cfg's num_samples; the key names the
        extractor unless it is Inception (fid10k, fid10k_dinov2), so values of two extractors never share a key."""
        n, out = int(cfg["num_samples"]), {}
        for ext in self.extractors(cfg):
            suffix, keys = ("" if ext == "inception" else f"_{ext}"), {}
            for o in self.outputs:
                keys[o.prefix] = metric_key(o.prefix, n) + suffix
                if o.std:
                    keys[o.prefix + "_std"] = keys[o.prefix] + "_std"
            out[ext] = keys
        return out

    def info(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """This metric's entry of metric_info (the settings its values depend on); extractor: its name, or the
        list of names when the metric is computed on several."""
        ext = self.extractors(cfg)
        return {"extractor": ext[0] if len(ext) == 1 else list(ext), "n": int(cfg["num_samples"])}

    def compute(self, ctx: "Context") -> dict[str, float | None]:
        """Values by output prefix (and prefix + "_std"), on the features of ctx.extractor."""
        raise NotImplementedError

    def non_finite(self, ev: "Scorer") -> dict[str, float | None]:
        """Values of a generator that produced NaN or inf, by output prefix (as `compute`)."""
        return {k: float("nan") for o in self.outputs for k in ([o.prefix, o.prefix + "_std"] if o.std else [o.prefix])}


REGISTRY: dict[str, Metric] = {}


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator: register one instance of `cls` under cls.name (its output prefixes must be new)."""
    metric = cls()
    if not PREFIX_RE.match(metric.name):
        raise ValueError(f"metric name {metric.name!r} must be lowercase letters")
    taken = [o.prefix for o in metric.outputs if o.prefix in OUTPUTS and OUTPUTS[o.prefix][0] != cls.name]
    if taken or any(not PREFIX_RE.match(o.prefix) for o in metric.outputs):
        raise ValueError(f"metric {cls.name}: output prefixes must be new lowercase words, not {taken}")
    REGISTRY[cls.name] = metric
    for o in metric.outputs:  # what reports read (ganexp.metrickeys, torch-free)
        OUTPUTS[o.prefix] = (cls.name, o)
        KEY_RE[o.prefix] = key_re(o.prefix)
    return cls


def unregister_metric(name: str) -> None:
    """Remove a registered metric (tests register their own)."""
    metric = REGISTRY.pop(name)
    for o in metric.outputs:
        OUTPUTS.pop(o.prefix, None)
        KEY_RE.pop(o.prefix, None)


class Context:
    """What a metric reads of one generated set on one extractor: `gen`, the features extracted once per
    extractor ({POOL3: (N, 2048), LOGITS: (N, 1008) with the official weights, VGG16_FEATURES: (N, 4096),
    "dinov2.cls": (N, 1024), ... for the extractors the metrics read}), `extractor` (the one this value is
    computed on), the generated statistics of its features (computed on first use, shared by FID and div) and
    the real side. `on(extractor)` is the same set on another extractor."""

    def __init__(self, ev: Scorer, gen: dict[str, torch.Tensor], extractor: str = "inception",
                 stats: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None):
        self.ev, self.gen, self.extractor = ev, gen, extractor
        self._stats = {} if stats is None else stats  # extractor -> (mu, sigma) of the generated set

    def on(self, extractor: str) -> "Context":
        return Context(self.ev, self.gen, extractor, self._stats)

    @property
    def cfg(self) -> dict[str, Any]:
        return self.ev.cfg

    @property
    def device(self) -> torch.device:
        return self.gen[POOL3].device

    def features(self) -> torch.Tensor:
        """The generated rows (N, D) of `extractor`."""
        return self.gen[feature_key(self.extractor)]

    def gen_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu (D,), sigma (D, D)) of the generated features of `extractor`, float64."""
        if self.extractor not in self._stats:
            self._stats[self.extractor] = feature_stats(self.features())
        return self._stats[self.extractor]

    def real_stats(self) -> dict:
        """{'mu', 'sigma', 'n'} of the real features of `extractor` (Inception: the cached pool3 statistics)."""
        return self.ev.real_stats_of(self.extractor, self.device)

    def sqrt_real(self) -> torch.Tensor:
        """√Σ_real of `extractor`, computed once per evaluator and device (FID on m >= D samples needs it)."""
        return self.ev.sqrt_real(self.extractor, self.device)

    def real_features(self, extractor: str | None = None) -> torch.Tensor:
        """The real feature rows (num_real, D) of `extractor` (default: this context's) on the features' device."""
        return self.ev.real_features(extractor or self.extractor, self.device)
