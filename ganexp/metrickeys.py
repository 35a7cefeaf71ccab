"""What a recorded metric key means, without torch: the key grammar, the built-in metrics' outputs, and
``describe_key``. Reports (ganexp/results) read run folders with this module alone; the metrics package
(ganexp/metrics: features, the Evaluator, the metric classes) builds on it.

Every output is recorded under ``<prefix><n>[_<extractor>][_<generator>][_std]``: ``metric_key`` writes
``<prefix><n>`` (fid10k, kid1k, div32), a key names its feature network when it is not Inception
(precision10k_vgg16, fid10k_dinov2: FD_DINOv2), ``generator_key`` adds ``_ema`` for the generator's weight
average G_ema, and ``_std`` marks the std over subsets or splits. ``ema`` and ``std`` are reserved words,
never an extractor's name, so each key parses one way.

The built-in metrics' outputs are declared here (``BUILTIN``; their classes in ganexp/metrics take them from
here); a user's metric registered with ``ganexp.metrics.register_metric`` adds its outputs to ``OUTPUTS`` when
its module is imported (a report describes its keys once that module is imported in the same process).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Output:
    """One value a metric records: its key prefix, a human label, its direction and whether a std goes with it."""

    prefix: str
    label: str
    higher_is_better: bool
    std: bool = False
    fmt: str = ".4f"  # how the summary line prints it
    summary: bool = True  # shown in the run's summary line


BUILTIN: dict[str, tuple[Output, ...]] = {  # metric name (metrics.names) -> its outputs
    "fid": (Output("fid", "FID (Heusel et al. 2017)", higher_is_better=False, fmt=".2f"),),
    "div": (Output("div", "diversity tr(Σ_gen)/tr(Σ_real), 1 = as spread as the data", higher_is_better=True,
                   fmt=".3f", summary=False),),
    "is": (Output("is", "Inception Score (Salimans et al. 2016)", higher_is_better=True, std=True, fmt=".2f"),),
    "kid": (Output("kid", "KID (Binkowski et al. 2018)", higher_is_better=False, std=True),),
    "prc": (Output("precision", "precision (Kynkäänniemi et al. 2019)", higher_is_better=True, fmt=".3f"),
            Output("recall", "recall (Kynkäänniemi et al. 2019)", higher_is_better=True, fmt=".3f"),
            Output("density", "density (Naeem et al. 2020)", higher_is_better=True, fmt=".3f", summary=False),
            Output("coverage", "coverage (Naeem et al. 2020)", higher_is_better=True, fmt=".3f", summary=False)),
}
# output prefix -> (metric name, Output): the built-ins, then what register_metric adds
OUTPUTS: dict[str, tuple[str, Output]] = {o.prefix: (name, o) for name, outs in BUILTIN.items() for o in outs}

PREFIX_RE = re.compile(r"^[a-z]+$")  # letters only: the sample tag that follows starts with a digit
GENERATORS = ("ema",)  # "": the generator G itself (no suffix); "ema": its weight average G_ema
# The feature networks by their name in keys (checks.EXTRACTORS lists those metrics.extractors accepts): what
# describe_key's label says a key's value was computed on.
FEATURES = {"inception": "Inception-v3 pool3", "vgg16": "VGG16 fc2", "dinov2": "DINOv2 ViT-L/14",
            "dinov2s": "DINOv2 ViT-S/14", "dinov2b": "DINOv2 ViT-B/14"}
KEY_PARTS = re.compile(r"^(?P<prefix>[a-z]+)(?P<tag>\d+k?)(?:_(?!(?:ema|std)(?:_|$))(?P<extractor>[a-z][a-z0-9]*))?"
                       r"(?:_(?P<generator>ema))?(?P<std>_std)?$")


def metric_key(prefix: str, n: int) -> str:  # KEY_RE below reads what this writes
    """`fid` + sample count: 10000 -> fid10k, 50000 -> fid50k, 500 -> fid500, 2500 -> fid2500."""
    return f"{prefix}{n // 1000}k" if n % 1000 == 0 else f"{prefix}{n}"


def sample_count(tag: str) -> int:
    """'10k' -> 10000, '250' -> 250 (the inverse of metric_key's tag)."""
    return int(tag[:-1]) * 1000 if tag.endswith("k") else int(tag)


def key_re(prefix: str) -> re.Pattern:
    """The plain key of an output (Inception, G, no std): group 1 is the sample tag ("10k", "250")."""
    return re.compile(rf"^{prefix}(\d+k?)$")


KEY_RE = {prefix: key_re(prefix) for prefix in OUTPUTS}  # register_metric adds a user metric's prefixes


def generator_key(key: str, generator: str) -> str:
    """The key of ``key``'s value scored on ``generator`` ("" for G: unchanged; "ema": fid10k -> fid10k_ema,
    kid1k_std -> kid1k_ema_std)."""
    if not generator:
        return key
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; known: {', '.join(GENERATORS)}")
    base, std = (key[:-4], "_std") if key.endswith("_std") else (key, "")
    return f"{base}_{generator}{std}"


@dataclass(frozen=True)
class KeyInfo:
    """What a recorded metric key means (``describe_key``)."""

    key: str
    metric: str  # registered metric name (metrics.names entry)
    output: str  # output prefix: fid, is, kid, precision ...
    samples: int  # generated samples the value was computed on
    higher_is_better: bool
    label: str
    extractor: str  # "inception" unless the key names another
    generator: str  # "G", or "G_ema" (the key ends in _ema[_std]): which network was scored
    is_std: bool  # the key is the std of another key
    std_key: str | None  # the key of this value's std, if the metric records one


def output_of(key: str) -> Output | None:
    """The Output that writes ``key``, or None."""
    m = KEY_PARTS.match(key)
    return OUTPUTS[m["prefix"]][1] if m and m["prefix"] in OUTPUTS else None


def describe_key(key: str) -> KeyInfo | None:
    """Any key a metric records (fid10k, is10k, is10k_std, div32, kid1k, kid1k_std, precision250_vgg16, fid10k_ema,
    fid10k_dinov2 (FD_DINOv2), ...) -> KeyInfo; None for keys no known metric writes (losses, step, ...)."""
    m = KEY_PARTS.match(key)
    if m is None or m["prefix"] not in OUTPUTS:
        return None
    metric, out = OUTPUTS[m["prefix"]]
    is_std = m["std"] is not None
    if is_std and not out.std:
        return None
    base = key[: -len("_std")] if is_std else key
    on = f" on {FEATURES.get(m['extractor'], m['extractor'])} features" if m["extractor"] else ""
    return KeyInfo(key=key, metric=metric, output=out.prefix, samples=sample_count(m["tag"]),
                   higher_is_better=out.higher_is_better,
                   label=out.label + on + (" of G_ema" if m["generator"] else "") + (" (std)" if is_std else ""),
                   extractor=m["extractor"] or "inception", generator="G_ema" if m["generator"] else "G",
                   is_std=is_std, std_key=None if is_std or not out.std else base + "_std")
