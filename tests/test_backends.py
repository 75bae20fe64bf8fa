"""The backends: the registry, the equivalence suite against numpy64, cases 03, 05, 06.

Every registered backend joins the parametrised tests automatically.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import numpy as np
import pytest

from lstmkit import backends
from lstmkit.errors import LstmkitError
from lstmkit.verify import verify
from lstmkit.weights import random_weights

BACKENDS = backends.names()
K = 5
N = 16
CHUNKS = (5, 7, 4)
INDICES = np.random.default_rng(42).integers(0, K, N)
PATTERNS = ("per_char", "one_call", "chunks")


@functools.cache
def model(L: int, H: int):
    """Weights with distinct gates and both bias halves nonzero, a nonzero initial
    state, and numpy64's one-call scores and final state from it."""
    weights = random_weights(K, H, L, seed=100 * L + H)
    rng = np.random.default_rng(H + L)
    h0 = rng.uniform(-0.9, 0.9, (L, H)).astype(np.float32)
    c0 = rng.uniform(-2, 2, (L, H)).astype(np.float32)
    reference = backends.create(backends.REFERENCE, weights)
    reference.set_state(h0, c0)
    scores = reference.run(INDICES)
    return weights, (h0, c0), scores, reference.get_state()


def run(backend, pattern: str, indices: np.ndarray) -> np.ndarray:
    if pattern == "one_call":
        return backend.run(indices)
    if pattern == "chunks":
        pieces = np.split(indices, np.cumsum(CHUNKS)[:-1])
    else:
        pieces = [indices[t : t + 1] for t in range(indices.size)]
    return np.concatenate([backend.run(piece) for piece in pieces])


# ---------------------------------------------------------------- registry


def test_registry_lists_the_reference_first_and_the_known_backends():
    assert BACKENDS[0] == backends.REFERENCE == "numpy64"
    assert {"numpy64", "numpy", "torch", "custom"} <= set(BACKENDS)


def test_create_refuses_unknown_names_listing_the_known():
    with pytest.raises(
        LstmkitError, match="no backend named 'tf'; choose from numpy64"
    ):
        backends.create("tf", random_weights(K, 3, 1))


# ---------------------------------------------------------------- equivalence suite


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("H", [1, 7, 64])
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("name", BACKENDS)
def test_backend_matches_numpy64(name, L, H, pattern):
    assert CHUNKS and sum(CHUNKS) == N
    weights, (h0, c0), expected, (ref_h, ref_c) = model(L, H)
    backend = backends.create(name, weights)
    backend.set_state(h0, c0)

    got = run(backend, pattern, INDICES)
    h, c = backend.get_state()
    assert got.shape == (N, K)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(h, ref_h, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(c, ref_c, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("L", [1, 2])
def test_initial_state_matters(L):
    """The suite's nonzero initial state changes the scores, so a backend ignoring
    set_state would fail it."""
    weights, (h0, c0), expected, _ = model(L, 7)
    fresh = backends.create(backends.REFERENCE, weights)
    assert np.abs(fresh.run(INDICES) - expected).max() > 1e-3


# ---------------------------------------------------------------- the interface


@pytest.mark.parametrize("name", BACKENDS)
def test_one_index_gives_one_row(name):
    """Case 06: a sequence of one index gives scores of shape (1, K)."""
    backend = backends.create(name, random_weights(K, 3, 2))
    assert backend.run(np.array([2])).shape == (1, K)


@pytest.mark.parametrize("name", BACKENDS)
def test_empty_sequence_leaves_the_state(name, initial_state):
    backend = backends.create(name, random_weights(K, 3, 2))
    backend.set_state(*initial_state(2, 3))
    before = backend.get_state()
    assert backend.run(np.array([], dtype=np.int64)).shape == (0, K)
    for a, b in zip(backend.get_state(), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", BACKENDS)
def test_reset_state_and_state_copies(name):
    weights = random_weights(K, 4, 2, seed=3)
    backend = backends.create(name, weights)
    first = backend.run(INDICES[:6])
    h, c = backend.get_state()
    h[:] = 99.0  # a copy: the backend's state does not change
    assert not np.any(backend.get_state()[0] == 99.0)
    backend.reset_state()
    assert not np.any(backend.get_state()[0]) and not np.any(backend.get_state()[1])
    np.testing.assert_allclose(backend.run(INDICES[:6]), first, atol=1e-6, rtol=0)


@pytest.mark.parametrize("L", [1, 3])
@pytest.mark.parametrize("name", BACKENDS)
def test_state_changes_between_single_steps(name, L, initial_state):
    """One-character calls mixed with longer calls, set_state and reset_state: the
    numpy backend's one-step path keeps state of its own, and every change of state
    from outside must reach it."""
    weights = random_weights(K, 6, L, seed=11)
    states = [initial_state(L, 6, seed=seed) for seed in (7, 8)]
    x = INDICES

    def script(backend, skip: str = ""):
        out = [backend.run(x[t : t + 1]) for t in range(3)]
        out.append(backend.run(x[3:7]))
        out += [backend.run(x[t : t + 1]) for t in range(7, 9)]
        if skip != "first set_state":
            backend.set_state(*states[0])
        out += [backend.run(x[t : t + 1]) for t in range(9, 12)]
        if skip != "reset_state":
            backend.reset_state()
        out += [backend.run(x[t : t + 1]) for t in range(12, 14)]
        if skip != "second set_state":
            backend.set_state(*states[1])
        out.append(backend.run(x[14:16]))
        return np.concatenate(out)

    expected = script(backends.create(backends.REFERENCE, weights))
    got = script(backends.create(name, weights))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    # each change shows in the scores: a backend ignoring any one of them would fail
    for skip in ("first set_state", "reset_state", "second set_state"):
        ignoring = script(backends.create(backends.REFERENCE, weights), skip)
        assert np.abs(ignoring - expected).max() > 1e-3, skip


@pytest.mark.parametrize("name", BACKENDS)
def test_set_state_refuses_wrong_shapes(name):
    backend = backends.create(name, random_weights(K, 4, 2))
    with pytest.raises(LstmkitError, match=r"\(L, H\) = \(2, 4\)"):
        backend.set_state(np.zeros((4,)), np.zeros((4,)))


@pytest.mark.parametrize("name", BACKENDS)
def test_run_refuses_bad_indices(name):
    backend = backends.create(name, random_weights(K, 4, 1))
    with pytest.raises(LstmkitError, match="5 is out of range"):
        backend.run(np.array([0, 5]))


@pytest.mark.parametrize(
    "name",
    [n for n in BACKENDS if backends.create(n, random_weights(K, 2, 1)).supports_batch],
)
def test_batch_matches_each_stream_alone(name, initial_state):
    weights = random_weights(K, 6, 2, seed=5)
    streams = np.random.default_rng(1).integers(0, K, (9, 3))  # (N, B)
    backend = backends.create(name, weights)
    backend.set_state(*initial_state(2, 6))
    before = backend.get_state()
    batch = backend.run_batch(streams)  # (N, B, K)
    assert batch.shape == (9, 3, K)
    for a, b in zip(backend.get_state(), before, strict=True):
        np.testing.assert_array_equal(a, b)  # the carried state is untouched
    reference = backends.create(backends.REFERENCE, weights)
    for b in range(3):
        reference.reset_state()
        expected = reference.run(streams[:, b])
        np.testing.assert_allclose(batch[:, b], expected, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- no torch for NumPy

NO_TORCH = """
import json, sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("the import of torch did not fail")
import numpy as np
from lstmkit import backends
from lstmkit.weights import random_weights
weights = random_weights(5, 7, 2, seed=11)
indices = np.array([0, 4, 1, 1, 3, 2, 0])
out = {}
for name in ("numpy64", "numpy"):
    out[name] = backends.create(name, weights).run(indices).tolist()
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(json.dumps({"scores": out, "torch_modules": loaded}))
"""


def test_numpy_backends_run_where_torch_cannot_be_imported():
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["torch_modules"] == ["torch"]  # only the blocking None entry

    # The subprocess computed real scores: the same as in this process.
    weights = random_weights(5, 7, 2, seed=11)
    indices = np.array([0, 4, 1, 1, 3, 2, 0])
    for name in ("numpy64", "numpy"):
        expected = backends.create(name, weights).run(indices)
        np.testing.assert_array_equal(np.array(result["scores"][name]), expected)


# ---------------------------------------------------------------- cases


@pytest.fixture(scope="module")
def case03():
    """TorchLSTM(K=6, H=4, L=2) with torch's own initialisation, distinct nonzero h
    and c in each layer, and 12 indices."""
    import torch

    from lstmkit.convert import from_module
    from lstmkit.models import TorchLSTM

    torch.manual_seed(3)
    weights = from_module(TorchLSTM(6, 4, 2))
    h0 = np.array([[0.5, -0.3, 0.8, -0.6], [-0.7, 0.2, 0.4, 0.9]], np.float32)
    c0 = np.array([[1.5, -1.1, 0.3, 2.0], [-0.4, 1.8, -1.6, 0.7]], np.float32)
    indices = np.array([0, 5, 2, 2, 3, 1, 4, 0, 5, 3, 1, 2])
    return weights, h0, c0, indices


@pytest.mark.parametrize("name", BACKENDS)
def test_case03_chunks_5_5_2_match_one_call(name, case03):
    weights, h0, c0, indices = case03
    backend = backends.create(name, weights)
    backend.set_state(h0, c0)
    one_call = backend.run(indices)
    one_h, one_c = backend.get_state()

    backend.set_state(h0, c0)
    chunked = np.concatenate([backend.run(p) for p in np.split(indices, [5, 10])])
    h, c = backend.get_state()
    np.testing.assert_allclose(chunked, one_call, atol=1e-6, rtol=0)
    np.testing.assert_allclose(h, one_h, atol=1e-6, rtol=0)
    np.testing.assert_allclose(c, one_c, atol=1e-6, rtol=0)

    reference = backends.create(backends.REFERENCE, weights)
    reference.set_state(h0, c0)
    np.testing.assert_allclose(one_call, reference.run(indices), atol=1e-5, rtol=1e-5)


def test_case03_mixed_up_layer_states_would_be_caught(case03):
    """Swapping the two layers' initial states changes the scores far beyond the
    tolerance, so the test above catches a backend that mixes them up."""
    weights, h0, c0, indices = case03
    reference = backends.create(backends.REFERENCE, weights)
    reference.set_state(h0, c0)
    right = reference.run(indices)
    reference.set_state(h0[::-1], c0[::-1])
    assert np.abs(reference.run(indices) - right).max() > 1e-3
    reference.set_state(h0, c0[::-1])  # h and c from different layers
    assert np.abs(reference.run(indices) - right).max() > 1e-3


def test_case05_single_hidden_unit_within_1e5_of_float64():
    import torch

    from lstmkit.convert import from_module
    from lstmkit.models import TorchLSTM

    torch.manual_seed(5)
    weights = from_module(TorchLSTM(4, 1, 1))
    report = verify(weights, [2] * 10, atol=1e-5, rtol=0.0)
    assert set(report.backends) == set(BACKENDS)
    for name, backend in report.backends.items():
        assert backend.ok, backend.failures()
        expected = {"chunks", "per_char"} | (
            set() if name == "numpy64" else {"one_call"}
        )
        assert set(backend.patterns) == expected
        assert backend.max_abs <= 1e-5, name
