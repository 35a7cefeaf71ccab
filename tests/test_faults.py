"""The fault matrix of docs/faults.md, each fault injected for real: the W&B service process killed, a
run folder on a small tmpfs filled up, SIGKILL while the FID statistics or the decoded cache are written,
those files garbled between runs, metrics.jsonl made immutable. Each test checks the outcome, the message,
that nothing finished is lost, and that the same command then completes."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganexp import checkpoint
from ganexp.config import compose
from ganexp.metrics.cache import cached_stats, load_stats
from ganexp.runfolder import FolderFault
from ganexp.train import run
from conftest import FAST, ROOT, train_cmd, train_until_killed, wait_for

LONG = [o for o in FAST if not o.startswith("logger=")] + ["trainer.max_steps=300", "trainer.ckpt_every_n_steps=20"]
SHORT = [o for o in LONG if not o.startswith("trainer.max_steps")] + ["trainer.max_steps=150"]
TEMP = re.compile(r"\..+\.tmp.*")


def jsonl_steps(run_dir: Path) -> list[int]:
    """Steps of the whole rows of metrics.jsonl (a row a full disk cut short has no newline)."""
    return [json.loads(ln)["step"] for ln in (run_dir / "metrics.jsonl").read_text().split("\n")[:-1]]


def children(pid: int, name: str) -> list[int]:
    """Pids of ``pid``'s child processes whose command line holds ``name``."""
    found = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid \
                    and name in (d / "cmdline").read_text():
                found.append(int(d.name))
        except (OSError, IndexError):
            continue
    return found


# --- W&B: its service process killed mid-run -------------------------------------------------------

@pytest.mark.long
def test_wandb_service_killed_mid_run_is_one_warning_and_the_run_completes(tmp_path):
    run_dir = tmp_path / "run"
    cmd = train_cmd(*SHORT, "logger=wandb", "logger.mode=offline", f"hydra.run.dir={run_dir}")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: (run_dir / "metrics.jsonl").exists() and len(jsonl_steps(run_dir)) >= 30, 120)
    (core,) = children(proc.pid, "wandb-core")
    os.kill(core, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)

    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "Traceback" not in out
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["status"], result["steps"]) == ("completed", 150)
    assert jsonl_steps(run_dir) == list(range(1, 151))
    (offline,) = (run_dir / "wandb").glob("offline-run-*")  # a later resume continues this W&B run
    assert checkpoint.load(run_dir / "last.ckpt")["wandb_id"] == offline.name.rsplit("-", 1)[1]
    (warning,) = [ln for ln in out.splitlines() if ln.startswith("[warning]")]
    # wandb says "Connection lost" or the socket's "[Errno 104] Connection reset by peer", by when it notices
    assert re.fullmatch(r"\[warning\] \S+: W&B failed at step (\d+) \(ConnectionResetError: (Connection lost|"
                        r"\[Errno 104\] Connection reset by peer)\); off "
                        r"for the rest of this run, training goes on; upload what it recorded later with `wandb sync "
                        + re.escape(str(run_dir)) + r"/wandb/offline-run-\*`; metrics.jsonl has every row", warning), warning


# --- side channels that fail: the CSV log and the sample grids --------------------------------------

def test_unwritable_csv_log_and_sample_folder_are_warnings_and_the_run_completes(tmp_path, capsys):
    """metrics.csv and samples/ as folders where files are due: a real IsADirectoryError each."""
    (tmp_path / "metrics.csv").mkdir()
    (tmp_path / "samples" / "final.png").mkdir(parents=True)
    res = run(compose([o for o in LONG if "max_steps" not in o] + ["logger=csv", "trainer.max_steps=4"]), tmp_path, "r")
    assert (res["status"], res["steps"]) == ("completed", 4)
    assert jsonl_steps(tmp_path) == [1, 2, 3, 4]
    warnings = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[warning]")]
    assert warnings == [
        f"[warning] r: CSV log failed at step 0 (IsADirectoryError: [Errno 21] Is a directory: "
        f"'{tmp_path}/metrics.csv'); off for the rest of this run, training goes on; metrics.jsonl has every row",
        f"[warning] r: sample grids failed at step 4 (IsADirectoryError: [Errno 21] Is a directory: "
        f"'{tmp_path}/samples/.final.tmp{os.getpid()}.png' -> '{tmp_path}/samples/final.png'); off for the rest of "
        f"this run, training goes on; "
        f"draw them later from last.ckpt (ganexp.checkpoint.load_generator)"]
    assert checkpoint.load(tmp_path / "last.ckpt")["step"] == 4


# --- a full disk ---------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (needs root and mount), unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk refuses (ENOSPC), as whatever else fills a shared disk."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as err:
            assert err.strerror == "No space left on device"
    return filler


DISK_FULL = (r"error: (?P<name>\S+): cannot write (?P<path>\S+): the disk holding (?P<folder>\S+) is full "
             r"\(No space left on device; (?P<free>\d+ bytes|[\d.]+ KiB) free there\); free space and run the same "
             r"command: it resumes from the last good checkpoint, step (?P<step>\d+) of (?P<max>\d+) \((?P<ckpt>\S+)\)")


@pytest.mark.long
def test_full_disk_ends_the_run_with_one_sentence_and_the_same_command_resumes(small_disk):
    run_dir = small_disk / "run"
    cmd = train_cmd(*SHORT, "logger=none", f"hydra.run.dir={run_dir}")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: (run_dir / "last.ckpt").exists(), 120)
    filler = fill(small_disk)
    out, err = proc.communicate(timeout=300)

    assert proc.returncode == 3, err[-2000:]
    assert len(err.splitlines()) == 1, err
    (line,) = err.splitlines()
    m = re.fullmatch(DISK_FULL, line)
    assert m, line
    assert Path(m["path"]).parent == run_dir and m["folder"] == str(run_dir) and m["ckpt"] == str(run_dir / "last.ckpt")
    step = int(m["step"])
    assert checkpoint.load(run_dir / "last.ckpt")["step"] == step and step % 20 == 0
    assert not (run_dir / "result.json").exists()
    assert [p.name for p in run_dir.rglob("*") if TEMP.fullmatch(p.name)] == []
    assert jsonl_steps(run_dir)[:step] == list(range(1, step + 1))

    filler.unlink()
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"[resume] {m['name']}: from step {step} of {m['max']}" in again.stdout
    assert json.loads((run_dir / "result.json").read_text())["status"] == "completed"
    assert jsonl_steps(run_dir) == list(range(1, 151))


@pytest.mark.slow
def test_full_disk_stops_a_grid_with_one_line_and_the_same_command_finishes_it(small_disk):
    """Two jobs: the first stops on the full disk (its sentence), the second cannot even get its folder
    written by Hydra: the grid stops there with one line, exit 3. Freed, the same command finishes both."""
    cmd = train_cmd("-m", *LONG, "logger=none", "z_dim=1,2", f"hydra.sweep.dir={small_disk / 'grid'}")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: any((small_disk / "grid").glob("*/last.ckpt")), 120)
    filler = fill(small_disk)
    out, err = proc.communicate(timeout=300)

    assert proc.returncode == 3, err[-2000:]
    first, stop = err.splitlines()
    assert re.fullmatch(DISK_FULL, first), first
    assert re.fullmatch(rf"error: the grid stops before its next job: the disk holding "
                        rf"{re.escape(str(small_disk / 'grid'))} is full "
                        r"\(No space left on device; (\d+ bytes|[\d.]+ KiB) free there\); free space and run the same "
                        r"command: finished runs are skipped, the others resume", stop), stop
    filler.unlink()
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "[grid] 2 runs: 2 completed" in again.stdout
    for d in (small_disk / "grid").glob("z_dim=*"):
        assert jsonl_steps(d) == list(range(1, 301))


def test_read_only_disk_stops_the_resume_with_one_sentence_and_the_same_command_completes(small_disk, monkeypatch):
    """The run folder's filesystem remounted read-only between a kill and the rerun (as a failing disk or a
    full quota's admin does): EROFS at the first write, one sentence; remounted, the rerun completes."""
    cfg = [o for o in LONG if not o.startswith("trainer.max_steps")] + ["logger=none", "trainer.max_steps=30"]
    run_dir = small_disk / "run"
    train_until_killed(cfg, run_dir, monkeypatch, 25)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(FolderFault) as stopped:
            run(compose(cfg), run_dir, "r")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert re.fullmatch(rf"r: cannot write {run_dir}/.ganexp.lock: the disk holding {run_dir} is read-only \(Read-only "
                        r"file system; [\d.]+ MiB free there\); make it writable and run the same command: it resumes "
                        rf"from {run_dir}/last.ckpt", str(stopped.value))
    res = run(compose(cfg), run_dir, "r")
    assert (res["status"], jsonl_steps(run_dir)) == ("completed", list(range(1, 31)))


def test_command_on_a_full_disk_stops_before_hydra_writes(small_disk):
    filler = fill(small_disk)
    out = subprocess.run(train_cmd(*LONG, "logger=none", f"hydra.run.dir={small_disk / 'run'}"), cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert (out.returncode, out.stdout, out.stderr) == (3, "", (
        f"error: the disk holding {small_disk} is full (0 bytes free there); free space and run the same command: "
        "finished runs are skipped, the others resume\n"))
    filler.unlink()
    assert not (small_disk / "run").exists()


# --- metrics.jsonl made read-only (immutable: root ignores permission bits) ---------------------------

def test_read_only_metrics_jsonl_stops_the_resume_with_one_sentence(tmp_path, monkeypatch):
    cfg = [o for o in LONG if not o.startswith("trainer.max_steps")] + ["logger=none", "trainer.max_steps=30"]
    train_until_killed(cfg, tmp_path, monkeypatch, 25)
    jsonl = tmp_path / "metrics.jsonl"
    before = jsonl.read_bytes()
    if subprocess.run(["chattr", "+i", str(jsonl)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        with pytest.raises(FolderFault) as stopped:
            run(compose(cfg), tmp_path, "r")
    finally:
        subprocess.run(["chattr", "-i", str(jsonl)], check=True)
    assert re.fullmatch(rf"r: cannot write {jsonl}: {tmp_path} or a file in it is not writable \(Operation not "
                        r"permitted; [\d.]+ \w+ free there\); make it writable and run the same command: it resumes "
                        rf"from the last good checkpoint, step 20 of 30 \({tmp_path}/last.ckpt\)", str(stopped.value))
    assert jsonl.read_bytes() == before and not (tmp_path / "result.json").exists()
    res = run(compose(cfg), tmp_path, "r")
    assert (res["status"], jsonl_steps(tmp_path)) == ("completed", list(range(1, 31)))


def test_read_only_metrics_jsonl_of_a_fused_member_stops_the_array_with_its_sentence(tmp_path, monkeypatch):
    """Two separate runs killed after their step-2 checkpoint, then resumed as one fused array
    (launch.fuse=seed) while seed=1's metrics.jsonl is immutable: one sentence naming seed=1."""
    from ganexp.fusedarray import run_array

    cfg = [*FAST, "trainer.max_steps=5", "trainer.ckpt_every_n_steps=2"]
    dirs = [tmp_path / f"seed={s}" for s in (0, 1)]
    for s, d in zip((0, 1), dirs):
        train_until_killed([*cfg, f"seed={s}"], d, monkeypatch, 3)
    jsonl = dirs[1] / "metrics.jsonl"
    if subprocess.run(["chattr", "+i", str(jsonl)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        with pytest.raises(FolderFault) as stopped:
            run_array([compose([*cfg, f"seed={s}"]) for s in (0, 1)], dirs, ["seed=0", "seed=1"])
    finally:
        subprocess.run(["chattr", "-i", str(jsonl)], check=True)
    assert re.fullmatch(rf"seed=1: cannot write {jsonl}: {dirs[1]} or a file in it is not writable \(Operation not "
                        r"permitted; [\d.]+ \w+ free there\); make it writable and run the same command: it resumes "
                        rf"from the last good checkpoint, step 2 of 5 \({dirs[1]}/last.ckpt\)", str(stopped.value))
    results = run_array([compose([*cfg, f"seed={s}"]) for s in (0, 1)], dirs, ["seed=0", "seed=1"])
    assert [r["status"] for r in results] == ["completed", "completed"]
    assert [jsonl_steps(d) for d in dirs] == [[1, 2, 3, 4, 5]] * 2


# --- the FID statistics cache: SIGKILL mid-write, a garbled file --------------------------------------

KILLED_MID_WRITE = """
import os, signal, sys
import numpy as np
from pathlib import Path
from ganexp.metrics import cache

savez = np.savez

def half_then_kill(f, **arrays):  # np.savez's bytes, cut in the middle by SIGKILL
    import io
    buf = io.BytesIO()
    savez(buf, **arrays)
    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

cache.np.savez = half_then_kill
cache.cached_stats(Path(sys.argv[1]), {"k": 1}, lambda: (np.ones(64), np.eye(64), 64))
"""


def stats(n: int = 64):
    return np.full(n, 0.5), np.eye(n) * 2.0, n


def test_sigkill_while_fid_statistics_are_written_leaves_nothing_used(tmp_path):
    """The process dies inside np.savez (a real SIGKILL, at the moment a patched savez picks): no .npz, only
    its temp file; the next job computes the statistics again, once, and removes the temp file."""
    path = tmp_path / "fid_stats" / "digits-train.npz"
    proc = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(path)], cwd=ROOT, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert not path.exists() and len(list(path.parent.glob(".digits-train.npz.*.tmp"))) == 1
    calls = []
    got, computed = cached_stats(path, {"k": 1}, lambda: calls.append(1) or stats())
    assert computed and calls == [1] and np.array_equal(got["sigma"], np.eye(64) * 2.0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["digits-train.npz", "digits-train.npz.lock"]
    assert cached_stats(path, {"k": 1}, lambda: 1 / 0)[1] is False  # reused from now on


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty"])
def test_damaged_fid_statistics_are_computed_again(tmp_path, damage):
    path = tmp_path / "s.npz"
    cached_stats(path, {"k": 1}, stats)
    whole = path.read_bytes()
    path.write_bytes({"truncated": whole[: len(whole) // 2], "garbled": b"PK\x03\x04" + bytes(200),
                      "empty": b""}[damage])
    assert load_stats(path, {"k": 1}) is None
    got, computed = cached_stats(path, {"k": 1}, stats)
    assert computed and got["n"] == 64 and path.read_bytes() == whole


# --- the decoded cache: SIGKILL while it is written, a garbled sidecar ----------------------------------

DECODE = """
import sys
from ganexp.data import FolderSet
x = FolderSet("celeba", 16, 3, root=sys.argv[1], folder="celeba/img_align_celeba", crop=178, cache_dir=sys.argv[2],
              decode_workers=1).images("train")
"""


def test_sigkill_while_the_decoded_cache_is_written_then_the_same_job_rebuilds_it(tmp_path):
    from test_data_scale import celeba, make_faces

    make_faces(tmp_path / "celeba/img_align_celeba", 600)
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", DECODE, str(tmp_path), str(cache)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert wait_for(lambda: any(cache.glob(".*.tmp*.npy")), 120)
    proc.kill()  # SIGKILL, mid-decode
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in cache.glob("*.npy") if not p.name.startswith(".")] == []
    assert len(list(cache.glob(".*.tmp*.npy"))) == 1

    again = celeba(tmp_path, cache).images("train")
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []
    fresh = celeba(tmp_path, tmp_path / "fresh").images("train")
    assert again.shape == (600, 3, 16, 16) and torch.equal(again, fresh)


def test_garbled_decoded_cache_sidecar_is_rebuilt(tmp_path):
    from test_data_scale import celeba, make_faces
    from ganexp.data import decoded

    make_faces(tmp_path / "celeba/img_align_celeba", 6)
    good = celeba(tmp_path, tmp_path / "cache").images("train").clone()
    (meta,) = (tmp_path / "cache").glob("*.json")
    meta.write_text('{"format": 1, "key": ')
    decoded._VERIFIED.clear()  # a new job
    assert torch.equal(celeba(tmp_path, tmp_path / "cache").images("train"), good)
    assert json.loads(meta.read_text())["shape"] == [6, 3, 16, 16]


def test_a_grid_with_a_stopped_run_exits_3_unless_a_job_had_a_user_error(capsys):
    from ganexp.preflight import summarize

    assert summarize([{"status": s} for s in ("completed", "stopped", "failed")]) == 3
    assert summarize([{"status": s} for s in ("stopped", "error")]) == 2
    assert capsys.readouterr().out.splitlines() == ["[grid] 3 runs: 1 completed, 1 failed, 1 stopped",
                                                    "[grid] 2 runs: 1 error, 1 stopped"]
