"""The ONNX exporter, the onnx backends and ``lstmkit export --format onnx``."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from lstmkit import backends, cli, export_onnx, export_safetensors, onnx_file
from lstmkit.backends.onnx_backend import OnnxFileBackend
from lstmkit.convert import to_module
from lstmkit.errors import LstmkitError
from lstmkit.loading import ModelSpec
from lstmkit.models import TorchLSTM
from lstmkit.weights import random_weights

CHARSET = tuple("abcde")


@pytest.fixture
def weights():
    """Case 01's model: K=5, H=3, L=1, every gate distinct, both bias halves set."""
    return random_weights(5, 3, 1, seed=1)


def _ort(model, indices, h0=None, c0=None):
    L, H = _state_shape(model)
    zeros = np.zeros((L, 1, H), dtype=np.float32)
    feeds = {
        "indices": np.asarray(indices, dtype=np.int64),
        "h0": zeros if h0 is None else h0,
        "c0": zeros if c0 is None else c0,
    }
    return onnx_file.session(model).run(None, feeds)


def _state_shape(model):
    h0 = next(v for v in model.graph.input if v.name == "h0")
    L, _, H = (d.dim_value for d in h0.type.tensor_type.shape.dim)
    return L, H


def _torch_scores(weights, indices):
    with torch.no_grad():
        return to_module(weights, "torch")(torch.tensor(indices)).numpy()


def _initializer(model, name):
    return next(
        numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name
    )


def _replace_initializer(model, name, value):
    for k, tensor in enumerate(model.graph.initializer):
        if tensor.name == name:
            model.graph.initializer[k].CopyFrom(numpy_helper.from_array(value, name))
            return
    raise KeyError(name)


def test_gates_are_restacked_i_o_f_c(weights):
    model = export_onnx.build(weights)
    H = 3
    layer = weights.layers[0]

    def torch_block(array, gate):  # PyTorch stacks i, f, g, o
        return array[{"i": 0, "f": 1, "g": 2, "o": 3}[gate] * H :][:H]

    W, R, B = (_initializer(model, f"{n}_l0")[0] for n in "WRB")
    for onnx_block, gate in enumerate("iofg"):  # ONNX: i, o, f, c (c is g)
        rows = slice(onnx_block * H, (onnx_block + 1) * H)
        np.testing.assert_array_equal(W[rows], torch_block(layer.weight_ih, gate))
        np.testing.assert_array_equal(R[rows], torch_block(layer.weight_hh, gate))
        np.testing.assert_array_equal(B[rows], torch_block(layer.bias_ih, gate))
        np.testing.assert_array_equal(
            B[4 * H :][rows], torch_block(layer.bias_hh, gate)
        )
    assert W.shape == (12, 5) and R.shape == (12, 3) and B.shape == (24,)


def test_case01_torch_gate_order_runs_silently_but_differs(weights, tmp_path):
    indices = np.random.default_rng(0).integers(0, 5, 50)
    expected = _torch_scores(weights, indices)
    good = export_onnx.build(weights, charset=CHARSET)

    bad = export_onnx.build(weights, charset=CHARSET)
    layer = weights.layers[0]  # the weights left in PyTorch's order i, f, g, o
    _replace_initializer(bad, "W_l0", layer.weight_ih[None])
    _replace_initializer(bad, "R_l0", layer.weight_hh[None])
    _replace_initializer(
        bad, "B_l0", np.concatenate([layer.bias_ih, layer.bias_hh])[None]
    )
    onnx.checker.check_model(bad, full_check=True)  # nothing complains ...

    good_diff = np.abs(_ort(good, indices)[0] - expected).max()
    bad_diff = np.abs(_ort(bad, indices)[0] - expected).max()
    assert good_diff < 1e-5
    assert bad_diff > 0.05  # ... yet the scores are off by about 0.1
    with pytest.raises(LstmkitError, match="onnxruntime vs numpy64"):
        export_onnx.check(bad, weights, indices)

    verify = pytest.importorskip("lstmkit.verify")
    path = tmp_path / "bad.onnx"
    onnx.save(bad, path)
    report = verify.verify(
        weights, indices, backends=["numpy64"], extra={"bad": OnnxFileBackend(path)}
    )
    assert not report.ok

    if "verify" not in cli.COMMANDS:
        pytest.skip("lstmkit verify is not registered yet")
    src = tmp_path / "case01_torch_3_1.safetensors"
    export_safetensors.export(weights, src)
    argv = ["verify", str(src), "--length", "40", "--backends", "numpy64"]
    assert cli.main([*argv, "--onnx", str(path)]) == 1
    good_path = tmp_path / "good.onnx"
    onnx.save(good, good_path)
    assert cli.main([*argv, "--onnx", str(good_path)]) == 0


def test_case02_one_export_serves_every_length(weights, tmp_path):
    path = tmp_path / "m.onnx"
    example = np.arange(5) % 5
    export_onnx.export(weights, path, charset=CHARSET, indices=example)
    model = onnx.load(path)
    for N in (1, 9):
        indices = np.random.default_rng(N).integers(0, 5, N)
        logits, hn, cn = _ort(model, indices)
        assert logits.shape == (N, 5)
        np.testing.assert_allclose(
            logits, _torch_scores(weights, indices), atol=1e-5, rtol=0
        )
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_interface_and_metadata(weights, tmp_path):
    path = tmp_path / "m.onnx"
    spec = ModelSpec("custom", 3, 1)
    export_onnx.export(weights, path, spec=spec, charset=CHARSET)
    model = onnx.load(path)
    assert [v.name for v in model.graph.input] == ["indices", "h0", "c0"]
    assert [v.name for v in model.graph.output] == ["logits", "hn", "cn"]
    assert [n.op_type for n in model.graph.node].count("LSTM") == 1
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["charset"]) == list(CHARSET)
    assert props["format"] == "lstmkit" and props["format_version"] == "1"
    assert props["model_class"] == "CustomLSTM"
    assert json.loads(props["model_args"]) == {
        "char_size": 5,
        "hidden_size": 3,
        "num_layers": 1,
    }
    info = onnx_file.read_info(path)
    assert (info.char_size, info.hidden_size, info.num_layers) == (5, 3, 1)
    assert info.charset == CHARSET and info.unroll is None


def test_two_layers_take_their_own_initial_state(tmp_path):
    weights = random_weights(6, 4, 2, seed=3)
    rng = np.random.default_rng(4)
    h, c = (rng.standard_normal((2, 4)).astype(np.float32) for _ in range(2))
    indices = rng.integers(0, 6, 12)
    reference = backends.create("numpy64", weights)
    reference.set_state(h, c)
    expected = reference.run(indices)

    onnx_backend = backends.create("onnx", weights)
    onnx_backend.set_state(h, c)
    got = np.concatenate(
        [onnx_backend.run(part) for part in np.split(indices, [5, 10])]
    )
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    for a, b in zip(onnx_backend.get_state(), reference.get_state(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_file_backend_runs_an_export_and_keeps_state(weights, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx.export(weights, path, charset=CHARSET)
    backend = OnnxFileBackend(path)
    reference = backends.create("numpy64", weights)
    indices = np.random.default_rng(2).integers(0, 5, 20)
    one_call = reference.run(indices)
    got = np.concatenate([backend.run(indices[:7]), backend.run(indices[7:])])
    np.testing.assert_allclose(got, one_call, atol=1e-5, rtol=1e-5)
    assert (backend.char_size, backend.hidden_size, backend.num_layers) == (5, 3, 1)
    assert "lstmkit format 1" in backend.built_from


def test_unrolled_equals_the_lstm_operator_export(tmp_path):
    weights = random_weights(6, 4, 2, seed=5)
    steps = 7
    unrolled = export_onnx.build_unrolled(weights, steps)
    operators = {n.op_type for n in unrolled.graph.node}
    assert operators <= set(export_onnx.UNROLLED_OPERATORS)
    assert {"MatMul", "Sigmoid", "Tanh", "Mul", "Add"} <= operators
    for op in export_onnx.UNROLLED_OPERATORS:  # the documented list is the real one
        assert op in export_onnx.__doc__

    rng = np.random.default_rng(6)
    indices = rng.integers(0, 6, steps)
    h0, c0 = (rng.standard_normal((2, 1, 4)).astype(np.float32) for _ in range(2))
    onehot = np.eye(6, dtype=np.float32)[indices]
    got = onnx_file.session(unrolled).run(None, {"onehot": onehot, "h0": h0, "c0": c0})
    expected = _ort(export_onnx.build(weights), indices, h0, c0)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)

    path = tmp_path / "u.onnx"
    export_onnx.export(weights, path, unroll=steps)
    backend = OnnxFileBackend(path)
    assert backend.run(np.concatenate([indices, indices])).shape == (14, 6)
    with pytest.raises(LstmkitError, match="exactly 7 steps"):
        backend.run(indices[:3])


def test_reference_evaluator_agrees(weights):
    from onnx.reference import ReferenceEvaluator

    model = export_onnx.build(weights)
    indices = np.array([0, 4, 2, 2, 1], dtype=np.int64)
    zeros = np.zeros((1, 1, 3), dtype=np.float32)
    feeds = {"indices": indices, "h0": zeros, "c0": zeros}
    got = ReferenceEvaluator(model).run(None, feeds)
    for a, b in zip(got, _ort(model, indices), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)


def test_foreign_file_names_what_is_missing(tmp_path):
    path = tmp_path / "foreign.onnx"
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]
    )
    onnx.save(onnx.helper.make_model(graph), path)
    with pytest.raises(LstmkitError, match="missing input indices, input h0"):
        onnx_file.read_info(path)
    with pytest.raises(LstmkitError, match="no such file"):
        OnnxFileBackend(tmp_path / "absent.onnx")


def test_unknown_format_version_is_refused(weights, tmp_path):
    model = export_onnx.build(weights)
    onnx.helper.set_model_props(model, {"format": "lstmkit", "format_version": "99"})
    with pytest.raises(LstmkitError, match="version '99' is not supported"):
        onnx_file.read_info(model)


def test_bad_options_and_weights_are_refused(weights, tmp_path):
    with pytest.raises(LstmkitError, match="--opset: 7 is not supported"):
        export_onnx.build(weights, opset=7)
    with pytest.raises(LstmkitError, match="--unroll"):
        export_onnx.build_unrolled(weights, 0)
    weights.layers[0].weight_hh[1, 2] = np.nan
    path = tmp_path / "m.onnx"
    with pytest.raises(LstmkitError, match="lstm.weight_hh_l0 holds 1 NaN"):
        export_onnx.export(weights, path)
    assert list(tmp_path.iterdir()) == []


def test_cli_export_onnx(tmp_path, capsys, monkeypatch):
    meta = tmp_path / "meta.txt"
    meta.write_text(repr({"charset": list(CHARSET)}))
    text = tmp_path / "text.txt"
    text.write_text("abcdeedcbaabcab" * 5)
    model = TorchLSTM(5, 3, 1)
    src = tmp_path / "tiny_torch_3_1.pth"
    model.save_model(src)
    (tmp_path / "exports").mkdir()
    monkeypatch.chdir(tmp_path)

    argv = ["export", str(src), "--format", "onnx", "--meta", str(meta)]
    assert cli.main([*argv, "--check-text", str(text)]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime vs numpy64 on 75 characters" in out
    assert "onnx.reference vs numpy64" in out
    assert "wrote exports/tiny_torch_3_1.onnx" in out
    assert cli.main(argv) == 2  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert cli.main([*argv, "--unroll", "4"]) == 0
    assert "wrote exports/tiny_torch_3_1_unroll4.onnx" in capsys.readouterr().out
    assert cli.main([*argv, "--opset", "5"]) == 2
    assert "--opset: 5 is not supported" in capsys.readouterr().err


def test_check_text_outside_the_charset_is_refused(tmp_path, capsys, monkeypatch):
    meta = tmp_path / "meta.txt"
    meta.write_text(repr({"charset": list(CHARSET)}))
    src = tmp_path / "tiny_torch_3_1.pth"
    TorchLSTM(len(CHARSET), 3, 1).save_model(src)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "t_torch_3_1.onnx"
    argv = ["export", str(src), "--format", "onnx", "--meta", str(meta), "-o", str(out)]

    # A text the user gives is checked on as it is, or refused naming the characters.
    text = tmp_path / "text.txt"
    text.write_text("abcdexyz", encoding="utf-8")
    assert cli.main([*argv, "--check-text", str(text)]) == 2
    err = capsys.readouterr().err
    assert "3 character(s) not in the model's charset: 'x', 'y', 'z'" in err
    assert not out.exists()

    # The default text may hold others: they are skipped, and the line says so.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.txt").write_text("ab!cde?\n" * 4, encoding="utf-8")
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "checking on the first 20 characters of data/input.txt, 12 characters " in (
        printed
    )
    assert "outside the charset skipped" in printed


def test_check_lines_say_passed_and_the_bound_applied(weights):
    model = export_onnx.build(weights)
    indices = np.arange(40) % weights.char_size
    lines = export_onnx.check(model, weights, indices, atol=1e-5, rtol=1e-3)
    compared = [line for line in lines if " vs " in line]
    assert len(compared) == 2
    for line in compared:
        assert "passed: max abs diff" in line
        assert "(atol 1e-05 + rtol 0.001 * |ref|)" in line
        diff = float(line.split("max abs diff ")[1].split(",")[0])
        bound = float(line.split("bound there ")[1].split(" ")[0])
        ratio = float(line.split("worst diff/bound ")[1])
        assert 0 < diff <= bound and 1e-5 <= bound and 0 < ratio <= 1

    with pytest.raises(LstmkitError, match="FAILED: max abs diff") as failed:
        export_onnx.check(model, weights, indices, atol=0.0, rtol=0.0)
    assert "worst diff/bound inf" in str(failed.value)
