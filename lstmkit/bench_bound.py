"""What the machine allows a training run at most: the fewest floating-point operations
a trained character needs, against the rate of the fastest large matrix product.

No training code's products run faster than the best large float32 matrix product the
machine does, so ``matmul_rate / training_flops`` characters per second is out of
reach at any batch size (unless a library has a faster product than NumPy's BLAS and
torch's). :mod:`lstmkit.bench_train` puts it beside its runs.
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
import time

import numpy as np
import torch

from lstmkit.errors import LstmkitError
from lstmkit.threads import thread_env


def training_flops(char_size: int, hidden_size: int, num_layers: int) -> int:
    """The fewest floating-point operations one trained character needs: a lower
    bound, so the speed it gives is an upper bound.

    Counted: the matrix products alone, each multiply-add as two operations. Forward
    per layer the recurrent (4H, H) product and, above layer 0, the (4H, H) input
    product (layer 0's one-hot input is a row lookup: none), then the (K, H) decoder;
    backward, each of these twice (the gradient of its input and of its weights).
    Not counted: the gates' arithmetic, the loss, the optimiser.
    """
    K, H, L = char_size, hidden_size, num_layers
    products = L * 4 * H * H + (L - 1) * 4 * H * H + K * H  # multiply-adds
    return 3 * 2 * products


def matmul_rate(threads: int, sizes: tuple[int, ...] = (1024, 2048)) -> dict:
    """Floating-point operations per second of large square float32 matrix products
    on ``threads`` threads: the fastest of NumPy (its BLAS) and torch at each size.

    Timed in a fresh process, since NumPy's BLAS sizes its thread pool from the
    environment when it loads. (On this project's machine, one thread: NumPy's
    OpenBLAS about 107 GFLOP/s, torch's matmul about 97.)
    """
    code = (
        "import json, sys; from lstmkit.bench_bound import _matmul_rates; "
        "print(json.dumps(_matmul_rates(*json.loads(sys.argv[1]))))"
    )
    args = [sys.executable, "-c", code, json.dumps([threads, list(sizes)])]
    done = subprocess.run(
        args, env=thread_env(threads), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise LstmkitError(
            "train bench: timing the matrix products failed: "
            + (lines[-1] if lines else f"exit status {done.returncode}")
        )
    rates = json.loads(done.stdout)
    by = max(rates, key=rates.get)
    return {"flops_per_second": rates[by], "by": by, "rates": rates}


def _matmul_rates(threads: int, sizes: list[int], repeat: int = 3) -> dict:
    """{"<library> <size>": best FLOP/s}; runs in :func:`matmul_rate`'s process."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rates = {}
    for size in sizes:
        a = rng.random((size, size), dtype=np.float32)
        b = rng.random((size, size), dtype=np.float32)
        out = np.empty((size, size), dtype=np.float32)
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        calls = {
            "numpy": functools.partial(np.matmul, a, b, out=out),
            "torch": functools.partial(torch.matmul, ta, tb, out=tout),
        }
        for library, call in calls.items():
            call()  # warm-up
            best = math.inf
            for _ in range(repeat):
                start = time.perf_counter()
                call()
                best = min(best, time.perf_counter() - start)
            rates[f"{library} {size}"] = 2 * size**3 / best
    return rates
