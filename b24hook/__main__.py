"""``python -m b24hook``: the ``b24hook`` command line (docs/cli.md)."""
from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
