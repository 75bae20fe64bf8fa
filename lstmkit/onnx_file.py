"""Reading and running ONNX files that have lstmkit's interface.

The interface (see :mod:`lstmkit.export_onnx`): inputs ``indices`` int64 [N] (or
``onehot`` float32 [U, K] for an unrolled graph), ``h0`` and ``c0`` float32 [L, 1, H];
outputs ``logits`` [N, K], ``hn`` and ``cn``, in that order. :func:`read_info` checks a
file has it and reads lstmkit's metadata; a foreign file with the interface but no
metadata is accepted when its shapes give K, H and L.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from lstmkit import export_meta
from lstmkit.errors import LstmkitError

OUTPUTS = ("logits", "hn", "cn")


@dataclass
class OnnxInfo:
    """What an ONNX file with lstmkit's interface says about itself.

    Attributes:
        path: the file (or ``"<memory>"``).
        char_size: K.
        hidden_size: H.
        num_layers: L.
        unroll: the fixed step count of an unrolled graph (input ``onehot``), or None
            for the LSTM-operator graph (input ``indices``, any length).
        description: lstmkit's metadata, or None for a foreign file that has the
            interface but no metadata.
        opset: the default-domain opset the file imports.
    """

    path: str
    char_size: int
    hidden_size: int
    num_layers: int
    unroll: int | None
    description: export_meta.Description | None
    opset: int

    @property
    def charset(self) -> tuple[str, ...] | None:
        return self.description.charset if self.description else None


def load(path: str | os.PathLike) -> onnx.ModelProto:
    """Reads an ONNX file, raising a clear error for a missing or corrupt one."""
    path = Path(path)
    if path.is_dir():
        raise LstmkitError(f"{path}: is a folder, not an ONNX file")
    if not path.is_file():
        raise LstmkitError(f"{path}: no such file")
    if path.stat().st_size == 0:  # protobuf reads no bytes as an empty model
        raise LstmkitError(f"{path}: file is empty")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own DecodeError and others
        raise LstmkitError(
            f"{path}: not a readable ONNX file, it may be truncated or corrupt "
            f"({type(exc).__name__})"
        ) from exc


def read_info(source: str | os.PathLike | onnx.ModelProto) -> OnnxInfo:
    """Checks that a model has lstmkit's interface and reads its metadata.

    Args:
        source: an ONNX file or an in-memory model.

    Raises:
        LstmkitError: an input or output is missing, misnamed, of the wrong type or
            shape, or the metadata is malformed, disagrees with the shapes or carries an
            unknown format version. The message names what is missing.
    """
    model = source if isinstance(source, onnx.ModelProto) else load(source)
    what = "<memory>" if isinstance(source, onnx.ModelProto) else str(source)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = {v.name: v for v in graph.input if v.name not in initializers}
    outputs = [v.name for v in graph.output]
    first = "onehot" if "onehot" in inputs else "indices"

    problems = [f"input {n}" for n in (first, "h0", "c0") if n not in inputs]
    problems += [
        f"output {n} at position {k}"
        for k, n in enumerate(OUTPUTS)
        if k >= len(outputs) or outputs[k] != n
    ]
    if problems:
        raise LstmkitError(
            f"{what}: not lstmkit's ONNX interface, missing {', '.join(problems)} "
            f"(has inputs {', '.join(map(str, inputs)) or 'none'}; outputs "
            f"{', '.join(map(str, outputs)) or 'none'}); expected inputs indices "
            "int64 [N], h0 and c0 float32 [L, 1, H], outputs logits [N, K], hn, cn; "
            "export the model with lstmkit export"
        )

    expected_types = {first: "int64" if first == "indices" else "float32"}
    expected_types |= {"h0": "float32", "c0": "float32"}
    for name, dtype in expected_types.items():
        elem_type = inputs[name].type.tensor_type.elem_type
        try:
            got = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
        except (KeyError, ValueError, TypeError):  # not a tensor type numpy knows
            got = f"element type {elem_type}"
        if got != np.dtype(dtype):
            raise LstmkitError(f"{what}: input {name} is {got}, expected {dtype}")

    props = {p.key: p.value for p in model.metadata_props}
    description = export_meta.parse(props, what) if "format" in props else None
    if len(_dims(inputs["h0"])) != 3:
        raise LstmkitError(
            f"{what}: input h0 has shape {_dims(inputs['h0'])}, expected [L, 1, H]"
        )
    if _dims(inputs["c0"]) != _dims(inputs["h0"]):
        raise LstmkitError(
            f"{what}: inputs h0 and c0 have shapes {_dims(inputs['h0'])} and "
            f"{_dims(inputs['c0'])}, expected the same [L, 1, H]"
        )
    L, one, H = _dims(inputs["h0"])
    K = _dims(graph.output[0])[-1] if len(_dims(graph.output[0])) == 2 else None
    if description is not None:
        sizes = (description.char_size, description.spec.hidden_size)
        sizes += (description.spec.num_layers,)
        if (K, H, L) != sizes and None not in (K, H, L):
            raise LstmkitError(
                f"{what}: metadata says K, H, L = {sizes}, the graph's shapes say "
                f"{(K, H, L)}"
            )
        K, H, L = sizes
    if None in (K, H, L) or one != 1:
        raise LstmkitError(
            f"{what}: no lstmkit metadata (model_args) and the shapes of h0 [L, 1, H] "
            "and logits [N, K] are not all fixed, so K, H and L are unknown; export "
            "the model with lstmkit export"
        )

    unroll = None
    if first == "onehot":
        dims = _dims(inputs["onehot"])
        unroll = dims[0] if len(dims) == 2 else None
        if unroll is None:
            raise LstmkitError(f"{what}: input onehot has no fixed length [U, K]")
    opset = max(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        default=0,
    )
    return OnnxInfo(what, K, H, L, unroll, description, opset)


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    """A value's shape, None for each dynamic dimension."""
    return [
        d.dim_value if d.HasField("dim_value") else None
        for d in value.type.tensor_type.shape.dim
    ]


def session(model: onnx.ModelProto | str | os.PathLike, *, threads: int = 1):
    """An onnxruntime CPU session.

    One intra-op thread by default: the LSTM runs step by step on small matrices,
    where more threads cost more in hand-offs than they save (measured in
    benchmarks/onnx_vs_torch.py).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # fatal only: an error is raised and reported as one line, not logged as well
    options.log_severity_level = 4
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    try:
        return ort.InferenceSession(
            source if isinstance(source, bytes) else str(source),
            options,
            providers=["CPUExecutionProvider"],
            enable_fallback=0,  # no retry, and no banner printed on stdout
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        what = "<memory>" if isinstance(source, bytes) else str(source)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LstmkitError(
            f"{what}: onnxruntime cannot load the model: {first}"
        ) from exc


def run_calls(runner, K: int, chunks, h0, c0, *, unrolled: bool = False):
    """Runs ``chunks`` of indices one call each, carrying the state.

    Args:
        runner: an onnxruntime session or an ``onnx.reference.ReferenceEvaluator``.
        K: the charset size, to build one-hot rows for an unrolled graph.
        chunks: a list of (n,) int64 arrays.
        h0, c0: (L, 1, H) float32 states before the first call.

    Returns:
        (logits of every call concatenated (N, K), [(hn, cn) after each call]).
    """
    logits, states = [], []
    h, c = h0, c0
    for chunk in chunks:
        first = (
            {"onehot": np.eye(K, dtype=np.float32)[chunk]}
            if unrolled
            else {"indices": chunk}
        )
        scores, h, c = runner.run(list(OUTPUTS), first | {"h0": h, "c0": c})
        logits.append(np.asarray(scores))
        states.append((np.asarray(h), np.asarray(c)))
    return np.concatenate(logits), states
