"""Every config file composes and instantiates; loss configs carry their papers' defaults."""
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from ganexp.config import CONF_DIR, ConfigError, validate
from ganexp.losses import AdversarialLoss

GROUPS = ["dataset", "loss", "model", "norm", "optim", "trainer", "logger", "metrics", "hydra/launcher"]


def options(group):
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def test_groups_exist():
    for group in GROUPS + ["experiment"]:
        assert (CONF_DIR / group).is_dir(), group


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_config_composes_and_instantiates(compose, group, option):
    cfg = compose([f"{group}={option}", "z_dim=3", "model.width=8"])
    assert cfg.z_dim == 3
    g = instantiate(cfg.model.generator)
    d = instantiate(cfg.model.discriminator)
    loss = instantiate(cfg.loss)
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
    assert b.model.discriminator._target_ == "ganexp.nets.AutoencoderDiscriminator"
    ns = compose([])
    assert (ns.loss.name, ns.optim.name, ns.optim.lr_g, list(ns.optim.betas), ns.latent) == \
        ("gan_ns", "adam", 2e-4, [0.5, 0.999], "uniform")


def test_optimizer_overrides(compose):
    assert compose(["loss=wgan", "optim=adam"]).optim.name == "adam"
    c = compose(["loss=wgan", "optim.lr_g=1e-3"])
    assert (c.optim.name, c.optim.lr_g, c.optim.lr_d) == ("rmsprop", 1e-3, 5e-5)
    assert compose(["loss=lsgan", "optim=rmsprop"]).optim.betas is None


def test_wgan_gp_critic_gets_no_batch_norm(compose):
    cfg = compose(["loss=wgan_gp", "norm=batch"])
    d = instantiate(cfg.model.discriminator)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert cfg.model.discriminator.norm == "layer"
    assert compose(["loss=wgan_gp", "norm=spectral"]).model.discriminator.norm == "spectral"
    assert compose(["loss=lsgan", "norm=batch"]).model.discriminator.norm == "batch"


@pytest.mark.parametrize("override,message", [
    ("z_dim=0", "z_dim must be an integer >= 1"),
    ("loss.n_critic=0", "loss.n_critic must be an integer >= 1"),
    ("optim.lr_g=-1e-4", "optim.lr_g must be a positive number"),
    ("optim.lr_d=0", "optim.lr_d must be a positive number"),
    ("batch_size=0", "batch_size must be a positive integer"),
    ("trainer.max_steps=0", "trainer.max_steps must be an integer >= 1"),
    ("latent=cauchy", "latent must be 'uniform' or 'normal'"),
])
def test_validation_messages(compose, override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose([override]))
    validate(compose([]))  # the defaults are valid
