"""Generate text from an lstmkit ONNX export with onnxruntime alone (no torch).

    python scripts/ort_generate.py MODEL.onnx [--prime TEXT] [--length N]
        [--temperature T] [--seed S]

Runs the prime through the model, then draws each next character from
softmax(scores / T), feeding it back one character per call. The same seed gives the
same text.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_common import Model, ScriptError, run_main, softmax  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an lstmkit ONNX export (.onnx)")
    parser.add_argument("--prime", default="\n", help="text to start from (newline)")
    parser.add_argument("--length", type=int, default=300, help="characters to add")
    parser.add_argument("--temperature", type=float, default=1.0, help="T > 0")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    args = parser.parse_args(argv)

    if not args.prime:
        raise ScriptError("--prime: must hold at least one character")
    if not args.temperature > 0 or not math.isfinite(args.temperature):
        raise ScriptError(f"--temperature: must be positive, got {args.temperature}")
    if args.length < 0:
        raise ScriptError(f"--length: must be zero or more, got {args.length}")

    model = Model(args.model)
    rng = np.random.default_rng(args.seed)
    scores = model.run(model.encode(args.prime, "--prime"))[-1]  # (K,)
    out = []
    for _ in range(args.length):
        probs = softmax(scores, args.temperature)
        k = int(rng.choice(len(probs), p=probs))
        out.append(model.charset[k])
        scores = model.run(np.array([k], dtype=np.int64))[0]
    print(args.prime + "".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
