"""The onnx backend against numpy64 and TorchLSTM: fidelity on a real text, and the
speed of generating one character per call.

    .venv/bin/python benchmarks/onnx_vs_torch.py [--model FILE --meta META]
        [--chars 2000] [--steps 1000] [--repeats 3]

Without --model it builds random weights K=65, H=256, L=2 (PyTorch's init scale,
1/sqrt(H)) and maps the text through data/meta.txt. Prints numbers only; decides
nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from lstmkit import backends
from lstmkit.backends.onnx_backend import OnnxBackend
from lstmkit.convert import to_module
from lstmkit.generate import softmax
from lstmkit.loading import load_model_file
from lstmkit.metadata import load as load_meta
from lstmkit.metadata import read_text
from lstmkit.weights import random_weights


def fidelity(weights, indices, chunks: int = 4) -> dict[str, tuple[float, float]]:
    """Max abs diff of logits and of the final (h, c) against numpy64's one call."""
    reference = backends.create("numpy64", weights)
    ref = reference.run(indices)
    ref_h, ref_c = reference.get_state()
    patterns = {
        "one call": [indices],
        f"{chunks} chunks": np.array_split(indices, chunks),
        "one per call": np.split(indices, len(indices)),
    }
    out = {}
    for name, calls in patterns.items():
        backend = OnnxBackend(weights)
        got = np.concatenate([backend.run(c) for c in calls])
        h, c = backend.get_state()
        state = max(np.abs(h - ref_h).max(), np.abs(c - ref_c).max())
        out[name] = (float(np.abs(got - ref).max()), float(state))
    return out


def per_char_seconds(step, K: int, steps: int, repeats: int) -> float:
    """Median seconds per character of a sampling loop around ``step(k) -> (K,)``."""
    times = []
    for r in range(repeats):
        rng = np.random.default_rng(r)
        k = 0
        start = time.perf_counter()
        for _ in range(steps):
            scores = step(k)
            k = int(rng.choice(K, p=softmax(scores)))
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .pth or .safetensors model")
    parser.add_argument("--meta", default="data/meta.txt")
    parser.add_argument("--text", default="data/input.txt")
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    charset = load_meta(args.meta).charset
    if args.model:
        weights = load_model_file(args.model, meta=args.meta).weights
    else:
        weights = random_weights(65, 256, 2, seed=0, scale=256**-0.5)
    table = {ch: k for k, ch in enumerate(charset)}
    indices = np.array(
        [table[ch] for ch in read_text(args.text)[: args.chars]], dtype=np.int64
    )
    K = weights.char_size
    print(f"model: {weights.describe()}; text: {len(indices)} chars of {args.text}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    print("\nonnx backend vs numpy64 (max abs diff: logits | final h, c)")
    for name, (logits, state) in fidelity(weights, indices).items():
        print(f"  {name:14s} {logits:.2e} | {state:.2e}")

    print(
        f"\ngenerating, one character per call ({args.steps} steps, median of "
        f"{args.repeats})"
    )
    rows = {}
    for threads in (1, 2):
        backend = OnnxBackend(weights, threads=threads)
        rows[f"onnxruntime, {threads} thread(s)"] = lambda k, b=backend: b.run(
            np.array([k])
        )[0]
    model = to_module(weights, "torch")

    def torch_step(k: int) -> np.ndarray:
        with torch.no_grad():
            return model(torch.tensor([k]))[0].numpy()

    for threads in (torch.get_num_threads(), 1):
        torch.set_num_threads(threads)
        rows[f"TorchLSTM, {threads} thread(s)"] = per_char_seconds(
            torch_step, K, args.steps, args.repeats
        )
        model.reset_state()
    for name, step in list(rows.items()):
        if callable(step):
            rows[name] = per_char_seconds(step, K, args.steps, args.repeats)
    for name, seconds in rows.items():
        print(f"  {name:28s} {seconds * 1e6:8.1f} us/char")


if __name__ == "__main__":
    main()
