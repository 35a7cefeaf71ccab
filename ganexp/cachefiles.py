"""The on-disk caches every layer shares (FID statistics, real features, decoded datasets, weights): where
they live, an inter-process file lock and atomic writes (several jobs may start at once), and the content
digest that identifies an image set."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger("ganexp.metrics")


@contextlib.contextmanager
def file_lock(path: Path | str, what: str = "cache entry") -> Iterator[None]:
    """Exclusive flock on `path` (created if missing); waits, with one log line, while another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Waiting for another job computing the %s (%s).", what, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def atomic_write(path: Path | str, write: Callable[[object], None]) -> None:
    """Call `write(fileobj)` on a temp file next to `path`, fsync, then os.replace it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temps(path: Path | str) -> list[Path]:
    """Delete the temp files that killed ``atomic_write``s of ``path`` left (``.<name>.<random>.tmp``).
    Call it holding ``path``'s lock: then no other process is writing one."""
    path = Path(path)
    stale = [p for p in path.parent.glob(f".{path.name}.*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def default_cache_dir() -> Path:
    """`$GANEXP_CACHE`, else `~/.cache/ganexp`."""
    env = os.environ.get("GANEXP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganexp"


def content_digest(images) -> str:
    """sha256 of a uint8 (N, C, H, W) tensor: over ``"<N>x<C>x<H>x<W>|uint8|"`` then the C-contiguous bytes.

    Names and paths do not identify data (two `dataset=npz` files share a name and resolution); this does.
    """
    import torch

    if images.dtype != torch.uint8:
        raise ValueError(f"content_digest expects uint8 images, got {images.dtype}")
    x = images.detach().cpu().contiguous()
    h = hashlib.sha256(("x".join(str(s) for s in x.shape) + "|uint8|").encode())
    h.update(x.numpy().data)  # a memoryview: no copy of the bytes
    return h.hexdigest()
