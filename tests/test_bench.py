"""lstmkit.bench: the --quick run's structure and differences, the timing protocol, the
checks on settings. No assertion on speed: speeds are the benchmark's output."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from lstmkit import backends, bench
from lstmkit.bench_timing import (
    EAGER,
    LIMITS,
    MIN_FRACTION,
    Workload,
    max_abs_diff,
    measure,
    time_runners,
)
from lstmkit.cli import main
from lstmkit.commands.bench import parse_configs, parse_counts
from lstmkit.errors import LstmkitError
from lstmkit.weights import random_weights

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 8
CONFIGS = "5x1,4x2"
WORKLOADS = ("score", "generate", "batch")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One --quick run through the CLI (one subprocess): its JSON, page and stdout."""
    folder = tmp_path_factory.mktemp("bench")
    text = folder / "input.txt"
    text.write_text(TEXT, encoding="utf-8")
    out = folder / "results"
    argv = ["bench", "--quick", "--configs", CONFIGS, "--threads", "1", "--repeat", "1"]
    argv += ["--text", str(text), "--out", str(out), "--quiet"]
    code = main(argv)
    return code, out


def test_cli_writes_the_page_and_the_json(quick):
    code, out = quick
    assert code == 0
    result = json.loads((out / "quick.json").read_text(encoding="utf-8"))
    page = (out / "quick.md").read_text(encoding="utf-8")
    assert result["format"] == bench.FORMAT
    assert result["settings"]["quick"] is True
    assert result["settings"]["char_size"] == len(set(TEXT))
    assert result["machine"]["nproc"] >= 1
    assert result["versions"]["numpy"] == np.__version__
    assert page == bench.to_markdown(result)
    for title in ("## score", "## generate", "## batched score", "Against the"):
        assert title in page
    assert not (out / "latest.md").exists()  # a quick run never replaces the real one


def test_every_backend_model_and_workload_has_a_row(quick):
    _, out = quick
    result = json.loads((out / "quick.json").read_text(encoding="utf-8"))
    timed, skipped = bench.backend_names(None)
    assert set(timed) | set(skipped) == set(backends.names())
    assert backends.REFERENCE in timed
    assert set(result["skipped"]) == set(skipped)

    rows = result["results"]
    keys = {(r["hidden_size"], r["num_layers"], r["workload"]) for r in rows}
    expected = {(H, L, w) for H, L in parse_configs(CONFIGS) for w in WORKLOADS}
    assert keys == expected and len(rows) == len(expected)
    page = (out / "quick.md").read_text(encoding="utf-8")
    for name in [*timed, EAGER, "limit"]:
        assert f"| {name} |" in page


def test_figures_are_consistent_and_differences_small(quick):
    _, out = quick
    result = json.loads((out / "quick.json").read_text(encoding="utf-8"))
    for row in result["results"]:
        assert row["threads"] == row["torch_threads"] == 1
        limit, eager = row["limit"], row["eager"]
        assert 0 < row["reference_max_abs"] < math.inf
        fastest = max(limit[lib]["chars_per_second"] for lib in LIMITS)
        assert limit["chars_per_second"] == fastest
        assert limit[limit["by"]]["chars_per_second"] == fastest
        # the eager nn.LSTM got the same weights: it agrees with numpy64 too
        assert eager["max_abs_diff"] < 1e-5
        for name, figure in row["backends"].items():
            if row["workload"] == "batch" and not _supports_batch(name):
                assert figure == {"note": "no batch"}
                continue
            cps = figure["chars_per_second"]
            assert math.isfinite(cps) and cps > 0
            assert figure["vs_eager"] == pytest.approx(cps / eager["chars_per_second"])
            assert figure["vs_limit"] == pytest.approx(cps / fastest)
            floor = math.ceil(row["steps"] / MIN_FRACTION)
            assert floor <= figure["timed_steps"] <= row["steps"]
            assert len(figure["seconds"]) == result["settings"]["repeat"]
            assert math.isfinite(figure["max_abs_diff"])
            if name == backends.REFERENCE:
                assert figure["max_abs_diff"] == 0.0
            else:
                assert figure["max_abs_diff"] < 1e-5, (name, row["workload"])
            assert figure["diff_steps"] >= 1


def _supports_batch(name: str) -> bool:
    import importlib

    module, cls = backends.REGISTRY[name]
    return getattr(importlib.import_module(module), cls).supports_batch


@pytest.mark.parametrize("workload", ["score", "generate", "batch"])
def test_a_wrong_backend_shows_in_the_difference(workload):
    weights = random_weights(4, 5, 2, seed=1, scale=0.5)
    wrong = random_weights(4, 5, 2, seed=2, scale=0.5)
    models = {
        "numpy64": backends.create("numpy64", weights),
        "numpy": backends.create("numpy", weights),
        "torch": backends.create("torch", wrong),
    }
    streams = 3 if workload == "batch" else 1
    indices = np.random.default_rng(0).integers(0, 4, (6, streams))
    indices = indices if workload == "batch" else indices[:, 0]
    row = measure(
        models, weights, Workload(workload, 6, streams), indices, 1, repeat=1, budget=1
    )
    assert row["backends"]["numpy"]["max_abs_diff"] < 1e-5
    assert row["backends"]["torch"]["max_abs_diff"] > 1e-2
    assert row["eager"]["max_abs_diff"] < 1e-5


def test_a_slow_runner_is_cut_to_the_budget():
    def sleeper(n):
        return lambda: time.sleep(0.02 * n)  # at least 20 ms a step

    timings = time_runners(
        {"slow": sleeper}, Workload("score", 40), repeat=1, budget=0.2
    )
    slow = timings["slow"]
    assert 1 <= slow["steps"] <= 10  # 0.2 s fits 10 steps at most
    assert slow["chars_per_second"] == pytest.approx(slow["steps"] / slow["seconds"][0])


def test_max_abs_diff_compares_the_steps_both_ran():
    reference = np.zeros((5, 2))
    output = np.array([[0.0, 0.5], [0.0, -0.25], [0.0, 0.0]], dtype=np.float32)
    assert max_abs_diff(output, reference) == (0.5, 3)


def test_bad_settings_are_refused_with_a_reason(tmp_path):
    with pytest.raises(LstmkitError, match="HxL"):
        parse_configs("128")
    with pytest.raises(LstmkitError, match="--threads"):
        parse_counts("1,two", "--threads")
    with pytest.raises(LstmkitError, match="--threads"):
        bench.Settings(threads=[0]).validate()
    with pytest.raises(LstmkitError, match="H and L must be positive"):
        bench.Settings(configs=[(0, 1)]).validate()
    with pytest.raises(LstmkitError, match="--budget"):
        bench.Settings(budget=0).validate()
    with pytest.raises(LstmkitError, match="choose from"):
        bench.backend_names(["numpy", "nope"])
    with pytest.raises(LstmkitError, match="no such file"):
        bench.run(bench.quick_settings(text=str(tmp_path / "missing.txt")))
    assert main(["bench", "--quick", "--configs", "12"]) == 2


def test_the_reference_always_runs_first():
    assert bench.backend_names(["torch", "numpy"])[0] == ["numpy64", "torch", "numpy"]


def test_workloads_option_picks_workloads_and_refuses_unknown_names():
    only = bench.Settings(only=["generate", "score"]).validate()
    assert [w.name for w in only.workloads()] == ["score", "generate"]
    assert [w.name for w in bench.Settings().workloads()] == list(WORKLOADS)
    for bad in (["generat"], []):
        with pytest.raises(LstmkitError, match="--workloads"):
            bench.Settings(only=bad).validate()
    assert main(["bench", "--quick", "--workloads", "scores"]) == 2


def test_readme_quotes_the_latest_benchmark(tmp_path, capsys):
    """The README's benchmark tables are benchmarks/results/latest.md's, unchanged:
    rerunning the benchmark without benchmarks/quote_readme.py fails here."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "quote_readme.py"
    quote_readme = runpy.run_path(str(script))["main"]
    assert quote_readme(["--check"]) == 0
    # the check can fail: one figure changed in a copy of the README is caught
    readme = (script.parents[1] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| 128x1"))
    copy = tmp_path / "README.md"
    copy.write_text(readme.replace(row, row.replace("|", "| 1", 3)), encoding="utf-8")
    assert quote_readme(["--check", "--readme", str(copy)]) == 1
    assert "does not quote" in capsys.readouterr().err
