"""Report assembly every study's report shares: its runs and their counts, the runs section of
report.md, and writing tables, findings and the summary into the report folder.

A plug-in's report is a ``StudyReport`` (``runs``: each with its ``Run`` as ``.run``; ``notes``); its
tables are ``tables.Table``; its findings are ``findings.Finding``.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .cells import counts_by_status
from .findings import Finding, findings_json
from .tables import Table, write_text


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
    """``runs: 8 completed, 1 diverged, 0 frozen, 0 failed, 0 incomplete``."""
    return (f"runs: {counts['completed']} completed, {counts['diverged']} diverged, {counts['frozen']} frozen, "
            f"{counts['failed']} failed, {counts['incomplete']} incomplete")


def tally(values) -> str:
    """``cpu (3 runs); not recorded (1 runs)``: each distinct value and how many runs have it."""
    return "; ".join(f"{v} ({n} runs)" for v, n in sorted(Counter(
        v or "not recorded" for v in values).items()))


def runs_section(report: StudyReport) -> list[str]:
    """Counts by status, runs that did not complete, notes."""
    c = report.counts
    lines = ["## Runs", "", "| completed | diverged | frozen | failed | incomplete | total |",
             "|---|---|---|---|---|---|",
             f"| {c['completed']} | {c['diverged']} | {c['frozen']} | {c['failed']} | {c['incomplete']} | "
             f"{c['total']} |", ""]
    for r in [r for r in report.runs if r.run.status != "completed"][:50]:
        at = f" at step {r.run.frozen_at}" if r.run.status == "frozen" else ""
        why = at + (f": {r.run.note.splitlines()[0][:160]}" if r.run.note else "")
        lines.append(f"- {r.run.status}: `{r.run.path}`{why}")
    if report.notes:
        lines += ["", "**Notes**", ""] + [f"- {n}" for n in report.notes]
    return lines + [""]


def write_files(out: Path, tables: list[Table], ours: list[Finding], paper: list[Finding], summary: dict,
                markdown: str) -> dict[str, Path]:
    """Write each table (csv, md, tex), ``findings.json``, ``summary.json`` and ``report.md`` into ``out``."""
    files: dict[str, Path] = {}
    for t in tables:
        files.update(t.write(out))
    files["findings.json"] = write_text(out / "findings.json", findings_json(ours, paper))
    files["summary.json"] = write_text(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    files["report.md"] = write_text(out / "report.md", markdown)
    return files


def push_study(report: StudyReport, tables: list[Table], out: Path) -> str:
    """A study's tables, findings and figures to W&B (``wandb_push``; wandb is imported only there)."""
    from .wandb_push import push_tables

    data = {t.stem: (t.csv_header, t.csv_rows) for t in tables}
    data["findings"] = (["claim", "title", "verdict", "criterion", "details"],
                        [[f.claim, f.title, f.verdict, f.criterion, "\n".join(f.details) or f.reason]
                         for f in report.findings])
    return push_tables([r.run for r in report.runs], report.sweep_dirs, out, data, report.files,
                       {f"runs/{k}": v for k, v in report.counts.items()}, {})
