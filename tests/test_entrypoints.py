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
