"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", Sec. 4 / Eq. 4).

KID is the unbiased estimate of the squared MMD between generated and real Inception pool3 features (or those of
another extractor: metrics.extractors.kid, kid10k_dinov2) under the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, d the features' width. Its expectation does not depend on the sample count, unlike
FID's. The subset protocol is torch-fidelity's (and the paper's code): `subsets` pairs of subsets of
`subset_size` rows, drawn without replacement by numpy's RandomState(seed), generated first; mean and
(population) std over the subsets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganexp.metrics.metric import Context, Metric, register_metric
from ganexp.metrickeys import BUILTIN


DEGREE, COEF0 = 3, 1.0
KID_SEED = 2020  # torch-fidelity's default rng_seed: the same subsets as its calculate_metrics


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(x y^T / d + 1)^3 for x (m, d), y (n, d) -> (m, n); gamma = 1/d as in the paper."""
    return (x @ y.T / x.shape[1] + COEF0) ** DEGREE


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 of two equal-size samples (m, d): the k(x_i, x_i), k(y_i, y_i) terms are left out,
    sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1)) - 2 sum_{i,j} k(x_i, y_j) / m^2."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    off_diagonal = (k_xx.sum() - k_xx.diagonal().sum()) + (k_yy.sum() - k_yy.diagonal().sum())
    return float(off_diagonal / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(gen: torch.Tensor, real: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 2020) -> tuple[float, float]:
    """(mean, std) of mmd2_unbiased over `subsets` random subset pairs of gen (N, d) and real (M, d) features,
    computed in float64 on the features' device. subset_size is capped at min(N, M); where it holds all of
    both sets, every subset pair is the same two sets in another order, so no spread is estimated and the
    std is 0 exactly (torch-fidelity averages the same MMD over its subsets: std 0 up to rounding, ~1e-17,
    which a report would print as ±0.0000)."""
    if gen.dim() != 2 or real.dim() != 2 or gen.shape[1] != real.shape[1]:
        raise ValueError(f"KID needs (N, d) and (M, d) features, got {tuple(gen.shape)} and {tuple(real.shape)}")
    size = min(subset_size, gen.shape[0], real.shape[0])
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per subset, got {size}")
    gen64, real64 = gen.double(), real.to(gen.device, torch.float64)
    if size == gen.shape[0] == real.shape[0]:  # every subset pair is these two sets: one MMD, no spread
        return mmd2_unbiased(gen64, real64), 0.0
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        gi = torch.from_numpy(rng.choice(gen.shape[0], size, replace=False)).to(gen.device)
        ri = torch.from_numpy(rng.choice(real.shape[0], size, replace=False)).to(gen.device)
        mmds[i] = mmd2_unbiased(gen64[gi], real64[ri])
    return float(mmds.mean()), float(mmds.std())


@register_metric
class KID(Metric):
    """KID of the generated features against the cached real ones (kid<N>, kid<N>_std; kid<N>_<extractor> on
    another extractor's features than Inception pool3)."""

    name = "kid"
    outputs = BUILTIN["kid"]
    needs = frozenset({"real_features"})
    any_features = True

    def info(self, cfg: dict[str, Any]) -> dict[str, Any]:
        size = min(int(cfg["kid_subset_size"]), int(cfg["num_samples"]), int(cfg["num_real"]))
        return {**super().info(cfg), "subsets": int(cfg["kid_subsets"]), "subset_size": size,
                "kernel": f"poly(degree={DEGREE}, gamma=1/d, coef0={COEF0:g})", "seed": KID_SEED}

    def compute(self, ctx: Context) -> dict[str, float | None]:
        cfg = ctx.cfg
        mean, std = kernel_inception_distance(ctx.features(), ctx.real_features(),
                                              int(cfg["kid_subsets"]), int(cfg["kid_subset_size"]), KID_SEED)
        return {"kid": mean, "kid_std": std}

