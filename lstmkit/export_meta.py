"""The description every lstmkit export carries, under the same keys in every format.

ONNX files keep it in their metadata properties, safetensors files in ``__metadata__``;
both are string-to-string maps, so every value is a string (JSON where it is a list or
a dict):

    format          "lstmkit"
    format_version  "1"; a reader refuses a version it does not know
    model_class     "TorchLSTM" or "CustomLSTM", the class the source file was
    model_args      JSON {"char_size": K, "hidden_size": H, "num_layers": L}
    charset         JSON list of one-character strings in index order (when known)

The format names each writer adds (``gate_order`` in safetensors, ``graph`` and
``unroll`` in ONNX) are documented beside the writer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lstmkit.errors import LstmkitError
from lstmkit.loading import CLASS_OF_KIND, KIND_OF_CLASS, ModelSpec
from lstmkit.weights import LSTMWeights

FORMAT_NAME = "lstmkit"
FORMAT_VERSION = "1"
SUPPORTED_VERSIONS = ("1",)


@dataclass
class ExportResult:
    """What an exporter wrote and what it checked first.

    Attributes:
        path: the file written.
        checks: one line per check, in the order run.
    """

    path: Path
    checks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Description:
    """What an export says about itself.

    Attributes:
        spec: the model class and its arguments.
        char_size: K.
        charset: the characters in index order, or None.
        format_version: the version string the file carries.
    """

    spec: ModelSpec
    char_size: int
    charset: tuple[str, ...] | None
    format_version: str


def describe(
    weights: LSTMWeights,
    spec: ModelSpec | None = None,
    charset: tuple[str, ...] | list[str] | None = None,
) -> dict[str, str]:
    """The string map written into an export for ``weights``.

    Args:
        weights: the canonical weights being exported.
        spec: the source's class; a TorchLSTM of the weights' sizes when None.
        charset: the characters in index order; must have K entries.

    Raises:
        LstmkitError: the charset's size differs from K or it is malformed.
    """
    K, H, L = weights.char_size, weights.hidden_size, weights.num_layers
    spec = spec or ModelSpec("torch", H, L)
    info = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_class": CLASS_OF_KIND[spec.kind],
        "model_args": json.dumps(
            {"char_size": K, "hidden_size": H, "num_layers": L}, sort_keys=True
        ),
    }
    if charset is not None:
        info["charset"] = json.dumps(list(_check_charset(charset, K, "charset")))
    return info


def parse(info: dict[str, str], what: str) -> Description:
    """Reads a description written by :func:`describe`.

    Raises:
        LstmkitError: the map is not lstmkit's, its version is unknown, or a key is
            missing or malformed; the message names the key.
    """
    if info.get("format") != FORMAT_NAME:
        raise LstmkitError(
            f"{what}: not an lstmkit export (metadata 'format' is "
            f"{info.get('format')!r}, expected {FORMAT_NAME!r}); export it with "
            "lstmkit export"
        )
    _check_version(info, what)
    missing = sorted({"model_class", "model_args"} - set(info))
    if missing:
        raise LstmkitError(f"{what}: metadata lacks {', '.join(missing)}")
    kind = KIND_OF_CLASS.get(info["model_class"])
    if kind is None:
        raise LstmkitError(
            f"{what}: metadata 'model_class' is {info['model_class']!r}, expected one "
            f"of {', '.join(KIND_OF_CLASS)}"
        )
    try:
        args = json.loads(info["model_args"])
        K, H, L = (int(args[k]) for k in ("char_size", "hidden_size", "num_layers"))
    except (ValueError, TypeError, KeyError) as exc:
        raise LstmkitError(
            f"{what}: metadata 'model_args' is not a JSON object with char_size, "
            "hidden_size and num_layers"
        ) from exc
    charset = parse_charset(info, K, what)
    return Description(ModelSpec(kind, H, L), K, charset, info["format_version"])


def _check_version(info: dict[str, str], what: str) -> None:
    """Refuses an lstmkit export whose format version this lstmkit does not know."""
    version = info.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise LstmkitError(
            f"{what}: lstmkit format version {version!r} is not supported (this "
            f"lstmkit reads {', '.join(SUPPORTED_VERSIONS)}); re-export the model with "
            "this lstmkit or upgrade lstmkit"
        )


def parse_charset(info: dict[str, str], K: int, what: str) -> tuple[str, ...] | None:
    """The ``charset`` entry as a tuple, or None when absent."""
    if "charset" not in info:
        return None
    try:
        charset = json.loads(info["charset"])
    except ValueError as exc:
        raise LstmkitError(f"{what}: metadata 'charset' is not a JSON list") from exc
    return _check_charset(charset, K, f"{what}: metadata 'charset'")


def check_same_charset(
    expected: tuple[str, ...] | None,
    found: tuple[str, ...] | None,
    source: object,
    export: object,
) -> None:
    """Refuses an export whose charset differs from its source's; either unknown
    (None) passes, since there is nothing to compare.

    Raises:
        LstmkitError: naming the first index where the two differ.
    """
    if expected is None or found is None or tuple(expected) == tuple(found):
        return
    if len(expected) != len(found):
        detail = f"{len(found)} characters against {len(expected)}"
    else:
        pairs = enumerate(zip(expected, found, strict=True))
        k = next(i for i, (a, b) in pairs if a != b)
        detail = f"index {k} is {found[k]!r} there and {expected[k]!r} in {source}"
    raise LstmkitError(
        f"{export}: its charset differs from the model's ({detail}); the same scores "
        "would stand for other characters. Export the model again with the metadata "
        "it was trained with (lstmkit export --meta)"
    )


def _check_charset(charset, K: int, what: str) -> tuple[str, ...]:
    if not isinstance(charset, (list, tuple)) or not all(
        isinstance(ch, str) and len(ch) == 1 for ch in charset
    ):
        raise LstmkitError(f"{what}: expected a list of one-character strings")
    if len(charset) != K:
        raise LstmkitError(
            f"{what}: has {len(charset)} characters but the model has char_size {K}"
        )
    if len(set(charset)) != K:
        raise LstmkitError(f"{what}: lists a character twice")
    return tuple(charset)
