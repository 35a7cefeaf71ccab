"""``python -m ganexp.results SWEEP_DIR... [--out DIR] [--study NAME] [--wandb]``: write a grid's report.

By default the grid's own report (one row per configuration, every metric, comparisons, figures); the
runs of a paper's experiment get that study's report (their ``study`` config key, or ``--study``; see
``studies.py``). Prints a short summary and, as its last line, the report folder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cliargs import Parser, count, existing_folder, writable_folder
from . import studies
from .keys import KEY_RE
from .runs import collect_all

PAPER_GRID_STUDY = "lee2018"  # the one study whose report reads --paper-grid
DESCRIPTION = ("Write a sweep's report: by default the grid's own (one row per configuration, every metric, "
               "comparisons, figures), or its paper's for runs of a study's experiment.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = Parser(prog="python -m ganexp.results", description=DESCRIPTION)
    p.add_argument("sweep_dirs", nargs="+", metavar="SWEEP_DIR",
                   type=existing_folder("pass the folder a multirun wrote (e.g. multirun/table31)"),
                   help="sweep folder(s) holding run folders (searched recursively)")
    p.add_argument("--out", type=writable_folder, default=None,
                   help="report folder (default: <first SWEEP_DIR>/report)")
    p.add_argument("--study", choices=studies.known(), default=None,
                   help="report every run as this study; grid = the grid's own report (default: the "
                        "runs' `study` config key)")
    p.add_argument("--wandb", action="store_true",
                   help="also log tables and figures to a W&B run in the sweep's group")
    p.add_argument("--x", choices=["step", "epoch", "images"], default="step",
                   help="grid report: the x axis of the curves (generator steps, epochs or real images seen)")
    p.add_argument("--no-latent", action="store_true",
                   help="grid report: skip the best configuration's interpolation strips")
    p.add_argument("--paper-grid", action="store_true",
                   help="Study A: expect the paper's full grid (4 data sets × 7 losses × d=1..100)")
    p.add_argument("--seeds", type=count(1), default=None,
                   help="expected seeds per cell (default: distinct seeds seen)")
    p.add_argument("--fid-key", default=None,
                   help="FID key to tabulate, e.g. fid10k (default: the one most runs report)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build and write the report; returns the process exit code."""
    args = parse_args(argv)
    unknown = unrecorded_fid_key(args.sweep_dirs, args.fid_key)
    if unknown:
        print(f"error: {unknown}", file=sys.stderr)
        return 2
    try:
        plugin = studies.choose(args.sweep_dirs, args.study)
    except studies.StudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.paper_grid and plugin.name != PAPER_GRID_STUDY:
        print(f"error: --paper-grid expects Study A's full grid ({PAPER_GRID_STUDY}), but these runs are reported as "
              f"{plugin.name}; leave --paper-grid out, or pass --study {PAPER_GRID_STUDY}", file=sys.stderr)
        return 2
    report = plugin.build(args.sweep_dirs, args)
    if not plugin.has_runs(report):
        print(f"error: no run folders (result.json, metrics.jsonl, .hydra/) under "
              f"{', '.join(map(str, args.sweep_dirs))}; check the path.", file=sys.stderr)
        return 2
    out = plugin.write(report, args.out or args.sweep_dirs[0] / "report")
    for line in plugin.summary_lines(report):
        print(line)
    if args.wandb:
        print(f"wandb: {push(plugin, report, out)}")
    print(out)
    return 0


def unrecorded_fid_key(sweep_dirs: list[Path], key: str | None) -> str | None:
    """Why ``--fid-key`` cannot be tabulated (not an FID key, or no run recorded it), else None."""
    if key is None:
        return None
    if not KEY_RE["fid"].match(key):
        return f"--fid-key {key} is not an FID key; FID keys read fid<samples>, e.g. fid10k or fid500"
    recorded = sorted({k for r in collect_all(sweep_dirs) for k in r.metrics if KEY_RE["fid"].match(k)})
    if key not in recorded:
        return (f"--fid-key {key}: no run under {', '.join(map(str, sweep_dirs))} recorded it; recorded: "
                f"{', '.join(recorded) or 'no FID key'}")
    return None


def push(plugin: studies.Plugin, report, out: Path) -> str:
    """Push the written report to W&B; a failure there (no service, no network) is one line, never the
    report's end: it is complete in ``out`` and the same command with --wandb pushes it again."""
    if plugin.push is None:
        return f"not supported for {plugin.name}; the report is written locally only"
    try:
        return plugin.push(report, out)
    except Exception as exc:  # noqa: BLE001 (a side channel: any failure of wandb is reported, never raised)
        why = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        return f"push failed ({why}); the report is complete in {out}: fix that and run the same command to push it"


if __name__ == "__main__":
    sys.exit(main())
