"""Sweep folders -> report folder: tables, figures, findings and ``report.md`` (reads runs only).

This module never imports wandb; ``wandb_push`` does, and only when asked.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..findings import Finding, findings_json
from . import claims, figures, paper, render
from ..cells import counts_by_status
from ..keys import choose_fid_key, is_key_for, judging_key
from .aggregate import Table, build_table
from ..tables import write_text
from .grid import Grid, infer_grid
from ..runs import Run
from .runs import cell_of, collect_runs

TABLE_FILES = {"fid": "table3_1_fid", "is": "table3_2_is"}
# Config keys that legitimately differ between runs of one cell (not part of the experiment).
IGNORED_KEY_PARTS = frozenset({"seed", "sweep", "hydra", "logger", "wandb", "paths", "run_name",
                               "run_id", "output_dir", "cache_dir", "root", "dir", "path", "id",
                               "data_root", "launch", "accelerator", "devices",
                               "inception_weights"})


@dataclass
class Report:
    """Everything the report shows, before anything is written."""

    sweep_dirs: list[Path]
    runs: list[Run]
    dropped: list[Run]
    grid: Grid
    fid: Table
    inception: Table
    findings: list[Finding]
    paper_findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    judged_on: str | None = None  # the key the findings read: the FID key, or at small n its KID

    @property
    def counts(self) -> dict[str, int]:
        """Runs per status plus expected and missing totals."""
        c = counts_by_status(self.runs)
        cells = self.fid.cells.values()
        c["total"] = len(self.runs)
        c["expected"] = sum(x.n_expected or 0 for x in cells) or None
        c["missing"] = sum(x.n_missing for x in cells)
        return c


def build_report(sweep_dirs: list[Path], paper_grid: bool = False, seeds: int | None = None,
                 fid_key: str | None = None) -> Report:
    """Collect the runs of ``sweep_dirs`` and compute tables and findings (writes nothing)."""
    sweep_dirs = [Path(s) for s in sweep_dirs]
    runs, dropped = collect_runs(sweep_dirs)
    grid = infer_grid(runs, sweep_dirs, paper_grid=paper_grid, seeds=seeds)
    fid_key = fid_key or choose_fid_key(runs)
    fid = build_table(runs, "fid", fid_key, grid)
    inception = build_table(runs, "is", is_key_for(fid_key), grid)
    channels = dataset_channels(runs)
    judge_key, judged = judging_key(runs, fid_key)
    judge = fid if judge_key == fid_key else build_table(runs, "kid", judge_key, grid)
    found = claims.all_findings(judge, inception, channels)
    ref = claims.all_findings(claims.paper_only(fid), claims.paper_only(inception), channels)
    report = Report(sweep_dirs, runs, dropped, grid, fid, inception, found, ref, judged_on=judge_key)
    report.notes = ([judged] if judged else []) + collect_notes(report)
    return report


def dataset_channels(runs: list[Run]) -> dict[str, int]:
    """Channel count per data set from the run configs (``dataset.channels``) where given."""
    out = {}
    for r in runs:
        ds = r.config.get("dataset")
        ch = ds.get("channels") if isinstance(ds, dict) else None
        if r.dataset and isinstance(ch, int):
            out[r.dataset] = ch
    return out


def _flatten(cfg, prefix: str = "") -> dict[str, str]:
    if not isinstance(cfg, dict):
        return {prefix: json.dumps(cfg, sort_keys=True, default=str)}
    out = {}
    for k, v in cfg.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def varying_keys(runs: list[Run]) -> Counter:
    """Config keys whose values differ between runs of the same cell (per key: cells affected)."""
    by_cell: dict[tuple, list[dict]] = {}
    for r in runs:
        if cell_of(r) and r.config:
            by_cell.setdefault(cell_of(r), []).append(_flatten(r.config))
    found = Counter()
    for flats in by_cell.values():
        keys = set().union(*flats)
        for k in keys:
            if IGNORED_KEY_PARTS.isdisjoint(k.split(".")) and len({f.get(k) for f in flats}) > 1:
                found[k] += 1
    return found


def collect_notes(report: Report) -> list[str]:
    """Warnings a reader must see: unknown cells, duplicates, mixed configs, missing metrics."""
    notes = []
    unknown = [r for r in report.runs if cell_of(r) is None]
    if unknown:
        notes.append(f"{len(unknown)} run folder(s) without dataset/loss/z_dim in their config "
                     f"(counted in the totals, not in any cell): "
                     + ", ".join(str(r.path) for r in unknown[:5]))
    if report.dropped:
        notes.append(f"{len(report.dropped)} duplicate run(s) of the same cell and seed ignored "
                     "(kept: best status, then newest): "
                     + ", ".join(str(r.path) for r in report.dropped[:5]))
    mixed = varying_keys(report.runs)
    if mixed:
        notes.append("Runs averaged in one cell differ in config keys (check the sweep): "
                     + ", ".join(f"`{k}` ({n} cells)" for k, n in mixed.most_common(10)))
    unpublished = [d for d in report.grid.datasets if d not in paper.DATASETS]
    unpublished += [loss for loss in report.grid.losses if loss not in paper.LOSSES]
    if unpublished:
        notes.append("Not in the paper (no published values to compare): "
                     + ", ".join(unpublished) + ".")
    novalue = sum(c.n_novalue for c in report.fid.cells.values())
    if novalue:
        notes.append(f"{novalue} completed run(s) lack `{report.fid.key}` (shown as 'no value')." if report.fid.key
                     else f"{novalue} completed run(s) show 'no value': no run recorded an FID key (trained with "
                     "metrics=none, or no evaluation finished).")
    if len(report.fid.info) > 1:
        notes.append("FID values come from different sample settings (see Table 3.1's samples).")
    return notes


def write_report(report: Report, out: Path) -> Path:
    """Write tables, figures, findings.json, summary.json and report.md into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for table in (report.fid, report.inception):
        report.files.update(write_table(table, out))
    report.files.update(write_figures(report, out))
    write_text(out / "findings.json", findings_json(report.findings, report.paper_findings))
    write_text(out / "summary.json", json.dumps(summary(report), indent=2))
    write_text(out / "report.md", report_markdown(report))
    return out


def write_table(table: Table, out: Path) -> dict[str, Path]:
    """The four files of one table: long CSV, paper-shaped CSV, Markdown, LaTeX."""
    stem = TABLE_FILES[table.metric]
    return {f"{stem}.csv": write_text(out / f"{stem}.csv", render.to_csv_long(table)),
            f"{stem}_wide.csv": write_text(out / f"{stem}_wide.csv", render.to_csv_wide(table)),
            f"{stem}.md": write_text(out / f"{stem}.md", render.to_markdown(table)),
            f"{stem}.tex": write_text(out / f"{stem}.tex", render.to_latex(table))}


def write_figures(report: Report, out: Path) -> dict[str, Path]:
    """Figures 3.1, 3.2 and one sample figure per data set that has ``samples/final.png``."""
    files = {"figure3_1_fid.png": figures.metric_figure(report.fid, out / "figure3_1_fid.png"),
             "figure3_2_is.png": figures.metric_figure(report.inception, out / "figure3_2_is.png")}
    for d in report.grid.datasets:
        loss = figures.sample_loss(report.runs, d, report.grid.losses)
        if loss is None:
            report.notes.append(f"No samples/final.png for {paper.dataset_label(d)}: "
                                "no sample figure.")
            continue
        number = paper.SAMPLE_FIGURE.get(d)
        name = f"figure{number.replace('.', '_')}_{d}_samples.png" if number else f"samples_{d}.png"
        files[name] = figures.sample_figure(report.runs, d, loss, report.grid.z_dims, out / name)
    return files


def summary(report: Report) -> dict:
    """Machine-readable counts, grid, metric keys and file list."""
    g = report.grid
    return {"sweeps": [str(s) for s in report.sweep_dirs], "counts": report.counts,
            "grid": {"datasets": g.datasets, "losses": g.losses, "z_dims": g.z_dims,
                     "seeds_per_cell": g.seeds_per_cell, "source": g.source},
            "fid_key": report.fid.key, "is_key": report.inception.key, "judged_on": report.judged_on,
            "is_available": report.inception.available, "notes": report.notes,
            "files": sorted(report.files)}


def runs_section(report: Report) -> list[str]:
    """Counts by status and the list of runs that did not complete."""
    c = report.counts
    lines = ["## Runs", "", "| completed | diverged | frozen | failed | incomplete | total | expected | "
             "missing |", "|---|---|---|---|---|---|---|---|",
             f"| {c['completed']} | {c['diverged']} | {c['frozen']} | {c['failed']} | {c['incomplete']} | "
             f"{c['total']} | {c['expected'] or 'unknown'} | {c['missing']} |", "",
             f"Grid: {len(report.grid.datasets)} data sets × {len(report.grid.losses)} losses × "
             f"d ∈ {report.grid.z_dims}, {report.grid.seeds_per_cell or 'unknown'} seeds per cell "
             f"(from {report.grid.source}).", ""]
    bad = [r for r in report.runs if r.status != "completed"]
    for r in bad[:50]:
        step = r.diverged_at if r.diverged_at is not None else r.frozen_at
        at = f" at step {step}" if step is not None else ""
        why = f": {r.note.splitlines()[0][:160]}" if r.note else ""
        lines.append(f"- {r.status}{at}: `{r.path}`{why}")
    if len(bad) > 50:
        lines.append(f"- … and {len(bad) - 50} more (see summary.json counts)")
    if report.notes:
        lines += ["", "**Notes**", ""] + [f"- {n}" for n in report.notes] + [""]
    return lines


def findings_section(report: Report) -> list[str]:
    """Each claim: verdict on our numbers, verdict on the paper's numbers, criterion, details."""
    lines = ["## Findings", "", "Criteria and thresholds: see `ganexp/results/lee2018/claims.py`. "
             "The paper's column applies the same criteria to the published means of the same "
             "cells (one value per cell, so seed stability is not testable there).", ""]
    for ours, ref in zip(report.findings, report.paper_findings):
        reason = f": {ours.reason}" if ours.verdict == "not testable" else ""
        lines += [f"### Claim {ours.claim}: {ours.title}", "",
                  f"- **Ours: {ours.verdict}{reason}**; paper's numbers: {ref.verdict}",
                  f"- Criterion: {ours.criterion}"]
        lines += [f"  - {d}" for d in ours.details] + [""]
    return lines


def report_markdown(report: Report) -> str:
    """``report.md``: runs, both tables, figures and findings."""
    names = ", ".join(f"`{s}`" for s in report.sweep_dirs)
    lines = ["# Study A — loss × latent dimension (Lee & Seok 2018): our results", "",
             f"Sweeps: {names}. Generated by `python -m ganexp.results`.", ""]
    lines += runs_section(report)
    for table in (report.fid, report.inception):
        stem = TABLE_FILES[table.metric]
        lines += [f"## {render.title(table)}", "", render.to_markdown(table, with_title=False),
                  f"Files: [{stem}.csv]({stem}.csv), [{stem}_wide.csv]({stem}_wide.csv), "
                  f"[{stem}.tex]({stem}.tex)", ""]
    lines += ["## Figures", ""]
    lines += [f"![{name}]({name})\n" for name in sorted(report.files) if name.endswith(".png")]
    lines += findings_section(report)
    return "\n".join(lines)
