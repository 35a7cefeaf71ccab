"""W&B with the real wandb, offline: the records it writes (read back by tests/wandb_offline.py, i.e. what
`wandb sync` would upload) say what the run folder says: names, the filterable config, every metrics.jsonl
row at its step, the sample grids, result.json's metrics, and, across a kill and a resume, one W&B run that
has each step once."""
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from ganexp.config import compose, to_container
from ganexp.runlog import RunLogger
from ganexp.train import run
from conftest import FAST, ROOT, pool3_weights_or_skip, train_cmd, train_until_killed
from wandb_offline import OfflineRun, offline_runs

BASE = [o for o in FAST if not o.startswith(("logger=", "metrics="))] + ["logger=wandb"]
FLAT = ("loss", "z_dim", "dataset", "norm", "seed", "system", "study")  # the filterable config keys
W_AND_B_OWN = ("_runtime", "_timestamp", "_wandb")


def merged(base: list[str], *extra: str) -> list[str]:
    """``base`` with ``extra`` in place of the keys it sets: once each on the command line, so once each in
    Hydra's override dirname (the run's name)."""
    keys = {e.split("=", 1)[0] for e in extra}
    return [o for o in base if o.split("=", 1)[0] not in keys] + list(extra)


def jsonl_by_step(run_dir: Path) -> dict[int, dict]:
    """metrics.jsonl as W&B's history holds it: the rows of one step (losses, an evaluation) in one, null
    values left out (ganexp sends none), ``step`` as ``_step``."""
    out: dict[int, dict] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        out.setdefault(row["step"], {"_step": row["step"]}).update(
            {k: v for k, v in row.items() if k != "step" and v is not None})
    return out


def history_by_step(runs: list[OfflineRun]) -> dict[int, dict]:
    """The scalar history of ``runs`` (one W&B run's offline files, in order) per step; a step logged
    twice fails here."""
    out: dict[int, dict] = {}
    for row in (r for run_ in runs for r in run_.history):
        assert row["_step"] not in out, f"step {row['_step']} logged twice"
        out[row["_step"]] = {k: v for k, v in row.items() if k not in W_AND_B_OWN and not isinstance(v, dict)}
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.long
def test_training_run_reads_back_from_wandb_offline_files(tmp_path):
    """A real command line run, with FID (8 samples) at step 3 and at the end (6); its W&B name is Hydra's
    override dirname (the logger.*, metrics.*-path and hydra.* keys left out)."""
    weights = pool3_weights_or_skip()
    overrides = merged(BASE, "loss=lsgan", "z_dim=3", "seed=2", "trainer.max_steps=6", "trainer.log_every_n_steps=2",
                       "trainer.sample_every_n_steps=3", "metrics.num_samples=8", "metrics.every_n_steps=3")
    run_dir = tmp_path / "run"
    out = subprocess.run(train_cmd(*overrides, "sweep=wbcheck", "logger.project=ganexp-tests",
                                   f"metrics.inception_weights={weights}", f"metrics.cache_dir={tmp_path / 'cache'}",
                                   f"hydra.run.dir={run_dir}"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((run_dir / "result.json").read_text())
    (wb,) = offline_runs(run_dir / "wandb")

    assert wb.name == ("batch_size=16,dataset=digits,loss=lsgan,metrics.every_n_steps=3,metrics.num_samples=8,"
                       "model.width=8,seed=2,trainer.ckpt_every_n_steps=1000,trainer.log_every_n_steps=2,"
                       "trainer.max_steps=6,trainer.num_eval_samples=16,trainer.sample_every_n_steps=3,z_dim=3")
    assert result["name"] == wb.name
    assert (wb.project, wb.group, wb.job_type, wb.resumed) == ("ganexp-tests", "wbcheck", "", False)
    assert wb.tags == ["loss=lsgan", "z_dim=3", "dataset=digits", "norm=batch/batch", "seed=2", "system=gan"]
    assert {k: wb.config[k] for k in FLAT} == {"loss": "lsgan", "z_dim": 3, "dataset": "digits",
                                               "norm": "batch/batch", "seed": 2, "system": "gan", "study": "grid"}
    assert wb.config["full"] == result["config"]

    history = history_by_step([wb])
    assert history == jsonl_by_step(run_dir)
    assert sorted(history) == [2, 3, 4, 6]
    assert sorted(history[3]) == ["_step", "collapsed", "div8", "epoch", "eval_s", "fid8", "kid8", "kid8_std", "time_s"]
    losses = ["_step", "d_fake", "d_loss", "d_real", "epoch", "g_loss", "images_per_s", "images_seen", "time_s"]
    assert sorted(history[4]) == losses
    assert sorted(history[6]) == sorted(losses + ["collapsed", "div8", "eval_s", "fid8", "kid8", "kid8_std"])
    assert history[6]["fid8"] == result["metrics"]["fid8"] and history[6]["fid8"] > 0

    grids = {3: run_dir / "samples" / "step_000003.png", 6: run_dir / "samples" / "final.png"}
    images = wb.image_entries()
    assert [(step, key, (v["width"], v["height"])) for step, key, v in images] == [
        (3, "samples", (242, 62)), (6, "samples", (242, 62))]
    assert [v["sha256"] for _, _, v in images] == [sha256(grids[3]), sha256(grids[6])]
    assert [v["path"] for _, _, v in images] == wb.media_files()
    assert all(sha256(wb.dir / "files" / v["path"]) == v["sha256"] for _, _, v in images)

    scored = {k: v for k, v in result["metrics"].items() if v is not None}
    assert {k: wb.summary[k] for k in scored} == scored
    assert [k for k, v in result["metrics"].items() if v is None] == ["is8", "is8_std"]  # pool3-only weights: no IS
    assert wb.summary["kid8"] == result["metrics"]["kid8"] > 0
    assert "is8" not in wb.summary and not any("is8" in row for row in wb.history)
    assert (wb.summary["_step"], wb.summary["samples"]["sha256"]) == (6, sha256(grids[6]))


def test_psgan_config_carries_num_generators(tmp_path):
    """K is filterable too for PS-GAN runs (no training: the config is what wandb.init recorded)."""
    cfg = to_container(compose([*BASE, "system=psgan", "system.num_generators=3", "study=psgan2025", "seed=4"]))
    logger = RunLogger(tmp_path, {**cfg["logger"], "tags": ["smoke"]}, cfg, "system=psgan,system.num_generators=3")
    logger.finish()
    (wb,) = offline_runs(tmp_path / "wandb")
    assert {k: wb.config[k] for k in (*FLAT, "num_generators")} == {
        "loss": "gan_ns", "z_dim": 100, "dataset": "digits", "norm": "batch/batch", "seed": 4, "system": "psgan",
        "study": "psgan2025", "num_generators": 3}
    assert wb.tags == ["loss=gan_ns", "z_dim=100", "dataset=digits", "norm=batch/batch", "seed=4", "system=psgan",
                       "smoke"]
    assert (wb.group, wb.name, wb.history) == ("default", "system=psgan,system.num_generators=3", [])


RESUME = [*BASE, "metrics=none", "z_dim=3", "trainer.max_steps=20", "trainer.ckpt_every_n_steps=10",
          "trainer.log_every_n_steps=3", "trainer.sample_every_n_steps=6"]


def test_resumed_run_continues_the_same_wandb_run_without_logging_a_step_twice(tmp_path, monkeypatch):
    """Killed at 13 (last.ckpt at 10, W&B has rows 3..12 and grids 6, 12), then rerun: a second offline
    folder of the same W&B id takes over from step 15; the redone steps 11..13 are not sent again. Both
    files together hold every row of metrics.jsonl once (timings aside: step 12's row is the killed
    attempt's, equal but for its clock) and every grid once."""
    train_until_killed(RESUME, tmp_path, monkeypatch, 13)
    run(compose(RESUME), tmp_path, "r")
    first, second = offline_runs(tmp_path / "wandb")

    assert (second.id, second.name, second.group) == (first.id, first.name, first.group) == (first.id, "r", "default")
    assert [[r["_step"] for r in w.history] for w in (first, second)] == [[3, 6, 9, 12], [15, 18, 20]]
    timing = ("time_s", "images_per_s")
    untimed = lambda rows: {s: {k: v for k, v in r.items() if k not in timing} for s, r in rows.items()}  # noqa: E731
    assert untimed(history_by_step([first, second])) == untimed(jsonl_by_step(tmp_path))
    assert [[(s, k) for s, k, _ in w.image_entries()] for w in (first, second)] == [
        [(6, "samples"), (12, "samples")], [(18, "samples"), (20, "samples")]]
    assert second.summary["_step"] == 20
