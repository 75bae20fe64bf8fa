"""Where the numpy backend's one-character step spends its time, call by call.

    .venv/bin/python benchmarks/numpy_step.py [--hidden 128] [--layers 1] [--out DIR]

Times each NumPy call of ``_StepPath.step`` on its own, on the step's own buffers (the
same arrays, sizes and layout), beside the whole step and the two products the
machine's limit does per character for the same model (`lstmkit bench`, generate).
Each figure is the best of 7 rounds of 20,000 calls, on one thread (the script sets
the BLAS thread variables before NumPy loads). Writes ``numpy_step.md`` into --out
(default: print only).
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from datetime import datetime, timezone
from pathlib import Path

from lstmkit.threads import THREAD_VARIABLES  # imports no NumPy

for _variable in THREAD_VARIABLES:  # before NumPy loads: its BLAS reads them then
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402  (after the thread variables, on purpose)

from lstmkit import backends, fileio  # noqa: E402
from lstmkit.bench_timing import Workload, limit_runner  # noqa: E402
from lstmkit.weights import random_weights  # noqa: E402

NUMBER, REPEAT = 20_000, 7


def best_microseconds(call) -> float:
    return min(timeit.repeat(call, number=NUMBER, repeat=REPEAT)) / NUMBER * 1e6


def measure(K: int, H: int, L: int) -> list[tuple[str, float]]:
    weights = random_weights(K, H, L, seed=0, scale=0.1)
    backend = backends.create("numpy", weights)
    backend.run(np.array([1]))  # builds the step path's buffers
    path = backend._step_path
    for t in range(50):  # a state like a running model's, not zeros
        path.step(t % K)
    matrix, x, bias, views, h = path.layers[0]
    gates, sig, i_f, g_c, g, c, o = views
    rows = [
        ("whole step (one character)", best_microseconds(lambda: path.step(5))),
        (
            "the backend's run() of one index",
            best_microseconds(lambda: backend.run(np.array([5]))),
        ),
        (
            "layer 0: product W_hh h",
            best_microseconds(lambda: np.dot(matrix, x, out=gates)),
        ),
        (
            "layer 0: add the input's row",
            best_microseconds(lambda: np.add(gates, path.embed[5], out=gates)),
        ),
        (
            "tanh of the four gates",
            best_microseconds(lambda: np.tanh(gates, out=gates)),
        ),
        (
            "sigmoid, step 1: add one",
            best_microseconds(lambda: np.add(sig, path.ones, out=sig)),
        ),
        (
            "sigmoid, step 2: halve",
            best_microseconds(lambda: np.multiply(sig, path.halves, out=sig)),
        ),
        ("[i, f] * [g, c]", best_microseconds(lambda: np.multiply(i_f, g_c, out=g_c))),
        ("c = i g + f c", best_microseconds(lambda: np.add(g, c, out=c))),
        ("tanh(c)", best_microseconds(lambda: np.tanh(c, out=g))),
        ("h = o tanh(c)", best_microseconds(lambda: np.multiply(o, g, out=h))),
        (
            "decoder product",
            best_microseconds(lambda: np.dot(path.top, path.decoder_t)),
        ),
    ]
    # the limit's chain for one character, as `lstmkit bench` runs it for generate
    limit = limit_runner("numpy transposed", weights, Workload("generate", 1))(1)
    rows.append(
        (
            "the limit's products for one character (NumPy, x W^T)",
            best_microseconds(limit),
        )
    )
    return rows


def to_markdown(K: int, H: int, L: int, rows) -> str:
    layer0 = rows[2:11]  # the calls of layer 0
    lines = [
        f"# The numpy backend's step, call by call: TorchLSTM({K}, {H}, {L})",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}, "
        f"numpy {np.__version__}, one thread; best of {REPEAT} rounds of {NUMBER:,} "
        f"calls each; load average {os.getloadavg()[0]:.2f} at the end.",
        "",
        "| call | microseconds |",
        "| --- | ---: |",
        *(f"| {name} | {us:.3f} |" for name, us in rows),
        "",
        f"Layer 0's calls add up to {sum(us for _, us in layer0):.2f} us, of which "
        f"the product is {rows[2][1]:.2f} and the eight element-wise calls "
        f"{sum(us for _, us in layer0[1:]):.2f}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--chars", type=int, default=63, help="K (default 63)")
    p.add_argument("--out", type=Path, help="folder for numpy_step.md")
    args = p.parse_args(argv)
    page = to_markdown(
        args.chars,
        args.hidden,
        args.layers,
        measure(args.chars, args.hidden, args.layers),
    )
    print(page, end="")
    if args.out:
        path = fileio.write_text_atomic(args.out / "numpy_step.md", page)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
