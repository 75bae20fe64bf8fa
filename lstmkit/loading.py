"""Load any model file lstmkit knows into the canonical form.

* ``.pth`` written by the seed's classes or lstmkit's: the class and its arguments
  come from the file name convention (``<stem>_torch_<H>_<L>.pth``,
  ``<stem>_custom_<H>.pth``, ``<stem>_custom_<H>_<L>.pth``); where the name does not
  follow it, from the keys and shapes inside. K always comes from the weights.
* ``.safetensors`` written by ``lstmkit export``: TorchLSTM's tensor names, the class,
  its arguments and the charset in ``__metadata__``.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmkit import fileio
from lstmkit import metadata as meta_mod
from lstmkit.errors import LstmkitError
from lstmkit.weights import (
    TORCH_GATE_ORDER,
    LSTMWeights,
    check_state_dict,
    custom_state_shapes,
    from_custom_state,
    from_torch_state,
    infer_custom_sizes,
    infer_torch_sizes,
    torch_state_shapes,
)

if TYPE_CHECKING:  # export_meta builds on this module's ModelSpec
    from lstmkit.export_meta import Description

KINDS = ("torch", "custom")
CLASS_OF_KIND = {"torch": "TorchLSTM", "custom": "CustomLSTM"}
KIND_OF_CLASS = {cls: kind for kind, cls in CLASS_OF_KIND.items()}
SUFFIXES = (".pth", ".pt", ".safetensors")
PTH_SUFFIXES = (".pth", ".pt")  # torch.save's files, as lstmkit reads them back
PTH_WRITTEN = "a PyTorch state dict (torch.save)"
NAME_PATTERN = re.compile(r"^(?P<stem>.*?)_?(?P<kind>torch|custom)(?P<args>(_[^_]+)+)$")

NAMING_HELP = (
    "name the file <stem>_torch_<H>_<L>.pth for a TorchLSTM or <stem>_custom_<H>.pth "
    "(<stem>_custom_<H>_<L>.pth when stacked) for a CustomLSTM, or pass --model-class "
    "with --hidden-size and --num-layers"
)


@dataclass(frozen=True)
class ModelSpec:
    """A model class and the arguments after ``char_size``.

    Attributes:
        kind: ``"torch"`` (TorchLSTM) or ``"custom"`` (CustomLSTM).
        hidden_size: H.
        num_layers: L.
    """

    kind: str
    hidden_size: int
    num_layers: int

    @property
    def class_name(self) -> str:
        return CLASS_OF_KIND[self.kind]

    def file_suffix(self) -> str:
        """The name convention's tail: ``torch_<H>_<L>``, ``custom_<H>[_<L>]``."""
        if self.kind == "custom" and self.num_layers == 1:
            return f"custom_{self.hidden_size}"
        return f"{self.kind}_{self.hidden_size}_{self.num_layers}"


@dataclass
class LoadedModel:
    """A model file read into the canonical form.

    Attributes:
        weights: the canonical weights (float32 as stored).
        spec: the class and arguments the file was written for.
        charset: the characters in index order, when the file or a metadata file says.
        path: the file read.
    """

    weights: LSTMWeights
    spec: ModelSpec
    charset: tuple[str, ...] | None
    path: Path

    def metadata(self) -> meta_mod.Metadata:
        """The charset as :class:`Metadata`.

        Raises:
            LstmkitError: the file carries none and no metadata file was given.
        """
        if self.charset is None:
            raise LstmkitError(
                f"{self.path}: the file carries no charset; pass --meta META, the "
                "metadata file the model was trained with"
            )
        return meta_mod.Metadata(tuple(self.charset))

    def describe(self) -> str:
        return (
            f"{self.path.name}: {self.spec.class_name}(char_size="
            f"{self.weights.char_size}, hidden_size={self.spec.hidden_size}, "
            f"num_layers={self.spec.num_layers})"
        )


def spec_from_name(path: str | os.PathLike) -> ModelSpec | None:
    """The class and arguments the file name gives, or None when it follows no
    convention. ``x_torch_500_3.pth`` gives TorchLSTM(K, 500, 3)."""
    match = NAME_PATTERN.match(Path(path).stem)
    if not match:
        return None
    try:
        args = [ast.literal_eval(token) for token in match["args"].split("_")[1:]]
    except (ValueError, SyntaxError):
        return None
    ints = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    bools = [a for a in args if isinstance(a, bool)]
    if len(ints) + len(bools) != len(args) or not 1 <= len(ints) <= 2:
        return None
    if match["kind"] == "torch" and bools:
        return None
    if any(v < 1 for v in ints):
        return None
    return ModelSpec(match["kind"], ints[0], ints[1] if len(ints) == 2 else 1)


UNROLL_TAIL = re.compile(r"_unroll(?P<steps>\d+)$")


def check_output_name(
    path: str | os.PathLike,
    *,
    suffixes: tuple[str, ...],
    spec: ModelSpec | None = None,
    unroll: int | None = None,
    written: str = "the output",
) -> Path:
    """Checks that an output's name fits what is written into it.

    The suffix must be one of ``suffixes``; a name that follows the convention
    (``<stem>_<kind>_<H>[_<L>][_unroll<U>]``) must give ``spec``'s class and sizes
    (and ``unroll``'s step count), since lstmkit reads the class back from the name.

    Args:
        path: the output path.
        suffixes: the suffixes that fit the format; the first is the one suggested.
        spec: the class and sizes written, when known.
        unroll: the steps of an unrolled ONNX graph, or None.
        written: what is written, for the message (``"a PyTorch state dict"``).

    Raises:
        LstmkitError: naming what the name says, what is written and a name that fits.
    """
    path = Path(path)
    if path.suffix not in suffixes:
        raise LstmkitError(
            f"{path}: {written} is written, so the name must end in "
            f"{' or '.join(suffixes)}, not {path.suffix or 'nothing'}; name it "
            f"{path.stem if path.suffix else path.name}{suffixes[0]}"
        )
    stem = path.stem
    tail = UNROLL_TAIL.search(stem)
    if tail:
        stem = stem[: tail.start()]
    named = spec_from_name(stem)
    steps = int(tail["steps"]) if tail else None
    wrong_class = named is not None and spec is not None and named != spec
    if not wrong_class and steps in (None, unroll):
        return path

    match = NAME_PATTERN.match(stem)
    base = match["stem"] if named is not None and match["stem"] else stem
    fits = f"{base}_{(spec or named).file_suffix()}" if named is not None else base
    fits += f"_unroll{unroll}" if unroll is not None else ""
    if wrong_class:
        says = f"{named.class_name} with H={named.hidden_size}, L={named.num_layers}"
        writes = f"a {spec.class_name} with H={spec.hidden_size}, L={spec.num_layers}"
    else:
        says = f"{steps} unrolled steps"
        writes = f"a graph of {unroll} steps" if unroll else "a graph for any length"
    raise LstmkitError(
        f"{path}: the name says {says}, but the output is {writes}; name it "
        f"{fits}{path.suffix}"
    )


def spec_from_state(state: dict[str, np.ndarray]) -> ModelSpec | None:
    """The class and arguments read off a state dict's keys, or None."""
    if "lstm.weight_ih_l0" in state:
        _, H, L = infer_torch_sizes(state)
        return ModelSpec("torch", H, L)
    if "i_gate.weight" in state:
        _, H, L = infer_custom_sizes(state)
        return ModelSpec("custom", H, L)
    return None


def load_model_file(
    path: str | os.PathLike,
    *,
    meta: str | os.PathLike | None = None,
    spec: ModelSpec | None = None,
    finite: bool = True,
) -> LoadedModel:
    """Reads a ``.pth`` or ``.safetensors`` file into the canonical form.

    Args:
        path: the model file.
        meta: a metadata file whose charset must match the model's K; it supplies the
            charset when the file carries none.
        spec: the class and arguments, overriding the file name (for names outside
            the convention).
        finite: refuse weights holding NaN or infinity (every command does: such a
            model can be neither verified, exported, converted nor run); False only
            to load them into a torch module as they are.

    Raises:
        LstmkitError: the file is unreadable, unsafe, does not fit its class and
            arguments, holds NaN or infinity (with ``finite``), or the metadata's
            charset size differs from the model's.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        loaded = _load_safetensors(path, spec)
    elif path.suffix == ".onnx":
        raise LstmkitError(
            f"{path}: ONNX files are exports, not sources; convert or verify the .pth "
            "or .safetensors it was exported from"
        )
    else:
        state = {k: v.detach().numpy() for k, v in fileio.read_pth(path).items()}
        loaded = _load_state(path, state, spec)
    loaded.weights.validate(finite=finite)

    if meta is not None:
        metadata = meta_mod.load(meta)
        K = loaded.weights.char_size
        if len(metadata.charset) != K:
            raise LstmkitError(
                f"{meta}: its charset has {len(metadata.charset)} characters but the "
                f"model {path.name} has char_size {K}; use the metadata file the model "
                "was trained with"
            )
        if loaded.charset is not None and tuple(loaded.charset) != metadata.charset:
            raise LstmkitError(
                f"{meta}: its charset differs from the one stored in {path.name}"
            )
        loaded.charset = metadata.charset
    return loaded


def _load_state(path: Path, state: dict[str, np.ndarray], spec: ModelSpec | None):
    named = spec or spec_from_name(path)
    source = f"{path.name}"
    if named is None:
        named = spec_from_state(state)
        if named is None:
            keys = ", ".join(sorted(state)[:6]) or "none"
            raise LstmkitError(
                f"{path}: the name follows no convention and the keys ({keys}) are "
                f"neither TorchLSTM's nor CustomLSTM's; {NAMING_HELP}"
            )
    K = _char_size(state, path)
    expected = (torch_state_shapes if named.kind == "torch" else custom_state_shapes)(
        K, named.hidden_size, named.num_layers
    )
    try:
        check_state_dict(
            state,
            expected,
            f"{path} as {named.class_name}(K={K}, "
            f"H={named.hidden_size}, L={named.num_layers})",
        )
    except LstmkitError as exc:
        found = _fitting_spec(path, state)
        if found is None:
            raise LstmkitError(f"{exc}; {NAMING_HELP}") from exc
        # the whole file is another size or class: say that plainly, not key by key
        match = NAME_PATTERN.match(path.stem)
        stem = match["stem"] if match and match["stem"] else path.stem
        said = "its name says" if spec is None else "the options say"
        raise LstmkitError(
            f"{path}: {said} {named.class_name}(H={named.hidden_size}, "
            f"L={named.num_layers}) but it holds a {found.class_name} with "
            f"H={found.hidden_size}, L={found.num_layers}: rename it "
            f"{stem}_{found.file_suffix()}{path.suffix} or pass --model-class "
            f"{found.kind} --hidden-size {found.hidden_size} --num-layers "
            f"{found.num_layers}"
        ) from exc
    convert = from_torch_state if named.kind == "torch" else from_custom_state
    return LoadedModel(convert(state, source), named, None, path)


def _fitting_spec(path: Path, state: dict[str, np.ndarray]) -> ModelSpec | None:
    """The class and sizes whose keys and shapes the file holds exactly, or None
    when it holds no one class's whole state dict (no safe guess then)."""
    try:
        found = spec_from_state(state)
    except LstmkitError:
        return None
    if found is None:
        return None
    shapes = torch_state_shapes if found.kind == "torch" else custom_state_shapes
    K = _char_size(state, path)
    held = {k: tuple(v.shape) for k, v in state.items()}
    return found if shapes(K, found.hidden_size, found.num_layers) == held else None


def _char_size(state: dict[str, np.ndarray], path: Path) -> int:
    weight = state.get("decoder.weight")
    if weight is None or np.ndim(weight) != 2:
        raise LstmkitError(
            f"{path}: no 2-D decoder.weight, so the charset size cannot be read; "
            "is this a TorchLSTM or CustomLSTM weight file?"
        )
    return int(weight.shape[0])


def _load_safetensors(path: Path, spec: ModelSpec | None) -> LoadedModel:
    # imported here: export_meta builds on this module's ModelSpec
    from lstmkit.export_meta import FORMAT_NAME, parse, parse_charset

    tensors, info = fileio.read_safetensors(path)
    weights = from_torch_state(tensors, path.name)
    if spec is not None and (spec.hidden_size, spec.num_layers) != (
        weights.hidden_size,
        weights.num_layers,
    ):  # as a .pth is refused when the options do not fit it
        raise LstmkitError(
            f"{path}: the options say H={spec.hidden_size}, L={spec.num_layers} but "
            f"it holds H={weights.hidden_size}, L={weights.num_layers}; give those, "
            "or drop --model-class, --hidden-size and --num-layers (a .safetensors "
            "file gives its own sizes)"
        )
    if info.get("format") != FORMAT_NAME:  # another tool's file of TorchLSTM tensors
        charset = parse_charset(info, weights.char_size, str(path))
        kind = KIND_OF_CLASS.get(info.get("model_class", ""), "torch")
        named = spec or ModelSpec(kind, weights.hidden_size, weights.num_layers)
        return LoadedModel(weights, named, charset, path)
    # lstmkit's own export: every entry it writes must agree with the tensors
    description = parse(info, str(path))
    _check_description(description, info, weights, path)
    named = spec or description.spec
    return LoadedModel(weights, named, description.charset, path)


def _check_description(
    description: Description, info: dict, weights: LSTMWeights, path: Path
) -> None:
    """Refuses an lstmkit safetensors file whose metadata says other than its
    tensors: nothing in it is silently ignored."""
    said = (description.char_size, description.spec.hidden_size)
    said += (description.spec.num_layers,)
    held = (weights.char_size, weights.hidden_size, weights.num_layers)
    if said != held:
        raise LstmkitError(
            f"{path}: its metadata 'model_args' says (K, H, L) = {said} but its "
            f"tensors hold {held}; the file was edited or damaged. Export the model "
            "again with lstmkit export"
        )
    order = TORCH_GATE_ORDER
    if info.get("gate_order") != order:
        raise LstmkitError(
            f"{path}: its metadata 'gate_order' is {info.get('gate_order')!r}; lstmkit "
            f"writes and reads only {order!r} (PyTorch's order). Reorder the gates "
            "of each stacked tensor to that order and set 'gate_order', or export "
            "the model again with lstmkit export"
        )
