"""The grid's own report (``python -m ganexp.results`` on runs of no study) on hand-made run folders:
one row per configuration with exact means, every run left out named, Welch intervals against scipy's
reference computation, figures that follow the layout rules."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from ganexp.results import gridreport, stats
from ganexp.results.cells import Cell
from ganexp.results.__main__ import main
from ganexp.results.sweep import folder_overrides, sweep_values

# Three seeds per configuration: fid = base + seed offsets (10, 12, 14 -> mean 12, sd 2).
OFFSETS = {0: -2.0, 1: 0.0, 2: 2.0}


def make_run(sweep: Path, overrides: dict, seed: int, fid: float | None, status: str = "completed",
             extra_cfg: dict | None = None, rows: list[dict] | None = None, png: bool = False) -> Path:
    """One run folder as a grid job writes it: config in result.json, .hydra/overrides.yaml, metrics.jsonl."""
    items = {**overrides, "seed": seed}
    name = ",".join(f"{k}={v}" for k, v in sorted(items.items()))
    run = sweep / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {k}={v}\n" for k, v in items.items()))
    cfg = {"study": None, "seed": seed, "sweep": sweep.name, "dataset": {"name": "digits"},
           "loss": {"name": "gan_ns"}, "z_dim": 100, "model": {"width": 64}, "optim": {"lr_g": 2e-4},
           "logger": {"name": "none"}, "trainer": {"max_steps": 100, "accelerator": "cpu"}}
    for key, value in overrides.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = {"name": value} if isinstance(node.get(leaf), dict) and "name" in node[leaf] else value
    for key, value in (extra_cfg or {}).items():
        cfg[key] = value
    if status != "incomplete":
        result = {"status": status, "config": cfg, "steps": 100, "wall_s": 1.0,
                  "metrics": {"fid32": fid, "div32": 1.0, "kid32": fid and fid / 1000, "d_loss": 0.3}}
        if status == "diverged":
            result["diverged_at"] = 40
        if status == "failed":
            result["error"] = "RuntimeError: boom"
        (run / "result.json").write_text(json.dumps(result))
    else:
        (run / "config.yaml").write_text(json.dumps(cfg))
    if rows:
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if png:
        (run / "samples").mkdir()
        Image.new("L", (8 * 30 + 2, 8 * 30 + 2), color=40 + 50 * seed).save(run / "samples" / "final.png")
    return run


def width_lr_grid(root: Path, seeds=(0, 1, 2)) -> Path:
    """model.width x optim.lr_g (axes no study uses), fid = 100 + 10*(width==32) + 1000*lr + offset."""
    sweep = root / "mygrid"
    for width in (16, 32):
        for lr in (0.0001, 0.0002):
            for seed in seeds:
                base = 100 + 10 * (width == 32) + 1000 * lr
                make_run(sweep, {"model.width": width, "optim.lr_g": lr}, seed, base + OFFSETS[seed])
    return sweep


def test_grid_over_axes_no_study_uses(tmp_path: Path, capsys):
    sweep = width_lr_grid(tmp_path)
    assert main([str(sweep), "--out", str(tmp_path / "rep"), "--no-latent"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("runs: 12 completed, 0 diverged, 0 frozen, 0 failed, 0 incomplete, 0 duplicate(s); "
                      "4 configuration(s) over model.width, optim.lr_g")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "rep" / "grid_results.csv").read_text())))
    fid = {(r["model.width"], r["optim.lr_g"]): r for r in rows if r["metric"] == "fid32"}
    assert sorted(fid) == [("16", "0.0001"), ("16", "0.0002"), ("32", "0.0001"), ("32", "0.0002")]
    for (width, lr), r in fid.items():
        assert float(r["mean"]) == pytest.approx(100 + 10 * (width == "32") + 1000 * float(lr), abs=1e-9)
        assert float(r["sd"]) == pytest.approx(2.0, abs=1e-12) and r["n"] == "3" and r["seeds"] == "0 1 2"
    md = (tmp_path / "rep" / "grid_results.md").read_text()
    # each metric at its own precision: FID 2 decimals, KID 4 (its values are hundredths), diversity 3
    assert "| 16 | 0.0001 | 3/3 | 100.10 ± 2.00 (3) | 0.1001 ± 0.0020 (3) | 1.000 ± 0.000 (3) |" in md
    assert out[1] == "best fid32: model.width=16, optim.lr_g=0.0001: 100.10 ± 2.00 (3) (1 other(s) not " \
                     "distinguishable or too few seeds)"
    tex = (tmp_path / "rep" / "grid_results.tex").read_text()
    assert r"100.10 $\pm$ 2.00 (3)" in tex and r"model.width & optim.lr\_g" in tex


def test_left_out_runs_are_named_on_the_console(tmp_path: Path, capsys):
    sweep = width_lr_grid(tmp_path, seeds=(0, 1))
    failed = make_run(sweep, {"model.width": 64, "optim.lr_g": 0.0001}, 0, None, status="failed")
    diverged = make_run(sweep, {"model.width": 64, "optim.lr_g": 0.0001}, 1, 5.0, status="diverged")
    killed = make_run(sweep, {"model.width": 64, "optim.lr_g": 0.0002}, 0, None, status="incomplete")
    # A true duplicate: the same configuration and seed in a second folder (written later, also completed).
    dup = make_run(sweep / "again", {"model.width": 16, "optim.lr_g": 0.0001}, 0, 500.0)
    os.utime(dup / "result.json", (time.time() + 10, time.time() + 10))
    assert main([str(sweep), "--out", str(tmp_path / "rep"), "--no-latent"]) == 0
    out = capsys.readouterr().out
    assert f"left out: {failed}: failed: RuntimeError: boom" in out
    assert f"left out: {diverged}: diverged at step 40" in out
    assert f"left out: {killed}: incomplete: no result.json (still running, or killed: the same command " \
           "resumes it)" in out
    original = sweep / "model.width=16,optim.lr_g=0.0001,seed=0"
    assert f"left out: {original}: duplicate of {dup} (same configuration and seed" in out
    assert "runs: 8 completed, 1 diverged, 0 frozen, 1 failed, 1 incomplete, 1 duplicate(s); 6 configuration(s)" in out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "rep" / "grid_results.csv").read_text())))
    kept = [r for r in rows if r["metric"] == "fid32" and r["model.width"] == "16" and r["optim.lr_g"] == "0.0001"]
    assert float(kept[0]["mean"]) == pytest.approx((500.0 + 100.1) / 2)  # the newer duplicate is kept
    report = (tmp_path / "rep" / "report.md").read_text()
    assert f"- left out: `{failed}`: failed: RuntimeError: boom" in report


def test_configs_that_differ_are_never_merged(tmp_path: Path):
    """Two runs with the same overrides but configs that differ elsewhere (a yaml edited in between)."""
    sweep = tmp_path / "g"
    for seed in (0, 1):
        make_run(sweep, {"loss": "lsgan"}, seed, 10.0 + seed)
        make_run(sweep, {"loss": "hinge"}, seed, 20.0 + seed)
    make_run(sweep / "later", {"loss": "lsgan"}, 0, 50.0, extra_cfg={"batch_size": 32})
    report = gridreport.build([sweep])
    assert report.layout.columns == ["loss", "batch_size"]
    got = {tuple(r.config.values.values()): (r.summaries["fid32"].mean, r.summaries["fid32"].n)
           for r in report.rows}
    assert got == {("hinge", "—"): (20.5, 2), ("lsgan", "—"): (10.5, 2), ("lsgan", "32"): (50.0, 1)}
    assert report.left_out == []


def test_welch_interval_equals_scipy():
    from scipy import stats as sp

    a, b = (3.1, 4.7, 5.0, 6.2), (1.0, 1.4, 2.9)
    d = stats.welch(Cell(values=list(a)), Cell(values=list(b)))
    ref = sp.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d.diff == pytest.approx(sum(a) / 4 - sum(b) / 3, rel=1e-12)
    assert (d.low, d.high) == (pytest.approx(ref.low, rel=1e-10), pytest.approx(ref.high, rel=1e-10))
    # Closed form for equal n and sd: ν = 2(n-1) = 4, half-width = t(0.975, 4) · sqrt(2·sd²/n)
    e = stats.welch(Cell(values=[11.0, 12.0, 13.0]), Cell(values=[1.0, 2.0, 3.0]))
    half = 2.7764451051977987 * math.sqrt(2 / 3)
    assert e.df == pytest.approx(4.0, rel=1e-12)
    assert (e.low, e.high) == (pytest.approx(10 - half, rel=1e-9), pytest.approx(10 + half, rel=1e-9))
    assert e.decided and not stats.welch(Cell(values=[1.0, 5.0, 9.0]), Cell(values=[2.0, 3.0, 4.0])).decided
    few = stats.welch(Cell(values=[1.0, 2.0]), Cell(values=[0.0, 0.5, 1.0]))
    assert (few.diff, few.low, few.high) == (1.0, None, None)


def test_comparison_table_verdicts(tmp_path: Path):
    sweep = tmp_path / "g"
    for seed, (x, y, z) in enumerate([(10.0, 30.0, 11.0), (11.0, 31.0, 14.0), (12.0, 32.0, 9.0)]):
        make_run(sweep, {"norm": "spectral"}, seed, x)
        make_run(sweep, {"norm": "batch"}, seed, y)
        make_run(sweep, {"norm": "layer"}, seed, z)
    report = gridreport.build([sweep])
    table = gridreport.comparison_table(report, report.comparisons[0])
    assert [r[0] for r in table.rows] == ["spectral", "layer", "batch"]
    assert table.rows[0][2:] == ["—", "best"]
    assert table.rows[2][3] == "worse than the best (interval excludes 0)"
    assert table.rows[1][3] == "not distinguishable from the best"
    from scipy import stats as sp

    ref = sp.ttest_ind((30.0, 31.0, 32.0), (10.0, 11.0, 12.0), equal_var=False).confidence_interval()
    assert table.rows[2][2] == f"+20.00 [{ref.low:+.2f}, {ref.high:+.2f}]"


def test_curves_and_mosaic_layouts(tmp_path: Path):
    """Up to 10 configurations: one panel; more: small multiples; the mosaic has a row per configuration."""
    few, many = tmp_path / "few", tmp_path / "many"
    for sweep, n in ((few, 3), (many, 12)):
        for i in range(n):
            for seed in (0, 1):
                rows = [{"step": s, "epoch": s / 10, "images_seen": 16 * s, "d_loss": 1.0 / s + seed + i}
                        for s in (10, 20, 30)] + [{"step": 30, "epoch": 3.0, "fid32": 50.0 + i + seed}]
                make_run(sweep, {"optim.lr_g": 0.0001 * (i + 1)}, seed, 50.0 + i + seed, rows=rows, png=True)
    sizes = {}
    for sweep in (few, many):
        report = gridreport.build([sweep])
        gridreport.write(report, tmp_path / f"rep_{sweep.name}")
        names = set(report.files)
        assert {"curve_d_loss.png", "curve_fid32.png", "samples_mosaic.png", "report.md"} <= names
        sizes[sweep.name] = {n: Image.open(report.files[n]).size for n in names if n.endswith(".png")}
    assert sizes["few"]["curve_d_loss.png"] == (800, 464)  # one panel, 8.0 x (4.2 + 0.22 * 2 legend rows) in at 100 dpi
    assert sizes["many"]["curve_d_loss.png"] == (1120, 750)  # 4 x 3 panels of 2.8 x 2.3 in, + 0.6 in title
    assert sizes["few"]["samples_mosaic.png"] == (400, 425)  # 3 rows of 1.25 in + 0.5 in
    assert sizes["many"]["samples_mosaic.png"] == (400, 1550)  # 12 rows: one column up to 16


def test_sweep_values_and_folder_names():
    assert sweep_values("range(0,3)") == ["0", "1", "2"] and sweep_values("choice(a,b)") == ["a", "b"]
    assert sweep_values("${x}") is None
    assert folder_overrides("loss=lsgan,optim.betas=[0.5,0.9],seed=1") == {
        "loss": "lsgan", "optim.betas": "[0.5,0.9]", "seed": "1"}


def test_study_null_picks_the_grid_report(tmp_path: Path):
    from ganexp.results import studies

    sweep = width_lr_grid(tmp_path, seeds=(0,))
    assert studies.choose([sweep]).name == "grid"
    assert studies.study_of({"study": None, "seed": 0}) == "grid"
    assert studies.study_of({"seed": 0}) == "lee2018"  # runs from before the key were Study A's


def test_wandb_push_of_a_grid_reads_back(tmp_path: Path):
    """The real wandb, offline: the grid's tables with the swept keys as columns, and its figures."""
    import hashlib

    from wandb_offline import offline_runs

    sweep = width_lr_grid(tmp_path)
    report = gridreport.build([sweep])
    out = gridreport.write(report, tmp_path / "rep")
    where = gridreport.push(report, out)
    (wb,) = offline_runs(out / "wandb")
    assert where == f"offline run {wb.id} in ganexp/mygrid (upload later: wandb sync {out / 'wandb' / 'latest-run'})"
    assert (wb.group, wb.job_type) == ("mygrid", "results")
    (row,) = wb.history
    logged = json.loads((wb.dir / "files" / row["grid_results"]["path"]).read_text())
    assert logged["columns"][:4] == ["model.width", "optim.lr_g", "metric", "mean"]
    fid = [r for r in logged["data"] if r[2] == "fid32"]
    assert [(r[0], r[1], round(r[3], 9), r[5]) for r in fid] == [
        ("16", "0.0001", 100.1, 3), ("16", "0.0002", 100.2, 3), ("32", "0.0001", 110.1, 3), ("32", "0.0002", 110.2, 3)]
    assert "compare_fid32" in row and "compare_div32" in row
    assert {k: v for k, v in wb.summary.items() if k.startswith("runs/")} == {
        "runs/completed": 12, "runs/diverged": 0, "runs/frozen": 0, "runs/failed": 0, "runs/incomplete": 0, "runs/total": 12,
        "runs/duplicates": 0}

    rows = [{"step": s, "d_loss": 1.0 / s} for s in (10, 20)]
    with_curves = tmp_path / "curves"
    for seed in (0, 1):
        make_run(with_curves, {"loss": "lsgan"}, seed, 10.0, rows=rows)
    report = gridreport.build([with_curves])
    out = gridreport.write(report, tmp_path / "rep2")
    gridreport.push(report, out)
    (wb,) = offline_runs(out / "wandb")
    (row,) = wb.history
    assert (row["curve_d_loss"]["_type"], row["curve_d_loss"]["sha256"]) == (
        "image-file", hashlib.sha256((out / "curve_d_loss.png").read_bytes()).hexdigest())


def test_a_failed_push_is_one_line_and_the_report_stays(tmp_path: Path, capsys, monkeypatch):
    """WANDB_MODE=online is honoured (no config key sets the mode); with no account the real wandb refuses,
    and that is one line: the report is written and the command succeeds."""
    for var in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc: no stored key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "home" / ".config" / "wandb"))
    sweep = width_lr_grid(tmp_path, seeds=(0,))
    assert main([str(sweep), "--out", str(tmp_path / "rep"), "--no-latent", "--wandb"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("wandb: push failed (UsageError: ")
    assert lines[-2].endswith(f"the report is complete in {tmp_path / 'rep'}: fix that and run the same "
                              "command to push it")
    assert (tmp_path / "rep" / "report.md").is_file()


def test_wandb_target_prefers_config_then_environment(monkeypatch):
    from ganexp import wandbenv

    for var in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_ENTITY"):
        monkeypatch.delenv(var, raising=False)
    assert wandbenv.target({}) == {"mode": "offline", "project": "ganexp", "entity": None}
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_PROJECT", "mine")
    assert wandbenv.target({"mode": None, "project": None}) == {"mode": "online", "project": "mine", "entity": None}
    assert wandbenv.target({"mode": "disabled", "entity": "lab"}) == {"mode": "disabled", "project": "mine",
                                                                    "entity": "lab"}


def test_a_frozen_run_is_counted_and_named_with_its_step(tmp_path, capsys):
    """A frozen run (PS-GAN's D not updated for system.freeze_patience steps) is a finished run every reader
    knows: records reads its result, the run's status and step are loaded, the report leaves it out of the
    means with its step and reason, and the counts have a column for it."""
    from ganexp import records
    from ganexp.results.runs import load_run

    sweep = tmp_path / "grid"
    for width in (16, 64):
        make_run(sweep, {"model.width": width}, 0, 100.0 + width)
    frozen = make_run(sweep, {"model.width": 16}, 1, None, status="frozen")
    result = json.loads((frozen / "result.json").read_text())
    result |= {"frozen_at": 600, "error": "D was not updated for 500 consecutive generator steps (steps 101-600, "
                                          "branch all_fake): frozen"}
    (frozen / "result.json").write_text(json.dumps(result))
    assert records.read_result(frozen)[0]["status"] == "frozen"
    run = load_run(frozen)
    assert (run.status, run.frozen_at) == ("frozen", 600)
    assert main([str(sweep), "--out", str(tmp_path / "rep"), "--no-latent"]) == 0
    out = capsys.readouterr().out
    assert f"left out: {frozen}: frozen at step 600: D was not updated for 500 consecutive generator steps" in out
    assert out.startswith("runs: 2 completed, 0 diverged, 1 frozen, 0 failed, 0 incomplete")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "rep" / "grid_results.csv").read_text())))
    assert [r["n_frozen"] for r in rows if r["metric"] == "fid32" and r["model.width"] == "16"] == ["1"]
