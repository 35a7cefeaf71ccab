"""The papers' published numbers, shipped as package data under ``ganexp/reference/`` and read with
importlib.resources (an installed wheel finds them as well as an editable checkout)."""
from __future__ import annotations

from importlib import resources


def read_reference_text(name: str) -> str:
    """The text of the reference file ``name`` (e.g. ``lee2018_table3_1_fid.csv``)."""
    return resources.files("ganexp").joinpath(f"reference/{name}").read_text(encoding="utf-8")
