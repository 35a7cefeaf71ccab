"""The QUICK profile of `make reproduce-table31` end to end (MNIST, 7 losses, z_dim 1 and 10, CPU,
about 30 minutes): 14 completed runs, then the report with both tables, the figures and the findings."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ASSETS, ROOT, assets_or_skip

pytestmark = pytest.mark.slow


def test_quick_profile_end_to_end(tmp_path):
    assets_or_skip("datasets", "MNIST", "raw")
    sweep = tmp_path / "table31_quick"
    train = subprocess.run([sys.executable, "-m", "ganexp.train", "-m", "experiment=table31_quick",
                            f"data_root={ASSETS / 'datasets'}", "logger=none", f"hydra.sweep.dir={sweep}"],
                           cwd=ROOT, capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-2000:]
    assert train.stdout.count("[completed]") + train.stdout.count("[diverged]") == 14
    rep = subprocess.run([sys.executable, "-m", "ganexp.results", str(sweep)], cwd=ROOT, capture_output=True,
                         text=True)
    assert rep.returncode == 0, rep.stderr[-2000:]
    out = Path(rep.stdout.strip().splitlines()[-1])
    assert out == sweep / "report"
    for name in ["report.md", "table3_1_fid.md", "table3_1_fid.csv", "table3_1_fid.tex", "table3_2_is.md",
                 "figure3_1_fid.png", "figure3_2_is.png", "figure3_3_mnist_samples.png"]:
        assert (out / name).is_file(), name
    table = (out / "table3_1_fid.md").read_text()
    for loss in ["gan_mm", "gan_ns", "lsgan", "wgan", "wgan_gp", "dragan", "began"]:
        assert loss in table.lower().replace("-", "_") or loss.upper() in table
    assert "fid250" in (out / "report.md").read_text()
