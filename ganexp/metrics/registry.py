"""The metric registry: every registered metric (the built-in fid, isc, kid, prc modules register themselves on
import; a user's metric module does the same with `register_metric`) and what a recorded key means.

`metrics.names` picks the registered metrics an Evaluator computes (`get_metric`, `validate_names`);
`describe_key` reads any recorded key back (results tables, the summary line, W&B); `summary_text` is the
run's summary line.
"""

from __future__ import annotations

from typing import Any

from ganexp.metrics import fid, isc, kid, prc  # noqa: F401  (each registers its metric)
from ganexp.metrickeys import KeyInfo, describe_key, generator_key, output_of, sample_count  # noqa: F401
from ganexp.metrics.metric import REGISTRY, Metric, Output, register_metric, unregister_metric  # noqa: F401


def get_metric(name: str) -> Metric:
    """The registered metric `name`; ValueError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"metrics.names holds unknown metric {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def known_names() -> list[str]:
    return sorted(REGISTRY)


def validate_names(names: Any) -> None:
    """metrics.names: a non-empty list of distinct registered metrics, else ValueError naming them."""
    known = known_names()
    if not isinstance(names, (list, tuple)) or not names or len(set(names)) != len(names) or \
            any(n not in known for n in names):
        raise ValueError(f"metrics.names must be a list of distinct registered metrics ({', '.join(known)}), "
                         f"got {names!r}")


def summary_text(metrics: dict[str, Any]) -> str:
    """The run's scores as the summary line shows them: headline values of summary outputs, each in its
    output's format, with its std where one was estimated (KID on more samples than one subset holds):
    "fid32=123.45 kid10k=0.0812±0.0021", "kid32=0.0812"."""
    parts = []
    for k, v in metrics.items():
        d = describe_key(k)
        out = output_of(k)
        if d is None or d.is_std or v is None or not out.summary:
            continue
        std = metrics.get(d.std_key) if d.std_key else None  # 0: one subset drew every sample, no spread estimated
        parts.append(f"{k}={v:{out.fmt}}" + (f"±{std:{out.fmt}}" if std else ""))
    return " ".join(parts)
