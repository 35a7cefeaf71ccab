"""Precision and recall (Kynkäänniemi et al. 2019, Sec. 3, Eq. 1-2) and density and coverage (Naeem et
al. 2020, Eq. 3-4) on k-nearest-neighbour manifolds of features.

Each sample's ball has the radius of its k-th nearest neighbour in its own set (itself excluded). Precision:
the share of generated samples inside some real ball; recall: the share of real samples inside some generated
ball (both with <=, as torch-fidelity's PRC). Density: generated samples inside real balls, counted with
multiplicity, over k M; coverage: the share of real balls that hold a generated sample (both with <, as
Naeem et al.'s code). The reference uses VGG16 fc2 features; without its weights ganexp uses Inception pool3
(metrics.extractors.prc=[auto]); DINOv2 features are another choice (Stein et al. 2023). The extractor is part of
the key (precision1k, precision1k_vgg16, precision1k_dinov2), so values of two extractors are never compared.
"""

from __future__ import annotations

from typing import Any

import torch

from ganexp.metrics.metric import Context, Metric, register_metric
from ganexp.metrickeys import BUILTIN


ROWS = 4096  # distance rows per chunk: bounds the float64 (rows, N) block


def _distances(a: torch.Tensor, b: torch.Tensor):
    """Euclidean distances of a (N, d) to b (M, d) in float64, (rows, M) blocks of consecutive rows of a."""
    b = b.to(a.device, torch.float64)
    for part in a.split(ROWS):
        yield torch.cdist(part.double(), b)


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) distance of each row of x (N, d) to its k-th nearest other row (the (k+1)-th, counting itself)."""
    if x.shape[0] <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} samples, got {x.shape[0]}")
    return torch.cat([d.kthvalue(k + 1, dim=1).values for d in _distances(x, x)])


def precision_recall_density_coverage(gen: torch.Tensor, real: torch.Tensor, k: int = 3) -> dict[str, float]:
    """{precision, recall, density, coverage} of gen (M, d) against real (N, d) features, k-NN balls."""
    r_real, r_gen = knn_radii(real, k).to(gen.device), knn_radii(gen, k).to(gen.device)
    precise, inside, covered = [], 0, torch.zeros(real.shape[0], dtype=torch.bool, device=gen.device)
    for d in _distances(gen, real):  # (rows, N): generated rows against every real ball
        precise.append((d <= r_real).any(dim=1))
        strictly = d < r_real
        inside += int(strictly.sum())
        covered |= strictly.any(dim=0)
    recall = torch.cat([(d <= r_gen).any(dim=1) for d in _distances(real, gen)])  # (N,): real i in a gen ball
    return {"precision": float(torch.cat(precise).double().mean()), "recall": float(recall.double().mean()),
            "density": inside / (k * gen.shape[0]), "coverage": float(covered.double().mean())}


@register_metric
class PRC(Metric):
    """Precision, recall, density and coverage (precision<N>, recall<N>, density<N>, coverage<N>)."""

    name = "prc"
    outputs = BUILTIN["prc"]
    needs = frozenset({"real_features"})
    any_features = True

    def info(self, cfg: dict[str, Any]) -> dict[str, Any]:
        return {**super().info(cfg), "k": int(cfg["prc_neighborhood"])}

    def compute(self, ctx: Context) -> dict[str, float | None]:
        return precision_recall_density_coverage(ctx.features(), ctx.real_features(), int(ctx.cfg["prc_neighborhood"]))
