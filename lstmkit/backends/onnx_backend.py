"""The onnxruntime backends: ``onnx`` (built in memory from the weights) and
:class:`OnnxFileBackend` (any ONNX file with lstmkit's interface, e.g. an export).

Both feed the carried state in as ``h0``/``c0`` (L, 1, H) and take it back from
``hn``/``cn``, so a sequence split over calls gives the scores of one call. Neither
imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lstmkit import export_onnx, onnx_file
from lstmkit.backends.base import Backend
from lstmkit.errors import LstmkitError
from lstmkit.weights import LSTMWeights


class OnnxBackend(Backend):
    """The LSTM-operator graph of :mod:`lstmkit.export_onnx`, run in onnxruntime.

    Args:
        weights: the canonical weights.
        threads: onnxruntime's intra-op threads (1 is fastest for one stream).
        opset: the ONNX opset to build for.
    """

    name = "onnx"

    def __init__(
        self,
        weights: LSTMWeights,
        *,
        threads: int = 1,
        opset: int = export_onnx.DEFAULT_OPSET,
    ) -> None:
        super().__init__(weights)
        self.session = onnx_file.session(
            export_onnx.build(weights, opset=opset), threads=threads
        )
        self.built_from = (
            f"{weights.describe()}, as an in-memory ONNX graph (LSTM operator, opset "
            f"{opset}) in onnxruntime"
        )

    def _run(self, indices: np.ndarray) -> np.ndarray:
        logits, hn, cn = self.session.run(
            None,
            {"indices": indices, "h0": self.h[:, None, :], "c0": self.c[:, None, :]},
        )  # (N, K), (L, 1, H), (L, 1, H)
        self.h, self.c = hn[:, 0, :], cn[:, 0, :]
        return logits


class OnnxFileBackend(Backend):
    """Any ONNX file with lstmkit's interface, run in onnxruntime.

    An unrolled file (input ``onehot``, U steps fixed) runs a sequence of any multiple
    of U in calls of U steps; other lengths are refused.

    Args:
        path: the ``.onnx`` file.
        threads: onnxruntime's intra-op threads.

    Raises:
        LstmkitError: the file is unreadable or lacks the interface (naming what is
            missing), or onnxruntime cannot load it.
    """

    name = "onnx-file"

    def __init__(self, path: str | os.PathLike, *, threads: int = 1) -> None:
        self.path = Path(path)
        self.info = onnx_file.read_info(self.path)
        self.char_size = self.info.char_size
        self.hidden_size = self.info.hidden_size
        self.num_layers = self.info.num_layers
        self.session = onnx_file.session(self.path, threads=threads)
        self.step_multiple = self.info.unroll or 1  # see Backend.step_multiple
        self.built_from = f"{self.path} ({self._describe_file()})"
        self.reset_state()

    def _describe_file(self) -> str:
        parts = [f"ONNX opset {self.info.opset}"]
        parts.append(
            "LSTM operator"
            if self.info.unroll is None
            else f"unrolled {self.info.unroll} steps"
        )
        description = self.info.description
        if description is None:
            parts.append("no lstmkit metadata")
        else:
            parts.append(
                f"lstmkit format {description.format_version}, "
                f"{description.spec.class_name}"
            )
        return ", ".join(parts)

    def _run(self, indices: np.ndarray) -> np.ndarray:
        U = self.info.unroll
        if U is not None and len(indices) % U:
            raise LstmkitError(
                f"{self.path}: an unrolled graph runs exactly {U} steps per call; "
                f"got {len(indices)} indices, not a multiple of {U}"
            )
        chunks = [indices] if U is None else np.split(indices, len(indices) // U)
        try:
            logits, states = onnx_file.run_calls(
                self.session,
                self.char_size,
                chunks,
                self.h[:, None, :],
                self.c[:, None, :],
                unrolled=U is not None,
            )
        except Exception as exc:  # onnxruntime's own types: the graph does not run
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LstmkitError(
                f"{self.path}: onnxruntime cannot run the model: {first}"
            ) from exc
        hn, cn = states[-1]  # (L, 1, H) each
        state_shape = (self.num_layers, 1, self.hidden_size)
        expected = [(len(indices), self.char_size), state_shape, state_shape]
        if [logits.shape, hn.shape, cn.shape] != expected:
            raise LstmkitError(
                f"{self.path}: the model returned logits, hn and cn of shapes "
                f"{logits.shape}, {hn.shape}, {cn.shape}; its interface promises "
                f"{', '.join(map(str, expected))}"
            )
        self.h, self.c = hn[:, 0, :], cn[:, 0, :]
        return logits  # (N, K)
