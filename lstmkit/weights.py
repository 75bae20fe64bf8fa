"""The canonical weights object and every gate-order map lstmkit knows.

Every loader produces an :class:`LSTMWeights`, every backend and exporter is built from
one, and every converter goes through one. It holds NumPy arrays only, so it needs no
torch.

Gate orders, written down once:

* PyTorch (``nn.LSTM``, and this canonical form) stacks the four gates along the first
  axis of ``weight_ih``/``weight_hh``/``bias_*`` as **i, f, g, o**: input gate, forget
  gate, cell candidate, output gate.
* ONNX's ``LSTM`` operator stacks them as **i, o, f, c** (``c`` is the cell candidate,
  PyTorch's ``g``); its ``B`` is ``[bias_ih | bias_hh]`` of one layer, 8H long.
* CustomLSTM keeps one ``nn.Linear(H + in, H)`` per gate, named ``i_gate``, ``f_gate``,
  ``cell_inp`` (g) and ``o_gate``, applied to the concatenation ``[h | x]`` (h first),
  with a single bias per gate.

The cell, for every backend::

    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
    f = sigmoid(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    o = sigmoid(W_io x + b_io + W_ho h + b_ho)
    c' = f * c + i * g
    h' = o * tanh(c')
    scores = decoder.weight @ h'_top + decoder.bias        # raw scores, no softmax
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstmkit.errors import LstmkitError

TORCH_GATES = ("i", "f", "g", "o")
TORCH_GATE_ORDER = ",".join(TORCH_GATES)  # as files write it: "i,f,g,o"
ONNX_GATES = ("i", "o", "f", "g")  # ONNX calls g "c"
CUSTOM_GATE_MODULES = {"i": "i_gate", "f": "f_gate", "g": "cell_inp", "o": "o_gate"}

# Index of each ONNX block within the PyTorch stacking: ONNX block k is PyTorch block
# TORCH_TO_ONNX[k].
TORCH_TO_ONNX = tuple(TORCH_GATES.index(gate) for gate in ONNX_GATES)  # (0, 3, 1, 2)
ONNX_TO_TORCH = tuple(ONNX_GATES.index(gate) for gate in TORCH_GATES)  # (0, 2, 3, 1)


def reorder_gates(stacked: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """Reorders the four gate blocks along axis 0: block k of the result is block
    ``order[k]`` of ``stacked``. Works on (4H,) and (4H, in) arrays."""
    blocks = np.split(stacked, 4, axis=0)  # 4 x (H, ...) or 4 x (H,)
    return np.concatenate([blocks[k] for k in order], axis=0)  # (4H, ...)


def torch_to_onnx_gates(stacked: np.ndarray) -> np.ndarray:
    """PyTorch's i, f, g, o stacking to ONNX's i, o, f, c."""
    return reorder_gates(stacked, TORCH_TO_ONNX)


def onnx_to_torch_gates(stacked: np.ndarray) -> np.ndarray:
    """ONNX's i, o, f, c stacking to PyTorch's i, f, g, o."""
    return reorder_gates(stacked, ONNX_TO_TORCH)


@dataclass
class LayerWeights:
    """One LSTM layer in ``nn.LSTM``'s layout, gates stacked i, f, g, o.

    Attributes:
        weight_ih: (4H, in), ``in`` is K for layer 0 and H above it.
        weight_hh: (4H, H).
        bias_ih: (4H,).
        bias_hh: (4H,).
    """

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias_ih: np.ndarray
    bias_hh: np.ndarray


@dataclass
class LSTMWeights:
    """A whole character-level LSTM: L layers and a decoder from H to K scores.

    Attributes:
        layers: L layers, bottom first.
        decoder_weight: (K, H).
        decoder_bias: (K,).
        source: a short description of where the weights came from, for reports.
    """

    layers: list[LayerWeights]
    decoder_weight: np.ndarray
    decoder_bias: np.ndarray
    source: str = field(default="", compare=False)

    @property
    def char_size(self) -> int:
        return int(self.decoder_weight.shape[0])

    @property
    def hidden_size(self) -> int:
        return int(self.decoder_weight.shape[1])

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def tensors(self) -> dict[str, np.ndarray]:
        """Every array under its TorchLSTM state-dict name, in a fixed order."""
        out: dict[str, np.ndarray] = {}
        for k, layer in enumerate(self.layers):
            out[f"lstm.weight_ih_l{k}"] = layer.weight_ih
            out[f"lstm.weight_hh_l{k}"] = layer.weight_hh
            out[f"lstm.bias_ih_l{k}"] = layer.bias_ih
            out[f"lstm.bias_hh_l{k}"] = layer.bias_hh
        out["decoder.weight"] = self.decoder_weight
        out["decoder.bias"] = self.decoder_bias
        return out

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape every tensor must have for this K, H and L."""
        return torch_state_shapes(self.char_size, self.hidden_size, self.num_layers)

    def validate(self, *, finite: bool = True) -> LSTMWeights:
        """Checks shapes, dtypes and (optionally) that every value is finite.

        Raises:
            LstmkitError: naming every tensor with a wrong shape, or the first tensor
                holding NaN or infinity.
        """
        if not self.layers:
            raise LstmkitError(f"{self.source or 'model'}: has no LSTM layers")
        expected = self.expected_shapes()
        bad = [
            f"{name}: expected {expected[name]}, got {tuple(array.shape)}"
            for name, array in self.tensors().items()
            if tuple(array.shape) != expected[name]
        ]
        if bad:
            raise LstmkitError(
                f"{self.source or 'model'}: tensors of the wrong shape for "
                f"K={self.char_size}, H={self.hidden_size}, L={self.num_layers}: "
                + "; ".join(bad)
            )
        for name, array in self.tensors().items():
            if not np.issubdtype(array.dtype, np.floating):
                raise LstmkitError(
                    f"{self.source or 'model'}: tensor {name} has dtype {array.dtype}, "
                    "expected a floating-point type"
                )
            if finite and not np.all(np.isfinite(array)):
                count = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
                raise LstmkitError(
                    f"{self.source or 'model'}: tensor {name} holds {count} NaN or "
                    "infinite value(s); retrain or repair the weights before using them"
                )
        return self

    def astype(self, dtype: np.dtype | type) -> LSTMWeights:
        """A copy with every array cast to ``dtype``."""
        return LSTMWeights(
            layers=[
                LayerWeights(
                    *(np.asarray(a, dtype=dtype) for a in _layer_arrays(layer))
                )
                for layer in self.layers
            ],
            decoder_weight=np.asarray(self.decoder_weight, dtype=dtype),
            decoder_bias=np.asarray(self.decoder_bias, dtype=dtype),
            source=self.source,
        )

    def describe(self) -> str:
        """One line: sizes and origin."""
        text = f"K={self.char_size} H={self.hidden_size} L={self.num_layers}"
        return f"{text} from {self.source}" if self.source else text


def _layer_arrays(layer: LayerWeights) -> tuple[np.ndarray, ...]:
    return (layer.weight_ih, layer.weight_hh, layer.bias_ih, layer.bias_hh)


def torch_state_shapes(K: int, H: int, L: int) -> dict[str, tuple[int, ...]]:
    """TorchLSTM's state-dict names and shapes for K characters, H units, L layers."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(L):
        shapes[f"lstm.weight_ih_l{k}"] = (4 * H, K if k == 0 else H)
        shapes[f"lstm.weight_hh_l{k}"] = (4 * H, H)
        shapes[f"lstm.bias_ih_l{k}"] = (4 * H,)
        shapes[f"lstm.bias_hh_l{k}"] = (4 * H,)
    shapes["decoder.weight"] = (K, H)
    shapes["decoder.bias"] = (K,)
    return shapes


def custom_gate_prefix(gate: str, layer: int) -> str:
    """CustomLSTM's module name for one gate of one layer: the seed's names for layer
    0 (``i_gate``), ``nn.LSTM``'s layer suffix above it (``i_gate_l1``)."""
    name = CUSTOM_GATE_MODULES[gate]
    return name if layer == 0 else f"{name}_l{layer}"


def custom_state_shapes(K: int, H: int, L: int) -> dict[str, tuple[int, ...]]:
    """CustomLSTM's state-dict names and shapes for K characters, H units, L layers."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(L):
        width = H + (K if k == 0 else H)  # columns [h | x]
        for gate in TORCH_GATES:
            prefix = custom_gate_prefix(gate, k)
            shapes[f"{prefix}.weight"] = (H, width)
            shapes[f"{prefix}.bias"] = (H,)
    shapes["decoder.weight"] = (K, H)
    shapes["decoder.bias"] = (K,)
    return shapes


def check_state_dict(
    state: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]], what: str
) -> None:
    """Raises an error listing missing and unexpected keys and wrong shapes, sorted."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{key}: file has {tuple(state[key].shape)}, model expects {expected[key]}"
        for key in set(expected) & set(state)
        if tuple(state[key].shape) != expected[key]
    )
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append("missing keys " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected keys " + ", ".join(unexpected))
        if wrong:
            parts.append("wrong shapes " + "; ".join(wrong))
        raise LstmkitError(f"{what} does not fit: " + "; ".join(parts))


def from_torch_state(state: dict[str, np.ndarray], source: str = "") -> LSTMWeights:
    """Canonical weights from a TorchLSTM state dict of NumPy arrays, checked."""
    K, H, L = infer_torch_sizes(state, source)
    check_state_dict(state, torch_state_shapes(K, H, L), source or "state dict")
    layers = [
        LayerWeights(
            weight_ih=state[f"lstm.weight_ih_l{k}"],
            weight_hh=state[f"lstm.weight_hh_l{k}"],
            bias_ih=state[f"lstm.bias_ih_l{k}"],
            bias_hh=state[f"lstm.bias_hh_l{k}"],
        )
        for k in range(L)
    ]
    return LSTMWeights(layers, state["decoder.weight"], state["decoder.bias"], source)


def to_custom_state(weights: LSTMWeights) -> dict[str, np.ndarray]:
    """A CustomLSTM state dict: per gate, columns ``[W_hh | W_ih]`` and the bias sum."""
    state: dict[str, np.ndarray] = {}
    H = weights.hidden_size
    for k, layer in enumerate(weights.layers):
        bias = layer.bias_ih + layer.bias_hh  # (4H,)
        for n, gate in enumerate(TORCH_GATES):
            rows = slice(n * H, (n + 1) * H)
            prefix = custom_gate_prefix(gate, k)
            state[f"{prefix}.weight"] = np.concatenate(
                [layer.weight_hh[rows], layer.weight_ih[rows]], axis=1
            )  # (H, H + in)
            state[f"{prefix}.bias"] = bias[rows].copy()  # (H,)
    state["decoder.weight"] = weights.decoder_weight.copy()
    state["decoder.bias"] = weights.decoder_bias.copy()
    return state


def from_custom_state(state: dict[str, np.ndarray], source: str = "") -> LSTMWeights:
    """Canonical weights from a CustomLSTM state dict: each gate's bias goes to
    ``bias_ih`` and ``bias_hh`` is zero, so the sum is the gate's bias exactly."""
    K, H, L = infer_custom_sizes(state, source)
    check_state_dict(state, custom_state_shapes(K, H, L), source or "state dict")
    layers = []
    for k in range(L):
        weights = [state[f"{custom_gate_prefix(g, k)}.weight"] for g in TORCH_GATES]
        biases = [state[f"{custom_gate_prefix(g, k)}.bias"] for g in TORCH_GATES]
        stacked = np.concatenate(weights, axis=0)  # (4H, H + in)
        bias_ih = np.concatenate(biases, axis=0)  # (4H,)
        layers.append(
            LayerWeights(
                weight_ih=np.ascontiguousarray(stacked[:, H:]),  # (4H, in)
                weight_hh=np.ascontiguousarray(stacked[:, :H]),  # (4H, H)
                bias_ih=bias_ih,
                bias_hh=np.zeros_like(bias_ih),
            )
        )
    return LSTMWeights(layers, state["decoder.weight"], state["decoder.bias"], source)


def infer_torch_sizes(
    state: dict[str, np.ndarray], source: str = ""
) -> tuple[int, ...]:
    """(K, H, L) read off a TorchLSTM state dict's decoder and layer keys."""
    return _infer_sizes(state, source, lambda k: f"lstm.weight_ih_l{k}")


def infer_custom_sizes(
    state: dict[str, np.ndarray], source: str = ""
) -> tuple[int, ...]:
    """(K, H, L) read off a CustomLSTM state dict's decoder and gate keys."""
    return _infer_sizes(state, source, lambda k: f"{custom_gate_prefix('i', k)}.weight")


def _infer_sizes(state, source: str, layer_key) -> tuple[int, ...]:
    """K and H from the decoder; L by counting layers whose ``layer_key(k)`` exists."""
    decoder = _decoder_shape(state, source)
    L = 0
    while layer_key(L) in state:
        L += 1
    if L == 0:
        raise LstmkitError(f"{source or 'state dict'}: no key {layer_key(0)}")
    return (*decoder, L)


def _decoder_shape(state: dict[str, np.ndarray], source: str) -> tuple[int, int]:
    weight = state.get("decoder.weight")
    if weight is None or np.ndim(weight) != 2:
        raise LstmkitError(
            f"{source or 'state dict'}: no 2-D decoder.weight, so the charset size K "
            "and hidden size H cannot be read"
        )
    return int(weight.shape[0]), int(weight.shape[1])


def random_weights(
    K: int, H: int, L: int, *, seed: int = 0, scale: float = 0.5
) -> LSTMWeights:
    """Weights with every gate distinct and both bias halves nonzero, for tests and
    benchmarks: a swapped gate or a dropped bias half changes the scores."""
    rng = np.random.default_rng(seed)

    def draw(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    layers = [
        LayerWeights(
            draw(4 * H, K if k == 0 else H), draw(4 * H, H), draw(4 * H), draw(4 * H)
        )
        for k in range(L)
    ]
    return LSTMWeights(layers, draw(K, H), draw(K), source=f"random seed={seed}")


def check_indices(indices, char_size: int, *, batched: bool = False) -> np.ndarray:
    """Validates character indices and returns them as an int64 array.

    Args:
        indices: (N,) integers in ``[0, char_size)``; (N, B) when ``batched``.
        char_size: K.

    Raises:
        LstmkitError: naming the shape expected or the valid range.
    """
    array = np.asarray(indices)
    expected = "(N, B)" if batched else "(N,)"
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or array.size == 0
    ):
        raise LstmkitError(
            f"indices: expected integers of shape {expected}, got dtype {array.dtype}"
        )
    if array.ndim != (2 if batched else 1):
        raise LstmkitError(
            f"indices: expected shape {expected}, got {tuple(array.shape)}"
        )
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= char_size:
            bad = low if low < 0 else high
            raise LstmkitError(
                f"indices: {bad} is out of range; valid indices are 0 to "
                f"{char_size - 1}"
            )
    return array.astype(np.int64, copy=False)
