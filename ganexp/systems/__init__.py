"""Training systems: a GAN variant is one module here plus its settings' dataclass in ganexp/settings.py.

``gan`` (one G/D pair, Study A), ``psgan`` (Byeon, Park & Yang 2025: K generators sharing one D,
Algorithm 2, and stepwise stages mixed by Algorithm 1) and ``progan`` (Karras et al. 2018:
progressive growing with fade-in). Every system takes ``loss=...``; the run around it sees only
``GANSystem``'s surface (base.py).
"""
from __future__ import annotations

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from ..settings import completed
from .average import settings_from
from .base import Diverged, Frozen, GANSystem, SystemContext, chunks, eval_codes, make_optimizer, sample_latent

__all__ = ["GANSystem", "SystemContext", "build_system", "Diverged", "Frozen", "chunks", "eval_codes", "make_optimizer",
           "sample_latent"]


def build_system(cfg, batcher=None) -> GANSystem:
    """The run's system from its (resolved or composed) config; without a batcher it can only generate
    (a checkpoint loaded for latent tools or FID)."""
    from ..config import register_resolvers

    register_resolvers()
    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    params = completed("system", OmegaConf.to_container(cfg.system, resolve=True))
    cls = get_class(params.pop("_target_"))
    params.pop("name", None)
    loss = instantiate(completed("loss", OmegaConf.to_container(cfg.loss, resolve=True)))
    ctx = SystemContext(model=cfg.model, loss=loss,
                        optim=OmegaConf.to_container(cfg.optim, resolve=True), z_dim=cfg.z_dim, latent=cfg.latent,
                        batch_size=cfg.batch_size, resolution=cfg.dataset.resolution,
                        steps_per_epoch=float(cfg.trainer.get("steps_per_epoch") or 1), batcher=batcher,
                        compile=cfg.trainer.get("compile", "none"), ema=settings_from(cfg))
    system = cls(ctx, **params)
    system.attach_average()
    return system
