"""Score a text under an lstmkit ONNX export with onnxruntime alone (no torch).

    python scripts/ort_score.py MODEL.onnx TEXTFILE [--chunk N]

Prints the average loss of predicting each next character from a zero state, in nats
and in bits per character.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_common import Model, ScriptError, nats_to_bits, read_text, run_main  # noqa: E402


def average_loss(model: Model, indices: np.ndarray, chunk: int) -> float:
    """Mean of -log softmax(scores[t])[indices[t + 1]], run in chunks with the state
    carried."""
    total = 0.0
    for start in range(0, len(indices) - 1, chunk):
        inputs = indices[start : min(start + chunk, len(indices) - 1)]
        targets = indices[start + 1 : start + 1 + len(inputs)]
        scores = model.run(inputs).astype(np.float64)  # (n, K)
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))  # (n,)
        total += float((log_norm - shifted[np.arange(len(targets)), targets]).sum())
    return total / (len(indices) - 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an lstmkit ONNX export (.onnx)")
    parser.add_argument("text", help="a UTF-8 text file")
    parser.add_argument("--chunk", type=int, default=4096, help="characters per call")
    args = parser.parse_args(argv)
    if args.chunk < 1:
        raise ScriptError(f"--chunk: must be positive, got {args.chunk}")

    model = Model(args.model)
    indices = model.encode(read_text(args.text), args.text)
    if len(indices) < 2:
        raise ScriptError(f"{args.text}: needs at least two characters to score")
    nats = average_loss(model, indices, args.chunk)
    print(
        f"{len(indices)} characters: {nats:.6f} nats/char, "
        f"{nats_to_bits(nats):.6f} bits/char"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
