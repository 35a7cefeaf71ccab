"""FID (Heusel et al. 2017, Eq. 6) and the diversity ratio, both from the pool3 means and covariances; the same
Fréchet distance on another extractor's features (metrics.extractors.fid): fid10k_dinov2 is FD_DINOv2 (Stein et
al., NeurIPS 2023, on DINOv2 ViT-L/14; EDM2's fd_dinov2)."""

from __future__ import annotations

import torch

from ganexp.metrics.metric import Context, Metric, register_metric
from ganexp.metrics.stats import frechet_distance
from ganexp.metrickeys import BUILTIN


def diversity(sigma_gen: torch.Tensor, sigma_real: torch.Tensor) -> float:
    """tr(Σ_gen) / tr(Σ_real) of pool3 features: the mean pairwise squared distance of the generated
    features relative to the real ones (for n vectors with unbiased covariance Σ, the mean over pairs
    i != j of |f_i - f_j|^2 is 2 tr Σ). 1: as spread as the real set; 0: one image (mode collapse).
    Costs nothing beyond FID: both covariances are already there."""
    return float(torch.trace(sigma_gen) / torch.trace(sigma_real.to(sigma_gen.device)))


@register_metric
class FID(Metric):
    """Fréchet distance of the generated features' statistics to the real ones (fid<N>: Inception pool3 against
    the cached statistics; fid<N>_<extractor>: another extractor's, against the statistics of its real rows)."""

    name = "fid"
    outputs = BUILTIN["fid"]
    needs = frozenset({"real_stats"})
    any_features = True

    def compute(self, ctx: Context) -> dict[str, float | None]:
        mu, sigma = ctx.gen_stats()
        real = ctx.real_stats()
        return {"fid": frechet_distance(real["mu"], real["sigma"], mu, sigma, sqrt_sigma1=ctx.sqrt_real,
                                        rows2=ctx.features())}


@register_metric
class Diversity(Metric):
    """tr Σ_gen / tr Σ_real of pool3 features (div<N>); metrics.collapse_threshold reads it."""

    name = "div"
    outputs = BUILTIN["div"]
    needs = frozenset({"real_stats"})

    def compute(self, ctx: Context) -> dict[str, float | None]:
        return {"div": diversity(ctx.gen_stats()[1], ctx.real_stats()["sigma"])}
