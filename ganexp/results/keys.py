"""Metric keys as runs record them: the name and its sample count (``fid10k``, ``kid1k``, ``div32``),
which of a sweep's keys a table reads, which way is better, and what stands behind a key. What a key means
is defined once, by the metric that writes it (``ganexp.metrics.registry.describe_key``)."""
from __future__ import annotations

from collections import Counter

from ..metrickeys import KEY_RE, describe_key, output_of, sample_count  # noqa: F401 (the key grammar, torch-free)
from .runs import Run


def is_metric_key(key: str) -> bool:
    """Whether ``key`` is a metric's value (``fid10k``, ``kid1k``, ``precision250_vgg16``): not a training
    scalar (losses, images/s) and not a std over subsets (``kid1k_std``)."""
    info = describe_key(key)
    return info is not None and not info.is_std


def decimals(key: str, default: int = 2) -> int:
    """The decimals a metric's values are printed with (its output's format: KID 4, FID 2, precision 3)."""
    out = output_of(key)
    return int(out.fmt[1:-1]) if out is not None and out.fmt.startswith(".") and out.fmt.endswith("f") else default


def higher_is_better(key: str) -> bool:
    """Whether a larger value of metric ``key`` is better (FID, KID: no; IS, precision, recall: yes)."""
    info = describe_key(key)
    return bool(info and info.higher_is_better)


def choose_fid_key(runs: list[Run]) -> str | None:
    """The FID key most completed runs report (ties: more samples), e.g. ``fid10k``; else None."""
    counts = Counter(k for r in runs if r.status == "completed" for k in r.metrics
                     if KEY_RE["fid"].match(k) and r.value(k) is not None)
    if not counts:
        return None
    return max(counts, key=lambda k: (counts[k], sample_count(KEY_RE["fid"].match(k).group(1))))


MIN_FID_SAMPLES = 5000  # below this FID's bias dominates its value (docs/metrics.md: fid250 65.7 vs fid1k 51.2)


def judging_key(runs: list[Run], fid_key: str | None) -> tuple[str | None, str]:
    """The key a study's FID-based verdicts are judged on, and a note for the report ("" when it is FID at
    full scale): ``fid_key`` on MIN_FID_SAMPLES samples or more; below, the KID the runs recorded on the
    same samples (KID is unbiased: its expectation does not depend on n, so a small-n ranking estimates
    the full-n one); ``fid_key`` with a warning when no run recorded that KID."""
    m = KEY_RE["fid"].match(fid_key or "")
    if m is None or sample_count(m.group(1)) >= MIN_FID_SAMPLES:
        return fid_key, ""
    kid = "kid" + fid_key[3:]
    if any(r.status == "completed" and r.value(kid) is not None for r in runs):
        return kid, (f"the verdicts are judged on `{kid}`: FID on {sample_count(m.group(1))} samples is "
                     f"dominated by its bias (fewer than {MIN_FID_SAMPLES}); KID's value does not depend on n. "
                     f"The tables still show `{fid_key}`.")
    return fid_key, (f"`{fid_key}` is FID on {sample_count(m.group(1))} samples, where its bias dominates "
                     f"(fewer than {MIN_FID_SAMPLES}), and the runs recorded no `{kid}` to judge on "
                     f"(metrics.names with kid); read the verdicts as orderings at this n only.")


def is_key_for(fid_key: str | None) -> str | None:
    """The IS key with the same sample tag as ``fid_key`` (``fid10k`` -> ``is10k``)."""
    return None if fid_key is None else "is" + fid_key[3:]


def describe_samples(runs: list[Run], key: str | None) -> list[str]:
    """One line per distinct sample setting behind ``key`` (samples, real, split, weights)."""
    if key is None:
        return []
    seen = Counter()
    for r in runs:
        if r.status == "completed" and r.value(key) is not None:
            i = r.metric_info
            keys = ("num_samples", "num_real", "real_split", "weights", "mode")
            seen[tuple(i.get(k) for k in keys)] += 1
    return [f"{key}: {s} generated vs {nr} real images ({sp} split), Inception weights {w}"
            f"{', fast mode (TF32, channels-last)' if mode == 'fast' else ''} ({n} runs)"
            for (s, nr, sp, w, mode), n in sorted(seen.items(), key=str)]

