"""The house's layers (.importlinter; docs/architecture.md) hold: lint-imports keeps every contract, with no
exception list, so an import that runs upward or from the results into training code fails ``make test``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert "ignore_imports" not in (ROOT / ".importlinter").read_text()
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Contracts: 3 kept, 0 broken." in done.stdout
