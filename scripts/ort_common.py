"""What the onnxruntime scripts share: open an lstmkit ONNX export and run it.

Imports only numpy, onnxruntime and the standard library, so the scripts run where
neither torch nor lstmkit is installed. The model file is all they need: its metadata
properties carry the charset (key ``charset``, a JSON list) and the format version.

Interface read (written by ``lstmkit export --format onnx``): inputs ``indices`` int64
[N], ``h0`` and ``c0`` float32 [L, 1, H]; outputs ``logits`` [N, K], ``hn``, ``cn``.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import onnxruntime as ort

FORMAT_NAME = "lstmkit"
FORMAT_VERSIONS = ("1",)


class ScriptError(Exception):
    """A user's mistake or a bad file; the scripts print it as one line."""


class Model:
    """An lstmkit ONNX export in onnxruntime, carrying (h, c) between calls.

    Attributes:
        charset: the characters in index order, from the model's metadata.
        h, c: the carried state, each (L, 1, H) float32.
    """

    def __init__(self, path: str) -> None:
        if os.path.isdir(path):
            raise ScriptError(f"{path}: is a folder; give the .onnx model file")
        if not os.path.isfile(path):
            raise ScriptError(f"{path}: no such file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one stream, small matrices: 1 is fastest
        options.log_severity_level = 4  # fatal only: errors are raised, not logged
        try:
            self.session = ort.InferenceSession(
                path,
                options,
                providers=["CPUExecutionProvider"],
                enable_fallback=0,  # no retry, and no banner printed on stdout
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ScriptError(
                f"{path}: not a model onnxruntime can load ({first})"
            ) from exc

        try:
            props = self.session.get_modelmeta().custom_metadata_map
        except UnicodeDecodeError as exc:
            raise ScriptError(
                f"{path}: its metadata properties are not valid UTF-8 ({exc.reason})"
            ) from None
        if "format" not in props:
            raise ScriptError(
                f"{path}: has no lstmkit metadata property 'format'; export it with "
                "lstmkit export"
            )
        if props["format"] != FORMAT_NAME:
            raise ScriptError(
                f"{path}: its metadata property 'format' is {props['format']!r}, not "
                f"{FORMAT_NAME!r}; export the model with lstmkit export"
            )
        if props.get("format_version") not in FORMAT_VERSIONS:
            raise ScriptError(
                f"{path}: lstmkit format version {props.get('format_version')!r} is "
                f"not supported here (reads {', '.join(FORMAT_VERSIONS)})"
            )
        self.charset = _charset(props, path)
        self._check_interface(path)

    def _check_interface(self, path: str) -> None:
        inputs = {v.name: v for v in self.session.get_inputs()}
        outputs = [v.name for v in self.session.get_outputs()]
        if "onehot" in inputs:
            raise ScriptError(
                f"{path}: an unrolled graph of fixed length (input onehot); the "
                "scripts need the export without --unroll"
            )
        missing = [n for n in ("indices", "h0", "c0") if n not in inputs]
        missing += [n for n in ("logits", "hn", "cn") if n not in outputs]
        if missing:
            raise ScriptError(
                f"{path}: lacks lstmkit's interface, missing {', '.join(missing)}"
            )
        shape = inputs["h0"].shape  # [L, 1, H]
        if len(shape) != 3 or not all(isinstance(d, int) for d in shape):
            raise ScriptError(f"{path}: h0 has shape {shape}, expected fixed [L, 1, H]")
        if inputs["c0"].shape != shape:
            raise ScriptError(
                f"{path}: c0 has shape {inputs['c0'].shape}, expected h0's {shape}"
            )
        logits = self.session.get_outputs()[outputs.index("logits")].shape  # [N, K]
        K = len(self.charset)
        if len(logits) != 2 or (isinstance(logits[1], int) and logits[1] != K):
            raise ScriptError(
                f"{path}: logits has shape {logits} but the charset has {K} "
                f"characters, expected [N, {K}]"
            )
        self.path = path
        self.state_shape = tuple(shape)
        self.reset()

    def reset(self) -> None:
        """Zeros the carried state."""
        self.h = np.zeros(self.state_shape, dtype=np.float32)
        self.c = np.zeros(self.state_shape, dtype=np.float32)

    def encode(self, text: str, what: str) -> np.ndarray:
        """(N,) int64 indices of ``text``; every character must be in the charset."""
        table = {ch: k for k, ch in enumerate(self.charset)}
        missing = sorted(set(text) - set(table))
        if missing:
            shown = ", ".join(repr(ch) for ch in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ScriptError(
                f"{what}: {len(missing)} character(s) not in the model's charset: "
                f"{shown}{more}; remove them or use a model trained on them"
            )
        return np.array([table[ch] for ch in text], dtype=np.int64)

    def run(self, indices: np.ndarray) -> np.ndarray:
        """(N,) indices to (N, K) scores, the state carried from the last call."""
        try:
            logits, self.h, self.c = self.session.run(
                ["logits", "hn", "cn"], {"indices": indices, "h0": self.h, "c0": self.c}
            )
        except Exception as exc:  # onnxruntime's own types: the graph does not run
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ScriptError(
                f"{self.path}: onnxruntime cannot run the model: {first}"
            ) from exc
        if logits.shape != (len(indices), len(self.charset)):
            raise ScriptError(
                f"{self.path}: the model returned logits of shape {logits.shape}, "
                f"expected ({len(indices)}, {len(self.charset)})"
            )
        return logits


def _charset(props: dict, path: str) -> list[str]:
    if "charset" not in props:
        raise ScriptError(
            f"{path}: carries no charset; export it with lstmkit export --meta META"
        )
    try:
        charset = json.loads(props["charset"])
    except ValueError:
        charset = None
    if not isinstance(charset, list) or not all(
        isinstance(ch, str) and len(ch) == 1 for ch in charset
    ):
        raise ScriptError(
            f"{path}: metadata 'charset' is not a JSON list of one-character "
            "strings; export the model again with lstmkit export --meta META"
        )
    return charset


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax over the last axis of ``scores / temperature``, in float64."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)


def read_text(path: str) -> str:
    """A UTF-8 text file's contents."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ScriptError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ScriptError(f"{path}: is a folder, not a text file") from None
    except UnicodeDecodeError as exc:
        raise ScriptError(f"{path}: not valid UTF-8 at byte {exc.start}") from None


def run_main(main, argv=None) -> int:
    """Runs ``main(argv)``; a ScriptError becomes one line on stderr and exit 2."""
    prog = os.path.basename(sys.argv[0]) or "script"
    try:
        return main(argv)
    except ScriptError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
