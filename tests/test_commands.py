"""Every command's bad arguments, as `train`'s bad keys are answered (ganexp/cliargs.py): one sentence on stderr,
exit code 2, nothing written. One table per command, run in-process on one tiny finished run."""
from pathlib import Path

import pytest

from conftest import FAST
from ganexp.config import compose
from ganexp.train import run


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A sweep folder holding one finished 2-step run (last.ckpt, result.json; no metrics) and a plain file."""
    root = tmp_path_factory.mktemp("sweep")
    run(compose([*FAST, "trainer.max_steps=2"]), root / "r", "r")
    (root / "file.txt").write_text("x")
    return root


def answered(main, argv: list[str], capsys) -> str:
    """The one line ``main(argv)`` wrote to stderr, having exited 2 (argparse's SystemExit or a return)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, (code, err)
    return err


RESULTS = [
    (["--seeds", "-1"], "argument --seeds: must be an integer >= 1, got -1"),
    (["--seeds", "two"], "argument --seeds: must be an integer >= 1, got 'two'"),
    (["--out", "{s}/file.txt"], "file.txt is a file, not a folder; name a folder for the output"),
    (["--out", "{s}/file.txt/report"], "cannot be made (no writable folder above it)"),
    (["--fid-key", "kid5k"], "--fid-key kid5k is not an FID key; FID keys read fid<samples>, e.g. fid10k or fid500"),
    (["--fid-key", "fid10k"], "--fid-key fid10k: no run under {s} recorded it; recorded: no FID key"),
    (["--x", "time"], "argument --x: invalid choice: 'time'"),
    (["--study", "nope"], "argument --study: invalid choice: 'nope'"),
]


@pytest.mark.parametrize("argv,says", RESULTS, ids=[" ".join(a) for a, _ in RESULTS])
def test_results_answers_bad_arguments_in_one_sentence(sweep, capsys, argv, says):
    from ganexp.results.__main__ import main

    err = answered(main, [str(sweep), *[a.format(s=sweep) for a in argv]], capsys)
    assert says.format(s=sweep) in err and not (sweep / "report").exists()


def test_results_names_a_missing_sweep_folder(tmp_path, capsys):
    from ganexp.results.__main__ import main

    assert "no such sweep folder" in answered(main, [str(tmp_path / "none")], capsys)


LATENT = [
    (["interpolate", "{r}", "--steps", "1"], "argument --steps: must be an integer from 2 to 256, got 1"),
    (["interpolate", "{r}", "--pairs", "0"], "argument --pairs: must be an integer from 1 to 256, got 0"),
    (["interpolate", "{r}", "--seed", "-3"], "argument --seed: must be an integer from 0 to 4294967295, got -3"),
    (["interpolate", "{r}", "--out", "{r}/strip.jpg"], "strip.jpg must end in .png"),
    (["interpolate", "{r}", "--out", "{r}"], "is a folder; name a file such as"),
    (["interpolate", "{r}/nothing"], "argument run: "),
    (["arithmetic", "{r}", "--a", "16"], "--a/--b/--c take comma-separated positions 0..15 in samples/final.png"),
    (["sideways", "{r}"], "argument mode: invalid choice: 'sideways'"),
]


@pytest.mark.parametrize("argv,says", LATENT, ids=[" ".join(a) for a, _ in LATENT])
def test_latent_answers_bad_arguments_in_one_sentence(sweep, capsys, argv, says):
    from ganexp.latent import main

    r = sweep / "r"
    err = answered(main, [a.format(r=r) for a in argv], capsys)
    assert says.format(r=r) in err and not list(r.glob("latent_*.png")) and not (r / "strip.jpg").exists()


METRICS = [
    (["fid", "{r}/last.ckpt", "digits", "--num-samples", "1"], "argument --num-samples: must be an integer >= 2"),
    (["fid", "{r}/last.ckpt", "digits", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
    (["fid", "{r}/last.ckpt", "digits", "--cache-dir", "{s}/file.txt"], "is a file, not a folder"),
    (["fid", "{s}/nothing", "digits"], "nothing does not exist"),
    (["setup", "--cache-dir", "{s}/file.txt/c"], "cannot be made (no writable folder above it)"),
]


@pytest.mark.parametrize("argv,says", METRICS, ids=[" ".join(a) for a, _ in METRICS])
def test_metrics_answers_bad_arguments_in_one_sentence(sweep, capsys, argv, says):
    from ganexp.metrics.cli import main

    err = answered(main, [a.format(r=sweep / "r", s=sweep) for a in argv], capsys)
    assert says in err and sorted(p.name for p in sweep.iterdir()) == ["file.txt", "r"]


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
