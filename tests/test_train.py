"""Every loss trains a few CPU steps with finite losses, a checkpoint, samples and result.json."""
import json
import math
import re
import time

import pytest
import torch
from PIL import Image

from ganexp import checkpoint
from ganexp.config import group_options
from ganexp.train import run
from conftest import FAST

LOSSES = group_options("loss")


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains(compose, tmp_path, loss):
    cfg = compose(FAST + [f"loss={loss}", "z_dim=5", "trainer.max_steps=3"])
    res = run(cfg, tmp_path, loss)
    assert res["status"] == "completed" and res["steps"] == 3
    assert math.isfinite(res["metrics"]["d_loss"]) and math.isfinite(res["metrics"]["g_loss"])
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["status"] == "completed" and on_disk["config"]["loss"]["name"] == loss
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3]
    assert lines[-1]["images_seen"] == 3 * 16 * cfg.loss.n_critic
    state = checkpoint.load(tmp_path / "last.ckpt")
    assert state["step"] == 3 and state["config"]["z_dim"] == 5
    with Image.open(tmp_path / "samples" / "final.png") as im:  # 16 images, 8 per row, 28 px + 2 px padding
        assert im.size == (8 * 30 + 2, 2 * 30 + 2)
    if loss == "began":
        assert 0.0 <= res["metrics"]["k"] <= 1.0 and "convergence" in res["metrics"]


def test_generator_from_checkpoint_reproduces_samples(compose, tmp_path):
    cfg = compose(FAST + ["loss=lsgan", "z_dim=4", "trainer.max_steps=2"])
    run(cfg, tmp_path, "lsgan")
    g, cfg_dict = checkpoint.load_generator(tmp_path / "last.ckpt")
    z = checkpoint.sample_z(cfg_dict, 5, generator=torch.Generator().manual_seed(0))
    assert z.shape == (5, 4) and z.min() >= -1 and z.max() <= 1
    assert g(z).shape == (5, 1, 28, 28)


def test_checkpoint_that_is_not_one(tmp_path):
    bad = tmp_path / "last.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="is not a readable ganexp checkpoint"):
        checkpoint.load(bad)
    torch.save({"some": torch.zeros(1)}, bad)
    with pytest.raises(checkpoint.CheckpointError, match="is not a ganexp checkpoint"):
        checkpoint.load(bad)


def test_divergence_is_contained(compose, tmp_path):
    cfg = compose(FAST + ["loss=wgan", "optim.lr_d=1e30", "optim.lr_g=1e30", "loss.clip=1e30",
                          "trainer.max_steps=50"])
    res = run(cfg, tmp_path, "diverge")
    assert res["status"] == "diverged"
    assert 1 <= res["diverged_at"] < 50 and res["steps"] == res["diverged_at"]
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"
    for v in res["metrics"].values():  # last good values only
        assert v is None or math.isfinite(v)


def test_final_evaluation_runs_before_lightning_teardown(compose, tmp_path, monkeypatch):
    """Lightning moves the module to the CPU when fit() returns; the final samples and evaluation must
    happen while it is still on the training device, i.e. while fit is running."""
    from lightning.pytorch.trainer.states import TrainerStatus

    from ganexp.training import Training

    seen = []
    original = Training.save_samples

    def spy(self, tag, step):
        seen.append((tag, step, self.system.trainer.state.status))
        return original(self, tag, step)

    monkeypatch.setattr(Training, "save_samples", spy)
    run(compose(FAST + ["trainer.max_steps=3"]), tmp_path, "r")
    assert seen == [("final", 3, TrainerStatus.RUNNING)]


def test_progress_lines_through_logging(compose, tmp_path, caplog, monkeypatch):
    """A progress line once PROGRESS_EVERY_S has passed since the last (here: after every step but the first, which
    starts the clock), and always at the last step, with the losses of the last logged row."""
    import logging

    import ganexp.runfolder

    monkeypatch.setattr(ganexp.runfolder, "PROGRESS_EVERY_S", 0.0)
    caplog.set_level(logging.INFO, logger="ganexp.run")
    run(compose(FAST + ["trainer.max_steps=3"]), tmp_path, "r")
    lines = [r.getMessage() for r in caplog.records if r.name == "ganexp.run"]
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and len(rows) == 3
    for line, row in zip(lines, rows[1:]):
        assert re.fullmatch(rf"r: step {row['step']}/3, epoch {row['epoch']:.2f}, \d+ images/s, d_loss "
                            rf"{row['d_loss']:.3f} g_loss {row['g_loss']:.3f}, ETA \d\d:\d\d:\d\d", line), line
    assert lines[-1].endswith("ETA 00:00:00")
    monkeypatch.setattr(ganexp.runfolder, "PROGRESS_EVERY_S", 3600.0)  # quiet between: only the last step speaks
    caplog.clear()
    run(compose(FAST + ["trainer.max_steps=3", "force=true"]), tmp_path / "b", "b")
    assert [r.getMessage().split(",")[0] for r in caplog.records if r.name == "ganexp.run"] == ["b: step 3/3"]


def test_progress_lines_come_by_time_when_steps_are_slow_and_rows_rare(compose, tmp_path, caplog, monkeypatch):
    """Steps of at least 0.25 s, one log row at the end only, a line due every 0.5 s: lines after steps 3 and 5 at the
    latest (the clock starts after step 1), before any row was logged, and at the last step."""
    import logging

    import ganexp.runfolder
    from ganexp.systems.gan import GANPair

    step = GANPair.train_step

    def slow(self, opts):
        time.sleep(0.25)
        return step(self, opts)

    monkeypatch.setattr(GANPair, "train_step", slow)
    monkeypatch.setattr(ganexp.runfolder, "PROGRESS_EVERY_S", 0.5)
    caplog.set_level(logging.INFO, logger="ganexp.run")
    run(compose(FAST + ["trainer.max_steps=7", "trainer.log_every_n_steps=100"]), tmp_path, "r")
    lines = [r.getMessage() for r in caplog.records if r.name == "ganexp.run"]
    steps = [int(re.match(r"r: step (\d+)/7", ln).group(1)) for ln in lines]
    assert steps[-1] == 7 and len(steps) >= 3 and steps == sorted(set(steps))
    assert all("no losses yet" in ln for ln in lines[:-1]) and "d_loss" in lines[-1]
