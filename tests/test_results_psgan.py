"""Study C results (Byeon, Park & Yang 2025) and the study registry, on hand-made run folders.

Numbers are chosen so every cell has a closed form: two seeds per model, sample std (ddof=1),
e.g. FID 10 and 12 -> 11.00 ± 1.41.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from ganexp.metrics.config import metric_key
from ganexp.results import studies
from ganexp.results.__main__ import main
from ganexp.results.psgan2025 import build, claims, model_of, summary_lines
from ganexp.results.psgan2025.curves import epoch_means, loss_curves, mean_fid_curve
from ganexp.results.psgan2025.runs import Model

SPE, EPOCHS, HOST, DEVICE = 10, 3, "hostA", "cpu: Intel Xeon"
# Claim 8 on NUMBERS: FID(PS-GAN K=2) 11 ± 1.41, SNGAN 31 ± 1.41, ProGAN 22 ± 2.83 (2 seeds each): margins
# (11 - 31)/31 = -64.5% and (11 - 22)/22 = -50.0%, 95% intervals by the delta method with t(0.975, 1) = 12.71:
# SNGAN's excludes the stated -17.6% (contradicted), ProGAN's holds -5.7%.
MARGINS = ("vs SNGAN: −64.5% [−108.0%, −21.0%] (the paper states −17.6%); vs ProGAN: −50.0% [−131.7%, +31.7%] "
           "(the paper states −5.7%; its Table 2 gives −5.8%)")
FID_KEY = metric_key("fid", 250)
# model -> (FID per seed, train_s per seed)
NUMBERS = {Model("sngan"): ([30, 32], [100, 110]),
           Model("sngan_without_sn"): ([40, 44], [106, 114]),
           Model("progan"): ([20, 24], [140, 150]),
           Model("psgan", 1): ([15, 17], [100, 104]),
           Model("psgan", 2): ([10, 12], [130, 134]),
           Model("psgan", 3): ([9, 12], [165, 171])}


def system_config(model: Model) -> tuple[dict, dict]:
    """(system, norm) config nodes of a model as conf/experiment/psgan.yaml and the Makefile compose it
    (PS-GAN: the default reading, relative judge and D every step, no norm in D; ``variant`` d_gated /
    judge_threshold / d_spectral: the other readings and ablations)."""
    stages = {"stage_epochs": [1, 2]}
    d_update = "gated" if "d_gated" in model.variant else "always"
    judge = "threshold" if "judge_threshold" in model.variant else "relative_vote" if "judge_vote" in model.variant \
        else "relative"
    fade = {} if "no_fade" in model.variant else {"fade_epochs": 0.5}
    system = {"sngan": {"name": "gan"}, "sngan_without_sn": {"name": "gan"},
              "progan": {"name": "progan", **stages},
              "psgan": {"name": "psgan", "num_generators": model.k, "d_update": d_update, "judge": judge, **fade,
                        **stages}}[model.name]
    d = {"sngan": "spectral", "progan": "progan", "psgan": "none"}.get(model.name, "none")
    d = "spectral" if "d_spectral" in model.variant else d
    return system, {"g": "batch", "d": d}


def metric_rows(model: Model, seed: int, fid: float) -> list[dict]:
    """Training rows at epochs 0, 0.5, ..., 2.5 (d_loss = epoch + seed, g_loss_k = (k+1)·epoch +
    seed) and evaluation rows at epochs 1, 2, 3 (FID falls by 10 per epoch to ``fid``)."""
    rows = []
    for step in range(0, EPOCHS * SPE, SPE // 2):
        e = step / SPE
        row = {"step": step, "epoch": e, "images_seen": step * 64, "time_s": step * 0.1,
               "d_loss": e + seed, "g_loss": 2 * e + seed}
        if model.name == "psgan":
            row |= {f"g_loss_{k}": (k + 1) * e + seed for k in range(model.k)}
            row |= {"branch_fooled": 1, "branch_only_real": 4, "branch_all_fake": 0, "stage": 0}
        rows.append(row)
        if (step + SPE // 2) % SPE == 0:
            done = (step + SPE // 2) // SPE
            rows.append({"step": done * SPE, "time_s": step * 0.1 + 1, "eval_s": 0.5,
                         FID_KEY: fid + 10 * (EPOCHS - done), metric_key("is", 250): None})
    return rows


def make_run(root: Path, model: Model, seed: int, fid: float, train_s: float, start: float,
             status: str = "completed", host: str = HOST, study: str = "psgan2025", counts: dict | None = None) -> Path:
    """One Study C run folder as the trainer writes it."""
    run = root / f"{model.id},seed={seed}"
    (run / "samples").mkdir(parents=True, exist_ok=True)
    system, norm = system_config(model)
    cfg = {"study": study, "system": system, "norm": norm, "loss": {"name": "hinge"},
           "model": {"equalized_lr": model.name == "progan"},
           "seed": seed, "dataset": {"name": "mnist"}, "batch_size": 64,
           "trainer": {"steps_per_epoch": SPE, "max_epochs": EPOCHS, "max_steps": None}}
    result = {"status": status, "name": run.name, "config": cfg, "steps": SPE * EPOCHS,
              "metrics": {FID_KEY: fid, metric_key("is", 250): None, "d_loss": 1.0,
                          "g_loss": 2.0},
              "metric_info": {"num_samples": 250, "num_real": 250, "real_split": "train",
                              "weights": "pool3-only"},
              "wall_s": train_s + 5, "train_s": train_s, "device": DEVICE, "host": host,
              "train_windows": [[start, start + train_s / 2], [start + train_s / 2 + 1,
                                                               start + train_s + 1]]}
    if counts is not None:
        result["counts"] = counts
    (run / "result.json").write_text(json.dumps(result))
    lines = [json.dumps(r) for r in metric_rows(model, seed, fid)] + ['{"step": 3']
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    Image.new("L", (8 * 4, 8 * 4), color=40 * seed).save(run / "samples" / "final.png")
    return run


def make_sweep(root: Path) -> Path:
    """All six models × 2 seeds, one after another on one host, plus a diverged SNGAN seed."""
    start = 1_000_000.0
    for model, (fids, times) in NUMBERS.items():
        for seed, (fid, t) in enumerate(zip(fids, times)):
            make_run(root, model, seed, fid, t, start)
            start += 1000
    make_run(root, Model("sngan"), 2, 99.0, 5.0, start, status="diverged")
    return root


def read_csv(path: Path) -> dict[str, dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    key = "model" if "model" in rows[0] else "generators"
    return {r[key]: r for r in rows}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, list[str]]:
    """The sweep and the stdout lines of one ``python -m ganexp.results`` call on it."""
    import contextlib

    root = make_sweep(tmp_path_factory.mktemp("psgan") / "psgan_sweep")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([str(root)]) == 0
    return root, buf.getvalue().strip().splitlines()


def test_model_of_config():
    assert model_of({"system": {"name": "gan"}, "norm": {"d": "spectral"}}) == Model("sngan")
    assert model_of({"system": {"name": "gan"}, "norm": {"d": "none"}}).id == "sngan_without_sn"
    assert model_of({"system": {"name": "progan"}, "model": {"equalized_lr": True}}) == Model("progan")
    assert model_of({"system": {"name": "progan"}}).label == "ProGAN (hinge + spectral norm)"
    default = {"name": "psgan", "num_generators": 3, "judge": "relative", "d_update": "always", "fade_epochs": 5}
    assert model_of({"system": default, "norm": {"d": "none"}}).label == "PS-GAN (K=3)"
    # every run from before the keys: judged by threshold, D updated on every step, switched without a fade-in
    assert model_of({"system": {"name": "psgan", "num_generators": 3}}).label == \
        "PS-GAN (K=3, threshold judge, stage switch without fade-in)"
    assert model_of({"system": default, "norm": {"d": "spectral"}}).id == "psgan_k3_d_spectral"
    listing = {**default, "judge": "threshold", "d_update": "paper"}  # `paper`: the old name of gated
    assert model_of({"system": listing}).id == "psgan_k3_judge_threshold_d_gated"
    assert model_of({"system": listing}).label == "PS-GAN (K=3, threshold judge, D gated as listed)"
    assert model_of({"system": {**default, "judge": "relative_vote"}}).label == \
        "PS-GAN (K=3, relative judge per image)"
    k1 = {"name": "psgan", "num_generators": 1, "judge": "relative", "d_update": "always"}  # K=1: the plain step
    assert model_of({"system": {**k1, "fade_epochs": 5}}) == Model("psgan", 1)
    assert model_of({"system": k1}) == Model("psgan", 1, "no_fade")
    assert model_of({"system": {"name": "psgan"}}) is None


def test_stdout_summary_and_report_path_last(written):
    root, lines = written
    assert lines[-1] == str(root / "report")
    assert lines[0] == "runs: 12 completed, 1 diverged, 0 frozen, 0 failed, 0 incomplete"
    gate = ("not testable at this scale: 3 epochs trained by the shortest run (the paper: ~50; gate: 10); FID on "
            "250 samples "
            "(`fid250`; gate: 5000); our numbers would say ")
    assert lines[1:10] == [
        f"claim 1: {gate}supported: PS-GAN (K=2) 11.00 < ProGAN 22.00 < SNGAN 31.00 "
        "(paper's numbers: supported)",
        f"claim 2: {gate}supported (within seed noise): PS-GAN (K=3) 10.50 < PS-GAN (K=2) 11.00 < "
        "PS-GAN (K=1) 16.00 (paper's numbers: supported)",
        "claim 3: supported: t1 102.00, t2 132.00, t3 168.00: increments +30.00, +36.00, "
        "ratio 1.20 (paper's numbers: supported)",
        "claim 4: supported: ProGAN 145.00 > SNGAN 105.00 and > SNGAN without SN 110.00 "
        "(paper's numbers: supported)",
        "claim 5: contradicted (within seed noise): SNGAN without SN 110.00 > SNGAN 105.00 "
        "(paper's numbers: supported)",
        "claim 6: not testable: no IS for SNGAN, PS-GAN (K=2) (paper's numbers: supported)",
        "claim 7: not testable: no IS for PS-GAN (K=1), PS-GAN (K=2), PS-GAN (K=3) (paper's numbers: supported)",
        f"claim 8: {gate}contradicted: {MARGINS} (paper's numbers: supported)",
        "claim 9: supported (within seed noise): PS-GAN (K=1) 102.00 < SNGAN 105.00 (paper's numbers: supported)"]


def test_table2_fid_and_unavailable_is(written):
    root, _ = written
    t2 = read_csv(root / "report" / "table2_fid_is.csv")
    assert list(t2) == ["sngan", "sngan_without_sn", "progan", "psgan_k1", "psgan_k2",
                        "psgan_k3"]
    assert [t2["sngan"][k] for k in ("fid_mean", "fid_sd", "fid_n", "fid_text", "paper_fid")] \
        == ["31.00", "1.41", "2", "31.00 ± 1.41 (2; 1 diverged)", "8.34"]
    assert (t2["psgan_k2"]["fid_text"], t2["psgan_k2"]["paper_fid"]) == ("11.00 ± 1.41 (2)", "6.87")
    assert t2["psgan_k3"]["fid_text"] == "10.50 ± 2.12 (2)"
    assert t2["progan"]["fid_comparison"] == ("not comparable: ours fid250 (250 generated "
                                              "images), the paper's sample count unpublished")
    assert t2["sngan_without_sn"]["paper_fid"] == "—"
    assert {r["is_text"] for r in t2.values()} == {"unavailable", "diverged (1/3), unavailable (2/3)"}
    assert t2["psgan_k2"]["is_text"] == "unavailable" and t2["psgan_k2"]["is_mean"] == ""
    assert t2["progan"]["is_comparison"].startswith("not comparable: the paper's 11.6–12.7 is far "
                                                    "above any Inception IS on MNIST (max 2.31")
    md = (root / "report" / "table2_fid_is.md").read_text(encoding="utf-8")
    assert "| PS-GAN (K=2) | 11.00 ± 1.41 (2) | 6.87 | not comparable: ours fid250" in md


def test_table3_time_and_ratio_to_sngan(written):
    root, _ = written
    t3 = read_csv(root / "report" / "table3_time.csv")
    got = {m: (r["train_s_mean"], r["train_s_sd"], r["ratio_to_sngan"], r["paper_relative_time"])
           for m, r in t3.items()}
    assert got == {"sngan": ("105.00", "7.07", "1.000", "1.000"),
                   "sngan_without_sn": ("110.00", "5.66", "1.048", "0.894"),
                   "progan": ("145.00", "7.07", "1.381", "1.346"),
                   "psgan_k1": ("102.00", "2.83", "0.971", "0.965"),
                   "psgan_k2": ("132.00", "2.83", "1.257", "1.237"),
                   "psgan_k3": ("168.00", "4.24", "1.600", "1.585")}
    assert {r["shared_machine"] for r in t3.values()} == {"0"}
    assert t3["progan"]["devices"] == DEVICE and t3["progan"]["paper_train_time_s"] == "5277"


def test_table4_by_generators(written):
    root, _ = written
    t4 = read_csv(root / "report" / "table4_generators.csv")
    got = {k: (r["train_s_mean"], r["ratio_to_k2"], r["fid_text"], r["is_text"], r["paper_fid"],
               r["paper_relative_time"]) for k, r in t4.items()}
    assert got == {"1": ("102.00", "0.773", "16.00 ± 1.41 (2)", "unavailable", "7.15 ± 0.03",
                         "0.78"),
                   "2": ("132.00", "1.000", "11.00 ± 1.41 (2)", "unavailable", "6.87 ± 0.02",
                         "1.00"),
                   "3": ("168.00", "1.273", "10.50 ± 2.12 (2)", "unavailable", "6.68 ± 0.03",
                         "1.28")}
    assert t4["3"]["paper_is"] == "12.7 ± 0.05"


def test_findings_json_ours_and_paper(written):
    root, _ = written
    data = json.loads((root / "report" / "findings.json").read_text(encoding="utf-8"))
    assert [f["verdict"] for f in data["ours"]] == [
        claims.NOT_AT_SCALE, claims.NOT_AT_SCALE, "supported", "supported", "contradicted (within seed noise)",
        claims.NOT_TESTABLE, claims.NOT_TESTABLE, claims.NOT_AT_SCALE, "supported (within seed noise)"]
    assert [f["verdict"] for f in data["paper"]] == ["supported"] * 9
    assert data["paper"][2]["details"][0] == "slope (t3 − t1)/2 = 1215.00 s per extra generator, 32.1% of t1"
    assert data["paper"][2]["reason"] == ("t1 3784.00, t2 4851.00, t3 6214.00: increments "
                                          "+1067.00, +1363.00, ratio 1.28")


def test_report_files_and_pngs(written):
    root, _ = written
    out = root / "report"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Study C — PS-GAN vs SNGAN vs ProGAN (Byeon, Park & Yang 2025)")
    for part in ("## Protocol", "fid250: 250 generated vs 250 real images (train split)",
                 f"{DEVICE} (13 runs)", "| PS-GAN (K=3) | 2/2 | 3 | 30 | 10 | 3 | [1, 2] |",
                 "## Table 3: training time and ratio to SNGAN", "### Claim 5"):
        assert part in md, part
    for name in ("figures4_6_losses.png", "figures7_9_samples.png", "fid_over_training.png"):
        with Image.open(out / name) as img:
            assert img.size[0] > 100 and img.size[1] > 100
        assert f"![{name}]({name})" in md


def test_loss_binning_closed_form(written):
    root, _ = written
    report = build([root])
    k2 = report.by_model()[Model("psgan", 2)]
    curves = loss_curves(k2)
    assert list(curves) == ["d_loss", "g_loss_0", "g_loss_1"]
    # Seed s, bin b: rows at epochs b and b + 0.5 -> mean (k+1)(b + 0.25) + s; seeds 0, 1 -> +0.5.
    assert curves["d_loss"] == pytest.approx({0: 0.75, 1: 1.75, 2: 2.75})
    assert curves["g_loss_1"] == pytest.approx({0: 1.0, 1: 3.0, 2: 5.0})
    sngan = loss_curves(report.by_model()[Model("sngan")])
    assert list(sngan) == ["d_loss", "g_loss"]
    assert sngan["g_loss"] == pytest.approx({0: 1.0, 1: 3.0, 2: 5.0})
    rows = [{"step": 0, "d_loss": 1.0}, {"step": 15, "d_loss": 3.0}, {"step": 19, "d_loss": 5.0},
            {"step": 20, FID_KEY: 7.0}]
    assert epoch_means(rows, "d_loss", steps_per_epoch=10) == {0: 1.0, 1: 4.0}
    assert mean_fid_curve(k2, FID_KEY) == pytest.approx({1.0: 31.0, 2.0: 21.0, 3.0: 11.0})


def test_overlapping_windows_are_flagged(tmp_path: Path):
    root = make_sweep(tmp_path / "sweep")
    # Rewrite two runs: ProGAN seed 1 now trained during SNGAN seed 0 on the same host, PS-GAN
    # (K=1) seed 1 at the same time on another host.
    clash = make_run(root, Model("progan"), 1, 24, 150, 1_000_050.0)
    other_host = make_run(root, Model("psgan", 1), 1, 17, 104, 1_000_050.0, host="hostB")
    report = build([root])
    shared = {r.run.path for r in report.runs if r.shared}
    assert shared == {clash, root / "sngan,seed=0"} and other_host not in shared
    t3 = read_csv(_csv(report, "table3_time"))
    assert t3["progan"]["time_text"] == "145.00 ± 7.07 (2) †"
    assert (t3["progan"]["shared_machine"], t3["psgan_k1"]["shared_machine"]) == ("1", "0")
    assert t3["psgan_k2"]["ratio_to_sngan"] == "1.257"
    verdicts = [(f.verdict, f.reason) for f in report.findings]
    assert [v for v, _ in verdicts[:3]] == [claims.NOT_AT_SCALE, claims.NOT_AT_SCALE, "supported"]
    assert verdicts[3:5] == [
        (claims.NOT_TESTABLE, "runs of ProGAN, SNGAN shared a machine (overlapping training "
                              "windows)"),
        (claims.NOT_TESTABLE, "runs of SNGAN shared a machine (overlapping training windows)")]
    assert any("shared a machine" in n for n in report.notes)
    assert summary_lines(report)[1] == ("warning: 2 runs shared a machine (overlapping training "
                                        "windows); their times are flagged")


def _csv(report, stem: str) -> Path:
    table = next(t for t in report.tables if t.stem == stem)
    path = report.sweep_dirs[0] / f"{stem}.csv"
    path.write_text(table.csv(), encoding="utf-8")
    return path


def test_missing_model_is_not_testable(tmp_path: Path):
    root = tmp_path / "sweep"
    for seed, fid in enumerate([10, 12]):
        make_run(root, Model("psgan", 2), seed, fid, 130 + seed, 1_000_000.0 + 1000 * seed)
    report = build([root])
    assert [f.verdict for f in report.findings] == [claims.NOT_TESTABLE] * 9
    assert report.findings[0].reason == "no FID for ProGAN, SNGAN"
    assert [f.verdict for f in report.paper_findings] == ["supported"] * 9


def test_study_detection_and_mixed_sweep(tmp_path: Path, capsys):
    root = tmp_path / "mixed"
    make_run(root, Model("psgan", 2), 0, 10, 130, 1_000_000.0)
    lee = root / "dataset=mnist,loss=lsgan,z_dim=10" / "0"
    lee.mkdir(parents=True)
    cfg = {"dataset": {"name": "mnist"}, "loss": {"name": "lsgan"}, "z_dim": 10, "seed": 0}
    (lee / "result.json").write_text(json.dumps({"status": "completed", "config": cfg,
                                                 "metrics": {"fid10k": 5.0}}))
    assert studies.study_of(cfg) == "lee2018" and studies.study_of({}) is None
    assert main([str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: the sweep mixes runs of the studies lee2018 (1 runs) and psgan2025 "
                   "(1 runs); pass one study's sweep folder (or --study NAME).")
    assert main([str(lee.parent), "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "runs: 1 completed, 0 diverged, 0 frozen, 0 failed, 0 incomplete, 0 missing"
    assert out[-1] == str(tmp_path / "a")
    assert (tmp_path / "a" / "report.md").read_text(encoding="utf-8").startswith("# Study A")
    assert (tmp_path / "a" / "table3_1_fid.csv").is_file()
    assert main([str(root), "--study", "psgan2025", "--out", str(tmp_path / "c")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == ("runs: 2 completed, 0 diverged, 0 frozen, 0 failed, "
                                                       "0 incomplete")
    assert "1 run(s) whose config names no known model" in \
        (tmp_path / "c" / "report.md").read_text(encoding="utf-8")


def test_short_runs_bin_losses_by_a_fraction_of_an_epoch():
    from ganexp.results.psgan2025.curves import bin_width

    assert [bin_width(e) for e in (30, 5, 4.9, 2, 0.4, 0.05)] == [1.0, 1.0, 0.2, 0.2, 0.02, 0.01]
    rows = [{"epoch": e, "d_loss": v} for e, v in [(0.0, 1.0), (0.1, 3.0), (0.2, 5.0), (0.35, 7.0), (0.4, 9.0)]]
    assert epoch_means(rows, "d_loss", width=0.2) == {0.0: 2.0, 0.2: 6.0, 0.4: 9.0}


def test_gate_off_at_scale_and_the_new_claims(written):
    """Ungated (runs at the paper's scale), the FID claims give their verdicts; the margins stand beside the
    paper's."""
    root, _ = written
    report = build([root])
    assert claims.scale_gate(report.stats) == ("3 epochs trained by the shortest run (the paper: ~50; gate: 10); "
                                               "FID on 250 samples (`fid250`; gate: 5000)")
    found = claims.all_claims(claims.ours(report.stats), "")
    assert [f.verdict for f in found] == ["supported", "supported (within seed noise)", "supported", "supported",
                                          "contradicted (within seed noise)", claims.NOT_TESTABLE,
                                          claims.NOT_TESTABLE, "contradicted", "supported (within seed noise)"]
    assert found[7].reason == MARGINS
    # stages at epochs 1 and 2 of 3: two thirds of the steps below 28 px, the paper's schedule half
    schedule = ("by construction at this schedule: {} trained 67% of its steps below full resolution (7 and 14 px), "
                "where a step costs a fraction of a 28 px step (the paper's schedule: 50%); SNGAN trains every step "
                "at 28 px, so the time order follows from the schedule as much as from the method")
    assert found[3].details == [schedule.format("ProGAN")] and found[8].details[1:] == [schedule.format("PS-GAN (K=1)")]
    assert found[2].details[0] == "slope (t3 − t1)/2 = 33.00 s per extra generator, 32.4% of t1"


def test_algorithm2_table_and_ablations_never_merged(tmp_path: Path):
    """PS-GAN K=2 with D gated as listed and with D updated on every step (the default): two rows everywhere,
    and the share of steps on which D learned from result.json's counts (SPE · EPOCHS = 30 steps)."""
    root = tmp_path / "sweep"
    gated, always = Model("psgan", 2, "d_gated"), Model("psgan", 2)
    for seed in (0, 1):
        make_run(root, gated, seed, 10 + seed, 130, 1_000_000.0 + 1000 * seed,
                 counts={"d_updates": 6 + 6 * seed, "branch_fooled": 6 + 6 * seed, "branch_only_real": 15,
                         "branch_all_fake": 9 - 6 * seed, "branch_single": 0})
        make_run(root, always, seed, 20 + seed, 140, 1_010_000.0 + 1000 * seed,
                 counts={"d_updates": 30, "branch_fooled": 6, "branch_only_real": 24, "branch_all_fake": 0,
                         "branch_single": 0})
    report = build([root])
    (table,) = [t for t in report.tables if t.stem == "table_algorithm2"]
    # shares 6/30, 12/30 -> 0.30 ± 0.14; 15/30 twice -> 0.50 ± 0.00; 9/30, 3/30 -> 0.20 ± 0.14
    assert table.rows == [["PS-GAN (K=2)", "1.00 ± 0.00 (2)", "0.20 ± 0.00 (2)",
                           "0.80 ± 0.00 (2)", "0.00 ± 0.00 (2)", "0.00 ± 0.00 (2)"],
                          ["PS-GAN (K=2, D gated as listed)", "0.30 ± 0.14 (2)", "0.30 ± 0.14 (2)", "0.50 ± 0.00 (2)",
                           "0.20 ± 0.14 (2)", "0.00 ± 0.00 (2)"]]
    t2 = read_csv(_csv(report, "table2_fid_is"))
    assert (t2["psgan_k2_d_gated"]["fid_mean"], t2["psgan_k2"]["fid_mean"]) == ("10.50", "20.50")


def test_the_scale_gate_reads_the_shortest_run(tmp_path: Path):
    """A grid of one 3-epoch and one 20-epoch run (FID on 5000 samples): the short run keeps the FID claims
    gated; both at 20 epochs, the gate is off."""
    from ganexp.results.keys import MIN_FID_SAMPLES

    key = metric_key("fid", MIN_FID_SAMPLES)
    root = tmp_path / "sweep"
    for seed, epochs in ((0, 3), (1, 20)):
        run = make_run(root, Model("psgan", 2), seed, 10.0, 100, 1_000_000.0 + 1000 * seed)
        result = json.loads((run / "result.json").read_text())
        result["steps"], result["metrics"][key] = SPE * epochs, 10.0
        (run / "result.json").write_text(json.dumps(result))
    assert claims.scale_gate(build([root], _Args(key)).stats) == \
        "3 epochs trained by the shortest run (the paper: ~50; gate: 10)"
    short = root / f"{Model('psgan', 2).id},seed=0" / "result.json"
    result = json.loads(short.read_text())
    result["steps"] = SPE * 20
    short.write_text(json.dumps(result))
    assert claims.scale_gate(build([root], _Args(key)).stats) == ""


class _Args:
    def __init__(self, fid_key: str):
        self.fid_key = fid_key


def test_claims_per_reading_are_a_table(tmp_path: Path):
    """The default reading and the listing's (threshold judge, D gated), each with its own PS-GAN numbers: the
    report's table runs claims 1-9 once per reading (the listing's K=2 is the worst FID: claim 1 contradicted).
    K = 1 takes the plain step under every reading: each reading reads the one K = 1 model."""
    root = make_sweep(tmp_path / "sweep")
    listing = {k: Model("psgan", k, "judge_threshold+d_gated") for k in (2, 3)}
    for k, fids in ((2, [40, 42]), (3, [9, 12])):
        for seed, fid in enumerate(fids):
            make_run(root, listing[k], seed, fid, 130, 2_000_000.0 + 1000 * seed + 10_000 * k)
    report = build([root])
    from ganexp.results.psgan2025.report import readings, readings_section

    assert readings(report) == ["", "judge_threshold+d_gated"]
    table = readings_section(report)
    rows = [ln for ln in table if ln.startswith("| ") and "reading" not in ln]
    assert rows[0].startswith("| default | not testable at this scale | ")
    assert rows[1].startswith("| threshold judge, D gated as listed | not testable at this scale | ")
    assert "FID: PS-GAN (K=2)" not in "".join(table)  # verdicts only; the reasons stay in the findings
    get = claims.for_reading(claims.ours(report.stats), "judge_threshold+d_gated")
    found = claims.all_claims(get)
    assert (found[0].verdict, found[0].reason) == ("contradicted", "PS-GAN (K=2) 41.00 > ProGAN 22.00 < SNGAN 31.00")
    assert get("fid", Model("psgan", 1)) == claims.ours(report.stats)("fid", Model("psgan", 1)) is not None


def test_runs_made_before_the_readings_still_render(tmp_path: Path):
    """Run folders as an earlier version wrote them (PS-GAN with d_update=paper, no judge: the threshold's; no
    fade): the report renders, and they are their own model, never merged with today's default."""
    root = make_sweep(tmp_path / "sweep")
    old = Model("psgan", 2, "judge_threshold+d_gated+no_fade")
    for seed in (0, 1):
        run = make_run(root, old, seed, 50.0 + seed, 130, 3_000_000.0 + 1000 * seed)
        result = json.loads((run / "result.json").read_text())
        result["config"]["system"] = {"name": "psgan", "num_generators": 2, "d_update": "paper", "stage_epochs": [1, 2]}
        (run / "result.json").write_text(json.dumps(result))
    report = build([root])
    out = tmp_path / "report"
    from ganexp.results.psgan2025.report import write

    write(report, out)
    t2 = read_csv(out / "table2_fid_is.csv")
    assert (t2["psgan_k2"]["fid_mean"], t2["psgan_k2_judge_threshold_d_gated_no_fade"]["fid_mean"]) == \
        ("11.00", "50.50")
    assert "| threshold judge, D gated as listed, stage switch without fade-in | " in (out / "report.md").read_text()
