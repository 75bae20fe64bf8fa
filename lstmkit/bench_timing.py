"""The benchmark's timing: what each runner runs, and how it is timed.

A runner is a ``prepare(n)`` that builds, untimed, a call running the first n steps of
a workload, and returns it; the call returns its scores ((n, K), or (n, B, K) for a
batch) so they can be compared with ``numpy64``'s, or None for the limit's products.
Three kinds: an lstmkit backend, plain ``nn.LSTM`` + ``nn.Linear`` in eager PyTorch,
and the machine's limit (the workload's matrix products alone, NumPy or torch).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lstmkit import backends
from lstmkit.weights import LSTMWeights

EAGER = "nn.LSTM eager"
# The limit's runners: name -> (library, transposed layout). See limit_runner.
LIMITS = {
    "numpy": ("numpy", False),
    "numpy transposed": ("numpy", True),
    "torch": ("torch", False),
    "torch transposed": ("torch", True),
}
MIN_FRACTION = 100  # a call cut to fit the budget still runs 1/100 of the workload

# Timed call -> its scores ((n, K) or (n, B, K)), or None for the limit's products.
Call = Callable[[], "np.ndarray | None"]
Prepare = Callable[[int], Call]  # n steps -> the call to time


@dataclass(frozen=True)
class Workload:
    """``steps`` characters in each of ``streams`` streams."""

    name: str
    steps: int
    streams: int = 1

    @property
    def chars(self) -> int:
        return self.steps * self.streams


def measure(
    models: dict[str, backends.Backend],
    weights: LSTMWeights,
    workload: Workload,
    indices: np.ndarray,
    threads: int,
    *,
    repeat: int,
    budget: float,
) -> dict:
    """One workload on one model: every backend, the eager nn.LSTM and the limit,
    timed in the same rounds. ``models`` must hold the reference, ``numpy64``."""
    runners: dict[str, Prepare] = {}
    notes = {}
    for name, backend in models.items():
        if workload.name == "batch" and not backend.supports_batch:
            notes[name] = "no batch"
        else:
            runners[name] = _backend_runner(backend, workload.name, indices)
    runners[EAGER] = _eager_runner(weights, workload.name, indices)
    for library in LIMITS:
        runners[f"limit {library}"] = limit_runner(library, weights, workload)
    timings = time_runners(runners, workload, repeat, budget)

    limits = {lib: timings[f"limit {lib}"]["chars_per_second"] for lib in LIMITS}
    best = max(limits, key=limits.get)
    eager_cps = timings[EAGER]["chars_per_second"]
    reference = timings[backends.REFERENCE]["output"]
    figures = {}
    for name in [*models, EAGER]:
        if name in notes:
            figures[name] = {"note": notes[name]}
            continue
        timing = timings[name]
        diff, compared = max_abs_diff(timing.pop("output"), reference)
        figures[name] = {
            "chars_per_second": timing["chars_per_second"],
            "vs_eager": timing["chars_per_second"] / eager_cps,
            "vs_limit": timing["chars_per_second"] / limits[best],
            "max_abs_diff": diff,
            "diff_steps": compared,
            "timed_steps": timing["steps"],
            "seconds": timing["seconds"],
        }
        if name in models:
            figures[name]["built_from"] = models[name].built_from
    return {
        "hidden_size": weights.hidden_size,
        "num_layers": weights.num_layers,
        "char_size": weights.char_size,
        "threads": threads,
        "workload": workload.name,
        "steps": workload.steps,
        "streams": workload.streams,
        "reference_max_abs": float(np.abs(reference).max()),  # the diffs' scale
        "limit": {
            "chars_per_second": limits[best],
            "by": best,
            **{lib: _timing_summary(timings[f"limit {lib}"]) for lib in LIMITS},
        },
        "eager": figures.pop(EAGER),
        "backends": figures,
    }


def _timing_summary(timing: dict) -> dict:
    return {key: timing[key] for key in ("chars_per_second", "steps", "seconds")}


def time_runners(
    runners: dict[str, Prepare], workload: Workload, repeat: int, budget: float
) -> dict[str, dict]:
    """Times every runner ``repeat`` times and keeps the median.

    First, untimed: a short probe (1/MIN_FRACTION of the workload, run twice) tells
    each runner's speed; a runner whose full workload would take longer than
    ``budget`` seconds per call is cut to the prefix that fits (never below the
    probe's length), and its figure is scaled from that. One warm-up call at the
    chosen length follows, since oneDNN and onnxruntime set up their kernels per
    shape. Then the timed rounds, each timing every runner once, so a change in the
    machine's load hits all of them alike.

    Returns:
        {name: {"steps", "seconds", "chars_per_second", "output"}}; ``output`` is the
        last timed call's scores.
    """
    floor = max(1, math.ceil(workload.steps / MIN_FRACTION))
    calls, steps = {}, {}
    for name, prepare in runners.items():
        probe = prepare(floor)
        probe()
        seconds_per_step = _seconds(probe)[0] / floor
        fits = (
            int(budget / seconds_per_step) if seconds_per_step > 0 else workload.steps
        )
        steps[name] = min(workload.steps, max(floor, fits))
        calls[name] = prepare(steps[name])
        calls[name]()

    seconds: dict[str, list[float]] = {name: [] for name in runners}
    outputs = {}
    for _ in range(repeat):
        for name, call in calls.items():
            elapsed, outputs[name] = _seconds(call)
            seconds[name].append(elapsed)
    return {
        name: {
            "steps": steps[name],
            "seconds": seconds[name],
            "chars_per_second": steps[name]
            * workload.streams
            / statistics.median(seconds[name]),
            "output": outputs[name],
        }
        for name in runners
    }


def _seconds(call: Call) -> tuple[float, np.ndarray | None]:
    start = time.perf_counter()
    output = call()
    return time.perf_counter() - start, output


def max_abs_diff(output: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """max |output - reference| over the steps both ran, and how many steps that is."""
    steps = min(len(output), len(reference))
    diff = np.abs(output[:steps].astype(np.float64) - reference[:steps])
    return float(diff.max()), steps


def _backend_runner(backend, workload: str, indices: np.ndarray) -> Prepare:
    def prepare(n: int) -> Call:
        if workload == "generate":
            steps = [indices[t : t + 1].copy() for t in range(n)]  # n x (1,)

            def call():
                backend.reset_state()
                return np.concatenate([backend.run(step) for step in steps])

        elif workload == "score":
            part = np.ascontiguousarray(indices[:n])

            def call():
                backend.reset_state()
                return backend.run(part)  # (n, K)

        else:
            part = np.ascontiguousarray(indices[:n])

            def call():
                return backend.run_batch(part)  # (n, B, K)

        return call

    return prepare


def _eager_runner(weights: LSTMWeights, workload: str, indices: np.ndarray) -> Prepare:
    """What a user would write with nn.LSTM and nn.Linear, no lstmkit code involved."""
    import torch
    from torch import nn

    K, H, L = weights.char_size, weights.hidden_size, weights.num_layers
    lstm, decoder = nn.LSTM(K, H, L).eval(), nn.Linear(H, K).eval()
    with torch.no_grad():
        for k, layer in enumerate(weights.layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                param = getattr(lstm, f"{name}_l{k}")
                param.copy_(torch.from_numpy(getattr(layer, name)))
        decoder.weight.copy_(torch.from_numpy(weights.decoder_weight))
        decoder.bias.copy_(torch.from_numpy(weights.decoder_bias))
    one_hot = nn.functional.one_hot

    def prepare(n: int) -> Call:
        x = torch.from_numpy(np.ascontiguousarray(indices[:n]))  # (n,) or (n, B)

        @torch.no_grad()
        def call():
            if workload != "generate":
                onehot = one_hot(x, K).float()  # (n, K) or (n, B, K)
                batched = onehot.unsqueeze(1) if workload == "score" else onehot
                out, _ = lstm(batched)  # (n, 1 or B, H)
                scores = decoder(out)  # (n, 1 or B, K)
                return (scores[:, 0] if workload == "score" else scores).numpy()
            state, rows = None, []
            for t in range(n):
                out, state = lstm(one_hot(x[t : t + 1], K).float().unsqueeze(1), state)
                rows.append(decoder(out[0]))  # (1, K)
            return torch.cat(rows).numpy()  # (n, K)

        return call

    return prepare


def limit_runner(limit: str, weights: LSTMWeights, workload: Workload) -> Prepare:
    """The matrix products the workload needs, and nothing else, in one library and
    one layout: ``limit`` is a name from LIMITS.

    generate: one character per call leaves nothing to batch: per character and layer
        one (4H, in + H) matrix times [x; h], then the (K, H) decoder, in sequence.
    score, batch: layer by layer, as a fused LSTM kernel may schedule it: one matrix
        product for the input side of all N steps, then N recurrent products of
        (4H, H) and B states in sequence, then the decoder over all N steps at once.
    No gate arithmetic, each product issued from Python: close to a ceiling for
    generate, where every implementation does these products one character at a
    time; for score and batch a fused kernel that runs the whole loop in native code
    (oneDNN's behind nn.LSTM) can pass it. Each product W X runs either as written
    (W stored (out, in)) or as the transposed X^T W^T (W stored (in, out)): which is
    faster depends on the library, the sizes and the threads, and the limit is the
    fastest of all.
    """
    library, transposed = LIMITS[limit]
    K, H, L = weights.char_size, weights.hidden_size, weights.num_layers
    B = workload.streams
    sizes = [K] + [H] * (L - 1)  # each layer's input size
    rng = np.random.default_rng(0)  # the values do not matter, the sizes do

    if library == "torch":
        import torch

        def array(*shape):
            return torch.from_numpy(rng.random(shape, dtype=np.float32))

        multiply = torch.matmul
    else:

        def array(*shape):
            return rng.random(shape, dtype=np.float32)

        multiply = np.dot  # a little faster than np.matmul here, in both layouts

    def product(rows: int, cols: int, count: int | None) -> Call:
        """A (rows, cols) matrix times ``count`` vectors (one bare vector if None),
        into a buffer allocated once."""
        if transposed:
            # torch writes x W^T of a bare vector as a (1, rows) product, and warns
            # when ``out`` has another shape: its vector is a row of one
            vectors = (1 if library == "torch" else None) if count is None else count
            matrix = array(cols, rows)
            x = array(cols) if vectors is None else array(vectors, cols)
            out = array(rows) if vectors is None else array(vectors, rows)
            return lambda: multiply(x, matrix, out=out)
        matrix = array(rows, cols)
        x = array(cols) if count is None else array(cols, count)
        out = array(rows) if count is None else array(rows, count)
        return lambda: multiply(matrix, x, out=out)

    if workload.name == "generate":
        chain = [product(4 * H, size + H, None) for size in sizes]
        chain.append(product(K, H, None))

        def prepare(n: int) -> Call:
            def call():
                for _ in range(n):
                    for step in chain:
                        step()

            return call

        return prepare

    recurrent = [product(4 * H, H, B) for _ in sizes]

    def prepare(n: int) -> Call:
        inputs = [product(4 * H, size, n * B) for size in sizes]
        decoder = product(K, H, n * B)

        def call():
            for k in range(L):
                inputs[k]()
                for _ in range(n):
                    recurrent[k]()
            decoder()

        return call

    return prepare
