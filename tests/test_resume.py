"""Everything around a resume: torn or odd run files, a kill after the last checkpoint, a damaged
last.ckpt, stale temp files, a logger that fails to start. Tiny in-process CPU runs; a kill is a
BaseException raised after a chosen step (no handler of ours catches one, so nothing more is written,
as with SIGKILL; tests/test_sweeps.py kills real processes)."""
import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from ganexp import checkpoint
from ganexp.config import compose
from ganexp.train import run
from conftest import FAST, pool3_weights_or_skip, train_until_killed

TIMING = ("time_s", "images_per_s")  # wall-clock values: they differ between any two runs
CFG = [o for o in FAST if not o.startswith("logger=")] + [
    "logger=csv", "z_dim=3", "trainer.max_steps=20", "trainer.ckpt_every_n_steps=10", "trainer.log_every_n_steps=3"]
KILL_AT = 13  # rows 3..12 written, last.ckpt at 10: the resume drops row 12 and redoes steps 11..13


def killed_run(run_dir: Path, monkeypatch, step: int = KILL_AT) -> None:
    """Train CFG in run_dir until ``step``, then stop as a kill would."""
    train_until_killed(CFG, run_dir, monkeypatch, step)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """CFG trained without interruption."""
    run_dir = tmp_path_factory.mktemp("reference")
    run(compose(CFG), run_dir, "r")
    return run_dir


def rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(ln).items() if k not in TIMING} for ln in lines]


def csv_rows(run_dir: Path) -> list[list[str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [[k, "<timing>" if k in TIMING else v, step] for k, v, step in csv.reader(f)]


def result(run_dir: Path) -> dict:
    """result.json without its timings: wall_s, train_s, train_windows and the last images/s."""
    res = json.loads((run_dir / "result.json").read_text())
    res["metrics"] = {k: v for k, v in res["metrics"].items() if k not in TIMING}
    return {k: v for k, v in res.items() if k not in ("wall_s", "train_s", "train_windows")}


def printed(capsys, tag: str) -> list[str]:
    return [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(tag)]


def assert_same_run(run_dir: Path, reference: Path) -> None:
    assert result(run_dir) == result(reference)
    assert result(run_dir)["status"] == "completed" and result(run_dir)["steps"] == 20
    assert rows(run_dir) == rows(reference)
    assert [r["step"] for r in rows(run_dir)] == [3, 6, 9, 12, 15, 18, 20]


# --- 1. killed after the final checkpoint, before result.json ------------------------------------

@pytest.fixture(scope="module")
def finished_with_fid(tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished 3-step run with a real FID evaluation at the end (so metric_info is not empty), and its
    overrides."""
    weights = pool3_weights_or_skip()
    base = tmp_path_factory.mktemp("fid")
    overrides = [o for o in FAST if not o.startswith("metrics=")] + [
        "trainer.max_steps=3", "metrics.num_samples=8", "metrics.every_n_steps=0", "metrics.allow_download=false",
        f"metrics.inception_weights={weights}", f"metrics.cache_dir={base / 'cache'}"]
    run(compose(overrides), base / "run", "r")
    return base / "run", overrides


@pytest.mark.parametrize("content", [None, '{"status": "compl', "[1, 2]"], ids=["deleted", "torn", "list"])
def test_kill_before_result_json_gives_the_original_result(finished_with_fid, tmp_path, capsys, content):
    """Only wall_s may differ: it adds the time of the second process."""
    finished, overrides = finished_with_fid
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    want = json.loads((run_dir / "result.json").read_text())
    jsonl = (run_dir / "metrics.jsonl").read_bytes()
    assert want["steps"] == 3 and want["metric_info"]["num_samples"] == 8 and "fid8" in want["metrics"]
    if content is None:
        (run_dir / "result.json").unlink()
    else:
        (run_dir / "result.json").write_text(content)
    capsys.readouterr()

    run(compose(overrides), run_dir, "r")

    got = json.loads((run_dir / "result.json").read_text())
    assert {k: v for k, v in got.items() if k != "wall_s"} == {k: v for k, v in want.items() if k != "wall_s"}
    assert (run_dir / "metrics.jsonl").read_bytes() == jsonl  # nothing redone, nothing dropped
    assert printed(capsys, "[resume]") == ["[resume] r: from step 3 of 3"]


# --- 2. run files a kill or a person left unreadable ---------------------------------------------

def test_result_json_that_is_a_list_counts_as_absent(reference, tmp_path, monkeypatch, capsys):
    killed_run(tmp_path, monkeypatch)
    (tmp_path / "result.json").write_text("[1, 2]\n")
    capsys.readouterr()
    run(compose(CFG), tmp_path, "r")
    assert printed(capsys, "[resume]") == ["[resume] r: from step 10 of 20"]
    assert_same_run(tmp_path, reference)


def test_torn_metrics_line_is_dropped_on_resume(reference, tmp_path, monkeypatch):
    killed_run(tmp_path, monkeypatch)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 15, "d_loss": 1.3')  # a kill in the middle of a write: no closing brace, no newline
    run(compose(CFG), tmp_path, "r")
    assert_same_run(tmp_path, reference)


# --- 3. the logger fails to start -----------------------------------------------------------------

def test_logger_that_fails_to_start_is_one_warning_and_the_run_completes(tmp_path, capsys):
    """A file named wandb where W&B keeps its run folder: wandb.init itself raises (a real failure, offline,
    that no check of the config can foresee). W&B is a side channel: the run trains without it."""
    (tmp_path / "wandb").write_text("not a folder")
    overrides = [o for o in FAST if not o.startswith("logger=")] + ["logger=wandb", "trainer.max_steps=2"]
    res = run(compose(overrides), tmp_path, "r")
    assert json.loads((tmp_path / "result.json").read_text()) == res
    assert (res["status"], res["steps"]) == ("completed", 2)
    assert [json.loads(ln)["step"] for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    (warning,) = printed(capsys, "[warning]")
    assert re.fullmatch(rf"\[warning\] r: W&B start failed at step 0 \(NotADirectoryError: \[Errno 20\] Not a "
                        rf"directory: '{re.escape(str(tmp_path))}/wandb/offline-run-\d{{8}}_\d{{6}}-[a-z0-9]{{8}}'\); "
                        r"off for the rest of this run, training goes on; this run is not in W&B; metrics.jsonl has "
                        r"every row", warning)


# --- 4. metrics.csv ------------------------------------------------------------------------------

def test_csv_after_resume_equals_uninterrupted_csv(reference, tmp_path, monkeypatch):
    killed_run(tmp_path, monkeypatch)
    with open(tmp_path / "metrics.csv", "a", newline="") as f:
        f.write("d_loss,1.25,1")  # torn "d_loss,1.25,15\r\n": it even parses, as a row of step 1
    run(compose(CFG), tmp_path, "r")
    assert csv_rows(tmp_path) == csv_rows(reference)
    assert csv_rows(tmp_path)[0] == ["key", "value", "step"]
    assert sorted({int(r[2]) for r in csv_rows(tmp_path)[1:]}) == [3, 6, 9, 12, 15, 18, 20]


# --- 5. temp files of interrupted atomic writes ---------------------------------------------------

def test_stale_temp_files_are_removed_and_only_those(reference, tmp_path, monkeypatch):
    killed_run(tmp_path, monkeypatch)
    ours = [".last.ckpt.tmp4242", ".result.json.tmp4242", ".launch.json.tmp7", "samples/.step_000010.tmp4242.png"]
    foreign = ["notes.tmp1", ".last.ckpt.tmpold", "samples/.step_000010.tmp.png", "last.ckpt.tmp4242"]
    for name in ours + foreign:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"PK\x03\x04half a write")
    run(compose(CFG), tmp_path, "r")
    assert [n for n in ours if (tmp_path / n).exists()] == []
    assert [(tmp_path / n).read_bytes() for n in foreign] == [b"PK\x03\x04half a write"] * len(foreign)
    assert_same_run(tmp_path, reference)


def test_failed_checkpoint_write_leaves_no_temp_file(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"the previous checkpoint")
    with pytest.raises(TypeError, match="cannot pickle 'generator' object"):
        checkpoint.write(path, {"format": checkpoint.FORMAT, "rows": (i for i in range(3))})
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert path.read_bytes() == b"the previous checkpoint"


# --- 6. a damaged last.ckpt ------------------------------------------------------------------------

def test_truncated_checkpoint_is_kept_aside_and_the_run_starts_over(reference, tmp_path, capsys):
    whole = (reference / "last.ckpt").read_bytes()
    (tmp_path / "last.ckpt").write_bytes(whole[: len(whole) // 2])
    capsys.readouterr()
    run(compose(CFG), tmp_path, "r")
    out = capsys.readouterr().out.splitlines()
    assert [ln for ln in out if ln.startswith(("[restart]", "[resume]"))] == [
        f"[restart] r: last.ckpt is unreadable (cut short, {len(whole) // 2} bytes: a zip archive without its "
        "directory); kept as last.ckpt.damaged, training from scratch"]
    assert (tmp_path / "last.ckpt.damaged").read_bytes() == whole[: len(whole) // 2]
    assert_same_run(tmp_path, reference)
    with pytest.raises(checkpoint.CheckpointError, match="last.ckpt.damaged is not a readable ganexp checkpoint"):
        checkpoint.load(tmp_path / "last.ckpt.damaged")  # what latent/metrics tools still get for such a path


def test_second_damaged_checkpoint_does_not_replace_the_first(tmp_path):
    (tmp_path / "last.ckpt.damaged").write_bytes(b"first")
    (tmp_path / "last.ckpt").write_bytes(b"second")
    assert checkpoint.set_aside(tmp_path / "last.ckpt") == tmp_path / "last.ckpt.damaged.2"
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == [
        ("last.ckpt.damaged", b"first"), ("last.ckpt.damaged.2", b"second")]


def test_kills_in_quick_succession_resume_to_the_uninterrupted_run(reference, tmp_path, monkeypatch, capsys):
    """Killed at step 4 (before any checkpoint: the rerun starts over), at 13 (last.ckpt at 10), and at 15
    in the resumed run (still the step-10 checkpoint), then run to the end: the weights and the rows equal
    an uninterrupted run's exactly."""
    for step in (4, 13, 15):
        killed_run(tmp_path, monkeypatch, step)
    run(compose(CFG), tmp_path, "r")
    assert_same_run(tmp_path, reference)
    assert printed(capsys, "[resume]") == ["[resume] r: from step 10 of 20"] * 2
    ours, theirs = checkpoint.load(tmp_path / "last.ckpt"), checkpoint.load(reference / "last.ckpt")
    assert ours["system"].keys() == theirs["system"].keys() and any(k.startswith("players.G.") for k in ours["system"])
    assert all(ours["system"][k].equal(v) for k, v in theirs["system"].items())
