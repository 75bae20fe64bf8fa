"""The seed's metadata file: a Python dict literal naming the charset and its indices.

Format (kept exactly, so files written by the seed and by lstmkit are interchangeable)::

    {'data_size': 20000, 'charset': ['\\n', ' ', ...],
     'char_to_ix': {'\\n': 0, ' ': 1, ...}, 'ix_to_char': {0: '\\n', 1: ' ', ...}}

``data_size`` is how many characters of the dataset training uses; ``charset`` is the
sorted list of distinct characters in them. Files are parsed with
``ast.literal_eval``, which accepts literals only, so a file holding code is refused
without running it.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

from lstmkit import fileio
from lstmkit.errors import LstmkitError


@dataclass(frozen=True)
class Metadata:
    """A charset and how much of the dataset to use.

    Attributes:
        charset: the characters in index order; index k is ``charset[k]``.
        data_size: characters of the dataset used for training (None: all).
    """

    charset: tuple[str, ...]
    data_size: int | None = None

    @property
    def char_to_ix(self) -> dict[str, int]:
        return {ch: k for k, ch in enumerate(self.charset)}

    def encode(self, text: str, what: str = "text") -> list[int]:
        """Character indices of ``text``.

        Raises:
            LstmkitError: listing every character the charset lacks.
        """
        table = self.char_to_ix
        missing = sorted(set(text) - set(table))
        if missing:
            shown = ", ".join(repr(ch) for ch in missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise LstmkitError(
                f"{what}: {len(missing)} character(s) not in the model's charset: "
                f"{shown}{more}; remove them or use a model trained on them"
            )
        return [table[ch] for ch in text]

    def decode(self, indices) -> str:
        return "".join(self.charset[int(k)] for k in indices)

    def to_dict(self) -> dict:
        """The seed's dict, with all four keys."""
        return {
            "data_size": self.data_size,
            "charset": list(self.charset),
            "char_to_ix": self.char_to_ix,
            "ix_to_char": dict(enumerate(self.charset)),
        }


def read_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file's contents.

    Raises:
        LstmkitError: the file is missing or not valid UTF-8 (naming the byte offset).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise LstmkitError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise LstmkitError(f"{path}: is a folder, not a text file") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LstmkitError(
            f"{path}: not valid UTF-8 at byte offset {exc.start} "
            f"(byte 0x{data[exc.start]:02x}); convert the file to UTF-8"
        ) from exc


def from_text(text: str, size: int | None = None) -> Metadata:
    """The metadata of the first ``size`` characters of ``text`` (all when None)."""
    if size is not None and (isinstance(size, bool) or size < 1):
        raise LstmkitError(
            f"SIZE: expected a positive number of characters, got {size}"
        )
    used = text if size is None else text[:size]
    if not used:
        raise LstmkitError("dataset: is empty; there is no charset to build")
    return Metadata(tuple(sorted(set(used))), len(used))


def parse(text: str, what: str = "metadata") -> Metadata:
    """Parses the seed's dict literal, checking that its parts agree.

    Raises:
        LstmkitError: not a literal, not a dict, a missing or malformed key, or
            ``charset``, ``char_to_ix`` and ``ix_to_char`` that disagree.
    """
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise LstmkitError(
            f"{what}: not a Python dict literal ({type(exc).__name__}); metadata "
            "files may hold only literals, never code; regenerate it with "
            "lstmkit gen-metadata"
        ) from exc
    if not isinstance(value, dict):
        raise LstmkitError(
            f"{what}: expected a dict literal, found {type(value).__name__}"
        )

    charset = value.get("charset")
    if charset is None and isinstance(value.get("ix_to_char"), dict):
        ix = value["ix_to_char"]
        charset = (
            [ix[k] for k in sorted(ix)] if sorted(ix) == list(range(len(ix))) else None
        )
    if (
        not isinstance(charset, (list, tuple))
        or not charset
        or not all(isinstance(ch, str) and len(ch) == 1 for ch in charset)
    ):
        raise LstmkitError(
            f"{what}: 'charset' must be a non-empty list of one-character strings"
        )
    if len(set(charset)) != len(charset):
        raise LstmkitError(f"{what}: 'charset' lists a character twice")

    metadata = Metadata(tuple(charset), _data_size(value.get("data_size"), what))
    for key, expected in (
        ("char_to_ix", metadata.char_to_ix),
        ("ix_to_char", dict(enumerate(metadata.charset))),
    ):
        if key in value and value[key] != expected:
            raise LstmkitError(f"{what}: '{key}' disagrees with 'charset'")
    return metadata


def _data_size(value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LstmkitError(f"{what}: 'data_size' must be a positive integer or None")
    return value


def load(path: str | os.PathLike) -> Metadata:
    """Reads a metadata file; see :func:`parse`."""
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise LstmkitError(f"{path}: metadata file is empty")
    return parse(text, str(path))


def save(
    metadata: Metadata, path: str | os.PathLike, *, overwrite: bool = True
) -> Path:
    """Writes the seed's dict literal atomically."""
    return fileio.write_text_atomic(
        path, repr(metadata.to_dict()) + "\n", overwrite=overwrite
    )


def generate(
    dataset: str | os.PathLike,
    meta_path: str | os.PathLike,
    size: int | None = None,
    *,
    overwrite: bool = True,
) -> Metadata:
    """``gen-metadata``: the metadata of a dataset's first ``size`` characters."""
    metadata = from_text(read_text(dataset), size)
    save(metadata, meta_path, overwrite=overwrite)
    return metadata
