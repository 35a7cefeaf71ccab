"""Multiruns from the command line: folders, skipping finished runs, resuming after SIGKILL, bad input."""
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import FAST, ROOT, assets_or_skip, train_cmd, wait_for

ENV = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}


def sh(args, **kw):
    return subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600, **kw)


def results(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/result.json")}


def test_multirun_writes_named_folders_and_skips_finished(tmp_path):
    cmd = train_cmd("-m", "loss=lsgan,wgan_gp", "z_dim=1,10", *FAST, "trainer.max_steps=2",
                    f"hydra.sweep.dir={tmp_path}")
    out = sh(cmd)
    assert out.returncode == 0, out.stderr
    res = results(tmp_path)
    names = {n.split(",loss=")[1].split(",")[0] + "/" + n.split("z_dim=")[1] for n in res}
    assert names == {"lsgan/1", "lsgan/10", "wgan_gp/1", "wgan_gp/10"}
    assert all(r["status"] == "completed" and r["steps"] == 2 for r in res.values())
    assert out.stdout.count("[completed]") == 4
    again = sh(cmd)
    assert again.returncode == 0 and again.stdout.count("[skip]") == 4 and "[completed]" not in again.stdout


@pytest.mark.long
def test_sigkill_mid_sweep_then_rerun_matches_uninterrupted(tmp_path):
    """Kill a 3-run sweep while the 2nd run is mid-way; the rerun skips run 1, resumes run 2 from last.ckpt,
    runs run 3, and every final metric equals an uninterrupted sweep's (deterministic CPU runs)."""
    common = ["-m", "loss=gan_ns,began,wgan_gp", "z_dim=3", *FAST, "trainer.max_steps=60",
              "trainer.log_every_n_steps=7", "trainer.ckpt_every_n_steps=10"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    assert sh(train_cmd(*common, f"hydra.sweep.dir={ref}")).returncode == 0

    proc = subprocess.Popen(train_cmd(*common, f"hydra.sweep.dir={killed}"), cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    second = lambda: next(killed.glob("*loss=began*/last.ckpt"), None)  # noqa: E731
    assert wait_for(lambda: second() is not None), "the second run never checkpointed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = results(killed)
    assert [r["config"]["loss"]["name"] for r in before.values()] == ["gan_ns"]  # only run 1 finished
    first_mtime = next(killed.glob("*gan_ns*/result.json")).stat().st_mtime_ns

    out = sh(train_cmd(*common, f"hydra.sweep.dir={killed}"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("[skip]") == 1 and out.stdout.count("[completed]") == 2
    assert next(killed.glob("*gan_ns*/result.json")).stat().st_mtime_ns == first_mtime
    got, want = results(killed), results(ref)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name]["status"] == "completed" and got[name]["steps"] == 60
        for key, value in want[name]["metrics"].items():
            if key != "images_per_s":
                assert got[name]["metrics"][key] == value, (name, key)
        losses = lambda p: [{k: v for k, v in json.loads(x).items() if k not in ("time_s", "images_per_s")}  # noqa: E731
                            for x in (p / name / "metrics.jsonl").read_text().splitlines()]
        assert losses(killed) == losses(ref)


@pytest.mark.long
def test_sigterm_saves_last_ckpt_at_the_step_and_the_rerun_matches_uninterrupted(tmp_path):
    """SIGTERM (scancel, preemption) mid-run: the step in progress ends, last.ckpt is written there although
    no periodic checkpoint is due (ckpt_every_n_steps=1000), the process exits 143; the same command
    resumes from that step to the uninterrupted run's losses."""
    from ganexp.checkpoint import load

    common = [*FAST, "loss=gan_ns", "z_dim=3", "trainer.max_steps=60"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    assert sh(train_cmd(*common, f"hydra.run.dir={ref}")).returncode == 0
    proc = subprocess.Popen(train_cmd(*common, f"hydra.run.dir={cut}"), cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    rows = lambda d: (d / "metrics.jsonl").read_text().splitlines() if (d / "metrics.jsonl").exists() else []  # noqa: E731
    assert wait_for(lambda: len(rows(cut)) >= 10), "the run never logged 10 steps"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143
    step = load(cut / "last.ckpt")["step"]
    assert 10 <= step < 60 and step == json.loads(rows(cut)[-1])["step"]
    assert "[stopped] " in out and f": SIGTERM at step {step}; last.ckpt saved" in out
    assert not (cut / "result.json").exists()

    again = sh(train_cmd(*common, f"hydra.run.dir={cut}"))
    assert again.returncode == 0 and f": from step {step} of 60" in again.stdout
    strip = lambda d: [{k: v for k, v in json.loads(x).items() if k not in ("time_s", "images_per_s")}  # noqa: E731
                       for x in rows(d)]
    assert strip(cut) == strip(ref) and len(strip(ref)) == 60


BAD = [
    (["loss=lsgan,nope"], "unknown loss 'nope'; choose one of: began, dragan, gan_mm"),
    (["norm=fancy"], "unknown norm 'fancy'; choose one of:"),
    (["z_dim=0"], "z_dim must be an integer >= 1"),
    (["loss=wgan", "loss.n_critic=0"], "loss.n_critic must be an integer >= 1"),
    (["optim.lr_g=0"], "optim.lr_g=0 is not allowed: optim.lr_g must be a number > 0"),
    (["batch_size=-4"], "batch_size=-4 is not allowed: batch_size must be an integer >= 1"),
    (["trainer.max_steps=0"], "trainer.max_steps must be an integer >= 1"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[b[0][-1] for b in BAD])
def test_bad_input_one_sentence_no_result(tmp_path, overrides, message):
    out = sh(train_cmd("-m", *FAST, *overrides, f"hydra.sweep.dir={tmp_path / 's'}"))
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: ") and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not list(tmp_path.rglob("result.json"))


def test_dataset_missing_offline(tmp_path):
    out = sh(train_cmd(*FAST, "dataset=mnist", f"dataset.root={tmp_path / 'empty'}", "dataset.download=false",
                       f"hydra.run.dir={tmp_path / 'r'}"))
    assert out.returncode == 2
    assert "dataset 'mnist' is not under" in out.stderr and "dataset.root=PATH" in out.stderr
    assert not list(tmp_path.rglob("result.json"))


def test_corrupted_dataset_file(tmp_path):
    raw = assets_or_skip("datasets", "MNIST", "raw")
    dst = tmp_path / "MNIST" / "raw"
    shutil.copytree(raw, dst)
    with open(dst / "t10k-labels-idx1-ubyte", "r+b") as f:
        f.seek(100)
        f.write(b"\xff")
    out = sh(train_cmd(*FAST, "dataset=mnist", f"dataset.root={tmp_path}", f"hydra.run.dir={tmp_path / 'r'}"))
    assert out.returncode == 2 and "t10k-labels-idx1-ubyte is corrupted (md5 differs)" in out.stderr
    assert not list(tmp_path.rglob("result.json"))


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = sh(train_cmd("-m", *FAST, "z_dim=1,2", f"hydra.sweep.dir={blocker / 'sweep'}"))
    assert out.returncode == 2 and "cannot write the output folder" in out.stderr


def test_unreadable_checkpoint_is_kept_aside_and_the_run_starts_over(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "last.ckpt").write_text("garbage")
    out = sh(train_cmd(*FAST, "trainer.max_steps=2", f"hydra.run.dir={run_dir}"))
    assert out.returncode == 0, out.stderr
    res = json.loads((run_dir / "result.json").read_text())
    assert (res["status"], res["steps"]) == ("completed", 2)
    assert [ln for ln in out.stdout.splitlines() if ln.startswith(("[restart]", "[resume]"))] == [
        f"[restart] {res['name']}: last.ckpt is unreadable (not a zip archive, 7 bytes); kept as last.ckpt.damaged, "
        "training from scratch"]
    assert (run_dir / "last.ckpt.damaged").read_text() == "garbage"


@pytest.mark.long
def test_two_jobs_at_once_share_the_real_statistics_cache(tmp_path):
    """Two joblib workers start together on an empty cache: one computes the real statistics, the
    other waits and loads them; both score, and one statistics file results."""
    weights = next((Path.home() / ".cache" / "ganexp" / "inception").glob("*pool3-only*.pth"), None)
    if weights is None:
        pytest.skip("no pool3 weights in ~/.cache/ganexp (run `python -m ganexp.metrics setup`)")
    cache = tmp_path / "cache"
    out = sh(train_cmd("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "z_dim=2,3",
                       *[o for o in FAST if not o.startswith("metrics")], "trainer.max_steps=2",
                       "metrics.num_samples=8", "metrics.every_n_steps=0", f"metrics.inception_weights={weights}",
                       f"metrics.cache_dir={cache}", f"hydra.sweep.dir={tmp_path / 's'}"))
    assert out.returncode == 0, out.stderr[-2000:]
    res = results(tmp_path / "s")
    assert len(res) == 2 and all(r["status"] == "completed" and r["metrics"]["fid8"] > 0 for r in res.values())
    logs = "".join(p.read_text() for p in (tmp_path / "s").glob("*/train.log"))
    assert logs.count("Computed real statistics") == 1 and logs.count("Loaded real statistics") == 1
    assert len(list((cache / "fid_stats").glob("*.npz"))) == 1
    spans = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("*/launch.json")]
    assert len(spans) == 2
    assert max(s["started"] for s in spans) < min(s["ended"] for s in spans)  # the two jobs overlapped
