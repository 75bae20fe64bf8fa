"""The ``lstmkit`` command line: one thin subcommand per library function.

Each subcommand lives in ``lstmkit/commands/<name>.py`` with ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int``. A user's mistake
(:class:`LstmkitError`) prints one line on stderr and exits 2 (``--debug`` shows the
traceback); ``verify`` exits 1 when a backend is out of tolerance.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn

from lstmkit import __version__
from lstmkit.errors import LstmkitError

# NumPy's BLAS sizes its thread pool when NumPy loads (here, when the subcommands are
# imported), and never again. lstmkit's NumPy work is one stream, step by step: small
# products that a second thread does not speed up, and that run ten times slower when
# the threads share busy cores (numpy64 over 300 steps at H=500, L=3: 0.2 s with one
# thread, 2.1 s with two, load average 3 on 2 cores). Set the variable to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Module names under lstmkit.commands, in the order --help lists them.
COMMANDS = (
    "gen_metadata",
    "train",
    "convert",
    "export",
    "verify",
    "generate",
    "demo",
    "bench",
)

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse's parser with its usage errors in one line, as every other error of
    the command line is; the subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} -h\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="lstmkit",
        description="Convert, export and verify character-level LSTM models.",
    )
    parser.add_argument("--version", action="version", version=f"lstmkit {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show a traceback on errors, and debug logs",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"lstmkit.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one subcommand and returns its exit code."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while torch loads, before a command runs
        print("lstmkit: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except LstmkitError as exc:
        if args.debug:
            raise
        print(f"lstmkit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lstmkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
