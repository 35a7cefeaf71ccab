"""On-disk cache of real-data FID statistics, one .npz per (dataset, split, resolution, channels,
preprocessing, content digest of the split, extractor, weights, sample count, subset seed), computed once
even when jobs start together."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ganexp.cachefiles import atomic_write, file_lock, remove_stale_temps

FORMAT = 2  # 2: the key holds the split's content digest


def stats_key(dataset: Any, split: str, num_real: int, seed: int, extractor: str, weights_sha256: str,
              content_sha256: str) -> dict:
    """Everything the real statistics depend on, as a JSON-able dict; `content_sha256` is
    ``content_digest`` of the whole split (before the seeded subset)."""
    return {
        "format": FORMAT,
        "dataset": str(dataset.name),
        "split": str(split),
        "content_sha256": str(content_sha256),
        "resolution": int(dataset.resolution),
        "channels": int(dataset.channels),
        "preprocessing": str(getattr(dataset, "preprocessing", "")),
        "extractor": extractor,
        "weights_sha256": weights_sha256,
        "num_real": int(num_real),
        "subset_seed": int(seed),
    }


def stats_path(cache_dir: Path, key: dict) -> Path:
    """`<cache_dir>/fid_stats/<dataset>-<split>-<res>px-<ch>ch-n<num>-<digest>.npz` (readable, unique per key)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{key['dataset']}-{key['split']}")
    size = f"{key['resolution']}px-{key['channels']}ch-n{key['num_real']}"
    return Path(cache_dir) / "fid_stats" / f"{name}-{size}-{digest}.npz"


def load_stats(path: Path, key: dict) -> dict | None:
    """{'mu', 'sigma' (float64 numpy), 'n'} when `path` holds statistics for exactly `key`, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["key"])) != key:
                return None
            return {"mu": z["mu"], "sigma": z["sigma"], "n": int(z["n"])}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # truncated, garbled or foreign
        return None  # file: recompute and overwrite


def save_stats(path: Path, key: dict, mu: np.ndarray, sigma: np.ndarray, n: int) -> None:
    """Write statistics atomically (temp file + os.replace)."""
    payload = {"mu": np.asarray(mu, np.float64), "sigma": np.asarray(sigma, np.float64), "n": np.int64(n),
               "key": np.array(json.dumps(key, sort_keys=True))}
    atomic_write(path, lambda f: np.savez(f, **payload))


def cached_stats(path: Path, key: dict, compute: Callable[[], tuple[np.ndarray, np.ndarray, int]]) -> tuple[dict, bool]:
    """Load the statistics for `key`, or compute and store them under an exclusive lock.

    Concurrent callers wait on the lock and then reuse what the first one wrote. Returns (stats, computed).
    """
    found = load_stats(path, key)
    if found is not None:
        return found, False
    with file_lock(path.with_name(path.name + ".lock"), what="real-data statistics"):
        remove_stale_temps(path)
        found = load_stats(path, key)
        if found is not None:
            return found, False
        mu, sigma, n = compute()
        save_stats(path, key, mu, sigma, n)
        return {"mu": mu, "sigma": sigma, "n": n}, True


def features_path(cache_dir: Path, key: dict) -> Path:
    """`<cache_dir>/real_features/<dataset>-<split>-<res>px-<ch>ch-n<num>-<extractor>-<digest>.npz`: the real
    feature rows KID and PRC read, one file per data identity AND extractor (both are in `key`)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{key['dataset']}-{key['split']}")
    size = f"{key['resolution']}px-{key['channels']}ch-n{key['num_real']}"
    extractor = re.sub(r"[^A-Za-z0-9_.-]+", "_", key["extractor"].split("/")[1])  # inception-v3-compat, vgg16
    return Path(cache_dir) / "real_features" / f"{name}-{size}-{extractor}-{digest}.npz"


def load_features(path: Path, key: dict) -> np.ndarray | None:
    """The (N, D) float32 features when `path` holds them for exactly `key`, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["features"] if json.loads(str(z["key"])) == key else None
    except (OSError, ValueError, KeyError):  # truncated or foreign file: recompute and overwrite
        return None


def cached_features(path: Path, key: dict, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """Load the real features for `key`, or compute and store them under an exclusive lock (as cached_stats)."""
    found = load_features(path, key)
    if found is not None:
        return found, False
    with file_lock(path.with_name(path.name + ".lock"), what="real-data features"):
        found = load_features(path, key)
        if found is not None:
            return found, False
        features = np.asarray(compute(), np.float32)
        payload = {"features": features, "key": np.array(json.dumps(key, sort_keys=True))}
        atomic_write(path, lambda f: np.savez(f, **payload))
        return features, True
