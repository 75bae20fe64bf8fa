"""The safetensors exporter, reading it back everywhere a .pth is read, and the
``safetensors`` backend."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from lstmkit import backends, cli, export_safetensors
from lstmkit.convert import convert_file, to_module
from lstmkit.errors import LstmkitError
from lstmkit.loading import ModelSpec, load_model_file
from lstmkit.models import CustomLSTM, TorchLSTM
from lstmkit.weights import random_weights

CHARSET = tuple("xyz\n ")


@pytest.fixture
def weights():
    return random_weights(5, 7, 2, seed=9)


def _header(path):
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + size])


def test_every_tensor_bit_for_bit_with_its_own_storage(weights, tmp_path):
    path = tmp_path / "m.safetensors"
    result = export_safetensors.export(weights, path, charset=CHARSET)
    assert result.path == path and "every name, dtype" in result.checks[0]

    stored = load_file(path)
    expected = weights.tensors()
    assert sorted(stored) == sorted(expected)
    for name, array in expected.items():
        assert stored[name].dtype == array.dtype == np.float32
        assert stored[name].tobytes() == np.ascontiguousarray(array).tobytes(), name

    header = _header(path)
    spans = sorted(
        tuple(entry["data_offsets"])
        for k, entry in header.items()
        if k != "__metadata__"
    )
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start  # no two tensors share bytes
    for name, entry in header.items():
        if name != "__metadata__":
            start, end = entry["data_offsets"]
            assert end - start == expected[name].nbytes


def test_metadata(weights, tmp_path):
    path = tmp_path / "m.safetensors"
    export_safetensors.export(
        weights, path, spec=ModelSpec("custom", 7, 2), charset=CHARSET
    )
    meta = _header(path)["__metadata__"]
    assert meta["format"] == "lstmkit" and meta["format_version"] == "1"
    assert meta["model_class"] == "CustomLSTM"
    assert json.loads(meta["model_args"]) == {
        "char_size": 5,
        "hidden_size": 7,
        "num_layers": 2,
    }
    assert meta["gate_order"] == "i,f,g,o"
    assert json.loads(meta["charset"]) == list(CHARSET)


def test_load_model_file_reads_it_back(weights, tmp_path):
    path = tmp_path / "m.safetensors"
    export_safetensors.export(
        weights, path, spec=ModelSpec("custom", 7, 2), charset=CHARSET
    )
    loaded = load_model_file(path)
    assert loaded.charset == CHARSET
    assert loaded.spec == ModelSpec("custom", 7, 2)
    for name, array in weights.tensors().items():
        np.testing.assert_array_equal(loaded.weights.tensors()[name], array)


@pytest.mark.parametrize("cls", [TorchLSTM, CustomLSTM])
def test_model_classes_load_it(weights, tmp_path, cls):
    path = tmp_path / "m.safetensors"
    export_safetensors.export(weights, path)
    model = cls(5, 7, 2)
    model.load_model(path)
    indices = torch.tensor([0, 3, 1, 4, 4, 2])
    with torch.no_grad():
        got = model(indices).numpy()
        expected = to_module(weights, "torch")(indices).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=1e-6)


def test_convert_accepts_safetensors(weights, tmp_path):
    path = tmp_path / "m_torch_7_2.safetensors"
    export_safetensors.export(weights, path)
    result = convert_file(path, "custom", tmp_path / "m_custom_7_2.pth")
    back = load_model_file(result.path).weights
    indices = np.arange(10) % 5
    np.testing.assert_allclose(
        backends.create("numpy64", back).run(indices),
        backends.create("numpy64", weights).run(indices),
        atol=1e-6,
    )


def test_unknown_format_version_is_refused(weights, tmp_path):
    path = tmp_path / "future.safetensors"
    info = export_safetensors.metadata(weights) | {"format_version": "2"}
    save_file(export_safetensors.tensors(weights), str(path), metadata=info)
    with pytest.raises(LstmkitError, match="format version '2' is not supported"):
        load_model_file(path)


@pytest.mark.parametrize(
    ("entry", "value", "message"),
    [
        ("gate_order", "i,o,f,c", "metadata 'gate_order' is 'i,o,f,c'"),
        ("gate_order", None, "metadata 'gate_order' is None"),
        (
            "model_args",
            '{"char_size": 5, "hidden_size": 64, "num_layers": 2}',
            r"'model_args' says \(K, H, L\) = \(5, 64, 2\) but its tensors hold "
            r"\(5, 7, 2\)",
        ),
        ("model_class", "GRU", "metadata 'model_class' is 'GRU'"),
    ],
)
def test_metadata_disagreeing_with_the_tensors_is_refused(
    weights, tmp_path, entry, value, message
):
    """Every entry lstmkit writes is read back and checked: an edited file is
    refused, never half-believed."""
    path = tmp_path / "edited.safetensors"
    info = export_safetensors.metadata(weights)
    if value is None:
        del info[entry]
    else:
        info[entry] = value
    save_file(export_safetensors.tensors(weights), str(path), metadata=info)
    with pytest.raises(LstmkitError, match=message):
        load_model_file(path)


def test_options_that_do_not_fit_the_tensors_are_refused(weights, tmp_path):
    path = tmp_path / "m.safetensors"
    export_safetensors.export(weights, path)
    with pytest.raises(LstmkitError, match=r"options say H=99, L=1 but it holds H=7"):
        load_model_file(path, spec=ModelSpec("custom", 99, 1))
    # options that fit name the class, as for a .pth
    assert load_model_file(path, spec=ModelSpec("custom", 7, 2)).spec.kind == "custom"


def test_nonfinite_weights_refused_and_nothing_written(weights, tmp_path):
    weights.decoder_bias[2] = np.inf
    path = tmp_path / "m.safetensors"
    with pytest.raises(LstmkitError, match="decoder.bias holds 1 NaN or infinite"):
        export_safetensors.export(weights, path)
    assert list(tmp_path.iterdir()) == []


def test_read_back_check_catches_a_changed_byte(weights, tmp_path):
    path = tmp_path / "m.safetensors"
    export_safetensors.export(weights, path)
    expected = export_safetensors.tensors(weights)
    expected["lstm.bias_hh_l1"][0] += 1e-7
    with pytest.raises(LstmkitError, match="lstm.bias_hh_l1 differs"):
        export_safetensors.compare_file(
            path, expected, export_safetensors.metadata(weights)
        )


def test_safetensors_backend_matches_the_reference(weights):
    indices = np.random.default_rng(1).integers(0, 5, 15)
    got = backends.create("safetensors", weights).run(indices)
    expected = backends.create("numpy64", weights).run(indices)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_cli_export_safetensors(tmp_path, capsys, monkeypatch):
    meta = tmp_path / "meta.txt"
    meta.write_text(repr({"charset": list(CHARSET)}))
    src = tmp_path / "tiny_custom_4.pth"
    CustomLSTM(5, 4).save_model(src)
    (tmp_path / "exports").mkdir()
    monkeypatch.chdir(tmp_path)

    argv = ["export", str(src), "--format", "safetensors", "--meta", str(meta)]
    assert cli.main(argv) == 0
    assert "wrote exports/tiny_custom_4.safetensors" in capsys.readouterr().out
    loaded = load_model_file(tmp_path / "exports" / "tiny_custom_4.safetensors")
    assert loaded.spec == ModelSpec("custom", 4, 1) and loaded.charset == CHARSET
    assert cli.main([*argv, "--unroll", "3", "--force"]) == 2
    assert "--unroll: only for --format onnx" in capsys.readouterr().err
