"""benchmarks/train_bench.py and lstmkit.bench_train: the structure of a tiny run."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from lstmkit import bench_bound, bench_train
from lstmkit.bench_train import BenchConfig, Setting
from lstmkit.errors import LstmkitError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_bench.py"
TEXT = "the quick brown fox jumps over the lazy dog.\n" * 40
TINY = (Setting("one stream", 1, 20, 0.01), Setting("four streams", 4, 10, 0.02))


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_run_trains_each_setting_and_scores_the_same_slice(text, tmp_path):
    config = BenchConfig(
        data_set=str(text),
        model_args=(8, 1),
        seconds=0.5,
        eval_chars=100,
        settings=TINY,
    )
    result = bench_train.run(config)

    assert [r["setting"]["name"] for r in result["runs"]] == [
        "one stream",
        "four streams",
    ]
    train_chars = result["config"]["train_characters"]
    assert train_chars == len(TEXT) - int(len(TEXT) * 0.1)
    for entry in result["runs"]:
        assert entry["characters"] == sum(
            e["characters"] for e in entry["epoch_reports"]
        )
        assert 0 < entry["seconds_steps"] <= entry["seconds_wall"]
        assert entry["seconds_cpu"] > 0
        assert entry["epochs"] == pytest.approx(entry["characters"] / train_chars)
        assert entry["held_out_loss"] < result["initial_loss"]  # it trained
    assert result["runs"][0]["vs_first_steps"] == 1.0
    assert all(r["check_loss"] is None for r in result["runs"])  # 180 < 2 * 100 + 1
    assert [t["met"] for t in result["targets"]] == [
        result["runs"][1]["vs_first_steps"] >= bench_train.SPEED_TARGET,
        result["runs"][1]["held_out_loss"] <= result["runs"][0]["held_out_loss"],
    ]

    bound = result["bound"]
    assert bound["chars_per_second"] == pytest.approx(
        bound["matmul_flops_per_second"] / bound["training_flops_per_char"]
    )
    assert bound["training_flops_per_char"] == bench_bound.training_flops(
        result["config"]["char_size"], 8, 1
    )

    md, data = bench_train.save(result, tmp_path / "out", "tiny")
    assert json.loads(data.read_text())["runs"][1]["setting"]["batch_size"] == 4
    page = md.read_text()
    assert "| one stream | 1 | 20 |" in page and "| four streams | 4 | 10 |" in page
    assert "## What the machine allows" in page
    assert f"{bound['chars_per_second']:,.0f} characters per second" in page


def test_training_flops_counts_each_product_three_times():
    # K=5, H=3, L=2, written out matrix by matrix (multiply-adds, forward):
    # layer 0: W_hh (12 x 3); layer 1: W_ih (12 x 3) and W_hh (12 x 3); decoder 5 x 3.
    # Layer 0's W_ih meets a one-hot input: a lookup, no arithmetic.
    forward = 12 * 3 + (12 * 3 + 12 * 3) + 5 * 3
    assert bench_bound.training_flops(5, 3, 2) == 2 * 3 * forward == 738
    assert bench_bound.training_flops(63, 256, 1) == 6 * (1024 * 256 + 63 * 256)


def test_matmul_rate_takes_the_fastest_library_and_size():
    rate = bench_bound.matmul_rate(1, sizes=(32, 64))
    assert set(rate["rates"]) == {"numpy 32", "torch 32", "numpy 64", "torch 64"}
    assert rate["flops_per_second"] == max(rate["rates"].values()) > 0
    assert rate["rates"][rate["by"]] == rate["flops_per_second"]


def test_held_out_tail_too_short_is_named(text):
    config = BenchConfig(data_set=str(text), model_args=(8, 1), eval_chars=10_000)
    with pytest.raises(LstmkitError, match="--eval-chars"):
        bench_train.run(config)


def test_script_writes_its_files(text, tmp_path, capsys):
    # The script's own settings (batch 1 and 32) on the tiny text and model.
    main = runpy.run_path(str(SCRIPT))["main"]
    args = ["--text", str(text), "--model-args", "8,1", "--seconds", "0.2"]
    args += ["--eval-chars", "50", "--out", str(tmp_path), "--stem", "smoke"]
    assert main(args) == 0
    assert f"wrote {tmp_path / 'smoke.json'}" in capsys.readouterr().out
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert len(result["runs"]) == 2
    # 180 held-out characters hold two slices of 50 predictions: both are scored,
    # and the second gets a target line of its own
    assert all(0 < r["check_loss"] < result["initial_loss"] + 1 for r in result["runs"])
    second = result["targets"][2]
    assert "second slice" in second["target"]
    assert second["met"] == (
        result["runs"][1]["check_loss"] <= result["runs"][0]["check_loss"]
    )

    assert main([*args[:-4], "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err


def test_script_runs_the_settings_given(text, tmp_path, capsys):
    main = runpy.run_path(str(SCRIPT))["main"]
    args = ["--text", str(text), "--model-args", "8,1", "--seconds", "0.2"]
    args += ["--eval-chars", "50", "--out", str(tmp_path), "--stem", "trial"]
    assert main([*args, "--setting", "2,10,0.01"]) == 0
    runs = json.loads((tmp_path / "trial.json").read_text())["runs"]
    assert [r["setting"] for r in runs] == [
        {
            "name": "B=2 chunk=10 lr=0.01",
            "batch_size": 2,
            "train_seq_size": 10,
            "learning_rate": 0.01,
        }
    ]
    capsys.readouterr()
    for bad in ("2,10", "0,10,0.01", "2,10,-1", "2,10,nan", "2,10,inf"):
        assert main([*args, "--setting", bad]) == 2
        assert "--setting:" in capsys.readouterr().err
