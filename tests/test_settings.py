"""The groups declared once (ganexp/settings.py): their dataclass is the composed node, the schema's rules,
the library's defaults, the reference's lines and, through ``before``, how earlier runs are read and hashed."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from omegaconf import OmegaConf

from ganexp import settings
from ganexp.checks import Int
from ganexp.config import compose, group_options, to_container
from ganexp.schema import SCHEMA
from ganexp.settings import (GROUPS, Metrics, PSGANSettings, ProGANSettings, checks_of, completed, defaults,
                             group_checks, setting)


@pytest.mark.parametrize("group,option", sorted(GROUPS))
def test_the_composed_option_is_its_dataclass(group, option):
    node = OmegaConf.to_container(compose([f"{group}={option}"])[group], resolve=False)
    assert node == defaults(GROUPS[group, option])
    assert option in group_options(group)


def test_library_defaults_are_the_declared_ones():
    from ganexp.metrics.config import DEFAULTS

    assert DEFAULTS == {**defaults(Metrics), "cache_dir": None}
    assert DEFAULTS["extractors"] == {"fid": ["inception"], "kid": ["inception"], "prc": ["auto"]}


def test_every_declared_key_is_in_the_schema_with_its_doc():
    declared = group_checks()
    assert declared and all(SCHEMA[key] == check for key, check in declared.items())
    assert all(check.doc for key, check in declared.items() if not key.endswith("*"))
    assert SCHEMA["metrics.extractors.*"].ok(["dinov2"]) and not SCHEMA["metrics.extractors.*"].ok(["auto"])
    # a key only some options of its group have is required by none; one every option has, as declared
    assert not SCHEMA["system.judge"].required and SCHEMA["system.name"].required
    assert SCHEMA["metrics.enabled"].required and not SCHEMA["metrics.num_samples"].required
    assert SCHEMA["system.d_update"].spellings == {"gated": "paper"}


def test_two_options_may_not_give_one_key_two_rules(monkeypatch):
    @dataclass
    class Other:
        _target_: Any = settings._target("x.Y")
        stages: Any = setting(3, Int(1, 9), "a different range")

    monkeypatch.setitem(GROUPS, ("system", "other"), Other)
    with pytest.raises(TypeError, match=r"system.stages is declared with two rules \(an integer from 1 to 5 / "
                                        r"an integer from 1 to 9\)"):
        group_checks()


def test_completed_gives_a_missing_key_the_value_runs_had_before_it():
    before = {"_target_": "ganexp.systems.psgan.PSGAN", "name": "psgan", "num_generators": 2, "stages": 3,
              "stage_epochs": [15, 30], "mix_alpha": 0.1}  # a PS-GAN config.yaml from before the readings
    assert completed("system", before) == {**before, "d_update": "always", "judge": "threshold",
                                           "freeze_patience": 0, "fade_epochs": 0.0}
    today = defaults(PSGANSettings)
    assert completed("system", today) == today
    assert completed("system", {"_target_": "my.System", "k": 1}) == {"_target_": "my.System", "k": 1}
    assert completed("system", {"_target_": "ganexp.systems.progan.ProGAN", "stages": 2, "stage_epochs": [1],
                                "fade_epochs": 1.0})["opt_reset"] == "growth"
    assert {f.name for f in dataclasses.fields(ProGANSettings)} >= {"opt_reset", "fade_epochs"}


def test_an_earlier_psgan_config_builds_as_it_trained():
    """build_system takes every system key from the config (the constructors have no defaults of their own);
    an earlier run's config.yaml lacks the keys added since and builds with the values it trained with."""
    from ganexp.systems import build_system

    cfg = to_container(compose(["experiment=psgan", "system=psgan", "model.width=4", "model.max_width=8"]))
    for key in ("d_update", "judge", "freeze_patience", "fade_epochs"):
        del cfg["system"][key]
    system = build_system(cfg)
    assert (system.judge, system.d_update, system.freeze_patience, system.fade_steps) == ("threshold", "always", 0, 0)
    today = build_system(compose(["experiment=psgan", "system=psgan", "model.width=4", "model.max_width=8"]))
    assert (today.judge, today.d_update, today.freeze_patience) == ("relative", "always", 500)


NEW_SETTING = r"""
import dataclasses, json, sys
from typing import Any
from ganexp import settings
from ganexp.checks import Num

group, option, key, chosen = sys.argv[1:5]
base = settings.GROUPS[group, option]
# the one edit: a field in the option's dataclass (here a subclass, so the test leaves the package as it is)
field = settings.setting(1.0, Num(0, open_lo=True, example=2.2), "a new setting", before=1.0)
new = dataclasses.make_dataclass(base.__name__, [(key, Any, field)], bases=(base,))
settings.GROUPS[group, option] = new
from ganexp import configref
from ganexp.config import ConfigError, compose, to_container
from ganexp.identity import config_hash
from ganexp.preflight import check_job

path = f"{group}.{key}"
base_cfg = [chosen] if chosen else []
cfg = to_container(compose(base_cfg))
out = {"default": cfg[group].get(key), "set": check_job(compose([*base_cfg, f"{path}=2.2"]))[group][key],
       "row": [ln for ln in configref.render().splitlines() if f"`{path}`" in ln]}
if group == "metrics":
    from ganexp.metrics.config import resolve
    out["library"] = resolve({})[key]
try:
    check_job(compose([*base_cfg, f"{path}=-1"]))
except ConfigError as err:
    out["bad"] = str(err)
without = {**cfg, group: {k: v for k, v in cfg[group].items() if k != key}}
out["same_hash"] = config_hash(cfg) == config_hash(without)
out["other_hash"] = config_hash(to_container(compose([*base_cfg, f"{path}=2.2"]))) != config_hash(without)
print(json.dumps(out))
"""


@pytest.mark.parametrize("group,option,key,chosen", [
    ("metrics", "fid", "brightness_gamma", ""), ("loss", "lsgan", "target_b", "loss=lsgan"),
    ("system", "psgan", "judge_margin", "system=psgan")], ids=["metrics", "loss", "system"])
def test_a_new_setting_is_one_field(group, option, key, chosen):
    """Declaring a field is all a setting needs: composed with its default, checked by its rule, in the
    library's defaults (metrics) and the reference, and runs made before it still hash as they did (in a fresh
    process, where the schema is built from the declared groups)."""
    res = subprocess.run([sys.executable, "-c", NEW_SETTING, group, option, key, chosen], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.splitlines()[-1])
    path = f"{group}.{key}"
    assert (out["default"], out["set"], out.get("library", 1.0)) == (1.0, 2.2, 1.0)
    shown = "`1.0`" if not chosen else ""  # the reference's default column is the default config's (gan_ns, gan)
    assert out["row"] == [f"| `{path}` | {shown} | a number > 0 | a new setting |"]
    assert out["bad"] == f"{path}=-1 is not allowed: {path} must be a number > 0"
    assert out["same_hash"] and out["other_hash"]


def test_checks_of_names_nested_groups():
    keys = set(checks_of(Metrics, "metrics."))
    assert {"metrics.extractors.fid", "metrics.extractors.kid", "metrics.extractors.prc", "metrics.extractors.*",
            "metrics.names"} <= keys and "metrics.extractors" not in keys
