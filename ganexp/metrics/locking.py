"""Inter-process file lock and atomic writes for the on-disk caches (several jobs may start at once)."""

from __future__ import annotations

import contextlib
import fcntl
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
