"""The default report: any grid, reported as it was run.

One row per configuration (every swept key but the seed, ``sweep.layout``), mean ± sd over seeds with n
for every metric the runs recorded, the status counts, and for each metric the best configuration and
every other one's difference to it with a 95% Welch interval (``stats``). Runs left out of the means
(unfinished, failed, diverged, true duplicates of a configuration and seed) are named with the reason,
on the console and in report.md. Figures: ``gridfigures``.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import gridfigures, stats
from .cells import STATUSES, Cell, cell_text, counts_by_status
from .report import counts_line
from .keys import decimals, higher_is_better, is_metric_key
from .runs import Run, collect_all, dedupe_by, finite
from .sweep import Configuration, Layout, identity, layout
from .tables import Table, write_text



def metric_order(key: str) -> tuple:
    """FID first, KID next (its value does not depend on the sample count), then the rest by name."""
    return (not key.startswith("fid"), not key.startswith("kid"), key)


@dataclass
class Row:
    """One configuration's statistics: ``summaries[metric]`` over its completed seeds."""

    config: Configuration
    summaries: dict[str, Cell]  # metric -> its values over the completed seeds

    @property
    def counts(self) -> Counter:
        return Counter(r.status for r in self.config.runs)


@dataclass
class Comparison:
    """One metric: rows ranked best first, each with its difference to the best (None for the best)."""

    metric: str
    ranked: list[tuple[Row, stats.Difference | None]]

    @property
    def best(self) -> Row | None:
        return self.ranked[0][0] if self.ranked else None


@dataclass
class GridReport:
    """Everything the grid report shows, before anything is written."""

    sweep_dirs: list[Path]
    runs: list[Run]
    left_out: list[tuple[Run, str]]
    layout: Layout
    metrics: list[str]
    rows: list[Row]
    comparisons: list[Comparison]
    x_axis: str = "step"
    latent: bool = True  # draw the best configuration's interpolation strips (loads its generator)
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        duplicates = sum(1 for _, why in self.left_out if why.startswith("duplicate"))
        return counts_by_status(self.runs) | {"total": len(self.runs), "duplicates": duplicates}

    @property
    def primary(self) -> str | None:
        return self.metrics[0] if self.metrics else None


def build(sweep_dirs: list[Path], args: argparse.Namespace | None = None) -> GridReport:
    """Read the runs of ``sweep_dirs`` and compute every table (writes nothing)."""
    sweep_dirs = [Path(s) for s in sweep_dirs]
    kept, dropped = dedupe_by(collect_all(sweep_dirs), lambda r: None if r.seed is None
                              else (identity(r), r.seed), lambda r: r)
    grid = layout(kept, sweep_dirs)
    metrics = sorted({k for r in kept if r.status == "completed" for k, v in r.metrics.items()
                      if is_metric_key(k) and finite(v) is not None}, key=metric_order)
    rows = [Row(c, {m: Cell(values=[v for r in c.completed if (v := r.value(m)) is not None])
                    for m in metrics}) for c in grid.configurations]
    report = GridReport(sweep_dirs, kept, left_out(kept, dropped), grid, metrics, rows,
                        [compare(rows, m) for m in metrics], x_axis=getattr(args, "x", None) or "step",
                        latent=not getattr(args, "no_latent", False))
    report.notes = notes(report)
    return report


def left_out(kept: list[Run], dropped: list[Run]) -> list[tuple[Run, str]]:
    """Every run that no mean includes, with the reason."""
    out = []
    for run in kept:
        if run.status == "incomplete":
            out.append((run, f"incomplete: {run.note or 'no result.json'} (still running, or killed: "
                             "the same command resumes it)"))
        elif run.status == "failed":
            out.append((run, f"failed: {run.note.splitlines()[0][:200] if run.note else 'no error recorded'}"))
        elif run.status == "diverged":
            out.append((run, f"diverged at step {run.diverged_at}"))
        elif run.status == "frozen":
            out.append((run, f"frozen at step {run.frozen_at}: {run.note.splitlines()[0][:200] if run.note else ''}"))
    twin = {(identity(r), r.seed): r for r in kept}
    out += [(r, f"duplicate of {twin[(identity(r), r.seed)].path} (same configuration and seed; the better "
                f"status, then the newer result.json, is kept)") for r in dropped]
    return out


def compare(rows: list[Row], metric: str) -> Comparison:
    """Rank the rows with a value of ``metric``, best first, and set each one's Welch difference."""
    valued = [r for r in rows if r.summaries[metric].n]
    sign = -1 if higher_is_better(metric) else 1
    valued.sort(key=lambda r: sign * r.summaries[metric].mean)
    if not valued:
        return Comparison(metric, [])
    best = valued[0].summaries[metric]
    return Comparison(metric, [(valued[0], None)] +
                      [(r, stats.welch(r.summaries[metric], best)) for r in valued[1:]])


def verdict(diff: stats.Difference | None, row: Row, best: Row, metric: str) -> str:
    """What a comparison row says."""
    if diff is None:
        return "best"
    n, nb = row.summaries[metric].n, best.summaries[metric].n
    if diff.low is None:
        return f"too few seeds (n = {n} vs {nb}; {stats.MIN_SEEDS} needed)"
    if diff.decided:
        return "worse than the best (interval excludes 0)"
    return "not distinguishable from the best"


def notes(report: GridReport) -> list[str]:
    """Lines under the tables: what was swept, metrics some runs lack, and what the layout dropped."""
    out = []
    if not report.layout.columns:
        out.append("No key varied between the runs: every run is a seed of one configuration.")
    for m in report.metrics:
        lacking = [r for r in report.runs if r.status == "completed" and r.value(m) is None]
        if lacking:
            out.append(f"`{m}`: {len(lacking)} completed run(s) did not record it "
                       f"(e.g. {lacking[0].path.name}); their rows average fewer seeds.")
    n = len(report.layout.configurations)
    if n > gridfigures.MAX_PANELS:
        out.append(f"{n} configurations: the figures show the {gridfigures.MAX_PANELS} best by "
                   f"`{report.primary}`; the tables show all.")
    return out


def ranked_configs(report: GridReport) -> list[Configuration]:
    """Configurations best first by the primary metric, those without it after, in table order."""
    first = [row.config for row, _ in report.comparisons[0].ranked] if report.comparisons else []
    return first + [c for c in report.layout.configurations if c not in first]


def results_table(report: GridReport) -> Table:
    """One row per configuration: its swept values, runs, and mean ± sd (n) of every metric."""
    cols = report.layout.columns
    header = [*cols, "runs", *(f"{m} {'↑' if higher_is_better(m) else '↓'}" for m in report.metrics)]
    rows, csv_rows = [], []
    for row in report.rows:
        c = row.counts
        runs = f"{c['completed']}/{sum(c.values())}"
        rows.append([*row.config.values.values(), runs,
                     *(cell_text(row.summaries[m], m, decimals=decimals(m)) for m in report.metrics)])
        for m in report.metrics:
            s = row.summaries[m]
            csv_rows.append([*row.config.values.values(), m, s.mean, s.std, s.n,
                             " ".join(str(r.seed) for r in row.config.completed if r.value(m) is not None),
                             *(c[k] for k in STATUSES)])
    notes = ["Mean ± sample sd (ddof = 1) over seeds; (n) = completed seeds averaged; runs = completed / "
             "found. ↓ lower is better, ↑ higher is better."] + report.notes
    return Table("grid_results", "Results per configuration", header, rows,
                 [*cols, "metric", "mean", "sd", "n", "seeds", *(f"n_{s}" for s in STATUSES)], csv_rows, notes)


def comparison_table(report: GridReport, comp: Comparison) -> Table:
    """``comp.metric``: each configuration against the best, with the 95% Welch interval."""
    cols = report.layout.columns
    header = [*cols, comp.metric, "Δ to best [95% interval]", "verdict"]
    rows, csv_rows = [], []
    best = comp.best
    for row, d in comp.ranked:
        s = row.summaries[comp.metric]
        k = decimals(comp.metric)
        text = "—" if d is None else f"{d.diff:+.{k}f}" + (f" [{d.low:+.{k}f}, {d.high:+.{k}f}]" if d.low is not None
                                                           else "")
        say = verdict(d, row, best, comp.metric)
        rows.append([*row.config.values.values(), cell_text(s, comp.metric, decimals=k), text, say])
        csv_rows.append([*row.config.values.values(), comp.metric, s.mean, s.std, s.n,
                         None if d is None else d.diff, None if d is None else d.low,
                         None if d is None else d.high, None if d is None else d.df, say])
    notes = [f"Δ = this configuration's mean minus the best's ({'higher' if higher_is_better(comp.metric) else 'lower'}"
             f" is better). Interval: Welch's t interval over seeds (unequal variances; no interval below "
             f"{stats.MIN_SEEDS} seeds on either side)."]
    return Table(f"compare_{comp.metric}", f"{comp.metric}: each configuration against the best", header,
                 rows, [*cols, "metric", "mean", "sd", "n", "diff", "ci_low", "ci_high", "df", "verdict"],
                 csv_rows, notes)


def tables(report: GridReport) -> list[Table]:
    """The results table, then one comparison table per metric."""
    return [results_table(report)] + [comparison_table(report, c) for c in report.comparisons if c.ranked]


def figures(report: GridReport, out: Path) -> dict[str, Path]:
    """Curves of every logged key, the sample mosaic and the best configuration's interpolation."""
    configs = ranked_configs(report)
    files: dict[str, Path] = {}
    for key in gridfigures.curve_keys(configs):
        path = gridfigures.curve_figure(configs, key, report.x_axis, out / f"curve_{key}.png")
        if path:
            files[path.name] = path
    if (path := gridfigures.mosaic(configs, out / "samples_mosaic.png")):
        files[path.name] = path
    if report.latent and report.comparisons and report.comparisons[0].best:
        best = report.comparisons[0].best.config.completed[0]
        path, why = gridfigures.interpolation(best.path, out / "interpolation_best.png")
        if path:
            files[path.name] = path
        else:
            report.notes.append(f"No interpolation strips: {why}.")
    return files


def write(report: GridReport, out: Path) -> Path:
    """Write tables, figures, ``summary.json`` and ``report.md`` into ``out``; returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report.files.update(figures(report, out))
    ts = tables(report)
    for t in ts:
        report.files.update(t.write(out))
    report.files["summary.json"] = write_text(out / "summary.json", json.dumps(summary(report), indent=2) + "\n")
    report.files["report.md"] = write_text(out / "report.md", markdown(report, ts))
    return out


def summary(report: GridReport) -> dict:
    """The report's numbers as JSON: columns, counts, left-out runs, rows and comparisons."""
    return {"sweeps": [str(s) for s in report.sweep_dirs], "columns": report.layout.columns,
            "seeds": report.layout.seeds, "counts": report.counts, "metrics": report.metrics,
            "left_out": [{"run": str(r.path), "reason": why} for r, why in report.left_out],
            "rows": [{"values": row.config.values, "runs": dict(row.counts),
                      "metrics": {m: {"mean": s.mean, "sd": s.std, "n": s.n} for m, s in row.summaries.items()}}
                     for row in report.rows],
            "comparisons": {c.metric: [{"values": row.config.values, "diff": d and d.diff, "low": d and d.low,
                                        "high": d and d.high, "verdict": verdict(d, row, c.best, c.metric)}
                                       for row, d in c.ranked] for c in report.comparisons}}


def markdown(report: GridReport, ts: list[Table]) -> str:
    """report.md: what was swept, runs, tables, figures, notes."""
    lay = report.layout
    swept = ", ".join(f"`{k}` ({', '.join(dict.fromkeys(c.values[k] for c in lay.configurations))})"
                      for k in lay.columns) or "nothing (one configuration)"
    lines = [f"# Grid report: {', '.join(s.name for s in report.sweep_dirs)}", "",
             f"Swept: {swept}. Seeds: {', '.join(map(str, lay.seeds)) or 'none recorded'}. "
             f"{len(lay.configurations)} configuration(s).", ""]
    lines += runs_section(report.counts, report.left_out)
    for t in ts:
        lines += t.section()
    lines += ["## Figures", ""]
    lines += [f"![{name}]({name})" for name in report.files if name.endswith(".png")] + [""]
    return "\n".join(lines)


def runs_section(counts: dict[str, int], left: list[tuple[Run, str]]) -> list[str]:
    """Counts by status and every run left out of the means with its reason."""
    lines = ["## Runs", "", "| " + " | ".join(STATUSES) + " | total |", "|" + "---|" * (len(STATUSES) + 1),
             "| " + " | ".join(str(counts.get(s, 0)) for s in STATUSES) + f" | {counts['total']} |", ""]
    lines += [f"- left out: `{r.path}`: {why}" for r, why in left]
    return lines + [""]


def summary_lines(report: GridReport) -> list[str]:
    """Console lines: counts, every run left out, the best configuration per metric."""
    c = report.counts
    lines = [f"{counts_line(c)}, {c['duplicates']} duplicate(s); "
             f"{len(report.layout.configurations)} configuration(s) over {', '.join(report.layout.columns) or '-'}"]
    lines += [f"left out: {r.path}: {why}" for r, why in report.left_out]
    for comp in report.comparisons:
        if comp.best:
            close = sum(1 for row, d in comp.ranked[1:] if d is not None and not d.decided)
            lines.append(f"best {comp.metric}: {comp.best.config.label}: {cell_text(comp.best.summaries[comp.metric], comp.metric, decimals=decimals(comp.metric))}"
                         + (f" ({close} other(s) not distinguishable or too few seeds)" if close else ""))
    return lines


def push(report: GridReport, out: Path) -> str:
    """Log the report's tables (swept keys as columns) and figures to W&B."""
    from .wandb_push import push_tables

    return push_tables(report.runs, report.sweep_dirs, out,
                       {t.stem: (t.csv_header, t.csv_rows) for t in tables(report)}, report.files,
                       {"runs/" + k: v for k, v in report.counts.items()}, {"columns": report.layout.columns})
