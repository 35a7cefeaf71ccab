"""``python -m ganexp`` lists the entry points, and each of them answers ``--help`` with exit code 0 and plain text."""
from __future__ import annotations

import re
import subprocess
import sys

from ganexp.__main__ import ENTRY_POINTS


def test_python_m_ganexp_lists_every_entry_point():
    out = subprocess.run([sys.executable, "-m", "ganexp"], capture_output=True, text=True, check=True).stdout
    assert [line.split()[2] for line in out.splitlines()[1:]] == [
        "ganexp.train", "ganexp.results", "ganexp.metrics", "ganexp.latent", "ganexp.bench"]
    for cmd, _ in ENTRY_POINTS:
        module = cmd.split()[2]
        done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
        assert done.returncode == 0, module
        expected = "== configuration groups ==" if module == "ganexp.train" else "usage"
        assert expected in done.stdout.lower(), module
        assert not re.search(r"``|:(func|class|mod|meth):`|^\s*\.\. \w", done.stdout, re.M), module  # no reST


def test_help_and_a_bad_value_answer_before_lightning_or_a_system_is_imported():
    """A bad value of a key the schema lists (and --help) is answered before Lightning is imported: that import
    alone takes ~10 s on a 2-core machine. ``-X importtime`` lists every module the process imported."""
    for argv, code in ((["--help"], 0), (["z_dim=0"], 2), (["-m", "loss=hinge,lsgan", "trainer.max_steps=0"], 2)):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ganexp.train", *argv],
                              capture_output=True, text=True)
        assert done.returncode == code, (argv, done.stderr[-2000:])
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
        assert "ganexp.preflight" in imported and "hydra" in imported, argv  # the real entry point ran
        assert not {"lightning", "ganexp.systems", "ganexp.systems.base"} & imported, argv
