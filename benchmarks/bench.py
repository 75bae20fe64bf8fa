"""Runs lstmkit's benchmark and writes benchmarks/results/latest.md and latest.json.

    .venv/bin/python benchmarks/bench.py [--quick] [any option of ``lstmkit bench``]

The same as ``lstmkit bench --out benchmarks/results --text data/input.txt``, from any
folder. ``--quick`` writes quick.md and quick.json instead, leaving the real results
alone. See benchmarks/README.md for what each column means.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lstmkit.cli import main

HERE = Path(__file__).resolve().parent
# Relative to where it runs, so the results name no machine's folders.
DEFAULTS = [
    *("--out", os.path.relpath(HERE / "results")),
    *("--text", os.path.relpath(HERE.parent / "data" / "input.txt")),
]

if __name__ == "__main__":
    # The user's own options come after the defaults, so they win.
    sys.exit(main(["bench", *DEFAULTS, *sys.argv[1:]]))
