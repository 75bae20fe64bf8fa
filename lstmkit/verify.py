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
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lstmkit import backends as backends_mod
from lstmkit.backends import REFERENCE, Backend
from lstmkit.errors import LstmkitError
from lstmkit.weights import LSTMWeights, check_indices

logger = logging.getLogger(__name__)

PATTERNS = ("one_call", "chunks", "per_char")
PATTERN_LABELS = {"one_call": "one call", "chunks": "chunks", "per_char": "per char"}
DEFAULT_CHUNKS = 4
DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-5


@dataclass
class PatternResult:
    """One backend in one call pattern, compared with the reference's one call.

    Attributes:
        pattern: ``"one_call"``, ``"chunks"`` or ``"per_char"``.
        max_abs: the largest ``|x - ref|`` over all (N, K) scores.
        max_rel: the largest ``|x - ref| / |ref|`` over the scores (inf where ref is 0
            and x is not; 0 where both are).
        first_bad_step: the first step (0-based index into the sequence) holding a
            score past tolerance, or None.
        bad_steps: how many steps hold a score past tolerance.
        argmax_mismatches: steps whose arg-max character differs from the reference's.
        first_argmax_mismatch: the first such step, or None.
        h_max_abs: the largest difference of the final h, (L, H).
        c_max_abs: the largest difference of the final c, (L, H).
        state_ok: whether the final h and c are within tolerance.
        seconds: wall time of the runs (state setting included).
    """

    pattern: str
    max_abs: float
    max_rel: float
    first_bad_step: int | None
    bad_steps: int
    argmax_mismatches: int
    first_argmax_mismatch: int | None
    h_max_abs: float
    c_max_abs: float
    state_ok: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return self.first_bad_step is None and self.state_ok

    @property
    def argmax_agrees(self) -> bool:
        return self.argmax_mismatches == 0

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "max_abs": _json_float(self.max_abs),
            "max_rel": _json_float(self.max_rel),
            "first_bad_step": self.first_bad_step,
            "bad_steps": self.bad_steps,
            "argmax_agrees": self.argmax_agrees,
            "argmax_mismatches": self.argmax_mismatches,
            "first_argmax_mismatch": self.first_argmax_mismatch,
            "h_max_abs": _json_float(self.h_max_abs),
            "c_max_abs": _json_float(self.c_max_abs),
            "state_ok": self.state_ok,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class BackendReport:
    """One backend's results in every call pattern.

    Attributes:
        name: the backend's name in the report.
        built_from: what the backend was built from (``Backend.built_from``).
        patterns: pattern name to result; empty when the backend failed to build.
        error: why the backend could not be built or run, or None.
        is_reference: whether this is the reference backend itself.
    """

    name: str
    built_from: str
    patterns: dict[str, PatternResult] = field(default_factory=dict)
    error: str | None = None
    is_reference: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and all(p.ok for p in self.patterns.values())

    @property
    def max_abs(self) -> float:
        """The largest score difference over every pattern (nan when it never ran)."""
        if not self.patterns:
            return math.nan
        return max((p.max_abs for p in self.patterns.values()), key=_nan_first)

    def failures(self) -> list[str]:
        """One line per failed pattern, naming the backend and the first bad step."""
        if self.error is not None:
            return [f"{self.name}: {self.error}"]
        lines = []
        for p in self.patterns.values():
            label = PATTERN_LABELS[p.pattern]
            if p.first_bad_step is not None:
                lines.append(
                    f"{self.name} ({label}): scores past tolerance from step "
                    f"{p.first_bad_step} ({p.bad_steps} step(s) in all, max abs diff "
                    f"{p.max_abs:.3g})"
                )
            if not p.state_ok:
                lines.append(
                    f"{self.name} ({label}): final state past tolerance (h max abs "
                    f"diff {p.h_max_abs:.3g}, c {p.c_max_abs:.3g})"
                )
        return lines

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "built_from": self.built_from,
            "is_reference": self.is_reference,
            "error": self.error,
            "max_abs": _json_float(self.max_abs),
            "patterns": {name: p.to_dict() for name, p in self.patterns.items()},
        }


@dataclass
class VerifyReport:
    """Everything :func:`verify` measured.

    Attributes:
        reference: the reference backend's name (``numpy64``).
        model: the weights' one-line description.
        length: N, the number of indices run.
        chunk_sizes: the chunk lengths of the ``chunks`` pattern, in order.
        atol: absolute tolerance.
        rtol: relative tolerance.
        initial_state: whether a nonzero initial state was set before every pattern.
        backends: name to report, the reference first.
    """

    reference: str
    model: str
    length: int
    chunk_sizes: list[int]
    atol: float
    rtol: float
    initial_state: bool
    backends: dict[str, BackendReport]

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.backends.values())

    def failures(self) -> list[str]:
        """One line per failure, naming the backend, the pattern and the first bad
        step."""
        return [line for b in self.backends.values() for line in b.failures()]

    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite numbers become None)."""
        return {
            "ok": self.ok,
            "reference": self.reference,
            "model": self.model,
            "length": self.length,
            "chunk_sizes": list(self.chunk_sizes),
            "tolerance": {
                "atol": self.atol,
                "rtol": self.rtol,
                "rule": "|x - ref| <= atol + rtol * |ref|",
            },
            "initial_state": self.initial_state,
            "failures": self.failures(),
            "backends": {name: b.to_dict() for name, b in self.backends.items()},
        }


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
            ``backend.name``). Each must have the weights' K, H and L.
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
        LstmkitError: bad weights, indices, options or backend names.
    """
    weights.validate(finite=True)
    indices = check_indices(indices, weights.char_size)
    if indices.size == 0:
        raise LstmkitError("indices: the sequence is empty; give at least one index")
    atol, rtol = _check_tolerance("atol", atol), _check_tolerance("rtol", rtol)
    sizes = chunk_sizes(chunks, indices.size)
    names = _backend_names(backends)
    extras = _extras(extra, weights)
    state = _check_state(initial_state, weights)

    # The reference: numpy64's one call from the initial state.
    reference = backends_mod.create(REFERENCE, weights)
    ref_scores, ref_h, ref_c, _ = _run_pattern(
        reference, "one_call", indices, sizes, state
    )
    logger.debug("reference %s: %s", REFERENCE, reference.built_from)

    def compare(pattern: str, backend: Backend) -> PatternResult:
        scores, h, c, seconds = _run_pattern(backend, pattern, indices, sizes, state)
        result = _compare(pattern, scores, h, c, ref_scores, ref_h, ref_c, atol, rtol)
        result.seconds = seconds
        return result

    reports: dict[str, BackendReport] = {
        REFERENCE: BackendReport(REFERENCE, reference.built_from, is_reference=True)
    }
    for pattern in PATTERNS[1:]:  # its one call is the yardstick itself
        reports[REFERENCE].patterns[pattern] = compare(pattern, reference)

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
            for pattern in PATTERNS:
                report.patterns[pattern] = compare(pattern, backend)
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
        LstmkitError: a count outside ``[1, length]``, or lengths that are not positive
            or do not add up to ``length``.
    """
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        count = int(chunks)
        if not 1 <= count <= length:
            raise LstmkitError(
                f"chunks: expected a count from 1 to the sequence length {length}, "
                f"got {count}"
            )
        base, longer = divmod(length, count)
        return [base + 1] * longer + [base] * (count - longer)
    sizes = [int(n) for n in chunks]
    if not sizes or any(n < 1 for n in sizes) or sum(sizes) != length:
        raise LstmkitError(
            f"chunks: lengths {sizes} must be positive and add up to the sequence "
            f"length {length}"
        )
    return sizes


def _run_pattern(
    backend: Backend,
    pattern: str,
    indices: np.ndarray,
    sizes: list[int],
    state: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Runs ``backend`` from ``state`` in one pattern: (N, K) float64 scores, the final
    h and c (L, H) and the seconds taken."""
    if pattern == "one_call":
        pieces = [indices]
    elif pattern == "chunks":
        pieces = np.split(indices, np.cumsum(sizes)[:-1])  # len(sizes) x (n,)
    else:
        pieces = [indices[t : t + 1] for t in range(indices.size)]  # N x (1,)

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

    scores = np.concatenate(outputs).astype(np.float64)  # (N, K)
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
    """Scores (N, K) and final states (L, H) against the reference's, in float64."""
    diff = np.abs(scores - ref_scores)  # (N, K)
    # NaN compares false, so a NaN score counts as past tolerance.
    within = diff <= atol + rtol * np.abs(ref_scores)
    bad = ~within.all(axis=1)  # (N,)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(ref_scores))

    mismatch = np.argmax(scores, axis=1) != np.argmax(ref_scores, axis=1)  # (N,)
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


def _nan_first(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _check_tolerance(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise LstmkitError(f"{name}: expected a finite number >= 0, got {value}")
    return value


def _backend_names(names: Sequence[str] | None) -> list[str]:
    registered = backends_mod.names()
    if names is None:
        return registered
    names = list(names)
    unknown = [n for n in names if n not in registered]
    if unknown:
        raise LstmkitError(
            f"backends: no backend named {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(registered)}"
        )
    if len(set(names)) != len(names):
        raise LstmkitError(f"backends: a name is given twice in {', '.join(names)}")
    return names


def _extras(
    extra: Mapping[str, Backend] | Iterable[Backend] | None, weights: LSTMWeights
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
            raise LstmkitError(
                f"extra backends: the name {name!r} is taken (by another extra backend "
                "or the registry); give each a distinct name"
            )
        sizes = (backend.char_size, backend.hidden_size, backend.num_layers)
        expected = (weights.char_size, weights.hidden_size, weights.num_layers)
        if sizes != expected:
            raise LstmkitError(
                f"extra backend {name!r}: has K, H, L = {sizes} but the model has "
                f"{expected}; it was built from another model"
            )
        out[name] = backend
    return out


def _check_state(
    state: tuple[np.ndarray, np.ndarray] | None, weights: LSTMWeights
) -> tuple[np.ndarray, np.ndarray] | None:
    if state is None:
        return None
    h, c = (np.asarray(a, dtype=np.float64) for a in state)
    shape = (weights.num_layers, weights.hidden_size)
    if h.shape != shape or c.shape != shape:
        raise LstmkitError(
            f"initial_state: expected h and c of shape (L, H) = {shape}, got {h.shape} "
            f"and {c.shape}"
        )
    if not (np.all(np.isfinite(h)) and np.all(np.isfinite(c))):
        raise LstmkitError("initial_state: h and c must be finite")
    return h, c
