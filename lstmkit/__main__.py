"""``python -m lstmkit`` runs the command-line interface."""

from __future__ import annotations

import sys

from lstmkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
