"""Feature statistics, Fréchet distance and Inception Score (float64, on the features' device)."""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch

log = logging.getLogger("ganexp.metrics")


def _linalg_device(t: torch.Tensor) -> torch.device:
    # float64 eigendecompositions run on CPU and CUDA; other backends (e.g. MPS) lack float64.
    return t.device if t.device.type in ("cpu", "cuda") else torch.device("cpu")


def feature_stats(features: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) in float64, as numpy.cov(rowvar=False) computes them."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors (N, D), got shape {tuple(features.shape)}")
    f = features.to(_linalg_device(features))
    n, d = f.shape
    mu = f.sum(0, dtype=torch.float64) / n
    sigma = torch.zeros(d, d, dtype=torch.float64, device=f.device)
    for part in f.split(chunk):  # bounds the float64 copy to chunk x D
        c = part.to(torch.float64) - mu
        sigma.addmm_(c.T, c)
    return mu, sigma / (n - 1)


def _clamp_rounding(w: torch.Tensor) -> torch.Tensor:
    """Eigenvalues within float64 rounding of zero (|w| <= D * eps * max|w|) set to 0, negatives too.

    Covariances of fewer samples than dimensions are singular; without this, sqrt() of the rounding
    noise (~1e-13) in ~2000 null directions adds ~1e-3 to the FID of a set against itself.
    """
    tol = w.shape[-1] * torch.finfo(w.dtype).eps * w.abs().max()
    return torch.where(w > tol, w, torch.zeros_like(w))


def sqrtm_psd(sigma: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a positive semi-definite matrix (rounding-level eigenvalues set to 0)."""
    w, v = torch.linalg.eigh(sigma)
    return (v * _clamp_rounding(w).sqrt()) @ v.T


def _trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor, sqrt_sigma1: torch.Tensor | None) -> float:
    """tr sqrt(S1 S2) = tr sqrt(sqrt(S1) S2 sqrt(S1)); the inner matrix is symmetric PSD, so eigvalsh applies."""
    try:
        s1h = sqrtm_psd(sigma1) if sqrt_sigma1 is None else sqrt_sigma1
        m = s1h @ sigma2 @ s1h
        return float(_clamp_rounding(torch.linalg.eigvalsh((m + m.T) / 2)).sqrt().sum())
    except RuntimeError as e:  # eigh did not converge (ill-conditioned input): scipy's sqrtm on CPU instead
        import scipy.linalg

        log.warning("torch eigh failed (%s); using scipy.linalg.sqrtm on CPU.", e)
        covmean = scipy.linalg.sqrtm(sigma1.cpu().numpy() @ sigma2.cpu().numpy())
        return float(np.trace(np.real(covmean)))


def _trace_sqrt_product_low_rank(sigma1: torch.Tensor, rows2: torch.Tensor, mu2: torch.Tensor) -> float:
    """tr sqrt(S1 S2) when S2 is the covariance of m < D rows: with C the centred rows (m, D),
    S2 = C^T C / (m-1), and S1 S2 has the nonzero eigenvalues of the symmetric PSD (m, m) matrix
    C S1 C^T / (m-1). One (m, m) eigendecomposition instead of two (D, D) ones (sqrt(S1), then the product)."""
    c = rows2.to(sigma1.device, torch.float64) - mu2  # (m, D)
    k = (c @ sigma1 @ c.T) / (c.shape[0] - 1)  # (m, m)
    return float(_clamp_rounding(torch.linalg.eigvalsh((k + k.T) / 2)).sqrt().sum())


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor,
                     sqrt_sigma1: Callable[[], torch.Tensor] | torch.Tensor | None = None,
                     rows2: torch.Tensor | None = None) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2), in float64 on the inputs' device.

    `sqrt_sigma1`: sqrtm_psd(sigma1), or a function giving it (the real statistics' root is computed once and
    reused across evaluations). `rows2`: the (m, D) rows (mu2, sigma2) were computed from; with m < D the trace
    comes from an (m, m) problem and sqrt(S1) is never needed.
    """
    dev = _linalg_device(mu1)
    mu1, sigma1, mu2, sigma2 = (t.to(dev, torch.float64) for t in (mu1, sigma1, mu2, sigma2))
    diff = mu1 - mu2
    if rows2 is not None and 1 < rows2.shape[0] < rows2.shape[1]:
        tr_covmean = _trace_sqrt_product_low_rank(sigma1, rows2, mu2)
    else:
        root = sqrt_sigma1() if callable(sqrt_sigma1) else sqrt_sigma1
        tr_covmean = _trace_sqrt_product(sigma1, sigma2, None if root is None else root.to(dev, torch.float64))
    return float(diff @ diff + torch.trace(sigma1) + torch.trace(sigma2)) - 2 * tr_covmean


def inception_score(logits: torch.Tensor, splits: int = 10, shuffle_seed: int | None = 2020) -> tuple[float, float]:
    """Salimans et al. 2016: exp(E_x KL(p(y|x) || p(y))) over `splits` chunks; returns (mean, std).

    Samples are permuted with numpy's RandomState(shuffle_seed) first, as torch-fidelity's ISC does by
    default, so the value equals torch-fidelity's; None keeps the given order.
    """
    n = logits.shape[0]
    if n < splits:
        raise ValueError(f"the Inception Score needs at least {splits} samples for {splits} splits, got {n}")
    if shuffle_seed is not None:
        perm = torch.from_numpy(np.random.RandomState(shuffle_seed).permutation(n)).to(logits.device)
        logits = logits[perm]
    logits = logits.double()
    p, log_p = logits.softmax(dim=1), logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        log_q = p[lo:hi].mean(dim=0, keepdim=True).log()
        kl = (p[lo:hi] * (log_p[lo:hi] - log_q)).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))
