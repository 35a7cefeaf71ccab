"""`python -m ganexp.metrics fid A B` / `python -m ganexp.metrics setup` (see ganexp.metrics.cli)."""

import sys

from ganexp.metrics.cli import main

if __name__ == "__main__":
    sys.exit(main())
