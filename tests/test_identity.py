"""A run's identity (ganexp/identity.py): the values runs had before a key existed live in the key's schema entry,
and runs finished by earlier versions are still the same runs."""
import json
import os

import pytest

from ganexp.config import to_container
from ganexp.identity import ADDED_LATER, HASH_SPELLINGS, config_hash, same_run
from ganexp.checks import NEW
from ganexp.schema import SCHEMA

# config_hash of these compositions as the release before identity.py computed them (main at d96b95a, 2026-12-06)
MAIN_HASHES = {
    (): "9832bb7b39eceb73",
    ("loss=wgan_gp",): "735f7b980fe39c12",
    ("loss=began",): "4358f545bc779c2c",
    ("system=progan",): "10a0f78cf5ca5529",
    ("ema=stylegan2", "loss=r3gan"): "92a4b993161e3951",
    ("dataset=cifar10",): "66c88c656f1baf8d",
    ("system=psgan", "model=progressive", "system.judge=threshold", "system.d_update=gated"): "30737c3947cbbd6a",
    ("norm=spectral",): "88bfa916e58bd1ef",
}


@pytest.mark.parametrize("overrides", list(MAIN_HASHES))
def test_hashes_are_those_of_the_release_before(compose, overrides):
    assert config_hash(to_container(compose(list(overrides)))) == MAIN_HASHES[overrides]


def test_the_values_runs_had_before_a_key_live_in_its_schema_entry():
    assert ADDED_LATER["system.d_update"] == "always" and HASH_SPELLINGS == {"system.d_update": {"gated": "paper"}}
    assert ADDED_LATER["metrics.extractors.prc"] == ["auto"] and ADDED_LATER["study"] == "lee2018"
    assert set(ADDED_LATER) == {k for k, c in SCHEMA.items() if c.before is not NEW}
    assert SCHEMA["z_dim"].before is NEW


def test_gan_systems_node_came_later_whole(compose):
    """Before the system group, a config had no ``system`` node: gan's node (both its keys at their earlier
    values) is dropped whole, and a config without it is the same run."""
    cfg = to_container(compose([]))
    assert cfg["system"] == {"_target_": "ganexp.systems.gan.GANPair", "name": "gan"}
    assert config_hash({k: v for k, v in cfg.items() if k != "system"}) == config_hash(cfg)


def test_a_run_finished_by_the_release_before_is_the_same_run(compose):
    """That release hashed metrics.extractors as one node (d02e11e09c4e7f30 for this config); today's hash drops
    its keys one by one where they hold their earlier values. The record's own config tells it is the same run,
    and a record of another config is not."""
    cfg = to_container(compose(["metrics.extractors.fid=[inception,dinov2]"]))
    record = {"status": "completed", "config_hash": "d02e11e09c4e7f30", "config": cfg}
    assert config_hash(cfg) != record["config_hash"]
    assert same_run(record, config_hash(cfg))
    other = to_container(compose(["metrics.extractors.fid=[inception]", "metrics.extractors.kid=[dinov2]"]))
    assert not same_run(record, config_hash(other))
    assert not same_run({"config_hash": "d02e11e09c4e7f30"}, config_hash(cfg))  # no config: the hash alone


def test_a_run_spec_is_frozen_and_derives_its_epochs_in_one_place(compose):
    """preflight.job_spec hands a job a RunSpec: read-only (a part of the run that set a key would fail), its
    hash that of the config; with_data adds steps_per_epoch and max_steps = ceil(max_epochs x steps) and keeps
    the hash (the derived keys are not part of what a run is)."""
    from omegaconf.errors import ReadonlyConfigError

    from ganexp.identity import RunSpec

    plain = to_container(compose(["trainer.max_epochs=2.5", "batch_size=8", "loss=wgan_gp"]))  # n_critic 5
    spec = RunSpec.of(plain)
    assert spec.hash == config_hash(plain) and spec.plain() == plain
    with pytest.raises(ReadonlyConfigError):
        spec.config.trainer.max_steps = 3
    with pytest.raises(ReadonlyConfigError):
        spec.config.loss.gp_weight = 1.0
    fed = spec.with_data(200)  # 25 real batches / 5 critic steps = 5 generator steps per epoch
    assert (fed.config.trainer.steps_per_epoch, fed.config.trainer.max_steps) == (5, 13)  # ceil(2.5 x 5)
    assert fed.hash == spec.hash and "steps_per_epoch" not in spec.config.trainer
    assert spec.with_data(32 * 8).config.trainer.steps_per_epoch == 6.4  # 32 batches / 5: a fraction


PREVIOUS_RELEASE = "27491e4"  # main before the groups were declared in settings.py and jobs got a RunSpec


@pytest.mark.long
@pytest.mark.parametrize("overrides", [["loss=wgan_gp"], ["system=psgan", "model=progressive", "system.stages=2",
                                                          "system.stage_epochs=[0.01]", "loss=lsgan"],
                                       ["ema=progan", "metrics=fid", "metrics.num_samples=8",
                                        "metrics.every_n_steps=0", "metrics.names=[div]"]],
                         ids=["loss", "system", "ema+metrics"])
def test_runs_finished_by_the_previous_release_are_skipped(tmp_path, overrides):
    """A real run folder finished by the previous release's code (its tree from git, on this environment) is
    skipped by today's code, not retrained: same hash, result.json untouched."""
    import subprocess
    import sys

    from conftest import FAST, ROOT

    have = subprocess.run(["git", "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"], cwd=ROOT, capture_output=True)
    if have.returncode != 0:  # a shallow clone: the release's tree is not there to train with
        pytest.skip(f"needs the git history with {PREVIOUS_RELEASE} (this clone is shallow or not a git checkout)")
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(["git", "archive", PREVIOUS_RELEASE], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    args = [*FAST, *overrides, "trainer.max_steps=4", f"hydra.run.dir={tmp_path / 'run'}"]
    trained = subprocess.run([sys.executable, "-m", "ganexp.train", *args], cwd=old, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(old)}, timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    result = tmp_path / "run" / "result.json"
    before = result.read_bytes()
    again = subprocess.run([sys.executable, "-m", "ganexp.train", *args], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "[skip] " in again.stdout and "already completed" in again.stdout
    assert result.read_bytes() == before
    assert json.loads(before)["config_hash"] == config_hash(json.loads(before)["config"])
