"""Reading weight files safely and writing every output atomically.

Nothing here runs code from a file: ``.pth`` files are read with
``torch.load(weights_only=True)``, which refuses pickled objects other than tensors and
plain containers, and ``.safetensors`` files hold no code at all.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from lstmkit.errors import LstmkitError

SAFE_FORMAT_HINT = (
    "if you trust the file's source, re-save only its tensors where you trust it "
    "(safetensors.torch.save_file(model.state_dict(), PATH)): safetensors is the "
    "safe format, it cannot carry code"
)


def check_output_path(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Checks that ``path`` can be written before any work is done.

    Raises:
        LstmkitError: the folder is missing or unwritable, or the file exists and
            ``overwrite`` is false.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise LstmkitError(f"{path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise LstmkitError(
            f"{path}: folder {folder} is not writable; pick another path"
        )
    if path.is_dir():
        raise LstmkitError(f"{path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise LstmkitError(f"{path}: already exists; pass --force to replace it")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; on success it is renamed over ``path``.

    A crash or an exception leaves the old file (or no file) in place, never a half
    written one. The temporary file is removed on failure.

    Raises:
        LstmkitError: the path cannot be written (see :func:`check_output_path`), or
            the system refuses the write (a full disk, a read-only folder).
    """
    path = check_output_path(path, overwrite=overwrite)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
    except OSError as exc:
        raise _write_error(path, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _file_mode(path))  # mkstemp makes it private (0600)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _write_error(path: Path, exc: OSError) -> LstmkitError:
    return LstmkitError(
        f"{path}: could not be written ({exc.strerror or exc}); any old file there "
        "is unchanged"
    )


def _file_mode(path: Path) -> int:
    """The mode a replaced file keeps, or a new file's default under the umask."""
    if path.exists():
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(
    path: str | os.PathLike, write: Callable[[Path], object], *, overwrite: bool = True
) -> Path:
    """Calls ``write(tmp_path)`` and renames the result into place atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        write(tmp)
    return Path(path)


def write_text_atomic(
    path: str | os.PathLike, text: str, *, overwrite: bool = True
) -> Path:
    """Writes UTF-8 text atomically."""
    return write_atomic(
        path, lambda tmp: tmp.write_text(text, encoding="utf-8"), overwrite=overwrite
    )


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise LstmkitError(f"{path}: no such file")
    if path.is_dir():
        raise LstmkitError(f"{path}: is a folder, not a weight file")
    if path.stat().st_size == 0:
        raise LstmkitError(f"{path}: file is empty")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _unpickling_reason(exc: BaseException) -> str:
    """What torch's safe unpickler refused, without its advice to load unsafely."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"it would import {found[1]}"
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    return found[1].strip() if found else "objects torch's safe loader does not allow"


def _pickle_damage(path: Path) -> str | None:
    """Why the file's pickle cannot be parsed at all, or None when it parses.

    Parsing only walks the opcodes (pickletools runs nothing), which tells a corrupt
    file apart from a well-formed pickle that torch's safe loader refuses.
    """
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):  # torch.save's format: the pickle is data.pkl
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if not names:
                    return "a zip archive without data.pkl"
                data = archive.read(names[0])
        else:  # the legacy format: a pickle first, whatever follows it
            data = path.read_bytes()
        for _ in pickletools.genops(data):
            pass
    except Exception as exc:  # ValueError and the zip module's own errors
        return _first_line(exc) or type(exc).__name__
    return None


def read_pth(path: str | os.PathLike) -> dict:
    """A ``.pth`` state dict as ``{name: torch.Tensor}``, read without running code.

    Raises:
        LstmkitError: the file is missing, empty, corrupt, holds something other than a
            flat dict of tensors, or would need unsafe unpickling.
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    _check_readable(path)
    try:
        with warnings.catch_warnings():  # torch's notes on odd pickles: not the user's
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        damage = _pickle_damage(path)
        if damage is not None:
            raise LstmkitError(
                f"{path}: not a readable PyTorch weight file (it may be truncated or "
                f"corrupt: {damage})"
            ) from exc
        raise LstmkitError(
            f"{path}: refused, the file holds objects other than tensors "
            f"({_unpickling_reason(exc)}); lstmkit never unpickles them because that "
            f"can run code; {SAFE_FORMAT_HINT}"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LstmkitError(
            f"{path}: not a readable PyTorch weight file, it may be truncated or "
            f"corrupt ({type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    except Exception as exc:  # torch raises many types on mangled archives
        raise LstmkitError(
            f"{path}: not a readable PyTorch weight file ({type(exc).__name__}: "
            f"{_first_line(exc)})"
        ) from exc

    if (
        isinstance(state, dict)
        and "state_dict" in state
        and isinstance(state["state_dict"], dict)
    ):
        state = state["state_dict"]  # a checkpoint wrapping the state dict
    if not isinstance(state, dict):
        raise LstmkitError(
            f"{path}: expected a state dict (names to tensors), found "
            f"{type(state).__name__}; save weights with model.save_model(path)"
        )
    for key, value in state.items():
        if not isinstance(key, str):
            problem = f"a key is not a name but the {type(key).__name__} {key!r}"
        elif not isinstance(value, torch.Tensor):
            problem = f"entry {key!r} holds a {type(value).__name__}"
        else:
            continue
        raise LstmkitError(
            f"{path}: expected a state dict (names to tensors), but {problem}; save "
            "weights with model.save_model(path)"
        )
    return state


def read_safetensors(path: str | os.PathLike) -> tuple[dict, dict[str, str]]:
    """A ``.safetensors`` file as ``({name: np.ndarray}, metadata)``; needs no torch."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    _check_readable(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, ValueError, OSError, TypeError, KeyError) as exc:
        raise LstmkitError(
            f"{path}: not a readable safetensors file, it may be truncated or corrupt "
            f"({exc})"
        ) from exc
    return tensors, metadata
