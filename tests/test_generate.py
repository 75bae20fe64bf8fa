"""Sampling and scoring on any backend, and the generate/score subcommands."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstmkit import backends, generate
from lstmkit.cli import main
from lstmkit.convert import to_module
from lstmkit.errors import LstmkitError
from lstmkit.metadata import Metadata
from lstmkit.weights import random_weights

META = Metadata(tuple("abcde\n"))


@pytest.fixture
def weights():
    return random_weights(len(META.charset), 6, 2, seed=11)


def test_fixed_seed_fixed_text_on_every_backend(weights):
    texts = set()
    for name in ("numpy", "numpy64", "torch", "custom"):
        backend = backends.create(name, weights)
        texts.add(generate.sample(backend.run, META, prime="ab", length=40, seed=5))
    assert len(texts) == 1
    (text,) = texts
    assert len(text) == 40 and set(text) <= set(META.charset)
    other = backends.create("numpy", weights)
    assert generate.sample(other.run, META, prime="ab", length=40, seed=6) != text


def test_low_temperature_picks_the_argmax(weights):
    backend = backends.create("numpy64", weights)
    text = generate.sample(backend.run, META, prime="a", length=5, temperature=1e-4)
    backend.reset_state()
    scores = backend.run(np.array([0]))[0]
    assert text[0] == META.charset[int(np.argmax(scores))]


def test_prime_outside_the_charset_is_named(weights):
    backend = backends.create("numpy", weights)
    with pytest.raises(LstmkitError, match="'z'"):
        generate.sample(backend.run, META, prime="az", length=3)
    with pytest.raises(LstmkitError, match="temperature"):
        generate.sample(backend.run, META, prime="a", temperature=0)


def test_score_matches_torch_cross_entropy(weights):
    indices = np.random.default_rng(0).integers(0, 6, 300)
    backend = backends.create("numpy64", weights)
    nats = generate.score_indices(backend.run, indices, chunk=64)

    model = to_module(weights, "torch")
    with torch.no_grad():
        scores = model(torch.from_numpy(indices[:-1]))
        expected = torch.nn.functional.cross_entropy(
            scores.double(), torch.from_numpy(indices[1:])
        ).item()
    assert nats == pytest.approx(expected, abs=1e-5)
    assert generate.nats_to_bits(nats) == pytest.approx(nats / math.log(2))


def test_generate_and_score_commands(tmp_path, weights, capsys):
    model_path = tmp_path / "m_torch_6_2.pth"
    to_module(weights, "torch").save_model(model_path)
    meta_path = tmp_path / "meta.txt"
    meta_path.write_text(repr(META.to_dict()))
    text_path = tmp_path / "t.txt"
    text_path.write_text("abcab\ncdeab" * 5)

    args = [
        "generate",
        str(model_path),
        "--meta",
        str(meta_path),
        "--prime",
        "ab",
        "--length",
        "20",
        "--seed",
        "1",
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main([*args, "--backend", "custom"]) == 0
    assert capsys.readouterr().out == first and first.startswith("ab")

    assert (
        main(
            [
                "score",
                str(model_path),
                "--meta",
                str(meta_path),
                "--text-file",
                str(text_path),
            ]
        )
        == 0
    )
    assert "nats/char" in capsys.readouterr().out

    assert main(["generate", str(model_path)]) == 2
    assert "pass --meta" in capsys.readouterr().err


def test_score_holdout_is_the_tail_training_kept_out(tmp_path, weights, capsys):
    model_path = tmp_path / "m_torch_6_2.pth"
    to_module(weights, "torch").save_model(model_path)
    meta_path = tmp_path / "meta.txt"
    meta = Metadata(META.charset, data_size=40)
    meta_path.write_text(repr(meta.to_dict()))
    text = "".join(np.random.default_rng(2).choice(list("abcde\n"), 60))
    (tmp_path / "all.txt").write_text(text)
    (tmp_path / "tail.txt").write_text(text[36:40])  # last tenth of the first 40

    base = ["score", str(model_path), "--meta", str(meta_path), "--text-file"]
    assert main([*base, str(tmp_path / "all.txt"), "--holdout", "0.1"]) == 0
    held = capsys.readouterr().out
    assert main([*base, str(tmp_path / "tail.txt")]) == 0
    direct = capsys.readouterr().out
    assert "3 predictions" in held
    assert held.split(":")[1] == direct.split(":")[1]
    assert main([*base, str(tmp_path / "all.txt"), "--holdout", "1.5"]) == 2
