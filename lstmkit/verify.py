"""Run every backend on the same characters and measure how far each is from numpy64.

Each backend runs the index sequence three ways, each from the same initial state:

* ``one_call``: the whole (N,) sequence in one ``run``;
* ``chunks``: the sequence cut into consecutive chunks, the state carried between them;
* ``per_char``: one index per ``run``, N calls.

The scores of every call pattern, and the final h and c, are compared with one call of
the float64 reference (``numpy64``). An element passes when
``|x - ref| <= atol + rtol * |ref|``, the rule of ``numpy.allclose``. The reference
itself runs the chunked and per-character patterns too, so its own state carrying is
checked against its one call (its own one call, being the yardstick, is not listed).

The arg-max character is compared at every step and reported; it does not decide the
verdict on its own: when every score is within tolerance, the arg-maxes can differ only
where the reference's two best scores are closer than twice the tolerance, a tie.

A backend that runs only calls whose length is a multiple of U (``step_multiple``, e.g.
an ONNX graph unrolled for U steps) runs the first ``N // U * U`` indices: in one call,
in as many chunks as asked (each a multiple of U, at most one per U steps), or U per
call; it is compared with the reference over the steps it ran. Every pattern's call
lengths are in the report (:func:`call_lengths`).

A bad argument raises :class:`OptionError`, which names the parameter apart from the
problem so that the CLI can name its own option instead.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from lstmkit import backends as backends_mod
from lstmkit.backends import REFERENCE, Backend
from lstmkit.errors import LstmkitError
from lstmkit.verify_report import (
    BackendReport,
    PatternResult,
    VerifyReport,
)
from lstmkit.weights import LSTMWeights, check_indices

logger = logging.getLogger(__name__)

PATTERNS = ("one_call", "chunks", "per_char")
DEFAULT_CHUNKS = 4
DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-5


class OptionError(LstmkitError):
    """A bad argument of :func:`verify`.

    Attributes:
        option: the parameter's name (``"backends"``, ``"chunks"``, ``"atol"``, ...).
        detail: what was wrong and how to fix it, without the name.
    """

    def __init__(self, option: str, detail: str) -> None:
        super().__init__(f"{option}: {detail}")
        self.option = option
        self.detail = detail


def verify(
    weights: LSTMWeights,
    indices,
    *,
    backends: Sequence[str] | None = None,
    extra: Mapping[str, Backend] | Iterable[Backend] | None = None,
    chunks: int | Sequence[int] = DEFAULT_CHUNKS,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    initial_state: tuple[np.ndarray, np.ndarray] | None = None,
) -> VerifyReport:
    """Runs backends on one index sequence three ways and compares them with numpy64.

    Args:
        weights: the model; refused if any tensor holds NaN or infinity.
        indices: (N,) character indices in ``[0, K)``, N >= 1.
        backends: registry names to build from ``weights`` (default: every name in
            :func:`lstmkit.backends.names`). The reference always runs.
        extra: backends built elsewhere (an ONNX file, a hand-made backend), as a
            mapping from report name to backend, or an iterable (named by
            ``backend.name``). Each must have the weights' K, H and L, and a
            ``step_multiple`` no longer than the sequence.
        chunks: the number of chunks for the ``chunks`` pattern (cut as evenly as
            possible), or their lengths, which must add up to N.
        atol: absolute tolerance, >= 0.
        rtol: relative tolerance, >= 0.
        initial_state: (h, c), each (L, H), set before every pattern; zeros when None.

    Returns:
        The report; ``report.ok`` is true when every backend is within tolerance in
        every pattern. A backend that fails to build or run is reported as failed
        with its error, and the others still run.

    Raises:
        LstmkitError: bad weights or indices. :class:`OptionError` (a subclass) for
            bad options or backend names, or a backend whose step multiple is longer
            than the sequence.
    """
    weights.validate(finite=True)
    indices = check_indices(indices, weights.char_size)
    if indices.size == 0:
        raise OptionError("indices", "the sequence is empty; give at least one index")
    atol, rtol = _check_tolerance("atol", atol), _check_tolerance("rtol", rtol)
    sizes = chunk_sizes(chunks, indices.size)
    names = _backend_names(backends)
    extras = _extras(extra, weights, indices.size)
    state = _check_state(initial_state, weights)

    # The yardstick: numpy64's one call from the initial state, over the first
    # `steps` indices (all of them, or fewer for a backend with a step multiple).
    reference = backends_mod.create(REFERENCE, weights)
    logger.debug("reference %s: %s", REFERENCE, reference.built_from)
    yardsticks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def yardstick(steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if steps not in yardsticks:
            run = _run_calls(reference, indices, [steps], state)
            yardsticks[steps] = run[:3]
        return yardsticks[steps]

    def compare(pattern: str, backend: Backend, step_multiple: int) -> PatternResult:
        lengths = call_lengths(pattern, indices.size, sizes, step_multiple)
        scores, h, c, seconds = _run_calls(backend, indices, lengths, state)
        ref_scores, ref_h, ref_c = yardstick(sum(lengths))
        result = _compare(pattern, scores, h, c, ref_scores, ref_h, ref_c, atol, rtol)
        result.seconds, result.call_lengths = seconds, lengths
        return result

    reports: dict[str, BackendReport] = {
        REFERENCE: BackendReport(REFERENCE, reference.built_from, is_reference=True)
    }
    for pattern in PATTERNS[1:]:  # its one call is the yardstick itself
        reports[REFERENCE].patterns[pattern] = compare(pattern, reference, 1)

    todo: list[tuple[str, Backend | None]] = [
        (n, None) for n in names if n != REFERENCE
    ]
    todo += list(extras.items())
    for name, backend in todo:
        report = BackendReport(name, "")
        reports[name] = report
        try:
            if backend is None:
                backend = backends_mod.create(name, weights)
            report.built_from = str(getattr(backend, "built_from", type(backend)))
            report.step_multiple = _step_multiple(
                name, backend, indices.size, "backends"
            )
            for pattern in PATTERNS:
                report.patterns[pattern] = compare(
                    pattern, backend, report.step_multiple
                )
        except OptionError:
            raise  # the input cannot run on this backend at all: a usage error
        except Exception as exc:  # any backend fault is a verdict, not a crash
            logger.debug("backend %s failed", name, exc_info=True)
            report.error = f"{type(exc).__name__}: {exc}"
            report.patterns.clear()
        logger.info("%s: %s", name, "ok" if report.ok else "FAILED")

    return VerifyReport(
        reference=REFERENCE,
        model=weights.describe(),
        length=int(indices.size),
        chunk_sizes=sizes,
        atol=atol,
        rtol=rtol,
        initial_state=state is not None,
        backends=reports,
    )


def chunk_sizes(chunks: int | Sequence[int], length: int) -> list[int]:
    """The chunk lengths for a sequence of ``length`` indices.

    ``chunks`` is a count (the lengths then differ by one at most, longer first) or the
    lengths themselves.

    Raises:
        OptionError: a count outside ``[1, length]``, or lengths that are not positive
            or do not add up to ``length``.
    """
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        count = int(chunks)
        if not 1 <= count <= length:
            raise OptionError(
                "chunks",
                f"expected a count from 1 to the sequence length {length}, got {count}",
            )
        base, longer = divmod(length, count)
        return [base + 1] * longer + [base] * (count - longer)
    sizes = [int(n) for n in chunks]
    if not sizes or any(n < 1 for n in sizes) or sum(sizes) != length:
        raise OptionError(
            "chunks",
            f"lengths {sizes} must be positive and add up to the sequence length "
            f"{length}",
        )
    return sizes


def call_lengths(
    pattern: str, length: int, chunks: Sequence[int], step_multiple: int = 1
) -> list[int]:
    """The length of each ``run`` call of one pattern.

    A backend that takes any length (``step_multiple`` 1) runs all ``length`` indices:
    in one call, in the ``chunks`` lengths, or one per call. One that takes multiples
    of U runs the first ``length // U * U``: in one call, in ``len(chunks)`` chunks
    (at most one per U steps, cut as evenly as whole multiples of U allow), or U per
    call.

    Args:
        pattern: ``"one_call"``, ``"chunks"`` or ``"per_char"``.
        length: N, the sequence length.
        chunks: the chunk lengths for a backend taking any length (they add up to N).
        step_multiple: U, with U <= N.
    """
    U = step_multiple
    blocks = length // U
    assert blocks >= 1, "the caller checks that U fits the sequence"
    if pattern == "one_call":
        return [blocks * U]
    if pattern == "chunks":
        if U == 1:
            return list(chunks)
        return [n * U for n in chunk_sizes(min(len(chunks), blocks), blocks)]
    return [U] * blocks


def _run_calls(
    backend: Backend,
    indices: np.ndarray,
    lengths: list[int],
    state: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Runs ``backend`` from ``state`` on the first ``sum(lengths)`` indices, one call
    per length: (n, K) float64 scores, the final h and c (L, H) and the seconds
    taken."""
    steps = sum(lengths)
    pieces = np.split(indices[:steps], np.cumsum(lengths)[:-1])  # len(lengths) x (n,)

    start = time.perf_counter()
    if state is None:
        backend.reset_state()
    else:
        backend.set_state(*state)
    outputs = []
    for piece in pieces:
        scores = np.asarray(backend.run(piece))
        if scores.shape != (piece.size, backend.char_size):
            raise LstmkitError(
                f"returned scores of shape {scores.shape} for {piece.size} indices, "
                f"expected ({piece.size}, {backend.char_size})"
            )
        outputs.append(scores)
    h, c = backend.get_state()
    seconds = time.perf_counter() - start

    scores = np.concatenate(outputs).astype(np.float64)  # (n, K)
    return scores, np.asarray(h, np.float64), np.asarray(c, np.float64), seconds


def _compare(
    pattern: str,
    scores: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    ref_scores: np.ndarray,
    ref_h: np.ndarray,
    ref_c: np.ndarray,
    atol: float,
    rtol: float,
) -> PatternResult:
    """Scores (n, K) and final states (L, H) against the reference's, in float64."""
    diff = np.abs(scores - ref_scores)  # (n, K)
    # NaN compares false, so a NaN score counts as past tolerance.
    within = diff <= atol + rtol * np.abs(ref_scores)
    bad = ~within.all(axis=1)  # (n,)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(ref_scores))

    mismatch = np.argmax(scores, axis=1) != np.argmax(ref_scores, axis=1)  # (n,)
    if ref_h.shape != h.shape or ref_c.shape != c.shape:
        raise LstmkitError(
            f"returned a state of shapes {h.shape} and {c.shape}, expected "
            f"{ref_h.shape}"
        )
    h_diff, c_diff = np.abs(h - ref_h), np.abs(c - ref_c)
    state_ok = bool(
        np.all(h_diff <= atol + rtol * np.abs(ref_h))
        and np.all(c_diff <= atol + rtol * np.abs(ref_c))
    )
    return PatternResult(
        pattern=pattern,
        max_abs=_max(diff),
        max_rel=_max(rel),
        first_bad_step=int(np.argmax(bad)) if bad.any() else None,
        bad_steps=int(bad.sum()),
        argmax_mismatches=int(mismatch.sum()),
        first_argmax_mismatch=int(np.argmax(mismatch)) if mismatch.any() else None,
        h_max_abs=_max(h_diff),
        c_max_abs=_max(c_diff),
        state_ok=state_ok,
        seconds=0.0,
    )


def _max(values: np.ndarray) -> float:
    """The largest value, nan when any is nan (np.max propagates it)."""
    return float(np.max(values)) if values.size else 0.0


def _check_tolerance(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise OptionError(name, f"expected a finite number >= 0, got {value}")
    return value


def _backend_names(names: Sequence[str] | None) -> list[str]:
    registered = backends_mod.names()
    if names is None:
        return registered
    names = list(names)
    unknown = [n for n in names if n not in registered]
    if unknown:
        raise OptionError(
            "backends",
            f"no backend named {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(registered)}",
        )
    if len(set(names)) != len(names):
        raise OptionError("backends", f"a name is given twice in {', '.join(names)}")
    return names


def _extras(
    extra: Mapping[str, Backend] | Iterable[Backend] | None,
    weights: LSTMWeights,
    length: int,
) -> dict[str, Backend]:
    if extra is None:
        return {}
    items = (
        list(extra.items())
        if isinstance(extra, Mapping)
        else [(b.name, b) for b in extra]
    )
    out: dict[str, Backend] = {}
    for name, backend in items:
        if name in out or name in backends_mod.names():
            raise OptionError(
                "extra",
                f"the name {name!r} is taken (by another extra backend or the "
                "registry); give each a distinct name",
            )
        sizes = (backend.char_size, backend.hidden_size, backend.num_layers)
        expected = (weights.char_size, weights.hidden_size, weights.num_layers)
        if sizes != expected:
            raise OptionError(
                "extra",
                f"{name} has K, H, L = {sizes} but the model has {expected}; it was "
                "built from another model",
            )
        _step_multiple(name, backend, length, "extra")
        out[name] = backend
    return out


def _step_multiple(name: str, backend: Backend, length: int, option: str) -> int:
    """The backend's U, checked to fit a sequence of ``length`` indices."""
    U = getattr(backend, "step_multiple", 1)
    if isinstance(U, bool) or not isinstance(U, (int, np.integer)) or U < 1:
        raise OptionError(
            option, f"{name} has step_multiple {U!r}, expected a positive integer"
        )
    if U > length:
        raise OptionError(
            option,
            f"{name} takes calls of a multiple of {U} steps, but the sequence has "
            f"only {length} indices; verify on at least {U}",
        )
    return int(U)


def _check_state(
    state: tuple[np.ndarray, np.ndarray] | None, weights: LSTMWeights
) -> tuple[np.ndarray, np.ndarray] | None:
    if state is None:
        return None
    h, c = (np.asarray(a, dtype=np.float64) for a in state)
    shape = (weights.num_layers, weights.hidden_size)
    if h.shape != shape or c.shape != shape:
        raise OptionError(
            "initial_state",
            f"expected h and c of shape (L, H) = {shape}, got {h.shape} and {c.shape}",
        )
    if not (np.all(np.isfinite(h)) and np.all(np.isfinite(c))):
        raise OptionError("initial_state", "h and c must be finite")
    return h, c
