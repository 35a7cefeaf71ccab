"""The errors a user can fix, and the disk faults that end a run: the bottom of the house, so every layer
can raise or recognise them without importing the layer that raises them."""
from __future__ import annotations

import errno


class ConfigError(ValueError):
    """A config value the user can fix; the message is one sentence that says how."""


class DatasetError(RuntimeError):
    """A dataset problem the user can fix; the message says how."""


class CheckpointError(RuntimeError):
    """A file that is not a ganexp checkpoint; the message says what to do, ``reason`` says why, briefly."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


USER_ERRORS = (ConfigError, DatasetError, CheckpointError)
# errno -> what it says of a folder. The first three come only from writes and end a run wherever they
# happen (no other file could be written either); a refused permission ends it for a write of its own record.
DISK_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
FOLDER_FAULTS = {errno.ENOSPC: "the disk holding {} is full", errno.EDQUOT: "{} is over its disk quota",
                 errno.EROFS: "the disk holding {} is read-only", errno.EACCES: "{} or a file in it is not writable",
                 errno.EPERM: "{} or a file in it is not writable"}


def disk_fault(err: BaseException) -> bool:
    """A write refused for its disk: full, over quota, read-only."""
    return isinstance(err, OSError) and err.errno in DISK_FAULTS
