"""ganexp.results on hand-made run folders: exact means/stds, marks, counts, figures, findings.

Std convention under test: sample std (ddof=1), so seeds 10, 12, 14 -> mean 12, std 2.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ganexp.metrics.config import metric_key
from ganexp.results.lee2018 import build_report, claims as findings, protocol, render, write_report
from ganexp.results.lee2018.aggregate import build_table
from ganexp.results.lee2018.figures import metric_figure_size, sample_figure_size
from ganexp.results.lee2018.grid import Grid, infer_grid, parse_sweep_value
from ganexp.results.lee2018.paper import TABLE31, paper_table
from ganexp.results.lee2018.runs import collect_runs
from ganexp.results.runs import Run, load_run
from wandb_offline import offline_runs

ZS = [1, 10, 100]


FULL_STEPS = 20000  # conf/experiment/table31.yaml's MNIST / Fashion-MNIST schedule (checked below)


def make_run(root: Path, dataset: str, loss: str, z: int, seed: int, fid: float | None = None,
             status: str = "completed", inception: float | None = None, png: bool = False,
             channels: int | None = None, steps: int = FULL_STEPS, num_samples: int = 10000,
             **config) -> Path:
    """Write one run folder following the training's result.json contract.

    Defaults follow the full table31 protocol (20000 generator steps, fid10k against 10k train
    images, uniform prior), so a Δ to the paper is printed; ``steps``/``num_samples`` break it.
    """
    run = root / f"dataset={dataset},loss={loss},z_dim={z}" / str(seed)
    run.mkdir(parents=True)
    data = {"name": dataset, "resolution": 28} | ({"channels": channels} if channels else {})
    cfg = {"dataset": data, "loss": {"name": loss}, "z_dim": z, "seed": seed, "latent": "uniform",
           "sweep": root.name, "norm": {"g": "batch", "d": "batch"},
           "trainer": {"max_steps": steps}, **config}
    result = {"status": status, "config": cfg, "steps": steps, "wall_s": 1.0,
              "metrics": {metric_key("fid", num_samples): fid,
                          metric_key("is", num_samples): inception, "d_loss": 0.5, "g_loss": 1.0},
              "metric_info": {"num_samples": num_samples, "num_real": num_samples,
                              "real_split": "train",
                              "weights": "official" if inception is not None else "pool3-only"}}
    if status == "diverged":
        result["diverged_at"] = 50
    if status == "failed":
        result["error"] = "RuntimeError: boom"
    (run / "result.json").write_text(json.dumps(result))
    if png:
        (run / "samples").mkdir()
        Image.new("L", (8 * 28, 8 * 28), color=seed * 40).save(run / "samples" / "final.png")
    return run


def mem_run(dataset: str, loss: str, z: int, seed: int, fid: float | None,
            inception: float | None = None, status: str = "completed") -> Run:
    """An in-memory run (no folder) for table and findings tests (full MNIST protocol)."""
    return Run(path=Path("/nonexistent"), status=status, dataset=dataset, loss=loss, z_dim=z,
               seed=seed, metrics={"fid10k": fid, "is10k": inception}, steps=FULL_STEPS,
               config={"latent": "uniform", "trainer": {"max_steps": FULL_STEPS}},
               metric_info={"num_samples": 10000, "num_real": 10000, "real_split": "train"})


def tables(runs: list[Run]):
    """FID and IS tables over the grid the runs span."""
    grid = infer_grid(runs, [])
    return build_table(runs, "fid", "fid10k", grid), build_table(runs, "is", "is10k", grid)


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """mnist × {lsgan, gan_ns} × d ∈ {1, 10, 100} × 3 seeds with known FIDs and problem cells."""
    root = tmp_path / "table31"
    fids = {("lsgan", 1): [100, 110, 120], ("lsgan", 10): [10, 12, 14],
            ("gan_ns", 1): [90, 90, 90], ("gan_ns", 100): [20, 22, 24]}
    for (loss, z), values in fids.items():
        for seed, v in enumerate(values):
            make_run(root, "mnist", loss, z, seed, fid=v, png=(loss == "lsgan"))
    make_run(root, "mnist", "lsgan", 100, 0, fid=11.0, png=True)
    make_run(root, "mnist", "lsgan", 100, 1, fid=15.0)
    make_run(root, "mnist", "lsgan", 100, 2, fid=999.0, status="diverged")
    for seed in range(3):
        make_run(root, "mnist", "gan_ns", 10, seed, status="failed")
    return root


def test_paper_reference_is_shipped_package_data():
    fid, inception = paper_table("fid"), paper_table("is")
    assert len(fid) == len(inception) == 4 * 7 * 6
    assert fid[("mnist", "lsgan", 10)] == 4.79
    assert fid[("celeba", "wgan_gp", 100)] == 103.28
    assert inception[("cifar10", "gan_mm", 100)] == 5.29


def test_mean_sample_std_and_paper_difference(sweep: Path):
    report = build_report([sweep])
    cell = report.fid.cell("mnist", "lsgan", 10)
    assert (cell.values, cell.mean, cell.std, cell.n) == ([10.0, 12.0, 14.0], 12.0, 2.0, 3)
    assert cell.paper == 4.79
    assert cell.diff == pytest.approx(7.21, abs=1e-12)
    assert render.cell_text(cell, "fid") == "12.00 ± 2.00 (3)"
    assert render.paper_text(cell) == "4.79 (+7.21)"
    assert report.fid.key == "fid10k"
    assert report.fid.info == ["fid10k: 10000 generated vs 10000 real images (train split), "
                               "Inception weights pool3-only (14 runs)"]


def test_best_marks_per_loss_and_per_dataset(sweep: Path):
    fid = build_report([sweep]).fid
    marks = {(loss, z): (c.best_loss, c.best_dataset)
             for (d, loss, z), c in fid.cells.items() if c.mean is not None}
    assert marks == {("lsgan", 1): (False, False), ("lsgan", 10): (True, True),
                     ("lsgan", 100): (False, True), ("gan_ns", 1): (False, True),
                     ("gan_ns", 100): (True, False)}
    md, tex = render.to_markdown(fid), render.to_latex(fid)
    assert ("| MNIST | LSGAN | 110.00 ± 10.00 (3) | 166.79 (-56.79) | **<u>12.00 ± 2.00</u>** (3) |"
            in md)
    assert r"\textbf{\underline{12.00 $\pm$ 2.00}} (3)" in tex
    assert r"\textbf{90.00 $\pm$ 0.00} (3) & 186.43 (-96.43)" in tex


def test_ties_are_all_marked():
    fid, _ = tables([mem_run("mnist", loss, 10, 0, 5.0) for loss in ("lsgan", "gan_ns")])
    assert [c.best_dataset for c in fid.cells.values()] == [True, True]


def test_diverged_failed_missing_cells_are_counted_not_averaged(sweep: Path):
    report = build_report([sweep])
    fid = report.fid
    partial = fid.cell("mnist", "lsgan", 100)
    assert (partial.values, partial.mean, partial.n_diverged) == ([11.0, 15.0], 13.0, 1)
    assert render.cell_text(partial, "fid") == "13.00 ± 2.83 (2; 1 diverged)"
    assert render.cell_text(fid.cell("mnist", "gan_ns", 10), "fid") == "failed (3/3)"
    assert render.cell_text(fid.cell("mnist", "lsgan", 1), "fid") == "110.00 ± 10.00 (3)"
    assert fid.cell("mnist", "lsgan", 1).best_loss is False
    assert report.counts == {"completed": 14, "diverged": 1, "frozen": 0, "failed": 3, "incomplete": 0,
                             "total": 18, "expected": 18, "missing": 0}


def test_incomplete_and_missing_runs_are_shown(sweep: Path):
    run = sweep / "dataset=mnist,loss=gan_ns,z_dim=1" / "3"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(
        "dataset:\n  name: mnist\nloss:\n  name: gan_ns\nz_dim: 1\nseed: 3\n")
    (run / "metrics.jsonl").write_text('{"step": 100}\n')
    report = build_report([sweep])
    assert report.grid.seeds_per_cell == 4
    assert report.counts["incomplete"] == 1
    assert report.counts["missing"] == 4 * 6 - 19
    assert render.cell_text(report.fid.cell("mnist", "gan_ns", 1), "fid") == \
        "90.00 ± 0.00 (3; 1 incomplete)"
    assert render.cell_text(report.fid.cell("mnist", "lsgan", 10), "fid") == \
        "12.00 ± 2.00 (3; 1 missing)"
    assert render.cell_text(report.fid.cell("mnist", "gan_ns", 10), "fid") == \
        "failed (3/4), missing (1/4)"


def test_empty_cell_of_a_known_grid_reads_dash():
    runs = [mem_run("mnist", "lsgan", 1, s, 100.0 + s) for s in range(3)]
    grid = Grid(["mnist"], ["lsgan"], [1, 10], seeds_per_cell=3, source="test")
    fid = build_table(runs, "fid", "fid10k", grid)
    assert render.cell_text(fid.cell("mnist", "lsgan", 10), "fid") == "— (0/3)"
    assert render.cell_text(fid.cell("mnist", "lsgan", 10), "fid", render.LATEX) == "--- (0/3)"


def test_is_table_with_nulls_reads_unavailable(sweep: Path):
    report = build_report([sweep])
    inception = report.inception
    assert inception.key == "is10k" and not inception.available
    assert render.cell_text(inception.cell("mnist", "lsgan", 10), "is") == "unavailable"
    assert render.cell_text(inception.cell("mnist", "lsgan", 100), "is") == \
        "diverged (1/3), unavailable (2/3)"
    md = render.to_markdown(inception)
    assert "Inception Score unavailable: no completed run reported a value for `is10k`" in md
    claim4 = report.findings[3]
    assert (claim4.verdict, claim4.reason) == ("not testable",
                                               "IS unavailable (no official Inception weights)")


def test_is_values_higher_is_better():
    runs = [mem_run("mnist", "lsgan", z, s, 10.0, inception=v)
            for z, vals in ((1, [2.0, 2.2, 2.4]), (10, [1.0, 1.0, 1.0]))
            for s, v in enumerate(vals)]
    _, inception = tables(runs)
    best = inception.cell("mnist", "lsgan", 1)
    assert (best.mean, best.std, best.best_loss) == (pytest.approx(2.2), pytest.approx(0.2), True)
    assert best.diff == pytest.approx(2.2 - 1.82)
    assert inception.cell("mnist", "lsgan", 10).best_loss is False


def test_csv_outputs(sweep: Path, tmp_path: Path):
    out = write_report(build_report([sweep]), tmp_path / "out")
    rows = list(csv.DictReader(io.StringIO((out / "table3_1_fid.csv").read_text())))
    row = next(r for r in rows if (r["loss"], r["z_dim"]) == ("lsgan", "10"))
    assert {k: row[k] for k in ("mean", "std", "n", "seeds", "paper", "diff", "best_loss",
                                "best_dataset")} == {
        "mean": "12.00", "std": "2.00", "n": "3", "seeds": "0 1 2", "paper": "4.79",
        "diff": "+7.21", "best_loss": "1", "best_dataset": "1"}
    wide = (out / "table3_1_fid_wide.csv").read_text().splitlines()
    assert wide == ["dataset,model,z1,z10,z100", "mnist,gan_ns,90.00,,22.00",
                    "mnist,lsgan,110.00,12.00,13.00"]


def test_figures_are_written_with_expected_size(sweep: Path, tmp_path: Path):
    make_run(sweep, "fashion_mnist", "lsgan", 10, 0, fid=30.0)
    report = build_report([sweep])
    out = write_report(report, tmp_path / "out")
    assert metric_figure_size(2) == (1000, 440)
    for name in ("figure3_1_fid.png", "figure3_2_is.png"):
        with Image.open(out / name) as img:
            assert img.size == metric_figure_size(2)
    assert sample_figure_size(3) == (900, 340)
    with Image.open(out / "figure3_3_mnist_samples.png") as img:
        assert img.size == sample_figure_size(3)
    assert not (out / "figure3_4_fashion_mnist_samples.png").exists()
    assert "No samples/final.png for Fashion-MNIST: no sample figure." in report.notes
    text = (out / "report.md").read_text()
    for name in ("figure3_1_fid.png", "figure3_3_mnist_samples.png", "table3_1_fid.csv"):
        assert f"]({name})" in text
    assert "| 15 | 1 | 0 | 3 | 0 | 19 | 36 | 17 |" in text


def test_sample_figure_uses_completed_first_seed(sweep: Path):
    from ganexp.results.lee2018.figures import sample_loss, sample_run

    runs, _ = collect_runs([sweep])
    assert sample_loss(runs, "mnist", ["gan_ns", "lsgan"]) == "lsgan"
    assert sample_run(runs, "mnist", "lsgan", 10).seed == 0
    assert sample_run(runs, "mnist", "lsgan", 100).path.name == "0"


def test_cli_prints_report_folder_last_and_never_imports_wandb(sweep: Path):
    code = ("import sys; from ganexp.results.__main__ import main; rc = main(sys.argv[1:]); "
            "assert 'wandb' not in sys.modules; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(sweep)], capture_output=True,
                          text=True, check=True)
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == str(sweep / "report")
    assert lines[0] == "runs: 14 completed, 1 diverged, 0 frozen, 3 failed, 0 incomplete, 0 missing"
    assert (sweep / "report" / "report.md").is_file()


def test_cli_rejects_missing_folder(tmp_path: Path, capsys):
    from ganexp.results.__main__ import main

    with pytest.raises(SystemExit) as stop:  # checked by the parser, as every argument is
        main([str(tmp_path / "nope")])
    assert stop.value.code == 2
    assert "does not exist; pass the folder a multirun wrote" in capsys.readouterr().err


def test_unreadable_or_unknown_result_is_incomplete(tmp_path: Path):
    bad = tmp_path / "a"
    bad.mkdir()
    (bad / "result.json").write_text("{not json")
    odd = make_run(tmp_path, "mnist", "lsgan", 1, 0, fid=1.0, status="running")
    assert load_run(bad).status == "incomplete"
    assert (load_run(odd).status, load_run(odd).note) == ("incomplete", "unknown status 'running'")


def test_duplicates_and_mixed_configs_are_reported(tmp_path: Path):
    root = tmp_path / "s"
    make_run(root / "a", "mnist", "lsgan", 1, 0, fid=1.0, norm={"g": "batch", "d": "none"})
    make_run(root / "a", "mnist", "lsgan", 1, 1, fid=3.0)
    make_run(root / "b", "mnist", "lsgan", 1, 1, fid=5.0, status="failed")
    report = build_report([root])
    assert report.fid.cell("mnist", "lsgan", 1).values == [1.0, 3.0]
    assert [r.status for r in report.dropped] == ["failed"]
    assert any(n.startswith("1 duplicate run(s)") for n in report.notes)
    assert "`norm.d` (1 cells)" in " ".join(report.notes)


def test_grid_from_multirun_yaml(tmp_path: Path):
    assert parse_sweep_value("range(0,3)") == ["0", "1", "2"]
    assert parse_sweep_value("choice(lsgan, wgan)") == ["lsgan", "wgan"]
    assert parse_sweep_value("1,10,100") == ["1", "10", "100"]
    assert parse_sweep_value("${oc.env:X}") is None
    (tmp_path / "multirun.yaml").write_text(
        "hydra:\n  sweeper:\n    params:\n      seed: range(0,3)\n      z_dim: 1,10\n"
        "  overrides:\n    task:\n    - loss=lsgan,wgan\n    - dataset=mnist\n")
    grid = infer_grid([], [tmp_path])
    assert (grid.datasets, grid.losses, grid.z_dims, grid.seeds_per_cell) == (
        ["mnist"], ["lsgan", "wgan"], [1, 10], 3)
    assert infer_grid([], [tmp_path], paper_grid=True, seeds=5).rows()[-1] == ("celeba", "began")


def steep_flat_runs(fid_by_z: dict[int, float], losses=("lsgan", "gan_ns")) -> list[Run]:
    return [mem_run("mnist", loss, z, 0, v) for loss in losses for z, v in fid_by_z.items()]


def test_claim1_holds_and_fails():
    fid, _ = tables(steep_flat_runs({1: 100.0, 10: 10.0, 100: 11.0}))
    f = findings.claim1(fid)
    assert f.verdict == "supported"
    assert f.details == ["MNIST (2 losses): median FID d=1 100.00 → d=10 10.00 (×0.10, steep yes) "
                         "→ d=100 11.00 (+10%, flat yes)"]
    assert findings.claim1(tables(steep_flat_runs({1: 100.0, 10: 60.0, 100: 61.0}))[0]).verdict \
        == "contradicted"
    assert findings.claim1(tables(steep_flat_runs({1: 100.0, 10: 10.0, 100: 20.0}))[0]).verdict \
        == "contradicted"
    untestable = findings.claim1(tables(steep_flat_runs({1: 100.0, 100: 10.0}))[0])
    assert (untestable.verdict, untestable.reason) == (
        "not testable", "needs FID at d=10, at some d<10 and some d>10")


RANKED = {"gan_ns": 10.0, "lsgan": 11.0, "gan_mm": 12.0, "dragan": 13.0, "wgan_gp": 14.0,
          "wgan": 20.0}


def ranked_runs(dataset: str, fids: dict[str, float], seeds=(0, 1)) -> list[Run]:
    """Each loss at d=10 with the given FID ± 0.5 over two seeds (equal CV for all)."""
    return [mem_run(dataset, loss, 10, s, v * (1 + (0.05 if s else -0.05)))
            for loss, v in fids.items() for s in seeds]


def test_claim2_holds_and_fails():
    fid, _ = tables(ranked_runs("mnist", RANKED))
    assert findings.claim2(fid).verdict == "supported"
    worst = dict(RANKED, gan_ns=30.0)
    assert findings.claim2(tables(ranked_runs("mnist", worst))[0]).verdict == "contradicted"
    diverging = ranked_runs("mnist", RANKED) + [mem_run("mnist", "lsgan", 10, 2, None,
                                                        status="diverged")]
    f = findings.claim2(tables(diverging)[0])
    assert f.verdict == "contradicted"
    assert "LSGAN 33% diverged" in f.details[0]


def test_claim3_holds_and_fails():
    gray = findings.claim3(tables(ranked_runs("mnist", RANKED))[0])
    assert (gray.verdict, gray.details) == ("supported", [
        "MNIST (gray): WGAN ranks 6/6 (FID 20.00) — weak yes"])
    color = findings.claim3(tables(ranked_runs("cifar10", RANKED))[0])
    assert color.details == ["CIFAR-10 (color): WGAN-GP ranks 5/6 (FID 14.00) — weak yes"]
    assert color.verdict == "supported"
    strong = findings.claim3(tables(ranked_runs("cifar10", dict(RANKED, wgan_gp=1.0)))[0])
    assert strong.verdict == "contradicted"


def test_claim4_holds_and_fails():
    fids = {1: 200.0, 10: 10.0, 100: 11.0}
    good_is = [mem_run("mnist", "lsgan", z, 0, f, inception=i)
               for (z, f), i in zip(fids.items(), (2.0, 2.2, 2.1))]
    f = findings.claim4(*tables(good_is))
    assert f.verdict == "supported"
    assert f.details[1] == "MNIST LSGAN: IS(d=1) 2.00 vs best 2.20, FID(d=1) 200.00 vs best 10.00"
    low_is = [mem_run("mnist", "lsgan", z, 0, f, inception=i)
              for (z, f), i in zip(fids.items(), (1.0, 2.2, 2.1))]
    assert findings.claim4(*tables(low_is)).verdict == "contradicted"


def test_paper_numbers_satisfy_the_criteria():
    grid = infer_grid([], [], paper_grid=True, seeds=3)
    fid = findings.paper_only(build_table([], "fid", "fid10k", grid))
    inception = findings.paper_only(build_table([], "is", "is10k", grid))
    assert [f.verdict for f in findings.all_findings(fid, inception)] == ["supported"] * 4


def test_wandb_push_reads_back_from_wandb_offline_files(sweep: Path, tmp_path: Path):
    """The real wandb, offline: one run of job type "results" in the sweep's group whose files (what
    `wandb sync` uploads) hold every table cell, every figure byte for byte and the run counts."""
    from ganexp.results.lee2018.push import CELL_COLUMNS, cell_rows, push

    report = build_report([sweep])
    out = write_report(report, tmp_path / "out")
    where = push(report, out)
    (wb,) = offline_runs(out / "wandb")
    assert where == f"offline run {wb.id} in ganexp/table31 (upload later: wandb sync {out / 'wandb' / 'latest-run'})"
    assert (wb.project, wb.group, wb.job_type, wb.name) == ("ganexp", "table31", "results", "results-table31")
    assert {k: v for k, v in wb.config.items() if k != "_wandb"} == {"sweeps": [str(sweep)], "fid_key": "fid10k"}

    (row,) = wb.history
    figures = sorted(name[:-4] for name in report.files if name.endswith(".png"))
    assert figures == ["figure3_1_fid", "figure3_2_is", "figure3_3_mnist_samples"]
    assert sorted(k for k in row if not k.startswith("_")) == sorted(
        ["table3_1_fid", "table3_2_is", "findings", *figures])
    for key, table in (("table3_1_fid", report.fid), ("table3_2_is", report.inception)):
        assert (row[key]["_type"], row[key]["nrows"], row[key]["ncols"]) == ("table-file", 6, len(CELL_COLUMNS))
        logged = json.loads((wb.dir / "files" / row[key]["path"]).read_text())
        assert (logged["columns"], logged["data"]) == (CELL_COLUMNS, json.loads(json.dumps(cell_rows(table))))
    findings_table = json.loads((wb.dir / "files" / row["findings"]["path"]).read_text())
    assert [r[:4] for r in findings_table["data"]] == [
        [f.claim, f.title, f.verdict, p.verdict] for f, p in zip(report.findings, report.paper_findings)]
    assert [(k, row[k]["_type"], row[k]["sha256"]) for k in figures] == [
        (k, "image-file", hashlib.sha256((out / f"{k}.png").read_bytes()).hexdigest()) for k in figures]
    assert {k: v for k, v in wb.summary.items() if k.startswith("runs/")} == {
        "runs/completed": 14, "runs/diverged": 1, "runs/frozen": 0, "runs/failed": 3, "runs/incomplete": 0, "runs/total": 18,
        "runs/expected": 18, "runs/missing": 0}



def test_fast_mode_fids_say_so_in_the_sample_line(tmp_path: Path):
    """metric_info's mode (metrics.mode=fast) reaches the table's description of its values."""
    root = tmp_path / "sweep"
    for seed, mode in ((0, "exact"), (1, "fast"), (2, "fast")):
        result = make_run(root, "mnist", "lsgan", 10, seed, fid=10.0 + seed) / "result.json"
        data = json.loads(result.read_text())
        data["metric_info"]["mode"] = mode
        result.write_text(json.dumps(data))
    assert build_report([root]).fid.info == [
        "fid10k: 10000 generated vs 10000 real images (train split), Inception weights pool3-only (1 runs)",
        "fid10k: 10000 generated vs 10000 real images (train split), Inception weights pool3-only, "
        "fast mode (TF32, channels-last) (2 runs)"]

def test_dataset_outside_the_paper_uses_config_channels(tmp_path: Path):
    root = tmp_path / "digits"
    for loss, v in RANKED.items():
        make_run(root, "digits", loss, 10, 0, fid=v, channels=1)
    report = build_report([root])
    assert report.fid.cell("digits", "wgan", 10).paper is None
    assert render.paper_text(report.fid.cell("digits", "wgan", 10)) == "—"
    assert "Not in the paper (no published values to compare): digits." in report.notes
    claim3 = report.findings[2]
    assert (claim3.verdict, claim3.details) == ("supported", [
        "digits (gray): WGAN ranks 6/6 (FID 20.00) — weak yes"])


# --- comparison with the paper: Δ only under the full protocol --------------------------------

RULE = ("Δ = ours − paper is printed only where every run of the cell follows the full table31 "
        "protocol (MNIST/Fashion-MNIST 20000, CIFAR-10/CelebA 40000 generator steps; fid10k: "
        "10000 generated vs 10000 train images; uniform latent prior).")
UNPUBLISHED = ("Lee & Seok do not publish the sample count behind their FID/IS (nor their "
               "training length)")
FID10K = "fid10k (10000 generated vs 10000 real images, train split)"


def quick_sweep(root: Path, steps: int = 400, num_samples: int = 250) -> Path:
    """MNIST × lsgan × d ∈ {1, 10}, one seed, short schedule and small sample count."""
    for z, v in ((1, 150.0), (10, 120.0)):
        make_run(root, "mnist", "lsgan", z, 0, fid=v, steps=steps, num_samples=num_samples)
    return root


def test_delta_printed_when_protocol_matches(sweep: Path, tmp_path: Path):
    fid = build_report([sweep]).fid
    cell = fid.cell("mnist", "lsgan", 10)
    assert (cell.comparable, cell.differences, cell.diff) == (True, [], pytest.approx(7.21))
    assert render.paper_text(cell) == "4.79 (+7.21)"
    md = render.to_markdown(fid)
    assert md.splitlines()[2] == ("| Dataset | Model | d=1 | paper (Δ) | d=10 | paper (Δ) "
                                  "| d=100 | paper (Δ) |")
    assert RULE in md.splitlines()
    assert (f"Every cell here follows it. {UNPUBLISHED}, so Δ assumes theirs is comparable to "
            f"our fid10k.") in md.splitlines()
    assert r"ours & paper ($\Delta$)" in render.to_latex(fid)
    row = next(r for r in csv.DictReader(io.StringIO(render.to_csv_long(fid)))
               if (r["loss"], r["z_dim"]) == ("lsgan", "10"))
    assert (row["diff"], row["protocol_match"], row["protocol_differences"]) == ("+7.21", "1", "")


def test_no_delta_and_caption_names_differences_when_protocol_differs(tmp_path: Path):
    report = build_report([quick_sweep(tmp_path / "q")])
    fid = report.fid
    assert fid.key == "fid250"
    cell = fid.cell("mnist", "lsgan", 10)
    assert (cell.mean, cell.paper, cell.diff, cell.comparable) == (120.0, 4.79, None, False)
    assert [(d.aspect, d.ours, d.full) for d in cell.differences] == [
        ("sample count", "fid250 (250 generated vs 250 real images, train split)", FID10K),
        ("schedule", "400 generator steps on MNIST", "20000 generator steps on MNIST")]
    assert render.paper_text(cell) == "4.79"
    md = render.to_markdown(fid)
    lines = md.splitlines()
    assert lines[2] == "| Dataset | Model | d=1 | paper | d=10 | paper |"
    assert lines[4] == "| MNIST | LSGAN | **150.00** (1) | 166.79 | **<u>120.00</u>** (1) | 4.79 |"
    assert "Δ" not in "\n".join(lines[:5])
    assert lines[7:11] == [
        RULE,
        "No cell here follows it, so no Δ: a difference would measure the protocol (below) as "
        "much as the method. The paper's value is shown for orientation only.",
        "Differs in sample count: ours fid250 (250 generated vs 250 real images, train split); "
        f"the full grid's {FID10K}; Lee & Seok's is not published.",
        "Differs in schedule: ours 400 generator steps on MNIST; the full grid's 20000 generator "
        "steps on MNIST (one generator step follows loss.n_critic critic steps)."]
    tex = render.to_latex(fid)
    assert r"Dataset & Model & ours & paper & ours & paper \\" in tex
    assert "(+" not in tex and "(-" not in tex
    assert ("Differs in sample count: ours fid250 (250 generated vs 250 real images, train "
            "split); the full grid's fid10k") in tex
    assert r"no $\Delta$" in tex
    out = write_report(report, tmp_path / "out")
    row = next(r for r in csv.DictReader(io.StringIO((out / "table3_1_fid.csv").read_text()))
               if r["z_dim"] == "10")
    assert (row["paper"], row["diff"], row["protocol_match"]) == ("4.79", "", "0")
    assert row["protocol_differences"] == (
        f"sample count: fid250 (250 generated vs 250 real images, train split) vs {FID10K}; "
        "schedule: 400 generator steps on MNIST vs 20000 generator steps on MNIST")
    assert protocol.short_note(list(fid.cells.values()), "fid") == (
        "Ours: fid250; 400 generator steps on MNIST, not the full table31 protocol. Paper "
        "(dashed): long training, sample count unpublished. Not comparable: no Δ.")
    assert "No cell here follows it, so no Δ" in (out / "report.md").read_text()


def test_full_schedule_but_other_sample_count_or_prior_has_no_delta(tmp_path: Path):
    fid = build_report([quick_sweep(tmp_path / "a", steps=FULL_STEPS, num_samples=1000)]).fid
    cell = fid.cell("mnist", "lsgan", 1)
    assert (fid.key, cell.diff) == ("fid1k", None)
    assert [d.aspect for d in cell.differences] == ["sample count"]
    root = tmp_path / "b"
    make_run(root, "mnist", "lsgan", 10, 0, fid=5.0, latent="normal")
    cell = build_report([root]).fid.cell("mnist", "lsgan", 10)
    assert (cell.diff, [(d.aspect, d.ours, d.full) for d in cell.differences]) == (
        None, [("latent prior", "normal", "uniform")])


def test_fid10k_with_short_schedule_has_no_delta(tmp_path: Path):
    fid = build_report([quick_sweep(tmp_path / "q", steps=5000, num_samples=10000)]).fid
    assert fid.key == "fid10k"
    assert render.paper_text(fid.cell("mnist", "lsgan", 10)) == "4.79"
    lines = render.to_markdown(fid).splitlines()
    assert ("Differs in schedule: ours 5000 generator steps on MNIST; the full grid's 20000 "
            "generator steps on MNIST (one generator step follows loss.n_critic critic steps)."
            in lines)
    assert f"{UNPUBLISHED}." in lines
    assert not any(line.startswith("Differs in sample count") for line in lines)


def test_mixed_cells_show_delta_only_where_all_runs_match(tmp_path: Path):
    root = tmp_path / "m"
    make_run(root, "mnist", "lsgan", 10, 0, fid=10.0)
    make_run(root, "mnist", "lsgan", 1, 0, fid=100.0)
    make_run(root, "mnist", "lsgan", 1, 1, fid=120.0, steps=400)  # one short run spoils the cell
    fid = build_report([root]).fid
    assert render.paper_text(fid.cell("mnist", "lsgan", 10)) == "4.79 (+5.21)"
    assert render.paper_text(fid.cell("mnist", "lsgan", 1)) == "166.79"
    lines = render.to_markdown(fid).splitlines()
    assert lines[2] == "| Dataset | Model | d=1 | paper (Δ) | d=10 | paper (Δ) |"
    assert ("Δ shown in 1 of 2 cells; the others differ from the full protocol (below)."
            in lines)


def test_protocol_is_what_the_full_grid_config_sets(compose):
    """paper.TABLE31 (the Δ rule) and conf/experiment/table31.yaml define the same protocol."""
    from ganexp.config import to_container

    assert TABLE31.key("fid") == metric_key("fid", TABLE31.num_samples) == "fid10k"
    for dataset, steps in TABLE31.generator_steps.items():
        cfg = compose(["experiment=table31", f"dataset={dataset}", "loss=wgan_gp"])
        assert cfg.trainer.max_steps == steps, dataset
        assert (cfg.metrics.num_samples, cfg.metrics.num_real, cfg.metrics.real_split,
                cfg.latent) == (TABLE31.num_samples, TABLE31.num_real, TABLE31.real_split,
                                TABLE31.latent)
    import yaml
    from ganexp.config import CONF_DIR

    grid = yaml.safe_load((CONF_DIR / "experiment" / "table31.yaml").read_text())
    assert sorted(TABLE31.generator_steps) == sorted(
        grid["hydra"]["sweeper"]["params"]["dataset"].split(","))
    assert to_container(compose(["experiment=table31", "dataset=mnist"]))["trainer"][
        "max_steps"] == FULL_STEPS


def run_from_config(root: Path, cfg: dict, fid: float) -> Path:
    """A completed run folder as ganexp.train writes it for the resolved ``cfg``."""
    m = cfg["metrics"]
    folder = root / f"loss={cfg['loss']['name']},z_dim={cfg['z_dim']}"
    folder.mkdir(parents=True)
    result = {"status": "completed", "config": cfg, "steps": cfg["trainer"]["max_steps"],
              "metrics": {metric_key("fid", m["num_samples"]): fid},
              "metric_info": {"num_samples": m["num_samples"],
                              "num_real": m["num_real"] or m["num_samples"],
                              "real_split": m["real_split"]}}
    (folder / "result.json").write_text(json.dumps(result))
    return folder


def test_quick_and_full_profiles_count_generator_steps(compose, tmp_path: Path):
    """trainer.max_steps is generator steps in both profiles: the same for GAN-NS and WGAN; the
    QUICK profile's runs get no Δ, the full grid's do."""
    from ganexp.config import to_container

    quick = {loss: to_container(compose(["experiment=table31_quick", "dataset=mnist",
                                         f"loss={loss}", "z_dim=10"]))
             for loss in ("gan_ns", "wgan", "wgan_gp")}
    n = quick["gan_ns"]["trainer"]["max_steps"]
    assert [quick[x]["trainer"]["max_steps"] for x in quick] == [n, n, n]
    assert [quick[x]["loss"]["n_critic"] for x in quick] == [1, 5, 5]
    assert quick["gan_ns"]["metrics"]["num_samples"] == 250
    full = to_container(compose(["experiment=table31", "dataset=mnist", "loss=lsgan",
                                 "z_dim=10"]))
    run_from_config(tmp_path / "quick", quick["gan_ns"], 100.0)
    run_from_config(tmp_path / "full", full, 6.0)
    q = build_report([tmp_path / "quick"]).fid
    assert render.paper_text(q.cell("mnist", "gan_ns", 10)) == "4.93"
    assert (f"Differs in schedule: ours {n} generator steps on MNIST; the full grid's 20000 "
            "generator steps on MNIST (one generator step follows loss.n_critic critic steps)."
            in render.to_markdown(q).splitlines())
    f = build_report([tmp_path / "full"]).fid
    assert render.paper_text(f.cell("mnist", "lsgan", 10)) == "4.79 (+1.21)"


def test_report_without_paper_values_says_so(tmp_path: Path):
    root = tmp_path / "demo"
    for loss, z in (("gan_ns", 2), ("lsgan", 10)):
        make_run(root, "digits", loss, z, 0, fid=80.0, steps=500, num_samples=100, png=True)
    report = build_report([root])
    out = write_report(report, tmp_path / "out")
    lines = render.to_markdown(report.fid).splitlines()
    assert lines[2] == "| Dataset | Model | d=2 | paper | d=10 | paper |"
    assert lines[4] == "| digits | GAN-NS | **<u>80.00</u>** (1) | — | — (0/1) | — |"
    assert ("Paper: Lee & Seok 2018 publish no values for these cells (their data sets are "
            "MNIST, Fashion-MNIST, CIFAR-10, CelebA); no comparison.") in lines
    assert "Not in the paper (no published values to compare): digits." in report.notes
    assert [f.verdict for f in report.findings] == ["not testable"] * 4
    assert (out / "samples_digits.png").is_file() and (out / "figure3_1_fid.png").is_file()


def small_n_runs(fids: dict[str, float], kids: dict[str, float] | None, n: int = 250) -> list[Run]:
    """Each loss at d=10 on two seeds with fid<n> (and kid<n>) on n samples."""
    runs = []
    for loss, v in fids.items():
        for s in (0, 1):
            scale = 1 + (0.05 if s else -0.05)
            metrics = {metric_key("fid", n): v * scale, **({metric_key("kid", n): kids[loss] * scale} if kids else {})}
            runs.append(Run(path=Path("/nonexistent"), status="completed", dataset="mnist", loss=loss, z_dim=10,
                            seed=s, metrics=metrics, steps=400, config={"latent": "uniform"},
                            metric_info={"num_samples": n, "num_real": n, "real_split": "train"}))
    return runs


def test_small_n_verdicts_are_judged_on_kid_and_say_so(tmp_path: Path):
    """fid250 ranks GAN-NS last (FID's bias at n = 250 can reorder close runs); kid250, on the same samples,
    ranks it first: the verdict follows KID, the report says why, findings.json and summary.json name the key."""
    from ganexp.results.keys import judging_key

    worst_fid = dict(RANKED, gan_ns=30.0)
    kids = {loss: v / 1000 for loss, v in RANKED.items()}  # KID's order = RANKED's: GAN-NS and LSGAN best
    runs = small_n_runs(worst_fid, kids)
    key, note = judging_key(runs, "fid250")
    assert key == "kid250" and note.startswith("the verdicts are judged on `kid250`: FID on 250 samples")
    report = build_report_from(runs, tmp_path)
    claim2 = report.findings[1]
    assert (claim2.verdict, report.judged_on) == ("supported", "kid250")
    assert claim2.details[0].startswith("MNIST: best yes (ranking by mean KID d≥10: GAN-NS 0.0100, LSGAN 0.0110")
    assert report.notes[0] == note
    # without KID the FID verdict stands, with a warning; at 5000 samples FID is judged as it is
    key, note = judging_key(small_n_runs(worst_fid, None), "fid250")
    assert key == "fid250" and "recorded no `kid250`" in note
    assert judging_key(small_n_runs(worst_fid, kids, n=5000), "fid5k") == ("fid5k", "")


def build_report_from(runs: list[Run], tmp_path: Path):
    """build_report on run folders written from in-memory runs (result.json as training writes it)."""
    for r in runs:
        folder = tmp_path / "sweep" / f"loss={r.loss}" / str(r.seed)
        folder.mkdir(parents=True)
        cfg = {"dataset": {"name": r.dataset, "resolution": 28}, "loss": {"name": r.loss}, "z_dim": r.z_dim,
               "seed": r.seed, "latent": "uniform", "trainer": {"max_steps": r.steps}}
        (folder / "result.json").write_text(json.dumps({
            "status": r.status, "config": cfg, "steps": r.steps, "wall_s": 1.0, "metrics": r.metrics,
            "metric_info": r.metric_info}))
    return build_report([tmp_path / "sweep"])
