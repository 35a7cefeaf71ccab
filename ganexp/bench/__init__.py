"""Benchmarks: ``python -m ganexp.bench {train,fid,data,nsweep}``."""
from __future__ import annotations

import sys
from contextlib import contextmanager

from ganexp.cliargs import USAGE_ERROR


@contextmanager
def user_errors():
    """A user's error inside the block (a dataset that is not there, a file that is not Inception weights, an
    override the schema refuses) ends the bench with its one sentence and exit 2, as a bad argument does."""
    from ganexp.errors import USER_ERRORS
    from ganexp.metrics.imagesource import ImageSourceError
    from ganexp.metrics.weights import WeightsError

    try:
        yield
    except (*USER_ERRORS, ImageSourceError, WeightsError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        print(f"error: {first}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR) from None
