"""The documentation stays true: the configuration reference is what the schema makes, the front page
stays a front page, and every page the site's nav names exists."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from ganexp import configref
from ganexp.config import group_options

ROOT = Path(__file__).resolve().parents[1]


def test_reference_page_is_generated_not_kept(tmp_path):
    """docs/reference.md is a build output (`make docs`, like docs/index.md): git ignores it, so a new key
    needs no second edit to keep a copy fresh; `python -m ganexp.configref OUT` writes what render() makes."""
    ignored = subprocess.run(["git", "check-ignore", "-q", "docs/reference.md"], cwd=ROOT)
    assert ignored.returncode == 0
    assert configref.main([str(tmp_path / "ref.md")]) == 0
    assert (tmp_path / "ref.md").read_text(encoding="utf-8") == configref.render()


def test_reference_lists_every_schema_key_and_group_option():
    from ganexp.schema import SCHEMA

    page = configref.render()
    assert all(f"| `{key}` |" in page for key in SCHEMA)
    losses = group_options("loss")
    assert f"| `loss` | {', '.join(f'`{n}`' for n in losses)} |" in page and "gan_ns" in losses
    assert "| `z_dim` | `100` | an integer >= 1 |" in page


def test_front_page_is_short_and_its_links_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= 10_500
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert links and all((ROOT / link).is_file() for link in links), links


def test_every_nav_page_exists():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)

    generated = ("index.md", "reference.md")  # by `make docs`: the front page from README.md, the reference
    missing = [p for p in pages(nav) if p not in generated and not (ROOT / "docs" / p).is_file()]
    assert missing == []


def test_the_loss_table_has_a_row_for_every_loss():
    """docs/configuration.md's formula table names every loss option (a new loss brings its formula)."""
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    losses = group_options("loss")
    assert "r3gan" in losses and [n for n in losses if f"\n| {n} | " not in page] == []
