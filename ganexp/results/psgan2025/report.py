"""Study C report (Byeon, Park & Yang 2025): sweep folders -> Tables 2-4, figures, findings.

``build`` reads run folders only; ``write`` fills the report folder with ``report.md``, the csv
and Markdown of each table, the PNG figures, ``findings.json`` and ``summary.json``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ...metrickeys import generator_key
from ..keys import choose_fid_key, describe_samples, is_key_for
from ..report import StudyReport, counts_line, runs_section, tally, write_files
from ..findings import Finding
from ..tables import Table
from ..runs import dotted
from . import claims, plots
from .runs import READING, READING_PARTS, Model, StudyRun, collect, order
from .tables import Stats, build_stats, table2, table3, table4, table_algorithm2

TITLE = "Study C — PS-GAN vs SNGAN vs ProGAN (Byeon, Park & Yang 2025)"


@dataclass
class Report(StudyReport):
    """Everything the Study C report shows, before anything is written."""

    sweep_dirs: list[Path]
    runs: list[StudyRun]
    dropped: list[StudyRun]
    stats: Stats
    tables: list[Table]
    findings: list[Finding]
    paper_findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def by_model(self, completed: bool = True) -> dict[Model, list[StudyRun]]:
        """Runs per model in the paper's order (completed ones only by default)."""
        out: dict[Model, list[StudyRun]] = {}
        for r in self.runs:
            if r.model is not None and (r.run.status == "completed" or not completed):
                out.setdefault(r.model, []).append(r)
        return dict(sorted(out.items(), key=lambda kv: order(kv[0])))


def build(sweep_dirs: list[Path], args=None) -> Report:
    """Collect the Study C runs of ``sweep_dirs``; tables and findings (writes nothing)."""
    sweep_dirs = [Path(s) for s in sweep_dirs]
    runs, dropped = collect(sweep_dirs)
    fid_key = getattr(args, "fid_key", None) or choose_fid_key([r.run for r in runs])
    stats = build_stats(runs, fid_key, is_key_for(fid_key))
    tables = [t for t in (table2(stats), table3(stats), table4(stats), table_algorithm2(stats)) if t]
    report = Report(sweep_dirs, runs, dropped, stats, tables,
                    claims.all_claims(claims.ours(stats), claims.scale_gate(stats)),
                    claims.all_claims(claims.paper()))
    report.notes = collect_notes(report)
    return report


def readings(report: Report) -> list[str]:
    """The PS-GAN readings (``Model.variant``) with completed runs, the default ("") first."""
    found = {m.variant for m in report.by_model() if m.name == "psgan"
             and all(p in READING_PARTS for p in m.variant.split("+") if p)}
    return sorted(found, key=lambda v: (v != "", v))


def readings_section(report: Report) -> list[str]:
    """The claims once per reading of Algorithm 2 found: which reading, if any, reproduces the paper."""
    found = readings(report)
    if len(found) < 2 and found != [""]:
        found = [""] + found
    scale = claims.scale_gate(report.stats)
    lines = ["## Claims per reading of Algorithm 2", "",
             f"The findings below read PS-GAN under the default reading ({READING}). Here every "
             "reading with runs stands in for it in turn (its PS-GAN models, the same baselines).", "",
             "| PS-GAN reading | " + " | ".join(f"claim {n}" for n in range(1, 10)) + " |",
             "|---|" + "---|" * 9]
    for reading in found:
        got = claims.all_claims(claims.for_reading(claims.ours(report.stats), reading), scale)
        label = Model("psgan", 2, reading).label.removeprefix("PS-GAN (K=2").lstrip(", ").rstrip(")") or "default"
        lines.append(f"| {label} | " + " | ".join(f.verdict for f in got) + " |")
    return lines + [""]


def shared_runs(report: Report) -> list[StudyRun]:
    """Runs that trained on one host at the same time as another run."""
    return [r for r in report.runs if r.shared]


def collect_notes(report: Report) -> list[str]:
    """Warnings a reader must see: unknown models, duplicates, shared machines, IS."""
    notes = []
    unknown = [r for r in report.runs if r.model is None]
    if unknown:
        notes.append(f"{len(unknown)} run(s) whose config names no known model (system.name "
                     "gan/progan/psgan with num_generators), counted only in the totals: "
                     + ", ".join(f"`{r.run.path}`" for r in unknown[:5]))
    if report.dropped:
        notes.append(f"{len(report.dropped)} duplicate run(s) of the same model and seed ignored "
                     "(kept: best status, then newest).")
    shared = shared_runs(report)
    if shared:
        notes.append(f"{len(shared)} run(s) shared a machine (training windows overlap another "
                     "run's on the same host; times marked †, time claims not testable): "
                     + ", ".join(f"`{r.run.path}`" for r in shared[:10]))
    if report.stats.fid_key and len(describe_samples([r.run for r in report.runs],
                                                     report.stats.fid_key)) > 1:
        notes.append("FID values come from different sample settings (see Protocol).")
    return notes


def _distinct(values) -> str:
    """Distinct values as text (``3``, ``mnist``, ``[1, 2]``), ``—`` when none."""
    show = lambda v: f"{v:g}" if isinstance(v, float) else v if isinstance(v, str) \
        else json.dumps(v)  # noqa: E731
    vals = sorted({show(v) for v in values if v is not None})
    return ", ".join(vals) if vals else "—"


def protocol_section(report: Report) -> list[str]:
    """How ours were measured: data, samples, split, length, batch, stages, devices."""
    plain = [r.run for r in report.runs]
    key, is_key = report.stats.fid_key, report.stats.is_key
    is_ok = any(c.n for (m, _), c in report.stats.cells.items() if m == "is")
    lines = ["## Protocol", "",
             f"- Data: {_distinct(r.dataset for r in plain)}; batch size "
             f"{_distinct(r.config.get('batch_size') for r in plain)}.",
             f"- FID key `{key}` (final value of each run):"]
    lines += [f"  - {s}" for s in describe_samples(plain, key)] or ["  - no run reported FID"]
    averaged = sorted({r.config.get("system", {}).get("name", "?") for r in plain
                       if key and r.value(generator_key(key, "ema")) is not None})
    if averaged:
        lines.append(f"- Scored on the generator's weight average G_ema (`{generator_key(key, 'ema')}`, as its paper "
                     f"evaluates it): system {', '.join(averaged)}; G's own `{key}` stays in its result.json.")
    lines.append(f"- IS `{is_key}`: " + ("reported." if is_ok else "unavailable (no official "
                                         "Inception weights with logits); shown as unavailable."))
    lines += ["- Devices: " + tally(r.device for r in report.runs),
              "- Hosts: " + tally(r.host for r in report.runs), "",
              "| model | runs (completed/all) | epochs | steps | steps/epoch | max_epochs | "
              "stage epochs |", "|---|---|---|---|---|---|---|"]
    for m, runs in report.by_model(completed=False).items():
        cfg = [r.run.config for r in runs]
        done = sum(r.run.status == "completed" for r in runs)
        lines.append(f"| {m.label} | {done}/{len(runs)} | "
                     f"{_distinct(round(r.epochs, 3) if r.epochs else None for r in runs)} | "
                     f"{_distinct(r.run.steps for r in runs)} | "
                     f"{_distinct(r.steps_per_epoch for r in runs)} | "
                     f"{_distinct(dotted(c, 'trainer.max_epochs') for c in cfg)} | "
                     f"{_distinct(dotted(c, 'system.stage_epochs') for c in cfg)} |")
    lines += ["", "The paper: MNIST, batch 64; it publishes neither the sample count behind its "
              "FID/IS nor its hardware, so no ours − paper difference is printed (see the "
              "tables' notes).", ""]
    return lines


def findings_section(report: Report) -> list[str]:
    """Each claim: verdict and reason on ours and on the paper's numbers, criterion, details."""
    lines = ["## Findings", "", "Rules: `ganexp/results/psgan2025/claims.py`; the same rule is "
             "applied to the paper's published numbers (Tables 2-4).", ""]
    for o, p in zip(report.findings, report.paper_findings):
        lines += [f"### Claim {o.claim}: {o.title}", "", f"- **Ours: {o.verdict}**: {o.reason}",
                  f"- Paper's numbers: {p.verdict}: {p.reason}", f"- Rule: {o.criterion}"]
        lines += [f"  - {d}" for d in o.details] + [""]
    return lines


def report_markdown(report: Report) -> str:
    """``report.md``: runs, protocol, Tables 2-4, figures, findings."""
    names = ", ".join(f"`{s}`" for s in report.sweep_dirs)
    lines = [f"# {TITLE}: our results", "",
             f"Sweeps: {names}. Generated by `python -m ganexp.results`.", ""]
    lines += runs_section(report) + protocol_section(report)
    for t in report.tables:
        lines += t.section()
    lines += ["## Figures", "", "Curves and samples of completed runs only.", ""]
    lines += [f"![{n}]({n})\n" for n in sorted(report.files) if n.endswith(".png")]
    return "\n".join(lines + readings_section(report) + findings_section(report))


def write_figures(report: Report, out: Path) -> dict[str, Path]:
    """Figures 4-6 (losses), 7-9 (samples) and FID over training."""
    by_model = report.by_model()
    return {"figures4_6_losses.png": plots.loss_figure(by_model, out / "figures4_6_losses.png"),
            "figures7_9_samples.png": plots.sample_figure(by_model,
                                                          out / "figures7_9_samples.png"),
            "fid_over_training.png": plots.fid_figure(by_model, report.stats.fid_key,
                                                      out / "fid_over_training.png")}


def write(report: Report, out: Path) -> Path:
    """Write tables, figures, findings.json, summary.json and report.md into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report.files.update({name: out / name for t in report.tables for name in t.file_names()})
    report.files.update(write_figures(report, out))
    write_files(out, report.tables, report.findings, report.paper_findings, summary(report),
                report_markdown(report))
    return out


def summary(report: Report) -> dict:
    """Machine-readable counts, keys, shared runs, notes and file list."""
    return {"study": "psgan2025", "sweeps": [str(s) for s in report.sweep_dirs],
            "counts": report.counts, "fid_key": report.stats.fid_key,
            "is_key": report.stats.is_key,
            "shared_machine": [str(r.run.path) for r in shared_runs(report)],
            "notes": report.notes, "files": sorted(report.files)}


def summary_lines(report: Report) -> list[str]:
    """Run counts, a machine-sharing warning, and one line per claim (ours; the paper's)."""
    lines = [counts_line(report.counts)]
    shared = shared_runs(report)
    if shared:
        lines.append(f"warning: {len(shared)} runs shared a machine (overlapping training "
                     "windows); their times are flagged")
    return lines + [f"claim {o.claim}: {o.verdict}: {o.reason} (paper's numbers: {p.verdict})"
                    for o, p in zip(report.findings, report.paper_findings)]
