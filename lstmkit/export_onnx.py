"""ONNX export, built from the canonical weights with ``onnx.helper`` (no tracing).

Interface of every lstmkit ONNX file (batch of one stream, state passed explicitly):

    inputs   indices  int64    [N]         N is dynamic: any length, 1 included
             h0, c0   float32  [L, 1, H]   the state before the first index
    outputs  logits   float32  [N, K]      raw scores (no softmax), one row per index
             hn, cn   float32  [L, 1, H]   the state after the last index

The graph: ``Gather`` on a K x K identity turns indices into one-hot rows, one ONNX
``LSTM`` node per layer (gates restacked from PyTorch's i, f, g, o to ONNX's i, o, f, c;
``B`` is ``[bias_ih | bias_hh]``; ``layout=0``, the only one onnxruntime runs), then the
decoder as ``MatMul`` + ``Add``.

With ``unroll=U`` the graph is a fixed length of U steps built from elementary
operators only, for neural-network verifiers that accept no LSTM, Loop or Scan:
input ``onehot`` float32 [U, K] instead of ``indices``, same ``h0``, ``c0`` and
outputs. Its operators are exactly: MatMul, Add, Sigmoid, Tanh, Mul (the cell and
the decoder), Slice, Squeeze, Unsqueeze, Concat (picking steps and layers apart and
putting them back together). Each gate has its own MatMul, so no Split is needed.

Metadata properties: those of :mod:`lstmkit.export_meta` plus ``graph`` (``"lstm"`` or
``"unrolled"``) and, for unrolled graphs, ``unroll`` (U).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lstmkit import export_meta, fileio
from lstmkit.errors import LstmkitError
from lstmkit.loading import ModelSpec
from lstmkit.onnx_file import load, read_info, run_calls, session
from lstmkit.weights import (
    TORCH_GATES,
    LSTMWeights,
    check_indices,
    torch_to_onnx_gates,
)

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Squeeze/Unsqueeze take their axes as an input from 13 on
UNROLLED_OPERATORS = (
    "MatMul",
    "Add",
    "Sigmoid",
    "Tanh",
    "Mul",
    "Slice",
    "Squeeze",
    "Unsqueeze",
    "Concat",
)
ATOL = RTOL = 1e-5  # as lstmkit verify: |got - ref| <= ATOL + RTOL * |ref|


def check_opset(opset: int) -> int:
    """Returns ``opset`` if lstmkit can build it, else raises naming the valid range."""
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise LstmkitError(f"--opset: expected an integer, got {opset!r}")
    if not MIN_OPSET <= opset <= newest:
        raise LstmkitError(
            f"--opset: {opset} is not supported; choose {MIN_OPSET} to {newest} "
            f"(default {DEFAULT_OPSET})"
        )
    return opset


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def ints(self, name: str, values: list[int]) -> str:
        return self.const(name, np.asarray(values, dtype=np.int64))

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs):
        """Adds a one-output node; returns its output's name."""
        self._count += 1
        out = out or f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def model(self, name, inputs, outputs, opset, properties) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name, inputs, outputs, initializer=self.initializers
        )
        opset_ids = [helper.make_opsetid("", opset)]
        model = helper.make_model(
            graph,
            opset_imports=opset_ids,
            producer_name="lstmkit",
            # the oldest IR version that holds this opset, so older runtimes load it
            ir_version=helper.find_min_ir_version_for(opset_ids),
        )
        helper.set_model_props(model, properties)
        return model


def _io(name: str, dtype: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _state_io(weights: LSTMWeights) -> list[onnx.ValueInfoProto]:
    L, H = weights.num_layers, weights.hidden_size
    return [_io(name, TensorProto.FLOAT, [L, 1, H]) for name in ("h0", "c0")]


def _outputs(weights: LSTMWeights, N) -> list[onnx.ValueInfoProto]:
    L, H, K = weights.num_layers, weights.hidden_size, weights.char_size
    return [
        _io("logits", TensorProto.FLOAT, [N, K]),
        _io("hn", TensorProto.FLOAT, [L, 1, H]),
        _io("cn", TensorProto.FLOAT, [L, 1, H]),
    ]


def _layer_state(g: _Graph, state: str, k: int) -> str:
    """Layer k's slice of an (L, 1, H) state input: (1, 1, H)."""
    return g.op(
        "Slice",
        [
            state,
            g.ints(f"{state}_start_l{k}", [k]),
            g.ints(f"{state}_end_l{k}", [k + 1]),
        ],
        f"{state}_l{k}",
    )


def _decoder(g: _Graph, w: LSTMWeights, top: str) -> None:
    """(N, H) top-layer outputs to the ``logits`` output, (N, K)."""
    weight_t = g.const("decoder_weight_t", np.ascontiguousarray(w.decoder_weight.T))
    scores = g.op("MatMul", [top, weight_t])  # (N, K)
    g.op("Add", [scores, g.const("decoder_bias", w.decoder_bias)], "logits")


def build(
    weights: LSTMWeights,
    *,
    spec: ModelSpec | None = None,
    charset: tuple[str, ...] | None = None,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """The LSTM-operator graph of ``weights`` (see the module docstring)."""
    check_opset(opset)
    w = weights.validate(finite=False).astype(np.float32)
    K, H, L = w.char_size, w.hidden_size, w.num_layers
    g = _Graph()

    # indices (N,) -> one-hot rows (N, K) -> the LSTM's X, (N, 1, K)
    onehot = g.op(
        "Gather", [g.const("identity", np.eye(K, dtype=np.float32)), "indices"]
    )
    x = g.op("Unsqueeze", [onehot, g.ints("axis_1", [1])], "x_l0")

    hn, cn = [], []
    for k, layer in enumerate(w.layers):
        W = torch_to_onnx_gates(layer.weight_ih)[None]  # (1, 4H, in)
        R = torch_to_onnx_gates(layer.weight_hh)[None]  # (1, 4H, H)
        B = np.concatenate(
            [torch_to_onnx_gates(layer.bias_ih), torch_to_onnx_gates(layer.bias_hh)]
        )[None]  # (1, 8H)
        h0 = "h0" if L == 1 else _layer_state(g, "h0", k)  # (1, 1, H)
        c0 = "c0" if L == 1 else _layer_state(g, "c0", k)
        names = [f"y_l{k}", f"hn_l{k}", f"cn_l{k}"]
        g.nodes.append(
            helper.make_node(
                "LSTM",
                [x, g.const(f"W_l{k}", W), g.const(f"R_l{k}", R), g.const(f"B_l{k}", B)]
                + ["", h0, c0],  # no sequence_lens: every step counts
                names,
                hidden_size=H,
                name=f"lstm_l{k}",
            )
        )  # Y (N, 1, 1, H), Y_h and Y_c (1, 1, H)
        x = g.op("Squeeze", [names[0], g.ints(f"axis_1_l{k}", [1])])  # (N, 1, H)
        hn.append(names[1])
        cn.append(names[2])

    g.op("Concat", hn, "hn", axis=0)  # (L, 1, H)
    g.op("Concat", cn, "cn", axis=0)
    top = g.op("Squeeze", [x, g.ints("axis_1_top", [1])])  # (N, H)
    _decoder(g, w, top)

    inputs = [_io("indices", TensorProto.INT64, ["N"]), *_state_io(w)]
    properties = export_meta.describe(weights, spec, charset) | {"graph": "lstm"}
    return g.model("lstmkit_lstm", inputs, _outputs(w, "N"), opset, properties)


def build_unrolled(
    weights: LSTMWeights,
    steps: int,
    *,
    spec: ModelSpec | None = None,
    charset: tuple[str, ...] | None = None,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """A fixed-length graph of ``steps`` steps in elementary operators only."""
    check_opset(opset)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise LstmkitError(f"--unroll: expected a positive step count, got {steps!r}")
    w = weights.validate(finite=False).astype(np.float32)
    K, H, L = w.char_size, w.hidden_size, w.num_layers
    g = _Graph()

    # Per layer and gate: input and recurrent matrices, transposed so rows multiply
    # from the left, and the two bias halves summed once.
    gates = {}
    for k, layer in enumerate(w.layers):
        bias = layer.bias_ih + layer.bias_hh  # (4H,)
        for n, gate in enumerate(TORCH_GATES):
            rows = slice(n * H, (n + 1) * H)
            gates[k, gate] = (
                g.const(
                    f"W_{gate}_l{k}", np.ascontiguousarray(layer.weight_ih[rows].T)
                ),
                g.const(
                    f"R_{gate}_l{k}", np.ascontiguousarray(layer.weight_hh[rows].T)
                ),
                g.const(f"b_{gate}_l{k}", bias[rows]),
            )  # (in, H), (H, H), (H,)

    axis_0 = g.ints("axis_0", [0])
    h = [g.op("Squeeze", [_layer_state(g, "h0", k), axis_0]) for k in range(L)]
    c = [
        g.op("Squeeze", [_layer_state(g, "c0", k), axis_0]) for k in range(L)
    ]  # (1, H)

    tops = []
    for t in range(steps):
        start, end = g.ints(f"step_{t}", [t]), g.ints(f"step_{t}_end", [t + 1])
        x = g.op("Slice", ["onehot", start, end, axis_0])  # (1, K)
        for k in range(L):
            pre = {}
            for gate in TORCH_GATES:
                W, R, b = gates[k, gate]
                xw = g.op("MatMul", [x, W])  # (1, H)
                hr = g.op("MatMul", [h[k], R])
                pre[gate] = g.op("Add", [g.op("Add", [xw, hr]), b])
            i, f, o = (g.op("Sigmoid", [pre[gate]]) for gate in "ifo")
            cell = g.op("Tanh", [pre["g"]])
            c[k] = g.op("Add", [g.op("Mul", [f, c[k]]), g.op("Mul", [i, cell])])
            h[k] = g.op("Mul", [o, g.op("Tanh", [c[k]])])
            x = h[k]
        tops.append(x)

    g.op("Concat", [g.op("Unsqueeze", [v, axis_0]) for v in h], "hn", axis=0)
    g.op("Concat", [g.op("Unsqueeze", [v, axis_0]) for v in c], "cn", axis=0)
    top = g.op("Concat", tops, axis=0)  # (U, H)
    _decoder(g, w, top)

    inputs = [_io("onehot", TensorProto.FLOAT, [steps, K]), *_state_io(w)]
    properties = export_meta.describe(weights, spec, charset) | {
        "graph": "unrolled",
        "unroll": str(steps),
    }
    return g.model("lstmkit_unrolled", inputs, _outputs(w, steps), opset, properties)


# --------------------------------------------------------------------------- checking


def check(
    model: onnx.ModelProto,
    weights: LSTMWeights,
    indices: np.ndarray,
    *,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> list[str]:
    """Checks a built model before it is written; returns what was checked.

    ``onnx.checker`` with ``full_check``; then onnxruntime and onnx's reference
    evaluator each run ``indices`` in several calls (state carried from call to call,
    starting from a nonzero state per layer) and are compared with ``numpy64``. An
    unrolled graph is also compared with the LSTM-operator graph of the same weights.
    A value passes when ``|got - reference| <= atol + rtol * |reference|``.

    Raises:
        LstmkitError: a check failed; the message says which and by how much.
    """
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # ValidationError and shape-inference errors
        raise LstmkitError(f"onnx.checker rejects the graph: {exc}") from exc
    lines = ["onnx.checker.check_model(full_check=True): passed"]
    info = read_info(model)
    unrolled = info.unroll is not None

    chunks = _chunks(indices, info.unroll)
    rng = np.random.default_rng(0)
    L, H = weights.num_layers, weights.hidden_size
    h0, c0 = (
        (rng.standard_normal((L, 1, H)) * 0.5).astype(np.float32) for _ in range(2)
    )
    reference = _numpy_calls(weights, chunks, h0, c0, "numpy64")
    how = (
        f"{sum(map(len, chunks))} characters in {len(chunks)} calls "
        f"({'/'.join(str(len(c)) for c in chunks)}, state carried, nonzero h0 and c0)"
    )

    from onnx.reference import ReferenceEvaluator  # slow to import; only checks use it

    def run(runner, graph_unrolled: bool):
        K = weights.char_size
        return run_calls(runner, K, chunks, h0, c0, unrolled=graph_unrolled)

    results = {
        "onnxruntime": run(session(model), unrolled),
        "onnx.reference": run(ReferenceEvaluator(model), unrolled),
    }
    comparisons = [(name, "numpy64", reference) for name in results]
    if unrolled:
        operator = run(session(build(weights, opset=info.opset)), False)
        comparisons.append(("onnxruntime", "the LSTM-operator export", operator))
    for name, against, expected in comparisons:
        fit = _compare(results[name], expected, atol, rtol)
        line = (
            f"{name} vs {against} on {how}: logits, hn, cn "
            f"{'passed' if fit.passed else 'FAILED'}: max abs diff {fit.worst:.2e}, "
            f"bound there {fit.bound_there:.2e} (atol {atol:g} + rtol {rtol:g} * "
            f"|ref|), worst diff/bound {fit.ratio:.2g}"
        )
        if not fit.passed:
            float32 = _compare(
                _numpy_calls(weights, chunks, h0, c0, "numpy"), reference, atol, rtol
            ).worst
            raise LstmkitError(
                f"export check failed, nothing written: {line}; for scale, lstmkit's "
                f"float32 NumPy backend differs from numpy64 by {float32:.2e} here (a "
                "model that amplifies float32 rounding may need a larger --atol)"
            )
        lines.append(line)
    return lines


def _chunks(indices: np.ndarray, unroll: int | None) -> list[np.ndarray]:
    """Calls to check with: for a dynamic graph three of unequal length, the last of
    one index; for an unrolled graph two of exactly ``unroll`` indices."""
    indices = np.asarray(indices, dtype=np.int64)
    if unroll is not None:
        tiled = np.resize(indices, 2 * unroll)  # repeats a short text
        return [tiled[:unroll], tiled[unroll:]]
    n = len(indices)
    cuts = sorted({min(n // 2, n - 1), n - 1}) if n > 1 else []
    return [part for part in np.split(indices, cuts) if len(part)]


def _numpy_calls(weights, chunks, h0, c0, name: str):
    """``run_calls`` through lstmkit's NumPy backend ``name`` (numpy64 or numpy)."""
    # The yardstick is a backend, a floor above the exporters: imported for checks only.
    from lstmkit.backends import create

    backend = create(name, weights)
    backend.set_state(h0[:, 0, :], c0[:, 0, :])
    logits, states = [], []
    for chunk in chunks:
        logits.append(backend.run(chunk))
        h, c = backend.get_state()  # (L, H) each
        states.append((h[:, None, :], c[:, None, :]))
    return np.concatenate(logits), states


@dataclass
class _Fit:
    """How closely one run matched another: the largest absolute difference, the
    bound ``atol + rtol * |reference|`` at that value, and the largest ratio of a
    difference to its bound (at most 1 everywhere when the check passes)."""

    worst: float
    bound_there: float
    ratio: float

    @property
    def passed(self) -> bool:
        return self.ratio <= 1.0


def _compare(got, reference, atol: float, rtol: float) -> _Fit:
    """How ``got`` fits ``reference`` over the logits and every state."""
    pairs = [(got[0], reference[0])]
    for (gh, gc), (rh, rc) in zip(got[1], reference[1], strict=True):
        pairs += [(gh, rh), (gc, rc)]
    diff = np.concatenate([np.abs(a - b).ravel() for a, b in pairs]).astype(np.float64)
    bound = atol + rtol * np.concatenate([np.abs(b).ravel() for _, b in pairs])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(diff == 0, 0.0, diff / bound)  # a zero bound: inf
    k = int(np.argmax(diff))
    return _Fit(float(diff[k]), float(bound[k]), float(np.max(ratios)))


# --------------------------------------------------------------------------- writing


def export(
    weights: LSTMWeights,
    path: str | os.PathLike,
    *,
    spec: ModelSpec | None = None,
    charset: tuple[str, ...] | None = None,
    opset: int = DEFAULT_OPSET,
    unroll: int | None = None,
    indices: np.ndarray | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
    overwrite: bool = False,
) -> export_meta.ExportResult:
    """Builds, checks and writes the ONNX export of ``weights``.

    Args:
        weights: the canonical weights.
        path: the ``.onnx`` file to write (atomically; never half written).
        spec: the source's class and arguments, for the metadata.
        charset: the characters in index order, for the metadata.
        opset: the ONNX opset to build for.
        unroll: build the fixed-length elementary graph of this many steps.
        indices: the character indices to check with (a real text); 1,000 random ones
            when None.
        atol, rtol: the check's tolerance against ``numpy64``.
        overwrite: replace an existing file.

    Raises:
        LstmkitError: weights holding NaN or infinity (naming the tensor), an
            unsupported opset, an unwritable path, or a failed check.
    """
    path = fileio.check_output_path(path, overwrite=overwrite)
    weights.validate()
    if unroll is None:
        model = build(weights, spec=spec, charset=charset, opset=opset)
    else:
        model = build_unrolled(weights, unroll, spec=spec, charset=charset, opset=opset)
    if indices is None:
        indices = np.random.default_rng(0).integers(0, weights.char_size, 1000)
    indices = check_indices(indices, weights.char_size)
    if indices.size == 0:
        raise LstmkitError("indices: the check needs at least one index")
    checks = check(model, weights, indices, atol=atol, rtol=rtol)

    data = model.SerializeToString()

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)
        if load(tmp).SerializeToString() != data:
            raise LstmkitError(f"{path}: the file read back differs from the model")

    fileio.write_atomic(path, write, overwrite=overwrite)
    checks.append(f"read back {path.name}: {len(data):,} bytes, identical")
    log.info("wrote %s", path)
    return export_meta.ExportResult(path, checks)
