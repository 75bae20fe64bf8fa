"""benchmarks/fuzz_loaders.py, bounded: 200 mutated files through every loader, and
the harness's own check that a stray exception, a hang and a crash are reported."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz_loaders  # noqa: E402


def test_the_harness_reports_exceptions_hangs_and_crashes():
    outcomes = fuzz_loaders.selftest(timeout=2.0)
    for name, (want, phrase) in fuzz_loaders.SELFTEST_EXPECTED.items():
        outcome, detail = outcomes[name]
        assert outcome == want and phrase in detail, (name, outcome, detail)


@pytest.fixture(scope="module")
def seeds():
    return fuzz_loaders.make_seeds()


def test_mutations_change_every_seed(seeds):
    rng = random.Random(0)
    for seed in seeds:
        changed = sum(fuzz_loaders.mutate(seed, rng)[0] != seed.data for _ in range(20))
        assert changed >= 18, seed.name  # a mutation may, rarely, undo itself


@pytest.fixture(scope="module")
def summary(seeds):
    return fuzz_loaders.fuzz(200, seed=0, timeout=60.0, seeds=seeds)


def test_200_mutated_files_load_or_are_refused_with_lstmkits_error(summary):
    assert summary.findings == [], fuzz_loaders.format_summary(summary)
    assert sum(summary.inputs.values()) == 200
    assert set(summary.inputs) == set(fuzz_loaders.LOADERS)


def test_the_mutations_reach_both_outcomes(summary):
    # Some mutated files still load (flips inside tensor data) and most are refused:
    # a fuzzer whose inputs all failed at the first check would test little.
    for kind in fuzz_loaders.LOADERS:
        counts = {
            outcome: sum(
                n
                for (k, _, o), n in summary.outcomes.items()
                if (k, o) == (kind, outcome)
            )
            for outcome in ("loaded", "refused")
        }
        assert counts["loaded"] > 0 and counts["refused"] > 0, (kind, counts)
