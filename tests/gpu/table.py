"""The GPU check's table from its folder: each step's outcome, then (figure, value, ratio) as Markdown.

    python tests/gpu/table.py OUTDIR      # reads OUTDIR/steps.tsv, bench-train.json, bench-fid.json

Training figures are real images through the critic per second, with their ratio to the plain PyTorch loop
of the same bench; FID figures are ganexp's exact and fast modes with their ratio to torch-fidelity's (the
plain loop of metrics). A missing figure reads "not measured" with its step's outcome.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

MODES = {"plain": "plain loop", "eager": "eager", "captured": "captured"}


def steps(out: Path) -> dict[str, str]:
    """{step: 'ok in Ns' | 'failed (exit N) after Ns' | 'over its limit after Ns'}."""
    done = {}
    for line in (out / "steps.tsv").read_text().splitlines() if (out / "steps.tsv").exists() else []:
        name, rc, seconds = line.split("\t")
        done[name] = (f"ok in {seconds} s" if rc == "0" else f"over its limit after {seconds} s"
                      if rc in ("124", "137") else f"failed (exit {rc}) after {seconds} s")
    return done


def train_rows(bench: dict) -> list[tuple[str, str, str]]:
    rows = []
    for loss, rates in bench["images_per_s"].items():
        for mode, rate in rates.items():
            label = MODES.get(mode, f"fused S={mode.removeprefix('fused')}")
            rows.append((f"train {loss} b{bench['batch_size']} {label} [images/s]", f"{rate:.0f}",
                         f"{rate / rates['plain']:.2f}x"))
    return rows


def fid_rows(bench: dict) -> list[tuple[str, str, str]]:
    n = bench["num_samples"]
    rows = []
    for key, label, higher in (("features_per_s", "Inception features [images/s]", True),
                               ("fid_cached_s", f"FID {n}, real statistics cached [s]", False),
                               ("fid_with_real_s", f"FID {n}, real statistics included [s]", False)):
        values = bench[key]
        theirs = values.get("torch_fidelity")
        rows.append((f"{label}, torch-fidelity", "not run" if theirs is None else f"{theirs:.2f}",
                     "1.00x" if theirs else ""))
        for mode in ("exact", "fast"):
            ratio = "" if not theirs else f"{(values[mode] / theirs if higher else theirs / values[mode]):.2f}x"
            rows.append((f"{label}, ganexp {mode}", f"{values[mode]:.2f}", ratio))
    return rows


def table(out: Path) -> str:
    done = steps(out)
    lines = ["| step | outcome |", "|---|---|", *(f"| {k} | {v} |" for k, v in done.items()), ""]
    device = None
    body: list[tuple[str, str, str]] = []
    for name, rows_of in (("bench-train", train_rows), ("bench-fid", fid_rows)):
        path = out / f"{name}.json"
        if path.exists():
            bench = json.loads(path.read_text())
            device = device or bench["device"]
            body += rows_of(bench)
        else:
            body.append((f"{name}: not measured", done.get(name, "not run"), ""))
    lines += [f"Device: {device or 'none reached'}. Training ratios: to the plain PyTorch loop; FID ratios: to "
              "torch-fidelity (speedup). FID figures use seeded random Inception weights (speed only).", "",
              "| figure | value | ratio |", "|---|---|---|", *(f"| {a} | {b} | {c} |" for a, b, c in body)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(table(Path(sys.argv[1])))
