"""A job's config is checked once: by the command (a single run) or by the grid's sweeper (every job, before
the first one trains); the job, a fused array's members and the evaluator take it as given. Counted by
``schema.WALKS`` (one per walk of the schema) in-process, with Hydra's basic launcher."""
import json
import sys
from pathlib import Path

import pytest

from conftest import FAST

from ganexp import preflight, schema

# running ganexp.train as __main__ beside the module other tests imported: harmless here, and said by runpy
pytestmark = pytest.mark.filterwarnings("ignore:'ganexp.train' found in sys.modules:RuntimeWarning")

SHORT = [o for o in FAST if not o.startswith("trainer.log_every")] + ["trainer.max_steps=2", "trainer.log_every_n_steps=2",
                                                                       "z_dim=2"]


@pytest.fixture
def walks(monkeypatch):
    """Counts schema walks and metric-key checks from zero; the process forgets the configs it checked."""
    from ganexp.metrics import config as metrics_config

    monkeypatch.setattr(preflight, "CHECKED", set())
    monkeypatch.setitem(schema.WALKS, "count", 0)
    monkeypatch.setitem(preflight.EXIT, "code", 0)
    counts = {"metrics": 0}
    validate = metrics_config._validate

    def counted(c):
        counts["metrics"] += 1
        return validate(c)

    monkeypatch.setattr(metrics_config, "_validate", counted)
    return counts


def cli(monkeypatch, *argv: str) -> int:
    """``python -m ganexp.train *argv`` in this process (as __main__: Hydra finds conf/ from the file)."""
    import runpy

    monkeypatch.setattr(sys, "argv", ["ganexp/train.py", *argv])
    with pytest.raises(SystemExit) as stop:
        runpy.run_module("ganexp.train", run_name="__main__")
    return stop.value.code


def statuses(sweep: Path) -> dict[str, str]:
    """{seed=S: status} of the sweep's runs; their folder names hold no launch.checked."""
    out = {}
    for p in sweep.glob("*/result.json"):
        assert "checked" not in p.parent.name
        out[next(o for o in p.parent.name.split(",") if o.startswith("seed="))] = json.loads(p.read_text())["status"]
    return out


def test_a_grid_walks_the_schema_once_per_job(tmp_path, monkeypatch, walks):
    """Two jobs: two walks, both in the sweeper; the jobs find their configs in launch.checked (the process's
    memory of its checks is wiped before launch, as in a joblib or Slurm worker)."""
    from hydra_plugins.ganexp_sweeper.grid_sweeper import GridSweeper

    launch = GridSweeper.launch_jobs

    def in_a_fresh_process(self, jobs):
        preflight.CHECKED.clear()
        assert all(j[-1].startswith("launch.checked=['") for j in jobs)
        return launch(self, jobs)

    monkeypatch.setattr(GridSweeper, "launch_jobs", in_a_fresh_process)
    sweep = tmp_path / "grid"
    assert cli(monkeypatch, "-m", *SHORT, "seed=0,1", f"hydra.sweep.dir={sweep}") == 0
    assert statuses(sweep) == {"seed=0": "completed", "seed=1": "completed"}
    assert schema.WALKS["count"] == 2


def test_a_fused_array_walks_once_per_member(tmp_path, monkeypatch, walks):
    sweep = tmp_path / "fused"
    assert cli(monkeypatch, "-m", *SHORT, "seed=0,1,2", "launch.fuse=seed", f"hydra.sweep.dir={sweep}") == 0
    assert statuses(sweep) == {f"seed={s}": "completed" for s in range(3)}
    assert schema.WALKS["count"] == 3


def test_a_single_run_walks_once_and_its_evaluator_takes_the_metrics_as_given(tmp_path, monkeypatch, walks):
    from conftest import pool3_weights_or_skip

    weights = pool3_weights_or_skip()
    run_dir = tmp_path / "one"
    argv = [o for o in SHORT if o != "metrics=none"] + [
        "metrics.names=[fid]", "metrics.num_samples=2", f"metrics.inception_weights={weights}",
        f"metrics.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run_dir}"]
    assert cli(monkeypatch, *argv) == 0
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "completed" and result["metrics"]["fid2"] > 0
    assert (schema.WALKS["count"], walks["metrics"]) == (1, 0)


def test_a_config_nobody_checked_is_checked_by_its_job(compose, monkeypatch, walks):
    """A config built in code, or one whose launch.checked does not match (conf/ edited between the sweeper's
    check and a Slurm job's start): the job walks the schema, once, and a bad value still fails there."""
    from ganexp.config import ConfigError

    cfg = compose([*SHORT, "launch.checked=['0000000000000000']"])
    plain = preflight.job_spec(cfg).plain()
    assert schema.WALKS["count"] == 1 and plain["z_dim"] == 2
    assert preflight.job_spec(cfg).plain() == plain and schema.WALKS["count"] == 1  # checked in this process now
    digest = preflight.spec_digest(plain)
    assert preflight.job_spec(compose([*SHORT, f"launch.checked=['{digest}']"])).plain() == {
        **plain, "launch": {**plain["launch"], "checked": [digest]}} and schema.WALKS["count"] == 1
    with pytest.raises(ConfigError, match=r"^norm.g=foo is not allowed: norm.g must be one of "):
        preflight.job_spec(compose([*SHORT, "norm.g=foo"]))
    assert schema.WALKS["count"] == 2


def test_one_walk_names_the_key_the_user_set_and_checks_interpolated_values(compose):
    """norm.g is interpolated into model.generator.norm: a bad norm.g is named as norm.g; a bad value that
    reaches a key only through an interpolation is checked there, resolved."""
    from ganexp.config import ConfigError
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(compose(SHORT), resolve=False)
    plain = OmegaConf.to_container(compose(SHORT), resolve=True)
    assert raw["model"]["generator"]["norm"] == "${norm.g}"
    assert schema.check_config(raw, lambda: plain) is plain
    bad = {**plain, "model": {**plain["model"], "generator": {**plain["model"]["generator"], "norm": "spectral"}}}
    with pytest.raises(ConfigError, match=r"^model.generator.norm=spectral is not allowed"):
        schema.check_config(raw, lambda: bad)
    raw["norm"]["g"] = "foo"  # named as the user's key, before anything is resolved
    with pytest.raises(ConfigError, match=r"^norm.g=foo is not allowed"):
        schema.check_config(raw, lambda: pytest.fail("resolved before the user's values were checked"))
