"""The object the training loop calls at every checkpoint: the registered metrics (metrics.names) of a sampler.

One pass through the extractors per evaluation (Inception always, VGG16 and DINOv2 backbones where
metrics.extractors names them); every selected metric (ganexp.metrics.registry) reads the features of that pass
through a `Context`, once per extractor it is computed on, and the real side it needs (pool3 statistics, real
feature rows), cached on disk per data identity and extractor.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ganexp import cachefiles
from ganexp.metrics import cache, config
from ganexp.config import ConfigError
from ganexp.metrics.dinov2 import VARIANTS, DINOv2Features
from ganexp.metrics.extractor import (EXTRACTOR_ID, POOL3, VGG16_ID, InceptionFeatures, VGG16Features,
                                      feature_key, to_uint8)
from ganexp.metrics.metric import Context, Metric
from ganexp.metrics.registry import REGISTRY, get_metric, validate_names
from ganexp.metrics.stats import feature_stats, inception_score, sqrtm_psd
from ganexp.metrics.weights import (InceptionWeights, file_sha256, resolve_dinov2, resolve_vgg16,
                                    resolve_weights)

log = logging.getLogger("ganexp.metrics")


class Evaluator:
    """The metrics of metrics.names (FID, IS, div, KID, PRC, ...) of generated samples against the cached real
    side (pool3 statistics, real feature rows per extractor) of one dataset split.

    `metrics_cfg`: the `metrics` config node or a dict (missing keys take config.DEFAULTS); `checked`: it is a
    run's, checked with the run's config (``preflight.job_spec``), so its keys are not checked again.
    `dataset`: has .name, .resolution, .channels, .preprocessing and .images(split) -> uint8 (N, C, H, W).
    Weights, extractor and real statistics are resolved lazily on first use and kept for later calls. The
    statistics and features are cached on disk under a key that includes a sha256 of the whole real split's
    pixels and the extractor, so two data sets that share a name and resolution (two `dataset=npz` files) never
    share them, nor do two extractors.
    """

    def __init__(self, metrics_cfg: Any, dataset: Any, checked: bool = False):
        self.cfg = config.resolve(metrics_cfg, checked)
        validate_names(self.cfg["names"])
        self.dataset = dataset
        self.fid_key = config.metric_key("fid", self.cfg["num_samples"])
        self.is_key = config.metric_key("is", self.cfg["num_samples"])
        self.div_key = config.metric_key("div", self.cfg["num_samples"])
        self.metrics: list[Metric] = [get_metric(name) for name in self.cfg["names"]]
        self._weights_paths: dict[str, Path] = {}  # weights file of every extractor but Inception that is read
        self.cfg["extractors_resolved"] = self._resolve_extractors()
        # {metric: {extractor: {output prefix: recorded key}}}
        self.keys = {m.name: m.keys(self.cfg) for m in self.metrics}
        self._real_features: dict[str, torch.Tensor] = {}  # extractor -> (num_real, D) float32
        self._real_of: dict[str, dict] = {}  # extractor but Inception -> mu, sigma of its real rows; sqrt per device
        self._weights: InceptionWeights | None = None
        self._features: InceptionFeatures | None = None
        self._real: dict | None = None  # mu, sigma (float64 tensors), n, path; sqrt_sigma per device
        self._split: torch.Tensor | None = None  # the whole real split until its statistics are known
        self._content_sha256: str | None = None  # digest of that split, part of the statistics key
        self._warned_no_is = False
        self._device_type = "cpu"  # of the last evaluation: the fast mode's batch size depends on it
        self.last_details: dict[str, Any] = {}

    @property
    def weights(self) -> InceptionWeights:
        """The resolved Inception weights (resolution may download or bootstrap them once)."""
        if self._weights is None:
            self._weights = resolve_weights(self.cfg["inception_weights"], self.cfg["cache_dir"],
                                            bool(self.cfg["allow_download"]))
        return self._weights

    def _resolve_extractors(self) -> dict[str, tuple[str, ...]]:
        """metrics.extractors of the selected metrics, resolved: prc's auto is vgg16 where its weights are present
        (explicit path or cache, no download), inception otherwise; every other extractor's weights are found now
        (a download where allowed), so a missing file is one sentence before any image is read."""
        chosen = self.cfg["extractors"]
        takes = [name for name, m in sorted(REGISTRY.items()) if m.any_features]
        wrong = [k for k in chosen if k not in takes]
        if wrong:
            raise ConfigError(f"metrics.extractors.{wrong[0]} is not allowed: only metrics defined on any features "
                              f"take extractors ({', '.join(takes)}); remove the entry")
        resolved = {}
        for name in (m.name for m in self.metrics if m.any_features):
            picked = [self._resolve_extractor(e) for e in chosen.get(name, ["inception"])]
            resolved[name] = tuple(dict.fromkeys(picked))  # auto may repeat inception or vgg16
        return resolved

    def _resolve_extractor(self, extractor: str) -> str:
        """An extractor of metrics.extractors with its weights file found (auto: vgg16 or inception)."""
        cfg = self.cfg
        if extractor in ("auto", "vgg16"):  # auto: the schema allows it in metrics.extractors.prc only
            path = resolve_vgg16(cfg["vgg16_weights"], cfg["cache_dir"], bool(cfg["allow_download"]),
                                 required=extractor == "vgg16")
            if path is None:
                return "inception"
            self._weights_paths["vgg16"] = path
            return "vgg16"
        if extractor in VARIANTS and extractor not in self._weights_paths:
            v = VARIANTS[extractor]
            self._weights_paths[extractor] = resolve_dinov2(v.file_name, v.url, v.label, cfg["dinov2_weights"],
                                                            cfg["cache_dir"], bool(cfg["allow_download"]))
        return extractor

    def extractors(self) -> list[str]:
        """The feature sets the selected metrics read ("inception" always: every evaluation computes pool3)."""
        return sorted({"inception", *(e for m in self.metrics for e in m.extractors(self.cfg))})

    @property
    def features(self) -> InceptionFeatures:
        """The feature extractor wrapper, created once per Evaluator, with every other extractor the metrics read
        as an extra (fed the same batches: one pass per extractor)."""
        if self._features is None:
            how = config.extractor_settings(self.cfg, "cpu")
            self._features = InceptionFeatures(self.weights, tf32=how["tf32"], channels_last=how["channels_last"])
            self._features.extra = [self._extra(e, how["tf32"]) for e in self.extractors() if e != "inception"]
        return self._features

    def _extra(self, extractor: str, tf32: bool):
        if extractor == "vgg16":
            return VGG16Features(str(self._weights_paths["vgg16"]), tf32=tf32)
        return DINOv2Features(VARIANTS[extractor], self._weights_paths[extractor], tf32=tf32)

    @property
    def info(self) -> dict[str, Any]:
        """What the scores depend on: sample counts, real split and its content digest, weights kind/path/sha,
        statistics file; with extractors other than Inception, "extractors": their definitions and weights."""
        w = self.weights
        info = {
            "num_samples": self.cfg["num_samples"],
            "num_real": self._real["n"] if self._real else self.cfg["num_real"],
            "real_split": self.cfg["real_split"],
            "real_content_sha256": self.content_sha256,
            "weights": w.kind,
            "weights_path": str(w.path),
            "weights_sha256": w.sha256,
            "weights_source": w.source,
            "extractor": self.extractor_id,
            **config.extractor_settings(self.cfg, self._device_type),
            "to_uint8": self.cfg["to_uint8"],
            "real_stats_path": str(self._stats_path()),
            "metrics": {m.name: m.info(self.cfg) for m in self.metrics},
            "real_features_paths": {e: str(self._features_path(e)) for e in self.extractors()
                                    if self._reads_real_features(e)},
        }
        others = [e for e in self.extractors() if e != "inception"]
        if others:  # absent from an Inception-only run's metric_info, which stays as it was
            info["extractors"] = {e: self._extractor_info(e) for e in others}
        return info

    def _extractor_info(self, extractor: str) -> dict[str, Any]:
        """What the values of an extractor other than Inception depend on: its features' definition and its
        weights file (with DINOv2, how images reach it)."""
        path = self._weights_paths[extractor]
        out = {"id": self._extractor_id(extractor), "weights_path": str(path), "weights_sha256": file_sha256(path)}
        if extractor in VARIANTS:
            out.update(model=f"timm {VARIANTS[extractor].timm}, Meta's weights, CLS token after the final norm",
                       input="224x224: torch-fidelity's TF1-compatible bilinear resize (align_corners=False, "
                             "no antialiasing), ImageNet mean/std")
        return out

    @property
    def content_sha256(self) -> str:
        """sha256 of the whole real split's uint8 tensor (cachefiles.content_digest), computed once per Evaluator;
        a set read from the decoded-image cache already knows it (verified when the cache was opened)."""
        if self._content_sha256 is None:
            images = self._split_images()
            known = getattr(self.dataset, "content_sha256", None)
            self._content_sha256 = known if isinstance(known, str) else cachefiles.content_digest(images)
        return self._content_sha256

    @property
    def extractor_id(self) -> str:
        """EXTRACTOR_ID, plus "/tf32" when TF32 may round the convolutions (metrics.tf32 or the fast mode): such
        real statistics are cached apart, so an exact FID never uses them. Channels-last alone changes no
        cached value beyond float noise, so fast and tf32 share one key."""
        return EXTRACTOR_ID + ("/tf32" if config.extractor_settings(self.cfg, "cpu")["tf32"] else "")

    def batch_size(self, device: torch.device) -> int:
        return config.extractor_settings(self.cfg, device.type)["batch_size"]

    def _stats_key(self) -> dict:
        return cache.stats_key(self.dataset, self.cfg["real_split"], self.cfg["num_real"], self.cfg["real_seed"],
                               self.extractor_id, self.weights.sha256, self.content_sha256)

    def _stats_path(self):
        return cache.stats_path(self.cfg["cache_dir"], self._stats_key())

    def _extractor_id(self, extractor: str) -> str:
        """The features' definition of an extractor other than Inception, + "/tf32" as `extractor_id`."""
        tf32 = "/tf32" if config.extractor_settings(self.cfg, "cpu")["tf32"] else ""
        return (VGG16_ID if extractor == "vgg16" else VARIANTS[extractor].extractor_id) + tf32

    def _features_key(self, extractor: str) -> dict:
        """Data identity (as the statistics' key) and the extractor with its weights' sha256."""
        if extractor == "inception":
            return {**self._stats_key(), "kind": "features"}
        return {**self._stats_key(), "kind": "features", "extractor": self._extractor_id(extractor),
                "weights_sha256": file_sha256(self._weights_paths[extractor])}

    def _features_path(self, extractor: str):
        return cache.features_path(self.cfg["cache_dir"], self._features_key(extractor))

    def _reads_real_features(self, extractor: str) -> bool:
        """Whether a metric reads the real rows of `extractor`: KID and PRC do, and FID on any extractor but
        Inception (its real statistics come from those rows; Inception's from the cached pool3 statistics)."""
        return any(extractor in m.extractors(self.cfg) and ("real_features" in m.needs or (
            "real_stats" in m.needs and extractor != "inception")) for m in self.metrics)

    def _reads_pool3_stats(self) -> bool:
        return any("real_stats" in m.needs and "inception" in m.extractors(self.cfg) for m in self.metrics)

    def real_features(self, extractor: str, device: torch.device | str = "cpu") -> torch.Tensor:
        """The real feature rows (num_real, D) float32 of `extractor` on `device`: from the disk cache or
        computed once (with the pool3 statistics, when those are not cached yet, from the same pass)."""
        device = torch.device(device)
        if extractor not in self._real_features:
            path = self._features_path(extractor)
            feats, computed = cache.cached_features(path, self._features_key(extractor),
                                                    lambda: self._compute_real_features(extractor, device))
            log.info("%s real %s features %s (%d images).", "Computed" if computed else "Loaded", extractor, path,
                     feats.shape[0])
            self._real_features[extractor] = torch.from_numpy(feats)
        if self._real_features[extractor].device != device:
            self._real_features[extractor] = self._real_features[extractor].to(device)
        return self._real_features[extractor]

    def _compute_real_features(self, extractor: str, device: torch.device) -> np.ndarray:
        images = self._real_images()
        if extractor == "inception":
            feats = self.features.from_uint8(images, device, self.batch_size(device))[POOL3]
        else:
            extra = next(e for e in self.features.extra if e.name == feature_key(extractor))
            feats = extra.from_uint8(images, device, self.batch_size(device))
        return feats.cpu().numpy()

    def _prepare_real(self, device: torch.device) -> None:
        """Load (or compute) every real feature set the metrics read, then the pool3 statistics where a metric
        reads them (from the pool3 rows when those are at hand). √Σ_real is computed when a metric first asks
        (`sqrt_real`): a (D, D) eigendecomposition that FID on fewer than D samples never needs."""
        for extractor in self.extractors():
            if self._reads_real_features(extractor):
                self.real_features(extractor, device)
        if self._reads_pool3_stats():
            self.real_stats(device)
        self._split = None  # the cached statistics and features stand for the split from here on

    def _split_images(self) -> torch.Tensor:
        """The whole real split, uint8 (N, C, H, W), asked of the dataset once (digest and subset share it)."""
        if self._split is None:
            images = self.dataset.images(self.cfg["real_split"])
            if not torch.is_tensor(images) or images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(f"dataset {self.dataset.name}.images() must return a uint8 (N, C, H, W) tensor")
            self._split = images
        return self._split

    def _real_images(self) -> torch.Tensor:
        images = self._split_images()
        n = images.shape[0]
        if self.cfg["num_real"] < n:  # seeded random subset, kept in dataset order
            g = torch.Generator().manual_seed(int(self.cfg["real_seed"]))
            images = images[torch.randperm(n, generator=g)[: self.cfg["num_real"]].sort().values]
        elif self.cfg["num_real"] > n:
            log.warning("metrics.num_real=%d exceeds the %d images of %s/%s; using all of them.",
                        self.cfg["num_real"], n, self.dataset.name, self.cfg["real_split"])
        return images

    def _compute_real(self, device: torch.device) -> tuple[np.ndarray, np.ndarray, int]:
        if "inception" in self._real_features:
            feats = self._real_features["inception"].to(device)
        else:
            feats = self.features.from_uint8(self._real_images(), device, self.batch_size(device))[POOL3]
        mu, sigma = feature_stats(feats)
        return mu.cpu().numpy(), sigma.cpu().numpy(), feats.shape[0]

    def real_stats(self, device: torch.device | str = "cpu") -> dict:
        """{'mu', 'sigma' (float64 tensors on device), 'n', 'path'}: from the disk cache or computed once."""
        device = torch.device(device)
        if self._real is None:
            key, path = self._stats_key(), self._stats_path()
            stats, computed = cache.cached_stats(path, key, lambda: self._compute_real(device))
            self._split = None  # from here on the statistics stand for the split: do not keep it alive
            log.info("%s real statistics %s (%d images).", "Computed" if computed else "Loaded", path, stats["n"])
            self._real = {"mu": torch.from_numpy(stats["mu"]), "sigma": torch.from_numpy(stats["sigma"]),
                          "n": stats["n"], "path": path, "sqrt": {}}
        r = self._real
        if r["mu"].device != device:
            r["mu"], r["sigma"] = r["mu"].to(device), r["sigma"].to(device)
        return r

    def real_stats_of(self, extractor: str, device: torch.device) -> dict:
        """{'mu', 'sigma' (float64 on device), 'n'} of the real features of `extractor`: Inception's from the cached
        pool3 statistics (`real_stats`), another extractor's from its cached real rows (computed once)."""
        if extractor == "inception":
            return self.real_stats(device)
        if extractor not in self._real_of:
            rows = self.real_features(extractor, device)
            mu, sigma = feature_stats(rows)
            self._real_of[extractor] = {"mu": mu, "sigma": sigma, "n": rows.shape[0], "sqrt": {}}
        r = self._real_of[extractor]
        if r["mu"].device != device:
            r["mu"], r["sigma"] = r["mu"].to(device), r["sigma"].to(device)
        return r

    def sqrt_real(self, extractor: str, device: torch.device) -> torch.Tensor:
        """√Σ_real of `extractor` on `device`, computed on first use and kept."""
        r = self.real_stats_of(extractor, device)
        if str(device) not in r["sqrt"]:
            r["sqrt"][str(device)] = sqrtm_psd(r["sigma"])
        return r["sqrt"][str(device)]

    def _check_generated(self, x: torch.Tensor, m: int) -> None:
        want = (m, int(self.dataset.channels), int(self.dataset.resolution), int(self.dataset.resolution))
        if not torch.is_tensor(x) or not x.is_floating_point() or tuple(x.shape) != want:
            got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"sample_fn({m}) must return a float tensor of shape {want} in [-1, 1], got {got}")

    def inception_score_or_none(self, logits: torch.Tensor | None) -> tuple[float | None, float | None]:
        """(mean, std) of the Inception Score of `logits`, or (None, None) with one warning per Evaluator when
        there are no logits (pool3-only weights) or fewer samples than is_splits."""
        splits = int(self.cfg["is_splits"])
        reason = None
        if logits is None:
            reason = "the Inception weights have no fc layer (pool3-only); IS needs the official weights"
        elif logits.shape[0] < splits:
            reason = f"{logits.shape[0]} samples are fewer than is_splits={splits}"
        if reason is not None:
            if not self._warned_no_is:
                log.warning("Inception Score unavailable: %s; %s is recorded as None.", reason, self.is_key)
                self._warned_no_is = True
            return None, None
        return inception_score(logits, splits)

    def _scores(self, feats: dict[str, torch.Tensor]) -> tuple[dict[str, float | None], dict[str, Any]]:
        """Features of one generated set -> ({recorded key: value} of every selected metric on each of its
        extractors, {seconds_<metric>[_<extractor>]}); shared by `evaluate` and `evaluate_members`."""
        ctx, scores, details = Context(self, feats), {}, {}
        for m in self.metrics:
            for extractor, keys in self.keys[m.name].items():
                t0 = time.perf_counter()
                values = m.compute(ctx.on(extractor))
                scores.update({keys[k]: v for k, v in values.items()})
                suffix = "" if extractor == "inception" else f"_{extractor}"
                details[f"seconds_{m.name}{suffix}"] = time.perf_counter() - t0
        return scores, details

    def _non_finite_scores(self) -> dict[str, float | None]:
        """The scores of a generator that produced NaN or inf: NaN (IS None without logits)."""
        return {keys[k]: v for m in self.metrics for keys in self.keys[m.name].values()
                for k, v in m.non_finite(self).items()}

    def evaluate(self, sample_fn: Callable[[int], torch.Tensor], device: torch.device | str) -> dict[str, float | None]:
        """Score `sample_fn` (n -> float (n, C, H, W) in [-1, 1] on `device`) with metrics.num_samples samples.

        Returns {recorded key: value} of every metric of metrics.names (by default fid<N>, is<N> (None without
        logits), is<N>_std, div<N>, kid<N>, kid<N>_std); timings go to `last_details`. div<N> is the diversity
        of the generated set relative to the real one (``ganexp.metrics.fid.diversity``).
        """
        device = torch.device(device)
        t0 = time.perf_counter()
        self._prepare_real(device)
        t_real = time.perf_counter()
        self._device_type = device.type
        feats = self.features.from_sampler(sample_fn, self.cfg["num_samples"], device, self.batch_size(device),
                                           self.cfg["to_uint8"], check=self._check_generated)
        if feats is None:
            self.last_details = {"non_finite": True}
            return self._non_finite_scores()
        t_feat = time.perf_counter()
        scores, details = self._scores(feats)
        t_end = time.perf_counter()
        self.last_details = {**details, "seconds_real_stats": t_real - t0,
                             "seconds_features": t_feat - t_real, "seconds_metrics": t_end - t_feat}
        return scores

    def evaluate_members(self, sample_fns: list[Callable[[int], torch.Tensor]],
                         device: torch.device | str) -> list[dict[str, float | None]]:
        """Score S generators in one pass through Inception: what `evaluate` returns for each, in a list.

        Used by fused seed arrays (launch.fuse=seed), so that S members cost one pass through Inception per
        batch instead of S. Every Inception batch holds the next m images of every member, member-major (member
        0's m images, then member 1's, ...), with m = max(1, batch_size // S): one forward pass is about one
        normal batch. Each sample_fns[i] is called with chunk sizes m, ..., m, rest (metrics.num_samples in
        all), in order, so it draws its codes in the same order as in a separate evaluation; the features are
        split back per member and scored as `evaluate` scores them (equal up to the float noise of batch
        composition). A member whose images hold NaN or inf scores NaN (its images go through Inception as
        zeros, so the batch keeps its shape) while the others are scored normally; every sample_fn is asked for
        all its images either way. `last_details`: the timings of the whole pass, the per-member chunk size
        and "members", a list of per-member details ({seconds_<metric>} or {non_finite: True}).
        """
        device = torch.device(device)
        s = len(sample_fns)
        if s == 0:
            raise ValueError("evaluate_members needs at least one sample_fn")
        t0 = time.perf_counter()
        self._prepare_real(device)
        t_real = time.perf_counter()
        self._device_type = device.type
        n, mode = int(self.cfg["num_samples"]), self.cfg["to_uint8"]
        m = max(1, self.batch_size(device) // s)
        non_finite = [False] * s
        rows: list[list[torch.Tensor]] = [[] for _ in range(s)]  # each member's rows in the concatenated features

        def batches():
            offset = 0
            for start in range(0, n, m):
                k = min(m, n - start)
                parts = []
                for i, sample_fn in enumerate(sample_fns):
                    with torch.no_grad():
                        x = sample_fn(k)
                    self._check_generated(x, k)
                    if not non_finite[i] and not bool(torch.isfinite(x).all()):
                        log.warning("Member %d of %d produced NaN or inf; its FID/IS are NaN.", i, s)
                        non_finite[i] = True
                    parts.append(torch.zeros(x.shape, dtype=torch.uint8, device=x.device) if non_finite[i]
                                 else to_uint8(x, mode))
                    rows[i].append(torch.arange(offset + i * k, offset + (i + 1) * k))
                offset += s * k
                yield torch.cat(parts)

        feats = self.features.run(batches(), device, total=n * s, what=f"generated images of {s} members")
        t_feat = time.perf_counter()
        results, members = [], []
        for i in range(s):
            if non_finite[i]:
                results.append(self._non_finite_scores())
                members.append({"non_finite": True})
                continue
            index = torch.cat(rows[i]).to(feats[POOL3].device)
            scores, details = self._scores({name: v[index] for name, v in feats.items()})
            results.append(scores)
            members.append(details)
        t_end = time.perf_counter()
        self.last_details = {"members": members, "member_batch": m, "seconds_real_stats": t_real - t0,
                             "seconds_features": t_feat - t_real, "seconds_metrics": t_end - t_feat}
        return results
