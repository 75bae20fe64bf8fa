"""Training at equal wall time: the seed's batch-1 loop against ``--batch-size 32``.

    .venv/bin/python benchmarks/train_bench.py [--seconds 170] [--out DIR] ...

Trains TorchLSTM(K, 256, 2) on data/input.txt, its last tenth held out, once per
setting, each for the same wall time, with ``lstmkit.train.train`` itself; then
scores the saved weights on the same slice of the held-out tail. Writes
benchmarks/results/train.md and train.json (``--stem`` changes the names). The
default run takes about 6 minutes. See benchmarks/README.md for what is measured.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from lstmkit.bench_train import BenchConfig, Setting, run, save, to_markdown
from lstmkit.errors import LstmkitError
from lstmkit.train import parse_model_args

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    d = BenchConfig(data_set="")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Relative to where it runs, so the results name no machine's folders.
    p.add_argument(
        "--text", default=os.path.relpath(HERE.parent / "data" / "input.txt")
    )
    p.add_argument("--meta", help="metadata file (default: the text's own charset)")
    p.add_argument("--model-args", default="256,2", help="H,L (default %(default)s)")
    p.add_argument(
        "--seconds",
        type=float,
        default=d.seconds,
        help="wall time of each run (default %(default)s)",
    )
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--holdout", type=float, default=d.holdout)
    p.add_argument(
        "--eval-chars",
        type=int,
        default=d.eval_chars,
        help="held-out characters scored (default %(default)s)",
    )
    p.add_argument(
        "--setting",
        action="append",
        metavar="B,CHUNK,LR",
        help="a run of B streams, chunks of CHUNK characters, Adam rate LR, instead "
        "of the two default ones; repeatable (the first is the ratios' base)",
    )
    p.add_argument("--out", default=os.path.relpath(HERE / "results"))
    p.add_argument("--stem", default="train", help="file names: STEM.md, STEM.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("lstmkit.train").setLevel(logging.WARNING)

    config = BenchConfig(
        data_set=args.text,
        data_meta=args.meta,
        model_args=parse_model_args(args.model_args),
        seconds=args.seconds,
        threads=args.threads,
        seed=args.seed,
        holdout=args.holdout,
        eval_chars=args.eval_chars,
    )
    try:
        if args.setting:
            config.settings = tuple(parse_setting(text) for text in args.setting)
        result = run(config)
        paths = save(result, args.out, args.stem)
    except LstmkitError as exc:
        print(f"train_bench: {exc}", file=sys.stderr)
        return 2
    print(to_markdown(result))
    for path in paths:
        print(f"wrote {path}")
    return 0


def parse_setting(text: str) -> Setting:
    """``B,CHUNK,LR`` as a Setting named by its values."""
    try:
        batch, chunk, lr = text.split(",")
        setting = Setting(
            f"B={batch} chunk={chunk} lr={lr}", int(batch), int(chunk), float(lr)
        )
    except ValueError as exc:
        raise LstmkitError(
            f"--setting: expected B,CHUNK,LR such as 32,100,0.006, got {text!r}"
        ) from exc
    sizes = (setting.batch_size, setting.train_seq_size)
    rate = setting.learning_rate
    if min(sizes) < 1 or not (math.isfinite(rate) and rate > 0):
        raise LstmkitError(
            f"--setting: B and CHUNK must be >= 1 and LR a finite number > 0: {text!r}"
        )
    return setting


if __name__ == "__main__":
    sys.exit(main())
