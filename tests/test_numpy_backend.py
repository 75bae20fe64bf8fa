"""The NumPy backends' one-character path: the same numbers as a call on the whole
sequence, the state shared with every other way of running, indices checked as
strictly as anywhere else."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit import backends
from lstmkit.errors import LstmkitError
from lstmkit.weights import random_weights

K = 5
INDICES = np.random.default_rng(1).integers(0, K, 24)


def one_per_call(backend, indices: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [backend.run(indices[t : t + 1]) for t in range(len(indices))]
    )


@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("scale", [1.0, 2.0])  # 2: more gates near saturation
def test_one_per_call_matches_numpy64_and_one_call(L, scale, initial_state):
    weights = random_weights(K, 6, L, seed=L, scale=scale)
    h0, c0 = initial_state(L, 6)
    runs = {}
    for name, pattern in [("numpy64", "call"), ("numpy", "call"), ("numpy", "each")]:
        backend = backends.create(name, weights)
        backend.set_state(h0, c0)
        scores = backend.run(INDICES) if pattern == "call" else None
        if pattern == "each":
            scores = one_per_call(backend, INDICES)
        runs[name, pattern] = (scores, *backend.get_state())

    # float32 rounding apart, both paths are the reference. The rounding grows with
    # the scores' scale, and larger weights amplify it in every float32 backend
    # alike (torch and onnx too), so the tolerance is relative to the scale.
    reference = runs["numpy64", "call"]
    atol = 2e-6 * max(1.0, float(np.abs(reference[0]).max()))
    for got in (runs["numpy", "each"], runs["numpy", "call"]):
        for a, b in zip(got, reference, strict=True):
            np.testing.assert_allclose(a, b, atol=atol, rtol=0)


def test_numpy64_one_per_call_stays_float64():
    weights = random_weights(K, 6, 2, seed=4, scale=4.0)
    whole = backends.create("numpy64", weights)
    each = backends.create("numpy64", weights)
    expected = whole.run(INDICES)
    got = one_per_call(each, INDICES)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)


def test_state_moves_between_the_paths(initial_state):
    """Steps, whole calls, set_state and reset_state in any order give the scores of
    the reference doing the same."""
    weights = random_weights(K, 5, 2, seed=9)
    fast, reference = (backends.create(n, weights) for n in ("numpy", "numpy64"))
    h0, c0 = initial_state(2, 5)

    def script(backend):
        out = [one_per_call(backend, INDICES[:3]), backend.run(INDICES[3:8])]
        out.append(one_per_call(backend, INDICES[8:10]))
        backend.set_state(h0, c0)
        out.append(one_per_call(backend, INDICES[10:13]))
        h, c = backend.get_state()
        h[:] = 50.0  # a copy: changing it changes nothing
        out.append(backend.run(INDICES[13:14]))
        backend.reset_state()
        out.append(one_per_call(backend, INDICES[14:18]))
        out.append(backend.run(INDICES[18:]))
        return np.concatenate(out), *backend.get_state()

    for a, b in zip(script(fast), script(reference), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_returned_scores_are_not_reused():
    backend = backends.create("numpy", random_weights(K, 4, 1, seed=2))
    first = backend.run(np.array([1]))
    kept = first.copy()
    backend.run(np.array([2]))
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize(
    "indices, message",
    [
        (np.array([K]), f"{K} is out of range"),
        (np.array([-1]), "-1 is out of range"),
        (np.array([np.iinfo(np.uint64).max], dtype=np.uint64), "out of range"),
        (np.array([True]), "dtype bool"),
        (np.array([1.0]), "dtype float64"),
        (np.array([[1]]), r"shape \(N,\)"),
    ],
)
@pytest.mark.parametrize("name", ["numpy", "numpy64", "onnx"])
def test_one_index_checked_as_strictly(name, indices, message):
    backend = backends.create(name, random_weights(K, 4, 1))
    before = backend.get_state()
    with pytest.raises(LstmkitError, match=message):
        backend.run(indices)
    for a, b in zip(backend.get_state(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_any_integer_type_and_a_list_give_the_same_scores():
    weights = random_weights(K, 4, 2, seed=6)
    scores = []
    for index in (np.array([3]), np.array([3], dtype=np.uint8), [3], np.int32([3])):
        backend = backends.create("numpy", weights)
        scores.append(backend.run(index))
    for got in scores[1:]:
        np.testing.assert_array_equal(got, scores[0])
