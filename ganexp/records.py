"""A run's records: ``result.json`` (the run's outcome, written once at its end) and ``metrics.jsonl``
(one JSON object per log or evaluation point). Training writes them and the results layer reads them
through this one module, so the two sides cannot drift apart.

Both are strict JSON: a NaN or infinite value is written as ``null``. A line of ``metrics.jsonl`` counts
only when it ends in a newline (a kill can tear the last one) and parses as an object.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

RESULT = "result.json"
METRICS = "metrics.jsonl"
ENDED = ("completed", "diverged", "frozen", "failed")  # the statuses result.json can hold


def clean(v):
    """JSON-safe float: NaN/inf become None (strict JSON)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def row_line(row: dict) -> str:
    """One ``metrics.jsonl`` line (newline included) for ``row``."""
    return json.dumps({k: clean(v) for k, v in row.items()}) + "\n"


def append_row(path: Path, row: dict) -> None:
    """Append ``row`` to the ``metrics.jsonl`` at ``path``."""
    with open(path, "a") as f:
        f.write(row_line(row))


def whole_lines(path: Path) -> list[str]:
    """The lines of ``path`` that end in a newline: a last line without one was torn by a kill, and even if
    it parses, it may be a prefix of another row ("...,1" of "...,12")."""
    text = Path(path).read_text(errors="replace")  # a torn multi-byte character must not stop a reader
    return text.split("\n")[:-1]


def read_rows(path: Path) -> list[dict]:
    """The rows of a ``metrics.jsonl`` (whole lines that parse as objects); [] when it cannot be read."""
    try:
        lines = whole_lines(path)
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_json_dict(path: Path) -> dict | None:
    """A JSON object from ``path``; None when absent, unparseable or not an object (a list, a number)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_result(run_dir: Path) -> tuple[dict, str]:
    """``(result, why)``: the run's result.json as a dict and ``""``; ``why`` says what is wrong when the
    file is absent, unreadable or not an object (then ``{}``) or holds a status other than ``ENDED``."""
    path = Path(run_dir) / RESULT
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"no {RESULT}"
    except (OSError, ValueError) as exc:
        return {}, f"unreadable {RESULT} ({type(exc).__name__})"
    if not isinstance(data, dict):
        return {}, f"{RESULT} is not a JSON object"
    if data.get("status") not in ENDED:
        return data, f"unknown status {data.get('status')!r}"
    return data, ""
