"""The commands' arguments held to the rules config keys follow (ganexp/schema.py): ranges, existing inputs,
writable outputs; a bad one is one sentence on stderr ("error: ..."), exit code 2, nothing written.

``Parser`` is argparse's parser with that ending (no usage block); the ``type=`` checkers below (numbers and
lists of them, names from a list, a torch device, paths to read or write) raise argparse.ArgumentTypeError with
the words that say what is allowed, which the parser prefixes with the option. ``written`` guards the one write
a check cannot foresee. Nothing here imports torch at import time: the torch-free commands (results) use it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from contextlib import contextmanager
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


def counts(lo: int, hi: int | None = None, empty: bool = False, meaning: str = ""):
    """Comma-separated integers in [lo, hi], e.g. ``1,4,16`` (``empty``: "" is allowed, the empty list;
    ``meaning``: what they are, for the message)."""
    one = count(lo, hi)
    words = (f"integers >= {lo}" if hi is None else f"integers from {lo} to {hi}") + (f" ({meaning})" * bool(meaning))

    def check(text: str) -> list[int]:
        parts = [x.strip() for x in text.split(",")] if text.strip() else []
        if not parts and not empty:
            raise argparse.ArgumentTypeError(f"must be comma-separated {words}, got nothing")
        try:
            return [one(x) for x in parts]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"must be comma-separated {words}, got {text!r}") from None

    return check


def names(options: list[str], what: str):
    """Comma-separated names, each one of ``options`` (``what``: the kind of name, for the message)."""

    def check(text: str) -> list[str]:
        given = [x.strip() for x in text.split(",") if x.strip()]
        unknown = [x for x in given if x not in options]
        if unknown or not given:
            got = f"unknown {what} {', '.join(map(repr, unknown))}" if unknown else "no name"
            raise argparse.ArgumentTypeError(f"{got}; choose from {', '.join(options)} (comma-separated)")
        return given

    return check


def device(text: str):
    """A torch device this machine has: cpu, cuda, cuda:N (N < the GPU count), mps; ``auto`` is cuda when
    there is one, else cpu. Checked here, before any work, so a missing GPU is one sentence, not a traceback
    after the first model is built."""
    import torch  # here, not above: the torch-free commands (results) use this module too

    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: this machine has no CUDA GPU; use cpu (or auto)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                                         f"numbered from 0")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: this machine has no MPS device; use cpu (or auto)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text}: the commands run on cpu, cuda[:N] or mps only")
    return dev


def path_arg(text: str) -> Path:
    """A path; an empty one is refused (Path("") is the current folder, which nobody means by '')."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names nothing; give a path")
    return Path(text).expanduser()


def existing(text: str) -> Path:
    """A file or folder that exists."""
    found = path_arg(text)
    if not found.exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    return found


def existing_folder(hint: str = "name a folder"):
    """A folder that exists; ``hint`` ends the message (what such a folder is, where to find one)."""

    def check(text: str) -> Path:
        folder = path_arg(text)
        if not folder.exists():
            raise argparse.ArgumentTypeError(f"{text} does not exist; {hint}")
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; {hint}")
        return folder

    return check


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s line that does not exist yet (None: ``folder`` exists)."""
    folder = folder.absolute()
    if folder.exists():
        return None
    while not folder.parent.exists():
        folder = folder.parent
    return folder


def _creatable(path: Path) -> bool:
    """Whether ``path`` (absent) can be made: its nearest existing ancestor is a writable folder."""
    parent = _nearest_existing(path.parent)
    return parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)


def writable_folder(text: str) -> Path:
    """A folder to write into: an existing writable folder, or one that can be made."""
    folder = path_arg(text)
    if folder.exists() and not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; name a folder for the output")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not writable; name a folder you can write to")
    if not folder.exists() and not _creatable(folder):
        raise argparse.ArgumentTypeError(f"{text} cannot be made (no writable folder above it); name a folder you "
                                         "can write to")
    return folder


def writable_file(*suffixes: str):
    """A file to write: with one of ``suffixes``, not a folder, in a folder that is (or can be made) writable."""

    def check(text: str) -> Path:
        file = path_arg(text)
        if file.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a folder; name a file such as {file / ('out' + suffixes[0])}"
                                             if suffixes else f"{text} is a folder; name a file")
        if suffixes and file.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text} must end in {' or '.join(suffixes)}")
        if file.exists() and not os.access(file, os.W_OK):
            raise argparse.ArgumentTypeError(f"{text} is not writable")
        above = _nearest_existing(file.parent)
        if not above.is_dir():
            raise argparse.ArgumentTypeError(f"{text} cannot be written: {above} is a file, not a folder; name a "
                                             "file in a folder")
        if not os.access(above, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{text} cannot be written: {above} is not writable; name a file in a "
                                             "folder you can write to")
        return file

    return check


@contextmanager
def written(path: Path):
    """The block writes ``path`` (its folders are made first): an OSError there removes the folders it made
    and ends the command with one sentence and exit 2. The checks above cannot see every refusal (root passes
    os.access where /sys still refuses; a disk fills)."""
    first_new = _first_missing(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield path
    except OSError as err:
        if first_new is not None:
            shutil.rmtree(first_new, ignore_errors=True)  # absent before the block: only this command's folders
        why = err.strerror or type(err).__name__
        print(f"error: cannot write {path} ({why}); name a file in a folder you can write to", file=sys.stderr)
        raise SystemExit(USAGE_ERROR) from None
