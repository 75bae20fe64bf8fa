"""lstmkit.weights: the gate-order maps, the CustomLSTM layout, validation."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit.errors import LstmkitError
from lstmkit.weights import (
    ONNX_TO_TORCH,
    TORCH_TO_ONNX,
    LayerWeights,
    LSTMWeights,
    check_indices,
    check_state_dict,
    from_custom_state,
    from_torch_state,
    onnx_to_torch_gates,
    random_weights,
    to_custom_state,
    torch_to_onnx_gates,
)

H = 3
# One value per gate, so every block is recognisable after a reordering.
GATE_VALUE = {"i": 10.0, "f": 20.0, "g": 30.0, "o": 40.0}


def stacked(order: str, width: int | None = None) -> np.ndarray:
    """Four (H,) or (H, width) blocks in ``order``; block entries are the gate's value
    plus a position offset, so rows within a block stay distinct too."""
    blocks = []
    for gate in order:
        shape = (H,) if width is None else (H, width)
        offsets = np.arange(np.prod(shape)).reshape(shape) / 100
        blocks.append(GATE_VALUE[gate] + offsets)
    return np.concatenate(blocks, axis=0)


# ---------------------------------------------------------------- gate orders


def test_torch_to_onnx_index_maps_are_pinned():
    # PyTorch stacks i, f, g, o; ONNX stacks i, o, f, c (c is PyTorch's g).
    assert TORCH_TO_ONNX == (0, 3, 1, 2)
    assert ONNX_TO_TORCH == (0, 2, 3, 1)


@pytest.mark.parametrize("width", [None, 5])
def test_torch_to_onnx_reorders_blocks(width):
    np.testing.assert_array_equal(
        torch_to_onnx_gates(stacked("ifgo", width)), stacked("iofg", width)
    )


@pytest.mark.parametrize("width", [None, 5])
def test_onnx_to_torch_reorders_blocks(width):
    np.testing.assert_array_equal(
        onnx_to_torch_gates(stacked("iofg", width)), stacked("ifgo", width)
    )


def test_gate_maps_are_inverse():
    x = np.random.default_rng(0).standard_normal((4 * H, 6))
    np.testing.assert_array_equal(onnx_to_torch_gates(torch_to_onnx_gates(x)), x)
    np.testing.assert_array_equal(torch_to_onnx_gates(onnx_to_torch_gates(x)), x)


# ---------------------------------------------------------------- CustomLSTM layout


def test_custom_state_columns_are_h_then_x_per_gate():
    K, L = 4, 2
    w = random_weights(K, H, L, seed=3)
    state = to_custom_state(w)
    modules = {"i": "i_gate", "f": "f_gate", "g": "cell_inp", "o": "o_gate"}
    for k, layer in enumerate(w.layers):
        for n, gate in enumerate("ifgo"):
            name = modules[gate] + ("" if k == 0 else f"_l{k}")
            rows = slice(n * H, (n + 1) * H)
            weight = state[f"{name}.weight"]  # (H, H + in)
            np.testing.assert_array_equal(weight[:, :H], layer.weight_hh[rows])
            np.testing.assert_array_equal(weight[:, H:], layer.weight_ih[rows])
            np.testing.assert_array_equal(
                state[f"{name}.bias"], layer.bias_ih[rows] + layer.bias_hh[rows]
            )
    assert state["decoder.weight"] is not w.decoder_weight  # a copy, not a view


def test_seed_layer0_key_names_and_shapes():
    K = 5
    state = to_custom_state(random_weights(K, H, 1))
    assert sorted(state) == sorted(
        f"{module}.{param}"
        for module in ("i_gate", "f_gate", "o_gate", "cell_inp", "decoder")
        for param in ("weight", "bias")
    )
    assert state["i_gate.weight"].shape == (H, H + K)
    assert state["cell_inp.bias"].shape == (H,)


def test_custom_round_trip_puts_gate_bias_in_bias_ih():
    w = random_weights(4, H, 2, seed=1)
    back = from_custom_state(to_custom_state(w))
    for layer, original in zip(back.layers, w.layers, strict=True):
        np.testing.assert_array_equal(layer.weight_ih, original.weight_ih)
        np.testing.assert_array_equal(layer.weight_hh, original.weight_hh)
        np.testing.assert_array_equal(
            layer.bias_ih, original.bias_ih + original.bias_hh
        )
        assert not layer.bias_hh.any()
    # Once the halves are merged the round trip is exact, bit for bit.
    again = from_custom_state(to_custom_state(back))
    for a, b in zip(again.tensors().values(), back.tensors().values(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_from_torch_state_round_trips_tensors():
    w = random_weights(5, H, 3, seed=2)
    back = from_torch_state({k: v.copy() for k, v in w.tensors().items()})
    assert list(back.tensors()) == list(w.tensors())
    for name, array in w.tensors().items():
        np.testing.assert_array_equal(back.tensors()[name], array)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_validate_names_the_non_finite_tensor(bad):
    w = random_weights(4, H, 2)
    w.layers[1].bias_hh[2] = bad
    with pytest.raises(LstmkitError, match=r"lstm\.bias_hh_l1 holds 1 NaN"):
        w.validate()
    w.validate(finite=False)  # shapes alone are fine


def test_validate_names_every_wrong_shape():
    w = random_weights(4, H, 2)
    w.layers[0].weight_hh = np.zeros((4 * H, H + 1), np.float32)
    w.decoder_bias = np.zeros(5, np.float32)
    with pytest.raises(LstmkitError) as err:
        w.validate()
    assert "lstm.weight_hh_l0: expected (12, 3), got (12, 4)" in str(err.value)
    assert "decoder.bias: expected (4,), got (5,)" in str(err.value)


def test_validate_refuses_integer_tensors():
    w = random_weights(4, H, 1)
    w.decoder_bias = np.zeros(4, np.int64)
    with pytest.raises(LstmkitError, match="decoder.bias has dtype int64"):
        w.validate()


def test_validate_refuses_no_layers():
    w = random_weights(4, H, 1)
    with pytest.raises(LstmkitError, match="no LSTM layers"):
        LSTMWeights([], w.decoder_weight, w.decoder_bias).validate()


def test_check_state_dict_lists_missing_and_unexpected_sorted():
    expected = {"a.weight": (2,), "b.weight": (2,), "c.bias": (3,)}
    state = {"c.bias": np.zeros(4), "z": np.zeros(1), "y": np.zeros(1)}
    with pytest.raises(LstmkitError) as err:
        check_state_dict(state, expected, "file.pth")
    message = str(err.value)
    assert "missing keys a.weight, b.weight" in message
    assert "unexpected keys y, z" in message
    assert "c.bias: file has (4,), model expects (3,)" in message


def test_random_weights_gates_and_bias_halves_are_distinct():
    w = random_weights(5, 4, 2, seed=9)
    for layer in w.layers:
        for array in (layer.weight_ih, layer.weight_hh, layer.bias_ih):
            blocks = np.split(array, 4, axis=0)
            for a in range(4):
                for b in range(a + 1, 4):
                    assert not np.array_equal(blocks[a], blocks[b])
        assert np.all(layer.bias_ih != 0) and np.all(layer.bias_hh != 0)
        assert not np.array_equal(layer.bias_ih, layer.bias_hh)


def test_layer_weights_field_order_is_torch_names():
    names = list(LayerWeights.__dataclass_fields__)
    assert names == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


# ---------------------------------------------------------------- indices


def test_check_indices_accepts_ints_and_returns_int64():
    out = check_indices(np.array([0, 3, 1], dtype=np.int32), 4)
    assert out.dtype == np.int64 and out.tolist() == [0, 3, 1]


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        (np.array([0.0, 1.0]), "dtype float64"),
        (np.array([True, False]), "dtype bool"),
        (np.array([[0, 1]]), r"expected shape \(N,\)"),
        (np.array([0, 4]), "4 is out of range; valid indices are 0 to 3"),
        (np.array([-1, 0]), "-1 is out of range"),
    ],
)
def test_check_indices_refuses(indices, message):
    with pytest.raises(LstmkitError, match=message):
        check_indices(indices, 4)
