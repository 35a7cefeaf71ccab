"""Grids as a whole: every job checked before the first trains, a failing job never stops the others,
one process per run folder, and a finished result is never replaced unless the user asks."""
import json
import subprocess

import numpy as np
import pytest

from conftest import FAST, ROOT, train_cmd
from ganexp.train import run
from test_sweeps import ENV, results, sh  # noqa: F401


def test_a_bad_value_in_a_later_job_stops_the_grid_before_anything_runs(tmp_path):
    sweep = tmp_path / "s"
    out = sh(train_cmd("-m", *FAST, "trainer.max_steps=2", "z_dim=1,2", "seed=0,abc", f"hydra.sweep.dir={sweep}"))
    assert out.returncode == 2
    assert out.stderr.strip() == ("error: seed=abc is not allowed: seed must be an integer from 0 to 4294967295 "
                                  "(in the job z_dim=1,seed=abc)")
    assert not sweep.exists() and "[completed]" not in out.stdout


def test_a_run_folder_name_past_255_bytes_is_one_sentence_before_anything_runs(tmp_path):
    """Study C's ProGAN with its ema keys spelled out made a folder name over 255 bytes: mkdir failed with a traceback in the
    middle of the grid. The name is the job's overrides, so the grid's check measures it first."""
    sweep = tmp_path / "s"
    long = ["model.width=8", "ema.enabled=true", "ema.half_life_kimg=0.05",
            "ema.start_step=0", "ema.score=both", "latent=uniform", "loss.n_critic=1", "optim.lr_d=0.0002"]
    out = sh(train_cmd("-m", *FAST, *long, "trainer.max_steps=2", "z_dim=1,2", f"hydra.sweep.dir={sweep}"))
    assert out.returncode == 2 and not sweep.exists()
    assert out.stderr.strip().startswith("error: the run folder's name, its ") and "is longer than the 255 bytes a " \
        "folder name may have; move the settings every job shares into an experiment file" in out.stderr


def test_a_job_with_missing_data_does_not_stop_the_others(tmp_path):
    good, missing = tmp_path / "good.npz", tmp_path / "missing.npz"
    rng = np.random.default_rng(0)
    np.savez(good, x_train=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8))
    sweep = tmp_path / "s"
    out = sh(train_cmd("-m", *FAST, "trainer.max_steps=2", "dataset=npz", f"dataset.path={missing},{good}",
                       f"hydra.sweep.dir={sweep}"))
    assert out.returncode == 2
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: batch_size=16,dataset.path={missing},")
    assert errors[0].endswith(f": dataset 'npz': no file at {missing}; set dataset.path=FILE.npz "
                              f"(arrays x_train / x_test of uint8 images)")
    assert "[grid] 2 runs: 1 completed, 1 error" in out.stdout
    ours = [p for p in sweep.rglob("*") if p.name in ("result.json", "config.yaml", "last.ckpt")
            and p.parent.name != ".hydra"]  # .hydra/ is Hydra's record of every job it starts
    assert sorted(p.name for p in ours) == ["config.yaml", "last.ckpt", "result.json"]
    assert len({p.parent for p in ours}) == 1 and str(good) in str(ours[0].parent)  # the good run only
    assert json.loads(next(sweep.rglob("result.json")).read_text())["status"] == "completed"


@pytest.mark.long
def test_two_copies_of_one_grid_train_each_run_once(tmp_path):
    sweep = tmp_path / "s"
    cmd = train_cmd("-m", *FAST, "trainer.max_steps=300", "trainer.log_every_n_steps=50", "z_dim=1,2",
                    f"hydra.sweep.dir={sweep}")
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    stdout = "".join(o[0] for o in outs)
    assert stdout.count("[completed]") == 2  # each run trained by exactly one process
    assert stdout.count("[busy]") + stdout.count("[skip]") == 2
    for name, res in results(sweep).items():
        assert res["status"] == "completed" and res["steps"] == 300
        rows = [json.loads(x) for x in (sweep / name / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == [50, 100, 150, 200, 250, 300]


def test_a_finished_result_is_kept_unless_forced(compose, tmp_path, capsys):
    first = run(compose(FAST + ["trainer.max_steps=2", "z_dim=2"]), tmp_path, "r")
    before = (tmp_path / "result.json").read_bytes()
    same = run(compose(FAST + ["trainer.max_steps=2", "z_dim=2", "trainer.accelerator=auto"]), tmp_path, "r")
    assert same == first  # where a run trains is not part of what it is: skipped
    kept = run(compose(FAST + ["trainer.max_steps=2", "z_dim=3"]), tmp_path, "r")
    assert kept["status"] == "kept" and (tmp_path / "result.json").read_bytes() == before
    out = capsys.readouterr().out
    assert "[skip] r: already completed" in out
    assert ("[kept] r: already completed with another config (differs in model.generator.z_dim, z_dim); "
            "add force=true to retrain it") in out
    forced = run(compose(FAST + ["trainer.max_steps=2", "z_dim=3", "force=true"]), tmp_path, "r")
    assert forced["status"] == "completed" and forced["config"]["z_dim"] == 3
    assert json.loads((tmp_path / "result.json").read_text())["config"]["z_dim"] == 3
