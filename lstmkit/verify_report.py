"""What :func:`lstmkit.verify.verify` reports: per backend and call pattern, the
differences from the reference, as dataclasses that render to JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

PATTERN_LABELS = {"one_call": "one call", "chunks": "chunks", "per_char": "per char"}


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
        call_lengths: the length of each ``run`` call, in order; they add up to the
            steps run and compared (fewer than N for a backend with a step multiple).
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
    call_lengths: list[int] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """How many steps ran and were compared."""
        return sum(self.call_lengths)

    def calls(self) -> list[tuple[int, int]]:
        """The call lengths as (count, length) runs, e.g. [(3, 6), (1, 5)]."""
        runs: list[tuple[int, int]] = []
        for n in self.call_lengths:
            if runs and runs[-1][1] == n:
                runs[-1] = (runs[-1][0] + 1, n)
            else:
                runs.append((1, n))
        return runs

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
            "steps": self.steps,
            "calls": [{"count": k, "length": n} for k, n in self.calls()],
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
        step_multiple: U, the backend's calls take a multiple of U indices (1: any).
    """

    name: str
    built_from: str
    patterns: dict[str, PatternResult] = field(default_factory=dict)
    error: str | None = None
    is_reference: bool = False
    step_multiple: int = 1

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
            "step_multiple": self.step_multiple,
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


def _nan_first(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None
