"""Fused seed arrays (launch.fuse=seed): each member is its separate run.

In float64 (trainer.precision=64-true) every member's losses, parameters, optimizer and data state,
RNG state and sample grids are bit-identical to a separate run with its seed, for every loss and norm
(the grouped convolutions compute each group as a separate convolution does). In float32 the
convolution algorithms differ, so there the values agree to float tolerance.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FAST, ROOT, killed_after, train_cmd, wait_for

ENV = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
EXACT = [*FAST, "trainer.precision=64-true", "trainer.max_steps=3", "trainer.sample_every_n_steps=2",
         "trainer.ckpt_every_n_steps=2", "z_dim=5"]
LOSSES = ["gan_mm", "gan_ns", "lsgan", "wgan", "wgan_gp", "dragan", "began", "hinge", "r3gan"]
UNTIMED = ("time_s", "images_per_s", "eval_s")


def separate(overrides: list[str], seeds, root: Path) -> dict[int, Path]:
    from ganexp.config import compose
    from ganexp.train import run

    for s in seeds:
        assert run(compose([*overrides, f"seed={s}"]), root / f"seed={s}", f"seed={s}")["status"] == "completed"
    return {s: root / f"seed={s}" for s in seeds}


def fused(overrides: list[str], seeds, root: Path) -> dict[int, Path]:
    from ganexp.config import compose
    from ganexp.fusedarray import run_array

    dirs = {s: root / f"seed={s}" for s in seeds}
    run_array([compose([*overrides, f"seed={s}"]) for s in seeds], list(dirs.values()), [d.name for d in dirs.values()])
    return dirs


def rows(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k not in UNTIMED}
            for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(a: Path, b: Path, rel: float = 0.0, same_config: bool = True) -> None:
    """Same log rows, result, sample grids and last.ckpt (every tensor), bit for bit (``rel`` = 0) or to a
    relative tolerance (then grids may differ by one gray level where a value sits on a rounding edge);
    ``same_config=False``: configs that differ in keys outside the config hash (trainer.compile)."""
    assert_equal(rows(a), rows(b), "rows", rel)
    ra, rb = (json.loads((d / "result.json").read_text()) for d in (a, b))
    for key in ("status", "steps", "config_hash", "config")[:None if same_config else -1]:
        assert ra[key] == rb[key], key
    assert_equal({k: v for k, v in ra["metrics"].items() if k not in UNTIMED},
                 {k: v for k, v in rb["metrics"].items() if k not in UNTIMED}, "metrics", rel)
    grids = sorted(p.name for p in (a / "samples").glob("*.png"))
    assert grids == sorted(p.name for p in (b / "samples").glob("*.png")) and grids
    for g in grids:
        pa, pb = (torch.from_numpy(np.asarray(Image.open(d / "samples" / g))).int() for d in (a, b))
        assert (pa - pb).abs().max() <= (1 if rel else 0), g
    ca, cb = (torch.load(d / "last.ckpt", weights_only=True) for d in (a, b))
    for key in ("format", "step", "system", "optimizers", "extra", "batcher", "acc", "acc_n", "rng_cpu",
                "config_hash", "config")[:None if same_config else -1]:
        assert_equal(ca[key], cb[key], key, rel)


def assert_equal(x, y, where: str, rel: float = 0.0) -> None:
    if isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            assert_equal(x[k], y[k], f"{where}.{k}", rel)
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y)):
            assert_equal(u, v, f"{where}[{i}]", rel)
    elif torch.is_tensor(x):
        assert x.dtype == y.dtype and x.shape == y.shape, where
        same = torch.equal(x, y) if not (rel and x.is_floating_point()) else torch.allclose(x, y, rel, 1e-12)
        assert same, where
    elif isinstance(x, float) and rel:
        assert y == pytest.approx(x, rel=rel, abs=1e-12), where
    else:
        assert x == y, where


@pytest.mark.parametrize("loss", LOSSES)
def test_every_member_equals_its_separate_run(loss, tmp_path):
    """Batch norm (the default; WGAN-GP's critic: layer norm; BEGAN: none), two members."""
    overrides = [*EXACT, f"loss={loss}"]
    ref, got = separate(overrides, (0, 1), tmp_path / "ref"), fused(overrides, (0, 1), tmp_path / "fused")
    for s in (0, 1):
        assert_same_run(got[s], ref[s])
    assert rows(got[0]) != rows(got[1])  # the members really are different runs


@pytest.mark.parametrize("norm", ["layer", "instance", "adain", "spectral"])
def test_every_norm_fuses(norm, tmp_path):
    """Exact, except in the last bits for spectral norm (its power iteration runs batched over the members,
    bmm, not torch's per-matrix mv), instance norm (the gradient of its affine bias sums over a tensor of
    S*C channels, which torch's reduction blocks differently) and AdaIN (on this 2-core CPU G's input weight
    differs from a separate run's in its last bits, within 1e-9 relative; its style scale and bias, computed
    from z for all members at once, are the likely place)."""
    overrides = [*EXACT, "loss=hinge", f"norm={norm}"]
    ref, got = separate(overrides, (3, 4), tmp_path / "ref"), fused(overrides, (3, 4), tmp_path / "fused")
    for s in (3, 4):
        assert_same_run(got[s], ref[s], rel=1e-9 if norm in ("spectral", "instance", "adain") else 0.0)


def test_float32_members_agree_to_float_tolerance(tmp_path):
    overrides = [*FAST, "loss=wgan_gp", "trainer.max_steps=2", "z_dim=5"]
    ref, got = separate(overrides, (0, 1, 2), tmp_path / "ref"), fused(overrides, (0, 1, 2), tmp_path / "fused")
    for s in (0, 1, 2):
        for want, have in zip(rows(ref[s]), rows(got[s]), strict=True):
            assert have.keys() == want.keys()
            for k, v in want.items():
                assert have[k] == pytest.approx(v, rel=1e-3, abs=1e-4), (s, k)


def test_one_member_diverging_leaves_the_others_training(tmp_path):
    """Both members checkpoint at step 4; seed 1's generator is then made NaN in its last.ckpt. The rerun
    resumes both in one array: seed 1 ends diverged at its next log step (6), as a separate run would,
    and seed 0 trains on to step 8, equal to an uninterrupted separate run."""
    overrides = [*EXACT, "loss=lsgan", "trainer.max_steps=8", "trainer.log_every_n_steps=2",
                 "trainer.sample_every_n_steps=4"]
    with killed_after(4):
        fused(overrides, (0, 1), tmp_path / "fused")
    ckpt = tmp_path / "fused" / "seed=1" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 4
    state["system"]["players.G.output.weight"].fill_(float("nan"))
    torch.save(state, ckpt)

    got = fused(overrides, (0, 1), tmp_path / "fused")
    bad = json.loads((got[1] / "result.json").read_text())
    assert (bad["status"], bad["diverged_at"], bad["steps"]) == ("diverged", 6, 6)
    assert bad["error"].startswith("non-finite ") and bad["error"].endswith(" at step 6")
    assert [r["step"] for r in rows(got[1])] == [2, 4]  # the non-finite row is not logged
    ref = separate(overrides, (0,), tmp_path / "ref")
    assert_same_run(got[0], ref[0])


def sh(args, **kw):
    return subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600, **kw)


@pytest.mark.long
def test_sigkilled_fused_sweep_reruns_to_the_uninterrupted_result(tmp_path):
    """A grid of 2 z_dims x 3 seeds is 2 fused jobs. SIGKILL while the first array trains; the same command
    resumes every member from its last.ckpt (members cut between their checkpoints resume as arrays per
    step), and every folder ends as an uninterrupted sweep's. A third run of the command skips all six."""
    common = ["-m", "seed=0,1,2", "launch.fuse=seed", *EXACT, "z_dim=2,3", "trainer.max_steps=100",
              "trainer.ckpt_every_n_steps=20", "trainer.log_every_n_steps=10", "trainer.sample_every_n_steps=100"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    out = sh(train_cmd(*common, f"hydra.sweep.dir={ref}"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Launching 2 jobs" in out.stdout + out.stderr and out.stdout.count("[completed]") == 6

    proc = subprocess.Popen(train_cmd(*common, f"hydra.sweep.dir={killed}"), cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first = lambda: [p for p in killed.glob("*z_dim=2/last.ckpt")]  # noqa: E731
    assert wait_for(lambda: len(first()) == 3 and all(step(p) >= 40 for p in first())), "never checkpointed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list(killed.glob("*/result.json"))

    out = sh(train_cmd(*common, f"hydra.sweep.dir={killed}"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("[resume]") >= 3 and out.stdout.count("[completed]") == 6
    names = sorted(p.name for p in ref.glob("*seed=*"))
    assert names == sorted(p.name for p in killed.glob("*seed=*")) and len(names) == 6
    for name in names:
        assert_same_run(killed / name, ref / name)
    again = sh(train_cmd(*common, f"hydra.sweep.dir={killed}"))
    assert again.returncode == 0 and again.stdout.count("[skip]") == 6, again.stdout


def step(ckpt: Path) -> int:
    try:
        return torch.load(ckpt, weights_only=True)["step"]
    except Exception:  # being written
        return -1


def test_fusing_another_system_is_one_sentence_exit_2(tmp_path):
    out = sh(train_cmd("-m", "seed=0,1", "launch.fuse=seed", "system=psgan", *FAST, f"hydra.sweep.dir={tmp_path}"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: launch.fuse=seed fuses runs of system=gan with model=dcgan, not system=psgan model=dcgan; "
        "drop launch.fuse=seed to train these runs one by one (in the job seed=0)"]
    assert not list(tmp_path.glob("*/result.json"))


# (seed, optim.lr_g, optim.lr_d) of three members with learning rates of their own
LR_MEMBERS = [(0, 0.0001, 0.0002), (1, 0.0003, 0.0002), (0, 0.0003, 0.00005)]


def run_members(overrides: list[str], members, root: Path, fuse: bool) -> list[Path]:
    """Each member (seed, lr_g, lr_d) as a separate run, or all of them as one fused array."""
    from ganexp.config import compose
    from ganexp.fusedarray import run_array
    from ganexp.train import run

    cfgs = [compose([*overrides, f"seed={s}", f"optim.lr_g={g}", f"optim.lr_d={d}"]) for s, g, d in members]
    dirs = [root / f"seed={s},lr_g={g},lr_d={d}" for s, g, d in members]
    if fuse:
        run_array(cfgs, dirs, [d.name for d in dirs])
    else:
        assert all(run(cfg, d, d.name)["status"] == "completed" for cfg, d in zip(cfgs, dirs))
    return dirs


@pytest.mark.parametrize("loss", ["gan_ns", "wgan"])  # Adam, RMSprop
def test_members_with_their_own_learning_rates_equal_their_separate_runs(loss, tmp_path):
    """launch.fuse=hparams: per-member learning rates (member_lr.MemberAdam / MemberRMSprop) update each
    member exactly as its separate run's torch optimizer does; its checkpoint carries its own lr."""
    overrides = [*EXACT, f"loss={loss}"]
    ref = run_members(overrides, LR_MEMBERS, tmp_path / "ref", fuse=False)
    got = run_members(overrides, LR_MEMBERS, tmp_path / "fused", fuse=True)
    for r, g, (_, lr_g, lr_d) in zip(ref, got, LR_MEMBERS):
        assert_same_run(g, r)
        groups = [o["param_groups"][0]["lr"] for o in torch.load(g / "last.ckpt", weights_only=True)["optimizers"]]
        assert groups == [lr_g, lr_d]
    assert rows(got[1]) != rows(got[2])  # same seed 0 for members 0 and 2: the learning rates make them differ


@pytest.mark.long
def test_a_learning_rate_grid_fuses_into_one_job_with_the_separate_grids_folders(tmp_path):
    """-m launch.fuse=hparams over optim.lr_g x seed: one job, four members, each in the folder the unfused
    grid gives it, with its results (float32: within float tolerance)."""
    grid = ["-m", "optim.lr_g=0.0001,0.0003", "seed=0,1", *FAST, "trainer.max_steps=2", "z_dim=4"]
    plain = sh(train_cmd(*grid, f"hydra.sweep.dir={tmp_path / 'plain'}"))
    fused_grid = sh(train_cmd(*grid, "launch.fuse=hparams", f"hydra.sweep.dir={tmp_path / 'fused'}"))
    assert plain.returncode == 0 and fused_grid.returncode == 0, fused_grid.stderr[-3000:]
    assert "Launching 1 jobs" in fused_grid.stdout + fused_grid.stderr
    assert "[grid] 4 runs: 4 completed" in fused_grid.stdout + fused_grid.stderr
    names = sorted(p.name for p in (tmp_path / "plain").glob("*seed=*"))
    assert names == sorted(p.name for p in (tmp_path / "fused").glob("*seed=*")) and len(names) == 4
    for name in names:
        for want, have in zip(rows(tmp_path / "plain" / name), rows(tmp_path / "fused" / name), strict=True):
            for k, v in want.items():
                assert have[k] == pytest.approx(v, rel=1e-3, abs=1e-4), (name, k)


def test_members_have_their_own_wandb_runs(tmp_path):
    """Three members write three offline W&B runs at once, each with its seed and its own history."""
    sys.path.insert(0, str(Path(__file__).parent))
    from wandb_offline import offline_runs

    overrides = [*EXACT, "logger=wandb", "loss=gan_ns", "trainer.log_every_n_steps=1"]
    got = fused(overrides, (0, 1, 2), tmp_path)
    for s, d in got.items():
        (wb,) = offline_runs(d / "wandb")
        assert (wb.name, wb.config["seed"]) == (f"seed={s}", s)
        want = rows(d)
        assert [row["_step"] for row in wb.history] == [row["step"] for row in want] == [1, 2, 3]
        assert [{k: row[k] for k in want[i] if k != "step"} for i, row in enumerate(wb.history)] == \
               [{k: v for k, v in row.items() if k != "step"} for row in want]
    assert len({offline_runs(d / "wandb")[0].id for d in got.values()}) == 3


def test_separate_runs_checkpoints_resume_inside_an_array(tmp_path, monkeypatch):
    """Two separate runs stopped after their step-2 checkpoint; a fused array resumes both from there and
    ends equal to uninterrupted separate runs (the checkpoint formats are one)."""
    from conftest import train_until_killed

    overrides = [*EXACT, "loss=wgan_gp", "trainer.max_steps=5"]
    for s in (0, 1):
        train_until_killed([*overrides, f"seed={s}"], tmp_path / "cut" / f"seed={s}", monkeypatch, step=3)
        assert torch.load(tmp_path / "cut" / f"seed={s}" / "last.ckpt", weights_only=True)["step"] == 2
    got = fused(overrides, (0, 1), tmp_path / "cut")
    ref = separate(overrides, (0, 1), tmp_path / "ref")
    for s in (0, 1):
        assert_same_run(got[s], ref[s])


def test_members_are_scored_in_one_inception_pass_as_their_separate_runs(tmp_path):
    """FID (6 samples against 6 real images) at the last step: the array feeds both members' images through
    Inception together, on the codes each separate run draws; the scores agree to float noise (the batches
    hold other images, so the convolutions sum in other blocks)."""
    from conftest import pool3_weights_or_skip

    overrides = [*EXACT, "loss=lsgan", "metrics=fid", "metrics.num_samples=6", "metrics.num_real=6",
                 f"metrics.inception_weights={pool3_weights_or_skip()}", f"metrics.cache_dir={tmp_path / 'cache'}"]
    ref, got = separate(overrides, (0, 1), tmp_path / "ref"), fused(overrides, (0, 1), tmp_path / "fused")
    scores = {}
    for s in (0, 1):
        assert_same_run(got[s], ref[s], rel=1e-5)
        scores[s] = json.loads((got[s] / "result.json").read_text())["metrics"]["fid6"]
    assert scores[0] != scores[1] and min(scores.values()) > 0
