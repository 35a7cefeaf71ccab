"""The decoded-image cache: a folder or zip of JPEG/PNG files decoded and resized once into one uint8
(N, C, H, W) ``.npy`` array on disk, memory-mapped by every job that trains on it.

Layout: ``<cache_dir>/<name>-<resolution>px-<digest of the key>.npy`` and its sidecar ``.json`` (the key,
the shape and the sha256 of the array as ``ganexp.cachefiles.content_digest`` computes it). The key covers the
source (every member's name, size and mtime or CRC), the resolution, channels and preprocessing. The
array is written under a temporary name and renamed; the sidecar is written last, so a file without a
sidecar, or whose size, shape or sha256 disagree with it, is partial or corrupt: it is rebuilt,
never used. Jobs that start together take a file lock: one decodes, the others wait and map the result.
Decoding uses a pool of processes (every core by default), each writing its rows straight into the
mapped file, and prints progress every few seconds.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganexp.cachefiles import atomic_write, content_digest, file_lock, remove_stale_temps

FORMAT = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CHUNK = 256  # images per task: large enough to amortize a task, small enough for steady progress lines


@dataclass(frozen=True)
class Members:
    """The images of a source in a fixed order: files of a folder, or members of a zip (by name)."""

    source: Path
    names: tuple[str, ...]
    is_zip: bool

    def __len__(self) -> int:
        return len(self.names)

    def fingerprint(self) -> str:
        """sha1 over every member's identity: (name, size, mtime_ns) of files, (name, size, CRC) of zip members."""
        h = hashlib.sha1(f"{self.source.resolve()}|{len(self.names)}".encode())
        if self.is_zip:
            with zipfile.ZipFile(self.source) as z:
                for info in (z.getinfo(n) for n in self.names):
                    h.update(f"\n{info.filename}\0{info.file_size}\0{info.CRC}".encode())
        else:
            for name in self.names:
                st = (self.source / name).stat()
                h.update(f"\n{name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]

    def where(self, i: int) -> str:
        """A member's location for messages: the file path, or ``archive.zip:member``."""
        return f"{self.source}:{self.names[i]}" if self.is_zip else str(self.source / self.names[i])


def list_members(source: Path) -> Members:
    """The image members of a folder (its files) or a zip (every member with an image suffix), sorted by name."""
    if source.is_dir():
        names = sorted(p.name for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return Members(source, tuple(names), False)
    with zipfile.ZipFile(source) as z:
        names = sorted(n for n in z.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES)
    return Members(source, tuple(names), True)


# --- reading a cached array -------------------------------------------------------------------------------
_VERIFIED: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256: each file is verified once per process


def paths_for(cache_dir: Path, name: str, key: dict) -> tuple[Path, Path]:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    base = Path(cache_dir) / f"{name}-{key['resolution']}px-{digest}"
    return base.with_suffix(".npy"), base.with_suffix(".json")


def open_cached(npy: Path, meta_path: Path, key: dict) -> tuple[torch.Tensor, str] | None:
    """(memory-mapped uint8 tensor, its sha256) when ``npy`` is a complete, intact array for ``key``; else None."""
    try:
        meta = json.loads(meta_path.read_text())
        arr = np.load(npy, mmap_mode="c")  # copy-on-write: writable for torch, never written back
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or meta.get("key") != key or list(arr.shape) != meta.get("shape") \
            or arr.dtype != np.uint8:
        return None
    st = npy.stat()
    ident = (str(npy), st.st_size, st.st_mtime_ns)
    if ident not in _VERIFIED:
        if content_digest(torch.from_numpy(arr)) != meta.get("content_sha256"):
            return None
        _VERIFIED[ident] = meta["content_sha256"]
    return torch.from_numpy(arr), _VERIFIED[ident]


# --- building it -------------------------------------------------------------------------------------------
def build_cached(members: Members, npy: Path, meta_path: Path, key: dict, shape: tuple[int, int, int],
                 decode: Callable[[bytes, str], np.ndarray], workers: int, label: str) -> tuple[torch.Tensor, str]:
    """Decode every member into ``npy`` (under a lock; reuses what another job wrote meanwhile)."""
    with file_lock(npy.with_name(npy.name + ".lock"), what=f"decoded images of {label}"):
        found = open_cached(npy, meta_path, key)
        if found is not None:
            return found
        remove_stale_temps(meta_path)  # a killed build's files (as large as the array): under the lock no one
        for stale in npy.parent.glob(f".{npy.stem}.tmp*.npy"):  # else writes them
            stale.unlink(missing_ok=True)
        tmp = npy.with_name(f".{npy.stem}.tmp{os.getpid()}.npy")
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(members), *shape))
            del out  # the workers write through their own mappings
            decode_all(members, tmp, decode, workers, label)
            sha = content_digest(torch.from_numpy(np.load(tmp, mmap_mode="c")))
            os.replace(tmp, npy)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        write_meta(meta_path, {"format": FORMAT, "key": key, "shape": [len(members), *shape],
                               "content_sha256": sha, "source": str(members.source)})
        st = npy.stat()
        _VERIFIED[(str(npy), st.st_size, st.st_mtime_ns)] = sha  # just computed: not hashed again
        return open_cached(npy, meta_path, key)


def write_meta(path: Path, meta: dict) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(meta, indent=1).encode()))


def decode_all(members: Members, out: Path, decode, workers: int, label: str) -> None:
    """Rows [0, N) of the .npy at ``out``, in chunks of CHUNK images: in this process with one worker,
    else in a pool of ``workers`` forked processes (as DataLoader's workers: they use no CUDA, and torch
    resets its thread pool in a forked child; spawn would import torch again in each)."""
    spans = [(lo, min(lo + CHUNK, len(members))) for lo in range(0, len(members), CHUNK)]
    progress = Progress(len(members), label)
    if workers <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # per-image ops gain nothing from threads and spin-wait beside other work
        try:
            for lo, hi in spans:
                progress.add(decode_span(members, out, lo, hi, decode))
        finally:
            torch.set_num_threads(threads)
        return progress.done()
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork" if sys.platform == "linux" else "spawn"),
                             initializer=_one_thread) as pool:
        futures = [pool.submit(decode_span, members, out, lo, hi, decode) for lo, hi in spans]
        try:
            for f in as_completed(futures):
                progress.add(f.result())
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    progress.done()


def _one_thread() -> None:
    torch.set_num_threads(1)  # the pool already uses every core


def decode_span(members: Members, out: Path, lo: int, hi: int, decode) -> int:
    """Decode members [lo, hi) into rows [lo, hi) of the .npy at ``out``; returns the count."""
    arr = np.load(out, mmap_mode="r+")
    with (zipfile.ZipFile(members.source) if members.is_zip else contextlib.nullcontext()) as z:
        for i in range(lo, hi):
            data = z.read(members.names[i]) if z else (members.source / members.names[i]).read_bytes()
            arr[i] = decode(data, members.where(i))
    arr.flush()
    return hi - lo


class Progress:
    """One line every ``every`` seconds on stderr: count, percent, images/s, time left."""

    def __init__(self, total: int, label: str, every: float = 5.0):
        self.total, self.label, self.every = total, label, every
        self.n, self.t0 = 0, time.monotonic()
        self.t_last = self.t0

    def add(self, n: int) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.t_last >= self.every and self.n < self.total:
            self.t_last = now
            rate = self.n / max(now - self.t0, 1e-9)
            left = (self.total - self.n) / max(rate, 1e-9)
            print(f"[data] {self.label}: decoded {self.n:,}/{self.total:,} images ({100 * self.n / self.total:.0f}%), "
                  f"{rate:,.0f} images/s, {left:,.0f} s left", file=sys.stderr, flush=True)

    def done(self) -> None:
        dt = time.monotonic() - self.t0
        print(f"[data] {self.label}: decoded {self.n:,} images in {dt:.1f} s ({self.n / max(dt, 1e-9):,.0f} images/s)",
              file=sys.stderr, flush=True)


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def read_image(data: bytes, mode: str) -> np.ndarray:
    """PIL decode of one file's bytes to (H, W[, C]) uint8; OSError for an unreadable image."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.array(im.convert(mode))  # a writable copy
