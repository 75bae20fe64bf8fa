"""``lstmkit bench [--quick] [--configs HxL,...] [--threads N,...] [--out DIR]``."""

from __future__ import annotations

import sys

from lstmkit import bench
from lstmkit.errors import LstmkitError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="time every backend against eager nn.LSTM and the machine's limit",
        description="Time every backend on score (one call), generate (one character "
        "per call) and batched score, for each model size and thread count; beside "
        "each figure its ratio to eager nn.LSTM and to the machine's limit, measured "
        "in the same run, and its largest difference from numpy64. Prints a Markdown "
        "table; --out also writes it and the JSON.",
    )
    p.add_argument(
        "--configs",
        help="model sizes HxL, comma-separated (default 128x1,256x2,500x3; "
        "with --quick 16x1,8x2)",
    )
    p.add_argument(
        "--threads",
        help="thread counts, comma-separated, one process each (default 1,2)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes: a smoke test of the whole run in seconds, not a measurement",
    )
    p.add_argument(
        "--repeat",
        type=int,
        help="timed calls per figure, the median is reported (default 5; --quick 2)",
    )
    p.add_argument(
        "--budget",
        type=float,
        help="seconds one timed call may take; a slower runner is timed on a prefix "
        "of the workload and its figure scaled (default 0.2)",
    )
    p.add_argument(
        "--backends",
        help="backends to time, comma-separated (default: every registered one but "
        "file round trips; numpy64 always runs, it is the reference)",
    )
    p.add_argument(
        "--workloads",
        help="workloads to time, comma-separated: score, generate, batch (default all)",
    )
    p.add_argument(
        "--text",
        default="data/input.txt",
        help="the text whose charset gives K and whose characters are the inputs "
        "(default data/input.txt)",
    )
    p.add_argument(
        "--out", help="write latest.md and latest.json (quick.* with --quick) in DIR"
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def parse_configs(text: str) -> list[tuple[int, int]]:
    """``"128x1,256x2"`` to ``[(128, 1), (256, 2)]``."""
    configs = []
    for part in text.split(","):
        H, sep, L = part.strip().lower().partition("x")
        if not (sep and H.isdigit() and L.isdigit()):
            raise LstmkitError(
                f"--configs: {part.strip()!r} is not HxL; write e.g. 128x1,256x2"
            )
        configs.append((int(H), int(L)))
    return configs


def parse_counts(text: str, option: str) -> list[int]:
    """``"1,2"`` to ``[1, 2]``."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise LstmkitError(f"{option}: expected whole numbers like 1,2, got {text!r}")
    return [int(part) for part in parts]


def run(args) -> int:
    settings = bench.quick_settings() if args.quick else bench.Settings()
    settings.text = args.text
    if args.configs is not None:
        settings.configs = parse_configs(args.configs)
    if args.threads is not None:
        settings.threads = parse_counts(args.threads, "--threads")
    if args.repeat is not None:
        settings.repeat = args.repeat
    if args.budget is not None:
        settings.budget = args.budget
    if args.backends is not None:
        settings.backends = [name.strip() for name in args.backends.split(",")]
    if args.workloads is not None:
        settings.only = [name.strip() for name in args.workloads.split(",")]

    result = bench.run(settings, verbose=not args.quiet)
    print(bench.to_markdown(result), end="")
    if args.out is not None:
        for path in bench.save(result, args.out):
            print(f"wrote {path}")
    print(f"benchmark took {result['elapsed_seconds']:.0f} s", file=sys.stderr)
    return 0
