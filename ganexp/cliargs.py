"""The commands' arguments held to the rules config keys follow (ganexp/schema.py): ranges, existing inputs,
writable outputs; a bad one is one sentence on stderr ("error: ..."), exit code 2, nothing written.

``Parser`` is argparse's parser with that ending (no usage block); the ``type=`` checkers below raise
argparse.ArgumentTypeError with the words that say what is allowed, which the parser prefixes with the option.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

USAGE_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-sentence errors: ``error: argument --seeds: must be an integer >= 1, got -1``."""

    def error(self, message: str):  # argparse's hook for every bad argument
        print(f"error: {message} (python {self.prog.removeprefix('python ')} --help lists the arguments)",
              file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def count(lo: int, hi: int | None = None):
    """An integer in [lo, hi] (hi None: no upper bound)."""
    words = f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi}"

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
        return value

    return check


def existing(text: str) -> Path:
    """A file or folder that exists."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    return path


def _creatable(path: Path) -> bool:
    """Whether ``path`` (absent) can be made: its nearest existing ancestor is a writable folder."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)


def writable_folder(text: str) -> Path:
    """A folder to write into: an existing writable folder, or one that can be made."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; name a folder for the output")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not writable; name a folder you can write to")
    if not path.exists() and not _creatable(path):
        raise argparse.ArgumentTypeError(f"{text} cannot be made (no writable folder above it); name a folder you "
                                         "can write to")
    return path


def writable_file(*suffixes: str):
    """A file to write: with one of ``suffixes``, not a folder, in a folder that is (or can be made) writable."""

    def check(text: str) -> Path:
        path = Path(text).expanduser()
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a folder; name a file such as {path / ('out' + suffixes[0])}"
                                             if suffixes else f"{text} is a folder; name a file")
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text} must end in {' or '.join(suffixes)}")
        if path.exists() and not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"{text} is not writable")
        if path.parent.exists():
            writable_folder(str(path.parent))  # raises with the folder's reason
        elif not _creatable(path.parent):
            raise argparse.ArgumentTypeError(f"{text} cannot be written (no writable folder above it)")
        return path

    return check
