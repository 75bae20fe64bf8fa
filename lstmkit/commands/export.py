"""``lstmkit export SRC --format {onnx,safetensors} [-o DST] [--meta META] ...``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstmkit import export_onnx, export_safetensors, fileio
from lstmkit.commands.convert import add_spec_options, spec_from_args
from lstmkit.convert import default_output
from lstmkit.errors import LstmkitError
from lstmkit.loading import check_output_name, load_model_file
from lstmkit.metadata import read_text

FORMATS = ("onnx", "safetensors")
SUFFIXES = {"onnx": (".onnx",), "safetensors": (".safetensors",)}
WRITTEN = {"onnx": "an ONNX graph", "safetensors": "a safetensors file"}
DEFAULT_FOLDER = Path("exports")
DEFAULT_TEXT = Path("data/input.txt")
CHECK_LENGTH = 1000
ONNX_ONLY = ("opset", "unroll", "check_text", "atol", "rtol")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a model to ONNX or safetensors, checked before it is written",
        description="Export SRC (.pth or .safetensors) to ONNX (an LSTM-operator graph "
        "for any sequence length, or with --unroll a fixed-length graph of elementary "
        "operators for verification tools) or to safetensors. Every export is checked "
        "before it is written: ONNX with onnx.checker, onnxruntime and onnx.reference "
        "against lstmkit's float64 reference; safetensors read back bit for bit. The "
        "default output is exports/<stem>_<class>_<args>.<ext>.",
    )
    p.add_argument("src", help="the model file to export")
    p.add_argument("--format", required=True, choices=FORMATS, help="the file format")
    p.add_argument("-o", "--output", help="the output path (default: in exports/)")
    p.add_argument(
        "--meta",
        help="the metadata file the model was trained with; its charset is written "
        "into the export (needed unless SRC carries it)",
    )
    p.add_argument(
        "--opset",
        type=int,
        help=f"ONNX opset, {export_onnx.MIN_OPSET} or newer "
        f"(default {export_onnx.DEFAULT_OPSET})",
    )
    p.add_argument(
        "--unroll",
        type=int,
        metavar="N",
        help="ONNX: a fixed-length graph of N steps in elementary operators, input "
        "onehot [N, K]",
    )
    p.add_argument(
        "--check-text",
        metavar="FILE",
        help=f"ONNX: check on the first {CHECK_LENGTH} characters of this UTF-8 text "
        f"(default {DEFAULT_TEXT} when it exists and the charset is known, else "
        "random indices)",
    )
    p.add_argument(
        "--atol",
        type=float,
        help=f"ONNX check tolerance, absolute (default {export_onnx.ATOL:g})",
    )
    p.add_argument(
        "--rtol",
        type=float,
        help=f"ONNX check tolerance, relative (default {export_onnx.RTOL:g})",
    )
    p.add_argument("--force", action="store_true", help="replace the output if present")
    add_spec_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.format != "onnx":
        given = [f"--{o.replace('_', '-')}" for o in ONNX_ONLY if getattr(args, o)]
        if given:
            raise LstmkitError(
                f"{', '.join(given)}: only for --format onnx, not {args.format}"
            )
    else:  # option mistakes are reported before the model is read
        if args.opset is not None:
            export_onnx.check_opset(args.opset)
        if args.unroll is not None and args.unroll < 1:
            raise LstmkitError(
                f"--unroll: expected a positive step count, got {args.unroll}"
            )
    if args.output:  # and so are the output's, before any work is done
        _check_output(args, Path(args.output))
    loaded = load_model_file(args.src, meta=args.meta, spec=spec_from_args(args))
    print(f"read {loaded.describe()}")
    output = Path(args.output) if args.output else _default_output(args, loaded.spec)
    _check_output(args, output, loaded.spec)

    if args.format == "safetensors":
        result = export_safetensors.export(
            loaded.weights,
            output,
            spec=loaded.spec,
            charset=loaded.charset,
            overwrite=args.force,
        )
    else:
        indices, where = _check_indices(args.check_text, loaded)
        print(f"checking on {where}")
        result = export_onnx.export(
            loaded.weights,
            output,
            spec=loaded.spec,
            charset=loaded.charset,
            opset=export_onnx.DEFAULT_OPSET if args.opset is None else args.opset,
            unroll=args.unroll,
            indices=indices,
            atol=export_onnx.ATOL if args.atol is None else args.atol,
            rtol=export_onnx.RTOL if args.rtol is None else args.rtol,
            overwrite=args.force,
        )
    for line in result.checks:
        print(f"  {line}")
    if loaded.charset is None:
        print("note: no charset known, so the export carries none (pass --meta META)")
    print(f"wrote {result.path}")
    return 0


def _check_output(args, output: Path, spec=None) -> None:
    """The output is writable and its name fits the format (and ``spec``)."""
    fileio.check_output_path(output, overwrite=args.force)
    check_output_name(
        output,
        suffixes=SUFFIXES[args.format],
        spec=spec,
        unroll=args.unroll if args.format == "onnx" else None,
        written=WRITTEN[args.format],
    )


def _default_output(args, spec) -> Path:
    """``exports/<stem>_<class>_<args>.onnx`` (``..._unroll<N>.onnx``), or
    ``.safetensors``."""
    path = default_output(args.src, spec, DEFAULT_FOLDER)
    if args.format == "safetensors":
        return path.with_suffix(".safetensors")
    tail = f"_unroll{args.unroll}" if args.unroll is not None else ""
    return path.with_name(f"{path.stem}{tail}.onnx")


def _check_indices(check_text: str | None, loaded) -> tuple[np.ndarray | None, str]:
    """The indices the ONNX export is checked on, and a phrase saying where from."""
    if check_text is None and (loaded.charset is None or not DEFAULT_TEXT.is_file()):
        return None, f"{CHECK_LENGTH} random indices (seed 0)"
    if loaded.charset is None:
        raise LstmkitError(
            "--check-text: the model's charset is unknown; pass --meta META too"
        )
    path = Path(check_text) if check_text is not None else DEFAULT_TEXT
    table = {ch: k for k, ch in enumerate(loaded.charset)}
    text = read_text(path)
    if check_text is not None:  # a text the user chose is checked on as it is
        used = text[:CHECK_LENGTH]
        part = f" (its first {CHECK_LENGTH} characters)" if used != text else ""
        loaded.metadata().encode(used, f"--check-text {path}{part}")
        text = used

    # The default text may hold characters a model was not trained on: skip them.
    indices, skipped = [], 0
    for ch in text:
        if len(indices) == CHECK_LENGTH:
            break
        if ch in table:
            indices.append(table[ch])
        else:
            skipped += 1
    if len(indices) < 2:
        raise LstmkitError(
            f"{path}: holds fewer than 2 characters of the model's charset; give a "
            "text in the model's language"
        )
    where = f"the first {len(indices)} characters of {path}"
    if skipped:
        where += f", {skipped} characters outside the charset skipped"
    return np.asarray(indices, dtype=np.int64), where
