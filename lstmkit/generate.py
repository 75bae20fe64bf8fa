"""Sampling text and scoring it, on anything that maps indices to scores.

``run`` below is any callable from (N,) int64 indices to (N, K) scores with the state
carried between calls: a backend's ``run``, or a model wrapped for training.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lstmkit.errors import LstmkitError
from lstmkit.metadata import Metadata

Run = Callable[[np.ndarray], np.ndarray]


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax over the last axis of ``scores / temperature``, computed in float64."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sample(
    run: Run,
    metadata: Metadata,
    *,
    prime: str = "\n",
    length: int = 200,
    temperature: float = 1.0,
    seed: int | None = None,
) -> str:
    """Generates ``length`` characters after ``prime``, one character per call.

    Each character is drawn from ``softmax(scores / temperature)`` with a NumPy
    generator seeded by ``seed``: the same seed gives the same text.

    Returns:
        The generated characters (the prime not included).

    Raises:
        LstmkitError: an empty prime, a prime character the charset lacks (all of
            them listed), or a temperature that is not positive.
    """
    if not prime:
        raise LstmkitError("--prime: must hold at least one character")
    if not temperature > 0 or not math.isfinite(temperature):
        raise LstmkitError(
            f"--temperature: must be a positive number, got {temperature}"
        )
    if length < 0:
        raise LstmkitError(f"--length: must be zero or more, got {length}")
    rng = np.random.default_rng(seed)
    indices = np.asarray(metadata.encode(prime, "--prime"), dtype=np.int64)

    scores = run(indices)[-1]  # (K,) after the whole prime
    out = []
    for _ in range(length):
        probs = softmax(scores, temperature)
        if not np.all(np.isfinite(probs)):
            raise LstmkitError(
                f"the model's scores are not finite after {len(out)} generated "
                "character(s); check the weights (lstmkit verify)"
            )
        k = int(rng.choice(len(probs), p=probs))
        out.append(metadata.charset[k])
        scores = run(np.array([k], dtype=np.int64))[0]  # (K,)
    return "".join(out)


def score_indices(
    run: Run, indices: np.ndarray, *, chunk: int = 4096, what: str = "text"
) -> float:
    """The average negative log-likelihood (nats per character) of each next index.

    Predicts ``indices[t + 1]`` from the scores after ``indices[:t + 1]``, running in
    chunks of ``chunk`` characters with the state carried.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size < 2:
        raise LstmkitError(f"{what}: needs at least two characters to score")
    total, count = 0.0, 0
    for start in range(0, indices.size - 1, chunk):
        inputs = indices[start : start + chunk]
        targets = indices[start + 1 : start + 1 + chunk]
        scores = np.asarray(run(inputs[: targets.size]), dtype=np.float64)  # (n, K)
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))  # (n,)
        total += float((log_norm - shifted[np.arange(targets.size), targets]).sum())
        count += targets.size
    return total / count


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)
