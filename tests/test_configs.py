"""Every config file composes and instantiates; loss configs carry their papers' defaults."""
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from ganexp.config import CONF_DIR, group_options, ConfigError, _critic_norm
from ganexp.losses import AdversarialLoss
from ganexp.nets import AutoencoderDiscriminator, DCGANDiscriminator, DCGANGenerator
from ganexp.nets.norms import IgnoreZ

GROUPS = ["dataset", "loss", "model", "norm", "optim", "trainer", "logger", "metrics", "hydra/launcher"]


def options(group):
    return group_options(group)  # yaml files and the options ganexp/settings.py declares


def test_groups_exist():
    """Every group has options: yaml files under conf/<group>/ or dataclasses ganexp/settings.py declares."""
    for group in GROUPS + ["experiment"]:
        assert group_options(group), group


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_config_composes_and_instantiates(compose, group, option):
    cfg = compose([f"{group}={option}", "z_dim=3", "model.width=8"])
    assert cfg.z_dim == 3
    g = instantiate(cfg.model.generator)
    loss = instantiate(cfg.loss)
    d = instantiate(cfg.model.autoencoder if loss.autoencoder_d else cfg.model.discriminator)
    ds = instantiate(cfg.dataset)
    assert isinstance(loss, AdversarialLoss) and loss.name == cfg.loss.name
    x = g(torch.rand(2, 3) * 2 - 1)
    assert x.shape == (2, ds.channels, ds.resolution, ds.resolution)
    out = d(x)
    assert out.shape == ((2,) if not loss.autoencoder_d else x.shape)


@pytest.mark.parametrize("name", options("loss"))
def test_loss_file_name_is_its_name(compose, name):
    assert compose([f"loss={name}"]).loss.name == name


def test_paper_defaults(compose):
    w = compose(["loss=wgan"])
    assert (w.optim.name, w.optim.lr_d, w.loss.n_critic, w.loss.clip) == ("rmsprop", 5e-5, 5, 0.01)
    gp = compose(["loss=wgan_gp"])
    assert (gp.optim.name, gp.optim.lr_g, list(gp.optim.betas), gp.loss.n_critic, gp.loss.gp_weight) == \
        ("adam", 1e-4, [0.5, 0.9], 5, 10.0)
    b = compose(["loss=began"])
    assert (b.loss.gamma, b.loss.lambda_k, b.loss.k0) == (0.5, 0.001, 0.0)
    # the loss sets no model key: the model family's autoencoder is BEGAN's D (systems.base.discriminator_config)
    assert b.model.autoencoder._target_ == "ganexp.nets.AutoencoderDiscriminator"
    assert b.model.discriminator._target_ == "ganexp.nets.DCGANDiscriminator"
    ns = compose([])
    assert (ns.loss.name, ns.optim.name, ns.optim.lr_g, list(ns.optim.betas), ns.latent) == \
        ("gan_ns", "adam", 2e-4, [0.5, 0.999], "uniform")


def test_optimizer_overrides(compose):
    assert compose(["loss=wgan", "optim=adam"]).optim.name == "adam"
    c = compose(["loss=wgan", "optim.lr_g=1e-3"])
    assert (c.optim.name, c.optim.lr_g, c.optim.lr_d) == ("rmsprop", 1e-3, 5e-5)
    assert compose(["loss=lsgan", "optim=rmsprop"]).optim.betas is None


NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm, nn.LayerNorm)


def norm_layers(d: nn.Module) -> list[tuple]:
    """(type name, groups or None, channels) of every normalization module, in module order."""
    return [(type(m).__name__, getattr(m, "num_groups", None), getattr(m, "num_channels", getattr(m, "num_features", None)))
            for m in d.modules() if isinstance(m, NORM_TYPES)]


def test_what_a_requested_batch_norm_becomes_per_loss(compose):
    got = {name: compose([f"loss={name}"]).loss.d_batchnorm_as for name in options("loss")}
    # the per-sample gradient penalties (WGAN-GP, R3GAN's R1/R2) need a per-sample norm; BEGAN's autoencoder none
    assert {name: v for name, v in got.items() if v != "batch"} == {"began": "none", "r3gan": "layer", "wgan_gp": "layer"}
    assert {"gan_ns", "lsgan", "hinge"} <= {name for name, v in got.items() if v == "batch"}
    with pytest.raises(ConfigError, match="loss.d_batchnorm_as must be one of batch, layer, none"):
        _critic_norm("batch", "group")
    assert [_critic_norm(n, "none") for n in ("batch", "layer", "instance", "spectral", "none")] == \
        ["none", "layer", "instance", "spectral", "none"]  # only a requested batch norm is replaced


def test_began_autoencoder_has_no_normalization(compose):
    cfg = compose(["loss=began", "norm=batch"])  # 28x28 digits, width 64: encoder/decoder maps of 64 and 128
    assert cfg.model.autoencoder.norm == "none"
    d = instantiate(cfg.model.autoencoder)
    assert {type(m) for m in d.modules()} == {
        AutoencoderDiscriminator, DCGANDiscriminator, DCGANGenerator, IgnoreZ, nn.Sequential, nn.ModuleList,
        nn.Conv2d, nn.ConvTranspose2d, nn.LeakyReLU, nn.ReLU, nn.Identity}
    assert norm_layers(d) == []


def test_wgan_gp_critic_gets_layer_norm_and_gan_ns_batch_norm(compose):
    cfg = compose(["loss=wgan_gp", "norm=batch"])
    assert cfg.model.discriminator.norm == "layer"
    assert norm_layers(instantiate(cfg.model.discriminator)) == [("GroupNorm", 1, 128)]  # GroupNorm(1, C) = layer norm
    assert norm_layers(instantiate(compose(["loss=gan_ns", "norm=batch"]).model.discriminator)) == \
        [("BatchNorm2d", None, 128)]  # all but D's input layer (28x28: one hidden map of 128 channels)
    assert compose(["loss=wgan_gp", "norm=spectral"]).model.discriminator.norm == "spectral"
    assert compose(["loss=lsgan", "norm=batch"]).model.discriminator.norm == "batch"
