"""The seed's ``utils.py`` spelling: ``python -m lstmkit.utils gen_metadata DATASET META
[SIZE]`` does what ``lstmkit gen-metadata`` does."""

from __future__ import annotations

import sys

from lstmkit.cli import main


def seed_main(argv: list[str] | None = None) -> int:
    """Maps ``gen_metadata ARGS`` onto ``lstmkit gen-metadata ARGS``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("gen_metadata", "gen-metadata"):
        # A command-line entry point: it may write to stderr as the CLI does.
        sys.stderr.write(
            "usage: python -m lstmkit.utils gen_metadata DATASET META [SIZE]\n"
        )
        return 2
    return main(["gen-metadata", *argv[1:]])


if __name__ == "__main__":
    sys.exit(seed_main())
