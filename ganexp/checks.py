"""The rules a config key's value is checked by (``Check``) and their constructors: ``Int(1)``, ``Choice(...)``,
``Optional(...)``; the choices several modules share (capture modes, precisions, extractors). Torch- and
Hydra-free: ganexp/settings.py declares keys with them, ganexp/schema.py checks configs by them.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .metrickeys import BUILTIN, OUTPUTS


NEW = object()  # Check.before of a key that every hashed run had


@dataclass(frozen=True)
class Check:
    """One key's rule: ``ok(value)`` and the words that say what is allowed; for a key added after runs were
    first hashed, the value those runs had (``before``, their behaviour: ganexp/identity.py hashes a config
    holding it as one without the key) and the spellings they hashed values in."""

    allowed: str
    ok: Callable[[Any], bool]
    example: Any
    bad: Any  # a wrong value for this key, used by the schema test
    required: bool = True
    before: Any = NEW
    spellings: dict = field(default_factory=dict)  # today's value -> the spelling of runs made before the rename
    doc: str = ""  # one line for the configuration reference (ganexp/settings.py's keys carry theirs)


def added_later(check: Check, before: Any, **spellings: str) -> Check:
    """``check`` for a key that runs made before it existed behaved as ``before`` for (e.g. PS-GAN's D stepped
    on every step before system.d_update: ``always``); ``spellings``: today's value=its earlier spelling."""
    return replace(check, before=before, spellings=spellings)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def Int(lo: int, hi: int | None = None, required: bool = True) -> Check:
    rng = f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi}"
    return Check(rng, lambda v: _is_int(v) and v >= lo and (hi is None or v <= hi), lo, "abc", required)


def Num(lo: float, hi: float | None = None, open_lo: bool = False, example: float = 1.0,
        required: bool = True) -> Check:
    words = f"a number {'>' if open_lo else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
    return Check(words, lambda v: _is_num(v) and (v > lo if open_lo else v >= lo) and (hi is None or v <= hi),
                 example, "abc", required)


def Choice(*values, required: bool = True) -> Check:
    return Check("one of " + ", ".join(dict.fromkeys(map(str, values))), lambda v: v in values and not isinstance(v, bool),
                 values[0], "foo", required)


def Bool(required: bool = True) -> Check:
    return Check("true or false", lambda v: isinstance(v, bool), True, "maybe", required)


def Str(pattern: str = r".+", words: str = "a non-empty string", required: bool = True) -> Check:
    return Check(words, lambda v: isinstance(v, str) and re.fullmatch(pattern, v) is not None, "x", "", required)


def Optional(c: Check) -> Check:
    return Check(f"null or {c.allowed}", lambda v: v is None or c.ok(v), c.example, c.bad, required=False)


def Target(package: str) -> Check:
    """A dotted path to a class; built-ins live in ``package``, user classes anywhere importable."""
    return Check(f"an importable class path such as {package}.<Class>", _importable, f"{package}.X", "no.such.Class")


def _importable(v) -> bool:
    if not isinstance(v, str) or "." not in v:
        return False
    module, _, name = v.rpartition(".")
    try:
        return callable(getattr(importlib.import_module(module), name, None))
    except Exception:  # any import failure means the path is wrong
        return False


def Betas() -> Check:
    def ok(v):
        return v is None or (isinstance(v, list) and len(v) == 2 and all(_is_num(b) and 0 <= b < 1 for b in v))
    return Check("null or a list of two numbers in [0, 1), e.g. [0.5,0.999]", ok, [0.5, 0.999], [0.5, 1.5])


def Tags() -> Check:
    return Check("a list of strings of 1 to 64 characters (W&B's limit), e.g. [a,b]",
                 lambda v: isinstance(v, list) and all(isinstance(t, str) and 1 <= len(t) <= 64 for t in v),
                 [], "notalist", required=False)


def Members() -> Check:
    def ok(v):
        return v is None or (isinstance(v, list) and len(v) >= 1 and all(isinstance(m, str) and "=" in m for m in v))
    return Check("null or a list of each fused member's overrides, e.g. ['seed=0','seed=1'] (set by the grid "
                 "sweeper)", ok, None, ["seed"], required=False)


def Epochs() -> Check:
    def ok(v):
        return isinstance(v, list) and all(_is_num(e) and e > 0 for e in v) and v == sorted(set(v))
    return Check("a list of increasing epochs > 0 (fractions allowed), e.g. [10,20]", ok, [10, 20], [20, 10],
                 required=False)


def Extractors(*choices: str) -> Check:
    """metrics.extractors.<metric>: the feature networks it is computed on, each recorded under its own keys."""
    def ok(v):
        return isinstance(v, list) and len(v) >= 1 and len(set(v)) == len(v) and all(e in choices for e in v)
    return Check(f"a list of distinct extractors out of {', '.join(choices)}, e.g. [inception,dinov2]", ok,
                 [choices[0]], ["inception", "inception"], required=False)


def MetricNames() -> Check:
    """metrics.names against the metrics known without torch (ganexp/metrickeys.py: the built-ins, and any metric
    a module registered in this process), so a misspelt name stops a grid before its first job."""
    def ok(v):
        known = {name for name, _ in OUTPUTS.values()}
        return isinstance(v, list) and len(v) >= 1 and len(set(v)) == len(v) and all(n in known for n in v)
    return Check(f"a list of distinct registered metric names (built in: {', '.join(sorted(BUILTIN))}), e.g. "
                 "[fid,is,div,kid,prc]", ok, ["fid"], "fid", required=False)


# loss.d_batchnorm_as: what a requested batch norm in D becomes under a loss (config._critic_norm)
D_BATCHNORM_AS = ("batch", "layer", "none")
NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # safe as a folder name and a W&B group
# trainer.compile (ganexp/systems/captured.py); here so that checking a config does not import torch
CAPTURE_MODES = ("none", "aot_eager", "inductor", "graphs")
PRECISIONS = ("32-true", "32", 32, "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64", 64,
              "16", 16, "bf16")
RESOLUTIONS = (28, 32, 64, 128)
# metrics.* choices (ganexp/metrics reads them from here)
TO_UINT8_MODES = ("round", "trunc")
METRIC_MODES = ("exact", "fast")
# metrics.extractors: the feature networks a metric may read (ganexp/metrics/dinov2.py: dinov2 is ViT-L/14,
# dinov2s ViT-S/14, dinov2b ViT-B/14); auto (precision/recall only): vgg16 where its weights are present, else inception
EXTRACTORS = ("inception", "vgg16", "dinov2", "dinov2s", "dinov2b")
PRC_EXTRACTORS = ("auto", *EXTRACTORS)
# The results plug-ins, one package per study under ganexp/results (listed, not imported: checking a config
# imports no report code); study: null is the grid's own report.
STUDIES = tuple(sorted(p.parent.name for p in (Path(__file__).parent / "results").glob("*/__init__.py")))

