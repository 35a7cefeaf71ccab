"""Study B report (Kwak & Ko: spectral norm, AdaIN): sweeps -> table, figures, findings.

``build`` reads run folders only; ``write`` fills the report folder with ``report.md``,
``table_fid.{csv,md}``, ``figure1_samples.png``, ``fid_diversity.png``, ``findings.json`` and
``summary.json``. A sweep trained on fewer than ``claims.MIN_IMAGES`` images or for fewer than
``MIN_EPOCHS`` epochs is a pipeline check, and the report says so first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..keys import describe_samples
from ..report import StudyReport, counts_line, runs_section, tally, write_files
from ..findings import Finding
from ..tables import Table
from . import claims, plots
from .runs import ORDER, StudyRun, collect, fmt_epoch
from .tables import Stats, build_stats, table_fid

TITLE = "Study B — spectral norm and AdaIN for face generation (Kwak & Ko)"
MIN_EPOCHS = 20
PIPELINE = "pipeline check, not the paper's protocol"


@dataclass
class Report(StudyReport):
    """Everything the Study B report shows, before anything is written."""

    sweep_dirs: list[Path]
    runs: list[StudyRun]
    dropped: list[StudyRun]
    other: list[StudyRun]
    stats: Stats
    table: Table
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def by_variant(self, completed: bool = True) -> dict[str, list[StudyRun]]:
        """Runs per variant in the study's order (completed ones only by default)."""
        return {v: runs for v in ORDER if (runs := self.stats.of(v, completed))}


def build(sweep_dirs: list[Path], args=None) -> Report:
    """Collect the Study B runs of ``sweep_dirs``; table and findings (writes nothing)."""
    sweep_dirs = [Path(s) for s in sweep_dirs]
    runs, dropped, other = collect(sweep_dirs)
    stats = build_stats(runs, getattr(args, "fid_key", None))
    report = Report(sweep_dirs, runs, dropped, other, stats, table_fid(stats),
                    claims.all_claims(stats))
    report.notes = collect_notes(report)
    return report


def pipeline_reasons(report: Report) -> list[str]:
    """Why the sweep is a pipeline check rather than the paper's protocol ([] when it is not)."""
    out = []
    size = report.stats.dataset_size
    if size is not None and size < claims.MIN_IMAGES:
        out.append(f"trained on {size:,} images (fewer than {claims.MIN_IMAGES:,})")
    epochs = [e for r in report.runs if (e := r.planned_epochs) is not None]
    if epochs and min(epochs) < MIN_EPOCHS:
        out.append(f"for {fmt_epoch(min(epochs))} epochs (fewer than {MIN_EPOCHS})")
    return out


def collect_notes(report: Report) -> list[str]:
    """Warnings a reader must see: other norm pairs, duplicates, mixed FID sample settings."""
    notes = [report.stats.judged] if report.stats.judged else []
    if report.other:
        notes.append(f"{len(report.other)} run(s) whose norm.g/norm.d is none of the four "
                     "variants, not counted: " + ", ".join(
                         f"`{r.run.path}` ({_norms(r)})" for r in report.other[:10]))
    if report.dropped:
        notes.append(f"{len(report.dropped)} duplicate run(s) of the same variant and seed "
                     "ignored (kept: best status, then newest).")
    key = report.stats.fid_key
    if key and len(describe_samples([r.run for r in report.runs], key)) > 1:
        notes.append("FID values come from different sample settings (see Protocol).")
    return notes


def _norms(r: StudyRun) -> str:
    return f"{r.cfg('norm.g')}/{r.cfg('norm.d')}" if r.run.config else "no config"


def _distinct(values) -> str:
    """Distinct values as text (``128``, ``celeba``, ``5, 10, 20``), ``—`` when none."""
    show = lambda v: fmt_epoch(v) if isinstance(v, float) else str(v)  # noqa: E731
    vals = sorted({show(v) for v in values if v is not None}, key=lambda s: (len(s), s))
    return ", ".join(vals) if vals else "—"


def protocol_section(report: Report) -> list[str]:
    """How ours were trained and measured: data, resolution, images, length, samples, devices."""
    runs, key = report.runs, report.stats.fid_key
    cfg = lambda k: _distinct(r.cfg(k) for r in runs)  # noqa: E731
    lines = ["## Protocol", "",
             f"- Data: {cfg('dataset.name')} at {cfg('dataset.resolution')} px, "
             f"{_distinct(r.dataset_size for r in runs)} training images.",
             f"- Loss: {cfg('loss.name')}, {cfg('loss.n_critic')} critic steps per generator "
             f"step; batch size {cfg('batch_size')}.",
             f"- Length: max_epochs {cfg('trainer.max_epochs')}, max_steps "
             f"{cfg('trainer.max_steps')}; trained {_distinct(r.run.steps for r in runs)} "
             f"generator steps = {_distinct(r.epochs for r in runs)} epochs "
             f"({cfg('trainer.steps_per_epoch')} steps per epoch).",
             f"- Sample grids at epochs {_distinct(report.stats.sample_epochs)}.",
             f"- FID key `{key}` (final value of each run):"]
    lines += [f"  - {s}" for s in describe_samples([r.run for r in runs], key)] \
        or ["  - no run reported FID"]
    lines += [f"- Diversity key `{report.stats.div_key}`; collapse threshold "
              f"{_distinct(report.stats.thresholds)}.",
              "- Devices: " + tally(r.device for r in runs),
              "", "Kwak & Ko: WGAN-GP, Adam, CelebA at 128×128; no published numbers.", ""]
    return lines


def findings_section(report: Report) -> list[str]:
    """Each observation: verdict, reason, rule and the numbers behind it."""
    lines = ["## Findings", "", "Rules: `ganexp/results/norms/claims.py`.", ""]
    for f in report.findings:
        lines += [f"### Observation {f.claim}: {f.title}", "", f"- **{f.verdict}**: {f.reason}",
                  f"- Rule: {f.criterion}"] + [f"  - {d}" for d in f.details] + [""]
    return lines


def report_markdown(report: Report) -> str:
    """``report.md``: pipeline-check warning, runs, protocol, table, figures, findings."""
    reasons = pipeline_reasons(report)
    lines = [f"# {TITLE}: our results", ""]
    if reasons:
        lines += [f"**This is a {PIPELINE}**: {' and '.join(reasons)}; the paper trains on "
                  "full CelebA (202,599 images) for 20 epochs.", ""]
    names = ", ".join(f"`{s}`" for s in report.sweep_dirs)
    lines += [f"Sweeps: {names}. Generated by `python -m ganexp.results`.", ""]
    lines += runs_section(report) + protocol_section(report)
    lines += report.table.section()
    lines += ["## Figures", "", "Figure 1: samples from fixed codes (first completed seed).", "",
              "![figure1_samples.png](figure1_samples.png)", "",
              "FID and diversity over training (completed runs).", "",
              "![fid_diversity.png](fid_diversity.png)", ""]
    return "\n".join(lines + findings_section(report))


def write(report: Report, out: Path) -> Path:
    """Write the table, figures, findings.json, summary.json and report.md into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = report.stats
    report.files["figure1_samples.png"] = plots.figure1(
        report.by_variant(completed=False), s.sample_epochs, out / "figure1_samples.png")
    report.files["fid_diversity.png"] = plots.fid_diversity_figure(
        report.by_variant(), s.fid_key, s.div_key, s.thresholds, out / "fid_diversity.png")
    for name in (*report.table.file_names(), "findings.json", "summary.json", "report.md"):
        report.files[name] = out / name
    write_files(out, [report.table], report.findings, [], summary(report), report_markdown(report))
    return out


def summary(report: Report) -> dict:
    """Machine-readable counts, keys, pipeline-check flag, notes and file list."""
    per_variant = {v: {"completed": len(report.stats.of(v)),
                       "runs": len(report.stats.of(v, completed=False))} for v in ORDER}
    return {"study": "kwak_ko", "sweeps": [str(s) for s in report.sweep_dirs],
            "counts": report.counts, "variants": per_variant,
            "excluded_runs": [str(r.run.path) for r in report.other],
            "fid_key": report.stats.fid_key, "judged_on": report.stats.judge_key, "div_key": report.stats.div_key,
            "dataset_size": report.stats.dataset_size,
            "pipeline_check": pipeline_reasons(report), "notes": report.notes,
            "files": sorted(report.files)}


def summary_lines(report: Report) -> list[str]:
    """Run counts (and a pipeline-check warning), then one line per observation."""
    lines = [counts_line(report.counts)]
    reasons = pipeline_reasons(report)
    if reasons:
        lines.append(f"warning: {PIPELINE}: {' and '.join(reasons)}")
    return lines + [f"finding {f.claim}: {f.verdict}: {f.reason}" for f in report.findings]

