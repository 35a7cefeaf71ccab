"""One process per run folder: a run holds ``<run>/.ganexp.lock`` (flock) while it trains.

A second process that reaches the same folder (the same grid started twice, a requeued job next to
a live one) does not wait: it skips the run and says which process holds it. The kernel drops a
flock when its process dies, so a killed run never leaves a stale lock behind.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = ".ganexp.lock"


class RunFolderLock:
    """``with RunFolderLock(run_dir) as lock:`` then ``lock.held`` (False: ``lock.holder`` has it)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.fd: int | None = None
        self.held, self.holder = False, ""

    def __enter__(self) -> "RunFolderLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.holder = os.pread(self.fd, 200, 0).decode(errors="replace").strip() or "another process"
            return self
        self.held = True
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {os.uname().nodename}".encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None
