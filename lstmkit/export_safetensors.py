"""safetensors export: TorchLSTM's state-dict names, lstmkit's description inside.

Each tensor is written under its TorchLSTM name (``lstm.weight_ih_l0`` ...,
``decoder.bias``), C-contiguous and with storage of its own, in the dtype it has in the
canonical weights (float32 for every model file lstmkit reads). ``__metadata__`` holds
the keys of :mod:`lstmkit.export_meta` plus ``gate_order`` (``"i,f,g,o"``, PyTorch's
stacking of the four gates in ``weight_ih``, ``weight_hh`` and the biases).

Needs no torch: the file is written with ``safetensors.numpy``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from lstmkit import export_meta, fileio
from lstmkit.errors import LstmkitError
from lstmkit.loading import ModelSpec
from lstmkit.weights import TORCH_GATE_ORDER, LSTMWeights

log = logging.getLogger(__name__)

GATE_ORDER = TORCH_GATE_ORDER


def tensors(weights: LSTMWeights) -> dict[str, np.ndarray]:
    """Every tensor under its TorchLSTM name, each a C-contiguous copy of its own."""
    return {name: np.array(a, order="C") for name, a in weights.tensors().items()}


def metadata(
    weights: LSTMWeights,
    spec: ModelSpec | None = None,
    charset: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """The ``__metadata__`` map for ``weights``."""
    return export_meta.describe(weights, spec, charset) | {"gate_order": GATE_ORDER}


def export(
    weights: LSTMWeights,
    path: str | os.PathLike,
    *,
    spec: ModelSpec | None = None,
    charset: tuple[str, ...] | None = None,
    overwrite: bool = False,
) -> export_meta.ExportResult:
    """Writes ``weights`` to a ``.safetensors`` file and checks it bit for bit.

    The file is written beside ``path`` under a temporary name, read back and compared
    (every name, dtype, shape and byte, and the metadata) before it is renamed into
    place, so a failed check leaves no file behind.

    Args:
        weights: the canonical weights.
        path: the file to write.
        spec: the source's class and arguments, for the metadata.
        charset: the characters in index order, for the metadata.
        overwrite: replace an existing file.

    Raises:
        LstmkitError: weights holding NaN or infinity (naming the tensor), an
            unwritable path, or a file that does not read back identically.
    """
    path = fileio.check_output_path(path, overwrite=overwrite)
    weights.validate()
    arrays = tensors(weights)
    info = metadata(weights, spec, charset)
    checks: list[str] = []

    def write(tmp: Path) -> None:
        save_file(arrays, str(tmp), metadata=info)
        checks.extend(compare_file(tmp, arrays, info))

    fileio.write_atomic(path, write, overwrite=overwrite)
    log.info("wrote %s", path)
    return export_meta.ExportResult(path, checks)


def compare_file(
    path: str | os.PathLike, expected: dict[str, np.ndarray], info: dict[str, str]
) -> list[str]:
    """Reads a safetensors file back and compares it with what was meant to be written.

    Raises:
        LstmkitError: naming every tensor that is missing, extra or differs in dtype,
            shape or any byte, or the metadata keys that differ.
    """
    got, got_info = fileio.read_safetensors(path)
    problems = [f"missing {n}" for n in sorted(set(expected) - set(got))]
    problems += [f"unexpected {n}" for n in sorted(set(got) - set(expected))]
    for name in sorted(set(expected) & set(got)):
        a, b = expected[name], got[name]
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            problems.append(f"{name} differs ({b.dtype} {b.shape} read back)")
    differing = sorted(
        k for k in set(info) | set(got_info) if info.get(k) != got_info.get(k)
    )
    problems += [f"metadata {k} differs" for k in differing]
    if problems:
        raise LstmkitError(f"{path}: read back wrong: {'; '.join(problems)}")
    total = sum(a.nbytes for a in expected.values())
    return [
        f"read back {len(expected)} tensors ({total:,} bytes): every name, dtype, "
        f"shape and byte identical; metadata identical ({', '.join(sorted(info))})"
    ]
