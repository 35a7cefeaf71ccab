"""Report pieces the study plug-ins (``norms``, ``psgan``) share: counts, runs, tables, files.

A plug-in's report is a ``StudyReport``; its tables are ``render.Rendered``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from .aggregate import counts_by_status
from .render import Rendered


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8 and return ``path``."""
    path.write_text(text, encoding="utf-8")
    return path


class StudyReport:
    """Base of a plug-in's report: ``runs`` (each with its shared ``Run`` as ``.run``) and
    ``notes``, set by the subclass."""

    runs: list
    notes: list[str]

    @property
    def counts(self) -> dict[str, int]:
        """Runs per status and in total."""
        return counts_by_status([r.run for r in self.runs]) | {"total": len(self.runs)}


def counts_line(counts: dict[str, int]) -> str:
    """``runs: 8 completed, 1 diverged, 0 failed, 0 incomplete``."""
    return (f"runs: {counts['completed']} completed, {counts['diverged']} diverged, "
            f"{counts['failed']} failed, {counts['incomplete']} incomplete")


def tally(values) -> str:
    """``cpu (3 runs); not recorded (1 runs)``: each distinct value and how many runs have it."""
    return "; ".join(f"{v} ({n} runs)" for v, n in sorted(Counter(
        v or "not recorded" for v in values).items()))


def runs_section(report: StudyReport) -> list[str]:
    """Counts by status, runs that did not complete, notes."""
    c = report.counts
    lines = ["## Runs", "", "| completed | diverged | failed | incomplete | total |",
             "|---|---|---|---|---|",
             f"| {c['completed']} | {c['diverged']} | {c['failed']} | {c['incomplete']} | "
             f"{c['total']} |", ""]
    for r in [r for r in report.runs if r.run.status != "completed"][:50]:
        why = f": {r.run.note.splitlines()[0][:160]}" if r.run.note else ""
        lines.append(f"- {r.run.status}: `{r.run.path}`{why}")
    if report.notes:
        lines += ["", "**Notes**", ""] + [f"- {n}" for n in report.notes]
    return lines + [""]


def table_section(t: Rendered) -> list[str]:
    """A table's heading, Markdown and links to its files."""
    return [f"## {t.title}", "", t.markdown(),
            f"Files: [{t.stem}.csv]({t.stem}.csv), [{t.stem}.md]({t.stem}.md)", ""]


def write_table(t: Rendered, out: Path) -> dict[str, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` (titled) into ``out``; name -> path."""
    return {f"{t.stem}.csv": write_text(out / f"{t.stem}.csv", t.csv()),
            f"{t.stem}.md": write_text(out / f"{t.stem}.md", f"**{t.title}**\n\n" + t.markdown())}
