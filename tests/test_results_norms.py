"""Study B results (Kwak & Ko: spectral norm and AdaIN) on hand-made run folders.

Two seeds per variant, seed 1's FID = seed 0's + 2, so a final FID of 10 and 12 reads
11.00 ± 1.41 (sample std, ddof=1). Evaluations at epochs 5, 10, 15, 20; grids at 5, 10, 20, each a
solid colour per (variant, epoch) for seed 0 and black for seed 1.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganexp.metrics.config import KEY_RE, metric_key
from ganexp.results import studies
from ganexp.results.__main__ import main
from ganexp.results.kwak_ko import ORDER, build, claims, plots, variant_of
from ganexp.results.kwak_ko.runs import load, sample_name

SPE, EVAL_EPOCHS, SAMPLE_EPOCHS, THRESHOLD = 10, [5, 10, 15, 20], [5, 10, 20], 0.4
FID_KEY, DIV_KEY, IS_KEY = metric_key("fid", 250), metric_key("div", 250), metric_key("is", 250)
NORMS = {"baseline": ("batch", "none"), "sn": ("batch", "spectral"), "adain": ("adain", "none"),
         "sn_adain": ("adain", "spectral")}
# Seed 0's FID at the evaluation epochs (seed 1: +2) and diversity per seed.
FIDS = {"baseline": [50, 40, 35, 45], "sn": [48, 38, 33, 28], "adain": [70, 45, 30, 20],
        "sn_adain": [65, 40, 25, 10]}
DIVS = {"baseline": ([0.9, 0.5, 0.3, 0.2], [0.9, 0.3, 0.6, 0.5]),
        "sn": ([0.95, 0.9, 0.85, 0.8], [0.95, 0.9, 0.85, 0.8]),
        "adain": ([0.9, 0.8, 0.7, 0.6], [0.9, 0.8, 0.6, 0.3]),
        "sn_adain": ([0.9, 0.9, 0.9, 0.9], [0.9, 0.9, 0.9, 0.9])}
GRID = 16


def color(variant: str, epoch) -> tuple[int, int, int]:
    """Seed 0's solid grid colour at (variant, sample epoch)."""
    return 30 + 60 * ORDER.index(variant), 40 + 80 * SAMPLE_EPOCHS.index(epoch), 100


def collapse_epoch(divs: list[float]) -> float | None:
    """First evaluation epoch from which every later diversity stays below THRESHOLD."""
    first = None
    for e, d in zip(EVAL_EPOCHS, divs):
        first = (first or e) if d < THRESHOLD else None
    return first


def rows(fids: list[float], divs: list[float]) -> list[dict]:
    """Training rows every half epoch and evaluation rows at EVAL_EPOCHS."""
    out = [{"step": s, "epoch": s / SPE, "images_seen": s * 80, "time_s": s * 0.1,
            "d_loss": -1.0, "g_loss": 2.0} for s in range(0, 20 * SPE + 1, SPE // 2)]
    out += [{"step": e * SPE, "epoch": e, "time_s": e, "eval_s": 0.5, FID_KEY: f, IS_KEY: None,
             DIV_KEY: d, "collapsed": d < THRESHOLD} for e, f, d in zip(EVAL_EPOCHS, fids, divs)]
    return sorted(out, key=lambda r: r["step"])


def make_run(root: Path, variant: str, seed: int, fids=None, divs=None, status="completed",
             num_images: int | None = 20000, norm=None, max_epochs: int = 20) -> Path:
    """One Study B run folder as the trainer writes it."""
    fids = [f + 2 * seed for f in (fids or FIDS[variant])]
    divs = divs or DIVS[variant][seed % 2]
    g, d = norm or NORMS[variant]
    run = root / f"norm={g}-{d},seed={seed}"
    (run / "samples").mkdir(parents=True, exist_ok=True)
    dataset = {"name": "celeba", "resolution": 64} | ({"num_images": num_images}
                                                      if num_images else {})
    cfg = {"study": "kwak_ko", "seed": seed, "dataset": dataset, "norm": {"g": g, "d": d},
           "loss": {"name": "wgan_gp", "n_critic": 5}, "batch_size": 16,
           "trainer": {"max_epochs": max_epochs, "max_steps": None, "steps_per_epoch": SPE,
                       "sample_at_epochs": SAMPLE_EPOCHS},
           "metrics": {"num_samples": 250}}
    ce = collapse_epoch(divs)
    result = {"status": status, "config": cfg, "steps": 20 * SPE, "train_s": 100.0,
              "wall_s": 120.0, "device": "cpu",
              "metrics": {FID_KEY: fids[-1], DIV_KEY: divs[-1], IS_KEY: None},
              "metric_info": {"num_samples": 250, "num_real": 250, "real_split": "train",
                              "weights": "pool3-only"},
              "collapse": {"key": DIV_KEY, "threshold": THRESHOLD, "epoch": ce,
                           "step": ce * SPE if ce else None}}
    (run / "result.json").write_text(json.dumps(result))
    lines = [json.dumps(r) for r in rows(fids, divs)] + ['{"step": 20']
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    for e in SAMPLE_EPOCHS:
        fill = color(variant, e) if seed == 0 and not norm else (0, 0, 0)
        Image.new("RGB", (GRID, GRID), fill).save(run / "samples" / sample_name(e))
    Image.new("RGB", (GRID, GRID), (0, 0, 0)).save(run / "samples" / "final.png")
    return run


def make_sweep(root: Path, fids=None, divs=None, **kw) -> Path:
    """Every variant × seeds 0, 1 (``fids``/``divs`` override a variant's curves)."""
    for v in ORDER:
        for seed in (0, 1):
            make_run(root / v, v, seed, (fids or {}).get(v), (divs or {}).get((v, seed)), **kw)
    return root


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, list[str]]:
    """The full sweep plus a diverged baseline seed, a non-Study-B run and a missing grid; the
    stdout lines of one ``python -m ganexp.results`` call on it."""
    root = make_sweep(tmp_path_factory.mktemp("norms") / "sweep")
    make_run(root / "baseline", "baseline", 2, status="diverged")
    make_run(root / "other", "baseline", 0, norm=("layer", "none"))
    (root / "sn_adain" / "norm=adain-spectral,seed=0" / "samples" / "epoch_20.png").unlink()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([str(root)]) == 0
    return root, buf.getvalue().strip().splitlines()


def read_csv(path: Path) -> dict[str, dict]:
    return {r["variant"]: r for r in csv.DictReader(io.StringIO(path.read_text("utf-8")))}


def test_variant_key_and_sample_names():
    assert [variant_of({"norm": {"g": g, "d": d}}) for g, d in NORMS.values()] == list(ORDER)
    assert variant_of({"norm": {"g": "layer", "d": "none"}}) is None
    assert variant_of({}) is None
    assert [sample_name(e) for e in (5, 10.0, 62.5)] == ["epoch_5.png", "epoch_10.png",
                                                       "epoch_62.5.png"]
    assert KEY_RE["div"].match(DIV_KEY).group(1) == "250"
    assert KEY_RE["div"].match("div10k").group(1) == "10k"


def test_dataset_size_from_steps_when_num_images_is_absent(tmp_path: Path):
    run = make_run(tmp_path, "sn", 0, num_images=None)
    cfg = json.loads((run / "result.json").read_text())
    cfg["config"]["trainer"]["steps_per_epoch"] = 0.4
    (run / "result.json").write_text(json.dumps(cfg))
    assert load(run).dataset_size == 32  # 0.4 steps × 16 images × 5 critic steps
    assert load(make_run(tmp_path / "b", "sn", 0)).dataset_size == 20000


def test_choose_picks_kwak_ko(written):
    root, _ = written
    assert studies.choose([root]).name == "kwak_ko"
    assert "kwak_ko" in studies.known() and studies.plugin("kwak_ko").name == "kwak_ko"


def test_stdout_summary_and_report_path_last(written):
    root, lines = written
    assert lines[-1] == str(root / "report")
    assert lines[0] == "runs: 8 completed, 1 diverged, 0 frozen, 0 failed, 0 incomplete"
    assert lines[1:4] == [
        "finding 1: supported: without SN 2/4 runs collapsed, with SN 0/4 (Baseline seed 0 at "
        "epoch 15, AdaIN seed 1 at epoch 20)",
        "finding 2: supported: AdaIN vs Baseline: early (epoch 5) 71.00 vs 51.00 (rougher early "
        "holds), late (epoch 20) 21.00 vs 46.00 (better late holds); SN + AdaIN vs SN: early "
        "(epoch 5) 66.00 vs 49.00 (rougher early holds), late (epoch 20) 11.00 vs 29.00 (better "
        "late holds)",
        "finding 3: supported: SN + AdaIN 11.00 <= min(SN 29.00, AdaIN 21.00) = 21.00"]
    assert len(lines) == 5


def test_table_cells(written):
    root, _ = written
    t = read_csv(root / "report" / "table_fid.csv")
    assert list(t) == list(ORDER)
    got = {v: (r["completed"], r["runs"], r["fid_text"], r["best_fid_mean"], r["best_fid_epochs"],
               r["div_mean"], r["collapse_epochs"], r["collapsed"]) for v, r in t.items()}
    assert got == {
        "baseline": ("2", "3", "46.00 ± 1.41 (2; 1 diverged)", "36.00", "15", "0.35",
                     "seed 0: 15; seed 1: —", "1"),
        "sn": ("2", "2", "29.00 ± 1.41 (2)", "29.00", "20", "0.80", "seed 0: —; seed 1: —",
               "0"),
        "adain": ("2", "2", "21.00 ± 1.41 (2)", "21.00", "20", "0.45", "seed 0: —; seed 1: 20",
                  "1"),
        "sn_adain": ("2", "2", "11.00 ± 1.41 (2)", "11.00", "20", "0.90",
                     "seed 0: —; seed 1: —", "0")}
    assert (t["sn"]["fid_mean"], t["sn"]["fid_sd"], t["sn"]["fid_n"]) == ("29.00", "1.41", "2")
    assert {r["fid_key"] for r in t.values()} == {FID_KEY}
    md = (root / "report" / "table_fid.md").read_text(encoding="utf-8")
    assert "| SN + AdaIN | 2/2 | 11.00 ± 1.41 (2) | 11.00 (epoch 20) | 0.90 | seed 0: —; " \
           "seed 1: — | 0/2 |" in md
    assert "| Baseline | 2/3 | 46.00 ± 1.41 (2; 1 diverged) | 36.00 (epoch 15) |" in md


def test_best_fid_over_several_epochs(tmp_path: Path):
    make_run(tmp_path, "sn", 0, fids=[48, 30, 33, 35])
    make_run(tmp_path, "sn", 1, fids=[48, 40, 33, 35])  # +2: low 35 at 15 (seed 0: 30 at 10)
    t = read_csv(_csv(build([tmp_path]), tmp_path))
    assert (t["sn"]["best_fid_mean"], t["sn"]["best_fid_epochs"]) == ("32.50", "10, 15")


def _csv(report, folder: Path) -> Path:
    path = folder / "table.csv"
    path.write_text(report.table.csv(), encoding="utf-8")
    return path


def test_findings_contradicted(tmp_path: Path):
    fids = {"adain": [45, 40, 30, 20], "sn_adain": [65, 40, 25, 25]}
    divs = {("sn", 0): [0.9, 0.3, 0.2, 0.1]}
    report = build([make_sweep(tmp_path / "sweep", fids, divs)])
    got = [(f.verdict, f.reason) for f in report.findings]
    assert got[0] == ("contradicted", "without SN 2/4 runs collapsed, with SN 1/4 (Baseline "
                                      "seed 0 at epoch 15, AdaIN seed 1 at epoch 20, SN seed 0 at "
                                      "epoch 10); an SN run collapsed")
    assert got[1][0] == "contradicted"
    assert got[1][1].startswith("AdaIN vs Baseline: early (epoch 5) 46.00 vs 51.00 (rougher "
                                "early fails), late (epoch 20) 21.00 vs 46.00 (better late holds)")
    assert got[1][1].endswith(" — AdaIN vs Baseline: rougher early fails")
    assert got[2] == ("contradicted", "SN + AdaIN 26.00 > min(SN 29.00, AdaIN 21.00) = 21.00")


def test_collapse_finding_contradicted_without_collapse_and_not_testable(tmp_path: Path):
    calm = [0.9, 0.8, 0.8, 0.8]
    divs = {(v, s): calm for v in ("baseline", "adain") for s in (0, 1)}
    f = build([make_sweep(tmp_path / "a", divs=divs)]).findings[0]
    assert (f.verdict, f.reason) == ("contradicted", "without SN 0/4 runs collapsed, with SN 0/4;"
                                                     " no run without SN collapsed")
    make_run(tmp_path / "b", "baseline", 0)
    f = build([tmp_path / "b"]).findings[0]
    assert (f.verdict, f.reason) == (claims.NOT_TESTABLE, "no completed run with SN")


def test_small_dataset_is_not_testable_at_scale(tmp_path: Path):
    root = make_sweep(tmp_path / "tiny", num_images=32, max_epochs=2)
    assert main([str(root), "--out", str(tmp_path / "out")]) == 0
    data = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert data["paper"] == []  # the paper publishes observations, no numbers to judge them on
    data = data["ours"]
    assert [f["verdict"] for f in data] == [claims.NOT_TESTABLE] * 3
    prefix = "trained on 32 images (fewer than 10,000; Kwak & Ko train on full CelebA); "
    assert data[2]["reason"] == prefix + ("our numbers would say supported: SN + AdaIN 11.00 <= "
                                          "min(SN 29.00, AdaIN 21.00) = 21.00")
    assert all(f["reason"].startswith(prefix + "our numbers would say supported: ") for f in data)
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8").splitlines()
    assert md[2] == ("**This is a pipeline check, not the paper's protocol**: trained on 32 "
                     "images (fewer than 10,000) and for 2 epochs (fewer than 20); the paper "
                     "trains on full CelebA (202,599 images) for 20 epochs.")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["dataset_size"] == 32


def test_report_files(written):
    root, _ = written
    out = root / "report"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Study B — spectral norm and AdaIN for face generation (Kwak & Ko)")
    assert "pipeline check" not in md
    for part in ("## Protocol", "celeba at 64 px, 20000 training images",
                 "fid250: 250 generated vs 250 real images (train split)",
                 "collapse threshold 0.4", "![figure1_samples.png](figure1_samples.png)",
                 "![fid_diversity.png](fid_diversity.png)", "### Observation 3",
                 "1 run(s) whose norm.g/norm.d is none of the four variants"):
        assert part in md, part
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["counts"]["total"] == 9 and summary["variants"]["baseline"] == \
        {"completed": 2, "runs": 3}
    assert summary["files"] == ["fid_diversity.png", "figure1_samples.png", "findings.json",
                                "report.md", "summary.json", "table_fid.csv", "table_fid.md", "table_fid.tex"]
    assert [Path(p).name for p in summary["excluded_runs"]] == ["norm=layer-none,seed=0"]
    with Image.open(out / "fid_diversity.png") as img:
        assert img.size == (1200, 460)


def test_figure1_mosaic_cells(written):
    root, _ = written
    report = build([root])
    runs = {v: plots.first_completed(rs) for v, rs in report.by_variant().items()}
    paths = [[plots.grid_path(runs[v], e) for e in SAMPLE_EPOCHS] for v in ORDER]
    arr, size = plots.mosaic(paths)
    assert size == (GRID, GRID)
    assert arr.shape == (4 * GRID + 3 * plots.GAP, 3 * GRID + 2 * plots.GAP, 3)
    for r, v in enumerate(ORDER):
        for c, e in enumerate(SAMPLE_EPOCHS):
            y, x = plots.cell_origin(r, c, size)
            want = (plots.MISSING_GRAY,) * 3 if (v, e) == ("sn_adain", 20) else color(v, e)
            assert tuple(arr[y + GRID // 2, x + GRID // 2]) == want, (v, e)
    assert tuple(arr[GRID + 1, 0]) == (255, 255, 255)  # the gap between rows


def _centre(img: np.ndarray, rgb) -> tuple[float, float]:
    ys, xs = np.nonzero(np.all(img == np.array(rgb), axis=-1))
    assert len(ys) > 100, rgb
    return ys.mean(), xs.mean()


def test_figure1_png_layout(written):
    root, _ = written
    with Image.open(root / "report" / "figure1_samples.png") as img:
        pix = np.asarray(img.convert("RGB"))
    centres = [[_centre(pix, color(v, e)) if (v, e) != ("sn_adain", 20) else None
                for e in SAMPLE_EPOCHS] for v in ORDER]
    centres[3][2] = _centre(pix, (plots.MISSING_GRAY,) * 3)
    h, w = pix.shape[:2]
    for r in range(4):
        for c in range(3):
            y, x = centres[r][c]
            if r:
                assert y > centres[r - 1][c][0] + 0.1 * h
                assert abs(x - centres[r - 1][c][1]) < 0.02 * w
            if c:
                assert x > centres[r][c - 1][1] + 0.1 * w
                assert abs(y - centres[r][c - 1][0]) < 0.02 * h
