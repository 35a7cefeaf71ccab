"""The config schema covers every key: each composable option passes, each key rejects a wrong value
with one sentence naming key, value and what is allowed, unknown keys suggest the closest one."""
import copy

import pytest
from omegaconf import OmegaConf, open_dict

from ganexp.config import CONF_DIR, group_options, ConfigError
from ganexp.preflight import check_command, check_job
from ganexp.metrickeys import BUILTIN
from ganexp.schema import SCHEMA, leaves

GROUPS = ["dataset", "system", "loss", "model", "norm", "optim", "trainer", "logger", "metrics", "experiment"]
# compositions that between them hold every key of the schema
VARIANTS = [[], ["loss=wgan"], ["loss=wgan_gp"], ["loss=dragan"], ["loss=began"], ["loss=r3gan"], ["dataset=mnist"],
            ["dataset=npz", "dataset.path=x.npz", "dataset.md5=c96efec9553cf11354a7a148e3bb89e4"],
            ["dataset=celeba"], ["experiment=table31", "dataset=mnist"], ["logger=wandb"],
            ["system=psgan", "model=progressive"], ["system=progan", "model=progressive"],
            ["trainer.max_epochs=2"]]


def options(group):
    return group_options(group)  # yaml files and the options ganexp/settings.py declares


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_of_every_group_passes_the_schema(compose, group, option):
    extra = ["dataset=mnist"] if option.startswith("table31") else []
    check_job(compose([f"{group}={option}", *extra]))  # a key added to a yaml without a schema entry fails here


_COMPOSED: dict = {}


def composed(compose, variant):
    """A fresh copy of a composition, composed once per test session (composing takes ~0.15 s)."""
    if tuple(variant) not in _COMPOSED:
        _COMPOSED[tuple(variant)] = compose(variant)
    return copy.deepcopy(_COMPOSED[tuple(variant)])


def composed_with(compose, key):
    for variant in VARIANTS:
        cfg = composed(compose, variant)
        if key in dict(leaves(OmegaConf.to_container(cfg, resolve=False))):
            return cfg
    raise AssertionError(f"no composition in VARIANTS holds {key}; add one")


CONCRETE = sorted(k for k in SCHEMA if not k.endswith("*"))


@pytest.mark.parametrize("key", CONCRETE)
def test_every_key_rejects_a_wrong_value(compose, key):
    cfg = composed_with(compose, key)
    check_job(cfg)  # the composition itself is valid
    bad = SCHEMA[key].bad
    OmegaConf.update(cfg, key, bad, merge=False)
    with pytest.raises(ConfigError) as err:
        check_job(cfg)
    assert str(err.value).startswith(f"{key}=") and f"is not allowed: {key} must be {SCHEMA[key].allowed}" in str(err.value)


def test_wildcard_keys_reject_wrong_values(compose):
    cfg = compose(["experiment=table31", "dataset=mnist"])
    OmegaConf.update(cfg, "schedule.cifar10", 0, merge=False)
    with pytest.raises(ConfigError, match=r"^schedule.cifar10=0 is not allowed: schedule.cifar10 must be an integer >= 1$"):
        check_job(cfg)


def test_schema_describes_only_keys_that_exist(compose):
    """No stale entries: every schema key appears in some composition."""
    seen = set()
    for variant in VARIANTS:
        seen |= {k for k, _ in leaves(OmegaConf.to_container(composed(compose, variant), resolve=False))}
    assert {k for k in CONCRETE if k not in seen} == set()


@pytest.mark.parametrize("argv,message", [
    # the examples
    (["seed=abc"], "seed=abc is not allowed: seed must be an integer from 0 to 4294967295"),
    (["norm.g=foo"], "norm.g=foo is not allowed: norm.g must be one of batch, layer, instance, none, adain"),
    (["foo=1"], "unknown key 'foo'; did you mean 'force'?"),
    (["+foo=1"], "unknown key 'foo'; did you mean 'force'?"),
    (["model.width=0"], "model.width=0 is not allowed: model.width must be an integer >= 1"),
    (["trainer.precision=foo"], "trainer.precision=foo is not allowed: trainer.precision must be one of 32-true, 32, "
                                "16-mixed, bf16-mixed, 16-true, bf16-true, 64-true, 64, 16, bf16"),
    # more of the same kinds
    (["trainer.max_stepz=3"], "unknown key 'trainer.max_stepz'; did you mean 'trainer.max_steps'?"),
    (["+trainer.max_stepz=3"], "unknown key 'trainer.max_stepz'; did you mean 'trainer.max_steps'?"),
    (["+z_dim=3"], "'z_dim' already exists, so '+z_dim=...' cannot add it; write z_dim=VALUE to change it"),
    (["~z_dim"], "z_dim is missing; set it on the command line, e.g. +z_dim=1"),
    (["z_dim=1.5"], "z_dim=1.5 is not allowed: z_dim must be an integer >= 1"),
    (["z_dim=true"], "z_dim=true is not allowed: z_dim must be an integer >= 1"),
    (["latent=cauchy"], "latent=cauchy is not allowed: latent must be one of uniform, normal"),
    (["optim.betas=[0.5]"], "optim.betas=[0.5] is not allowed: optim.betas must be null or a list of two numbers"),
    (["optim.lr_d=-1"], "optim.lr_d=-1 is not allowed: optim.lr_d must be a number > 0"),
    (["loss=wgan", "loss.clip=0"], "loss.clip=0 is not allowed: loss.clip must be a number > 0"),
    (["loss=began", "loss.gamma=2"], "loss.gamma=2 is not allowed: loss.gamma must be a number > 0 and <= 1"),
    (["metrics.names=[fid,kidd]"], "metrics.names=['fid','kidd'] is not allowed: metrics.names must be a list of "
                                   f"distinct registered metric names (built in: {', '.join(sorted(BUILTIN))})"),
    (["dataset.resolution=30"], "dataset.resolution=30 is not allowed: dataset.resolution must be one of 28, 32, 64, 128"),
    (["dataset.channels=2"], "dataset.channels=2 is not allowed: dataset.channels must be one of 1, 3"),
    (["trainer.devices=2"], "trainer.devices=2 is not allowed: trainer.devices must be 1 (a run trains on one device"),
    (["trainer.accelerator=tpu2"], "trainer.accelerator=tpu2 is not allowed: trainer.accelerator must be one of auto"),
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps=0 is not allowed"),
    (["metrics.num_samples=1"], "metrics.num_samples=1 is not allowed: metrics.num_samples must be an integer >= 2"),
    (["metrics.to_uint8=floor"], "metrics.to_uint8=floor is not allowed: metrics.to_uint8 must be one of round, trunc"),
    (["metrics.real_split=val"], "metrics.real_split=val is not allowed: metrics.real_split must be one of train, test"),
    (["logger.mode=sometimes"], "logger.mode=sometimes is not allowed: logger.mode must be null or one of offline, online"),
    (["logger.project=a/b"], "logger.project=a/b is not allowed"),
    (["sweep=my grid"], "sweep='my grid' is not allowed: sweep must be a name of letters"),
    (["dataset=npz", "dataset.md5=xyz"], "dataset.md5=xyz is not allowed: dataset.md5 must be null or 32 hexadecimal"),
    (["dataset.md5=xyz"], "'dataset.md5' is not a key of the chosen dataset config; pick a dataset option that has it"),
    (["force=yes"], "force=yes is not allowed: force must be true or false"),
    (["loss._target_=ganexp.losses.nope.Nope"], "loss._target_=ganexp.losses.nope.Nope is not allowed"),
    (["experiment=table31"], "trainer.max_steps refers to schedule.digits, which does not exist; schedule has "
                             "mnist, fashion_mnist, cifar10, celeba"),
    (["z_dim=1,2"], "a comma-separated list of values sweeps a grid; add -m to run one job per value"),
    (["z_dim=[1,2"], "cannot read the override"),
    (["loss=wgn"], "there is no config 'loss/wgn'; choose one of: began, dragan, gan_mm"),
])
def test_command_line_mistakes_get_one_sentence(argv, message):
    with pytest.raises(ConfigError) as err:
        check_command(argv)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_grid_checks_only_its_fixed_part_on_the_command(compose):
    check_command(["-m", "z_dim=1,2", "seed=0,abc"])  # per-job values are the sweeper's (tests/test_sweeps.py)
    with pytest.raises(ConfigError, match="unknown key 'foo'"):
        check_command(["-m", "z_dim=1,2", "foo=1"])


def test_defaults_and_their_resolved_values_pass(compose):
    plain = check_job(compose([]))
    assert (plain["z_dim"], plain["model"]["discriminator"]["norm"], plain["force"]) == (100, "batch", False)
    cfg = compose([])
    with open_dict(cfg):
        cfg.hydra = {"anything": "goes"}  # hydra.* is Hydra's to check
    check_job(cfg)


class MarginHinge(__import__("ganexp.losses.hinge", fromlist=["Hinge"]).Hinge):
    """A loss written for this test alone, to show what a new coefficient takes: a constructor argument with a
    default (in the project, also a field of its loss in ganexp/settings.py). D: E relu(m - D(x)) + E relu(m + D(G(z)))."""

    def __init__(self, margin: float = 1.0, **kw):
        super().__init__(**kw)
        self.margin = margin

    def d_loss(self, d_real, d_fake):
        import torch.nn.functional as F

        return F.relu(self.margin - d_real).mean(0) + F.relu(self.margin + d_fake).mean(0)


def test_a_new_loss_coefficient_is_checked_by_its_constructor_without_a_schema_entry(compose):
    import torch
    from hydra.utils import instantiate

    new = ["loss=hinge", "loss._target_=test_schema.MarginHinge"]
    cfg = compose([*new, "+loss.margin=2"])
    assert check_job(cfg)["loss"]["margin"] == 2 and "loss.margin" not in SCHEMA
    loss = instantiate(cfg.loss)
    # relu(2 - 1) + relu(2 - 3) = 1 on the real side; relu(2 + 0.5) = 2.5 on the fake side
    assert loss.d_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.5])).item() == 0.5 + 2.5
    with pytest.raises(ConfigError, match=r"^loss.margin=abc is not allowed: loss.margin must be a number$"):
        check_job(compose([*new, "+loss.margin=abc"]))
    with pytest.raises(ConfigError, match=r"^unknown key 'loss.margn'"):
        check_job(compose([*new, "+loss.margn=2"]))
    with pytest.raises(ConfigError, match=r"^unknown key 'loss.margin'"):  # the built-in hinge has no margin
        check_job(compose(["loss=hinge", "+loss.margin=2"]))
