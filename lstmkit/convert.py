"""Converters between the canonical form and the model classes, and between files.

TorchLSTM to CustomLSTM sums the two bias halves into each gate's bias; CustomLSTM to
TorchLSTM puts each gate's bias in ``bias_ih`` and zeros in ``bias_hh``. So custom to
torch to custom gives back the same bits, and torch to custom to torch the same scores
(the bias halves are summed once, which rounds at float32's last bit at most).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lstmkit import fileio
from lstmkit.errors import LstmkitError
from lstmkit.loading import (
    KINDS,
    NAME_PATTERN,
    PTH_SUFFIXES,
    PTH_WRITTEN,
    LoadedModel,
    ModelSpec,
    check_output_name,
    load_model_file,
)
from lstmkit.models import CharModel, CustomLSTM, TorchLSTM
from lstmkit.weights import (
    LSTMWeights,
    from_custom_state,
    from_torch_state,
    to_custom_state,
)


def to_module(weights: LSTMWeights, kind: str) -> CharModel:
    """A TorchLSTM (``kind="torch"``) or CustomLSTM (``"custom"``) with ``weights``,
    in the weights' dtype (float64 weights give a float64 module)."""
    weights.validate(finite=False)
    dtype = np.result_type(*weights.tensors().values())  # float32 from most files
    K, H, L = weights.char_size, weights.hidden_size, weights.num_layers
    if kind == "torch":
        model: CharModel = TorchLSTM(K, H, L)
        state = weights.tensors()
    elif kind == "custom":
        model = CustomLSTM(K, H, L, init_rand=False)
        state = to_custom_state(weights)
    else:
        raise LstmkitError(
            f"model kind: expected one of {', '.join(KINDS)}, got {kind!r}"
        )
    model = model.to(torch.from_numpy(np.empty(0, dtype)).dtype)
    model.load_state_dict(
        {k: torch.from_numpy(np.array(v, dtype=dtype)) for k, v in state.items()}
    )
    return model.eval()


def from_module(model: CharModel, source: str = "") -> LSTMWeights:
    """The canonical weights of a TorchLSTM or CustomLSTM."""
    state = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    source = source or type(model).__name__
    if isinstance(model, TorchLSTM):
        return from_torch_state(state, source)
    if isinstance(model, CustomLSTM):
        return from_custom_state(state, source)
    raise LstmkitError(f"model: cannot convert a {type(model).__name__}")


def default_output(src: str | os.PathLike, spec: ModelSpec, folder=None) -> Path:
    """``<stem>_<kind>_<args>.pth`` beside ``src`` (or in ``folder``), where
    ``<stem>`` is the source's name without its own convention suffix."""
    src = Path(src)
    match = NAME_PATTERN.match(src.stem)
    stem = match["stem"] if match and match["stem"] else src.stem
    return Path(folder or src.parent) / f"{stem}_{spec.file_suffix()}.pth"


@dataclass
class ConvertResult:
    """What ``convert_file`` wrote."""

    source: LoadedModel
    spec: ModelSpec
    path: Path


def convert_file(
    src: str | os.PathLike,
    to: str,
    dst: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    spec: ModelSpec | None = None,
) -> ConvertResult:
    """Converts a model file to the other class and saves it by the name convention.

    Args:
        src: a ``.pth`` or ``.safetensors`` model file.
        to: ``"torch"`` or ``"custom"``.
        dst: the output path; by default beside ``src``, named by the convention.
        overwrite: replace ``dst`` if it exists.
        spec: the source's class and arguments when its name follows no convention.

    Returns:
        The source read, the target's class and arguments, and the path written.
    """
    if to not in KINDS:
        raise LstmkitError(f"--to: expected one of {', '.join(KINDS)}, got {to!r}")
    if dst is not None:  # the output's mistakes are reported before the source is read
        _check_output(src, dst, overwrite)
    loaded = load_model_file(src, spec=spec)  # NaN or infinity refused there
    target = ModelSpec(to, loaded.weights.hidden_size, loaded.weights.num_layers)
    path = Path(dst) if dst is not None else default_output(src, target)
    _check_output(src, path, overwrite)
    check_output_name(path, suffixes=PTH_SUFFIXES, spec=target, written=PTH_WRITTEN)

    model = to_module(loaded.weights, to)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    fileio.write_atomic(path, lambda tmp: torch.save(state, tmp), overwrite=overwrite)
    return ConvertResult(loaded, target, path)


def _check_output(src: str | os.PathLike, path: str | os.PathLike, overwrite: bool):
    """The output is writable, not the source, and named as a ``.pth``."""
    path = Path(path)
    if path.resolve() == Path(src).resolve():
        raise LstmkitError(f"{path}: is the source file; give another output path")
    fileio.check_output_path(path, overwrite=overwrite)
    check_output_name(path, suffixes=PTH_SUFFIXES, written=PTH_WRITTEN)
