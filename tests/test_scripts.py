"""scripts/ort_generate.py and scripts/ort_score.py, run where torch and lstmkit
cannot be imported."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from lstmkit import backends, export_onnx, generate
from lstmkit.metadata import Metadata
from lstmkit.weights import random_weights

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
CHARSET = tuple("abcd \n")

# Blocks torch and lstmkit, then runs the script as ``python script ARGS`` would.
RUNNER = (
    "import runpy, sys; "
    "sys.modules['torch'] = None; sys.modules['lstmkit'] = None; "
    "script = sys.argv[1]; sys.argv = sys.argv[1:]; "
    "runpy.run_path(script, run_name='__main__')"
)


def run_script(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(SCRIPTS / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def weights():
    return random_weights(len(CHARSET), 5, 2, seed=21)


@pytest.fixture(scope="module")
def model_path(weights, tmp_path_factory):
    path = tmp_path_factory.mktemp("ort") / "m.onnx"
    export_onnx.export(weights, path, charset=CHARSET)
    return path


def test_torch_is_really_blocked():
    result = subprocess.run(
        [sys.executable, "-c", RUNNER.split("script =")[0] + "import torch"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr


def test_generate_matches_lstmkit_sampling(weights, model_path):
    result = run_script(
        "ort_generate.py", model_path, "--prime", "ab", "--length", 40, "--seed", 3
    )
    assert result.returncode == 0, result.stderr
    backend = backends.create("onnx", weights)
    expected = generate.sample(
        backend.run, Metadata(CHARSET), prime="ab", length=40, seed=3
    )
    assert result.stdout == "ab" + expected + "\n"

    again = run_script(
        "ort_generate.py", model_path, "--prime", "ab", "--length", 40, "--seed", 4
    )
    assert again.returncode == 0 and again.stdout != result.stdout


def test_score_matches_the_float64_reference(weights, model_path, tmp_path):
    text = "abcd abcd\nadd a bad cab\n" * 6
    text_path = tmp_path / "t.txt"
    text_path.write_text(text)
    result = run_script("ort_score.py", model_path, text_path, "--chunk", 7)
    assert result.returncode == 0, result.stderr

    indices = np.array([CHARSET.index(ch) for ch in text])
    reference = backends.create("numpy64", weights)
    nats = generate.score_indices(reference.run, indices)
    words = result.stdout.split()
    assert words[0] == str(len(text))
    assert float(words[2]) == pytest.approx(nats, abs=1e-5)
    assert float(words[4]) == pytest.approx(nats / math.log(2), abs=1e-5)


def test_prime_outside_the_charset_is_one_line(model_path):
    result = run_script("ort_generate.py", model_path, "--prime", "aZ")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ort_generate.py: error: --prime: 1 character(s) not in the model's "
        "charset: 'Z'; remove them or use a model trained on them"
    ]


def test_models_without_lstmkits_metadata_or_interface(weights, tmp_path):
    bare = tmp_path / "bare.onnx"
    export_onnx.export(weights, bare)  # no charset known
    result = run_script("ort_generate.py", bare)
    assert result.returncode == 2 and "carries no charset" in result.stderr

    model = onnx.load(bare)
    del model.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(model, foreign)
    result = run_script("ort_generate.py", foreign)
    assert result.returncode == 2
    assert "has no lstmkit metadata property 'format'" in result.stderr
    assert "None" not in result.stderr

    unrolled = tmp_path / "u.onnx"
    export_onnx.export(weights, unrolled, charset=CHARSET, unroll=3)
    result = run_script("ort_score.py", unrolled, unrolled)
    assert result.returncode == 2 and "without --unroll" in result.stderr

    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    result = run_script("ort_score.py", junk, junk)
    assert result.returncode == 2
    assert "not a model onnxruntime can load" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_folder_or_a_foreign_format_says_so(weights, tmp_path):
    result = run_script("ort_generate.py", tmp_path)
    assert result.returncode == 2
    assert f"{tmp_path}: is a folder" in result.stderr
    assert "no such file" not in result.stderr

    model = export_onnx.build(weights, charset=CHARSET)
    onnx.helper.set_model_props(model, {"format": "other", "charset": '["a"]'})
    other = tmp_path / "other.onnx"
    onnx.save(model, other)
    result = run_script("ort_generate.py", other)
    assert result.returncode == 2
    assert "property 'format' is 'other', not 'lstmkit'" in result.stderr
    assert "lstmkit export" in result.stderr


def test_bad_charset_metadata_says_how_to_fix(weights, tmp_path):
    model = export_onnx.build(weights, charset=CHARSET)
    props = {p.key: p.value for p in model.metadata_props}
    onnx.helper.set_model_props(model, props | {"charset": '["ab", "c"]'})
    path = tmp_path / "bad_charset.onnx"
    onnx.save(model, path)
    result = run_script("ort_score.py", path, path)
    assert result.returncode == 2
    assert "not a JSON list of one-character strings" in result.stderr
    assert "lstmkit export --meta META" in result.stderr
