"""``lstmkit verify SRC``: every backend against numpy64, in three call patterns.

Exit status: 0 when every backend is within tolerance, 1 when one is not, 2 on a usage
or input error.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lstmkit import backends, metadata
from lstmkit.commands.convert import add_spec_options, spec_from_args
from lstmkit.errors import LstmkitError
from lstmkit.export_meta import check_same_charset
from lstmkit.loading import LoadedModel, load_model_file
from lstmkit.verify import (
    DEFAULT_ATOL,
    DEFAULT_CHUNKS,
    DEFAULT_RTOL,
    OptionError,
    VerifyReport,
    verify,
)
from lstmkit.verify_report import PATTERN_LABELS

DEFAULT_CHARS = 2000
EXIT_MISMATCH = 1

# verify()'s parameters and the options that set them, to name the option in errors.
OPTIONS = {
    "backends": "--backends",
    "extra": "--onnx",
    "chunks": "--chunks",
    "atol": "--atol",
    "rtol": "--rtol",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="run every backend on the same text and compare it with numpy64",
        description="Run every backend (torch, custom, numpy, onnx, ...) on the same "
        "characters three ways (one call, in chunks with the state carried, one "
        "character per call) and compare the scores and the final h and c with the "
        "float64 NumPy reference. A value passes when "
        "|x - ref| <= atol + rtol * |ref|. Exit status 0: all within tolerance; "
        "1: one is not; 2: usage or input error. A graph unrolled for U steps runs "
        "the longest multiple of U of the text, in calls of multiples of U; the report "
        "gives every pattern's calls.",
    )
    p.add_argument("src", help="the model file (.pth or .safetensors)")
    p.add_argument(
        "--meta", help="the metadata file holding the model's charset (for text input)"
    )
    p.add_argument(
        "--backends",
        metavar="A,B,...",
        help="comma-separated backends to run (default: all of "
        f"{','.join(backends.names())}); numpy64 always runs as the reference",
    )
    text = p.add_mutually_exclusive_group()
    text.add_argument("--text", help="verify on this text")
    text.add_argument(
        "--text-file", metavar="FILE", help="verify on the text of this UTF-8 file"
    )
    text.add_argument(
        "--length",
        type=int,
        metavar="N",
        help="verify on N random indices (needs no charset)",
    )
    p.add_argument(
        "--seed", type=int, metavar="S", help="the seed for --length (default 0)"
    )
    p.add_argument(
        "--chars",
        type=int,
        metavar="N",
        help=f"use the first N characters of the text (default: {DEFAULT_CHARS} of "
        "data/input.txt, all of --text or --text-file)",
    )
    p.add_argument(
        "--chunks",
        default=str(DEFAULT_CHUNKS),
        metavar="K",
        help="the chunked pattern: K chunks, or their lengths as a comma-separated "
        f"list adding up to the sequence length (default {DEFAULT_CHUNKS})",
    )
    p.add_argument(
        "--atol",
        type=float,
        default=DEFAULT_ATOL,
        help=f"absolute tolerance (default {DEFAULT_ATOL:g})",
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=DEFAULT_RTOL,
        help=f"relative tolerance (default {DEFAULT_RTOL:g})",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch's threads while verifying (default 1: one stream run step by "
        "step gains little from more, and loses much when the cores are busy)",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout"
    )
    p.add_argument(
        "--onnx",
        action="append",
        default=[],
        metavar="FILE",
        help="also verify this ONNX file (any tool's export with lstmkit's interface, "
        "unrolled ones included); repeatable",
    )
    add_spec_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    if args.threads < 1:
        raise LstmkitError(f"--threads: expected a positive count, got {args.threads}")
    loaded = load_model_file(args.src, meta=args.meta, spec=spec_from_args(args))
    indices, source = input_indices(args, loaded)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        report = verify(
            loaded.weights,
            indices,
            backends=_backend_list(args.backends),
            extra=_onnx_backends(args.onnx, loaded),
            chunks=_chunks(args.chunks),
            atol=args.atol,
            rtol=args.rtol,
        )
    except OptionError as exc:
        if exc.option not in OPTIONS:
            raise
        raise LstmkitError(f"{OPTIONS[exc.option]}: {exc.detail}") from exc
    finally:
        torch.set_num_threads(saved_threads)
    if args.json:
        document = report.to_dict()
        document.update(model=loaded.describe(), input=source)
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        print(format_report(report, loaded, source))
    return 0 if report.ok else EXIT_MISMATCH


def input_indices(args, loaded: LoadedModel) -> tuple[np.ndarray, str]:
    """The (N,) indices the options ask for and a description of where they came
    from."""
    K = loaded.weights.char_size
    if args.length is not None:
        if args.chars is not None:
            raise LstmkitError("--chars: applies to text, not to --length")
        if args.length < 1:
            raise LstmkitError(
                f"--length: expected a positive count, got {args.length}"
            )
        seed = 0 if args.seed is None else args.seed
        indices = np.random.default_rng(seed).integers(0, K, size=args.length)
        return indices, f"{args.length} random indices (seed {seed})"
    if args.seed is not None:
        raise LstmkitError("--seed: applies only with --length N")
    if args.chars is not None and args.chars < 1:
        raise LstmkitError(f"--chars: expected a positive count, got {args.chars}")

    if args.text is not None:
        text, where = args.text, "--text"
    elif args.text_file is not None:
        text, where = metadata.read_text(args.text_file), args.text_file
    else:
        path = default_text_path()
        text, where = metadata.read_text(path), str(path)
        text = text[: args.chars or DEFAULT_CHARS]
    if args.chars is not None:
        text = text[: args.chars]
    if not text:
        raise LstmkitError(f"{where}: the text is empty; give at least one character")

    if loaded.charset is None:
        raise LstmkitError(
            f"{loaded.path}: carries no charset to encode the text with; pass --meta "
            "META (the metadata file the model was trained with), or --length N for "
            "random indices"
        )
    table = metadata.Metadata(tuple(loaded.charset))
    indices = np.asarray(table.encode(text, where), dtype=np.int64)
    return indices, f"{len(text)} characters of {where}"


def default_text_path() -> Path:
    """``data/input.txt`` of the repository lstmkit runs from, or of the current
    folder."""
    package_root = Path(__file__).resolve().parents[2]
    for folder in (package_root, Path.cwd()):
        path = folder / "data" / "input.txt"
        if path.is_file():
            return path
    raise LstmkitError(
        "no data/input.txt beside the lstmkit package or in the current folder; pass "
        "--text-file FILE, --text TEXT or --length N"
    )


def _backend_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise LstmkitError("--backends: give at least one name, e.g. torch,numpy")
    return names


def _chunks(value: str) -> int | list[int]:
    try:
        parts = [int(part) for part in value.split(",")]
    except ValueError as exc:
        raise LstmkitError(
            f"--chunks: expected a count or comma-separated lengths, got {value!r}"
        ) from exc
    return parts[0] if len(parts) == 1 else parts


def _onnx_backends(paths: list[str], loaded: LoadedModel) -> dict:
    """An ONNX file backend per path; a file whose charset differs from the model's
    is refused: its scores would be right index by index and its text wrong."""
    if not paths:
        return {}
    try:
        from lstmkit.backends.onnx_backend import OnnxFileBackend
    except ImportError as exc:
        raise LstmkitError(
            f"--onnx: the ONNX file backend is not available ({exc}); install "
            "onnxruntime"
        ) from exc
    out = {}
    for k, path in enumerate(paths):
        name = f"onnx:{Path(path).name}"
        backend = OnnxFileBackend(path)
        check_same_charset(loaded.charset, backend.info.charset, loaded.path, path)
        out[name if name not in out else f"{name}#{k + 1}"] = backend
    return out


def format_report(report: VerifyReport, loaded: LoadedModel, source: str) -> str:
    """The report as a table a person can read, its columns as wide as their
    content."""
    lines = [
        f"model: {loaded.describe()}",
        f"input: {source}; chunks of {', '.join(map(str, report.chunk_sizes))}",
        f"reference: {report.reference} (float64), one call",
        f"tolerance: |x - ref| <= atol + rtol * |ref|, atol={report.atol:g}, "
        f"rtol={report.rtol:g}",
        "",
    ]
    header = ["backend", "pattern", "calls", "max abs", "max rel", "first bad"]
    header += ["argmax", "h,c max abs", "secs", "result"]
    rows = []  # a short row's last cell spans the columns after it
    for name, backend in report.backends.items():
        if backend.error is not None:
            rows.append([name, "-", f"FAILED: {backend.error}"])
            continue
        if backend.is_reference:
            one_call = [PATTERN_LABELS["one_call"], f"1x{report.length}"]
            rows.append([name, *one_call, "(reference)"])
        for pattern, p in backend.patterns.items():
            rows.append(
                [
                    name,
                    PATTERN_LABELS[pattern],
                    "+".join(f"{k}x{n}" for k, n in p.calls()),
                    _num(p.max_abs),
                    _num(p.max_rel),
                    "-" if p.first_bad_step is None else str(p.first_bad_step),
                    "same" if p.argmax_agrees else f"{p.argmax_mismatches} differ",
                    _num(max(p.h_max_abs, p.c_max_abs)),
                    f"{p.seconds:.2f}",
                    "ok" if p.ok else "FAIL",
                ]
            )
    lines += _table(header, rows, left={0, 1, 2, 9})
    lines += [
        "calls: how many run calls x how many indices each; they add up to the steps "
        "compared",
        "first bad: the first step (counted from 0) holding a score past tolerance",
        "argmax: same, or how many steps pick another best character than numpy64",
    ]
    lines += ["", "built from:"]
    lines += [f"  {name}: {b.built_from or '-'}" for name, b in report.backends.items()]

    # A backend taking multiples of U steps ran fewer steps than the input: say so.
    notes = [
        f"  {name}: runs calls of a multiple of {b.step_multiple} steps; compared "
        f"over the first {b.patterns['one_call'].steps} of {report.length} steps"
        for name, b in report.backends.items()
        if b.step_multiple > 1 and "one_call" in b.patterns
    ]
    if notes:
        lines += ["", "notes:", *notes]
    lines.append("")
    if report.ok:
        lines.append(
            f"OK: {len(report.backends)} backend(s) within tolerance of "
            f"{report.reference} in every call pattern"
        )
    else:
        lines.append("FAILED:")
        lines += [f"  {line}" for line in report.failures()]
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]], left: set[int]) -> list[str]:
    """The header, a rule and the rows, each column padded to its widest cell (columns
    in ``left`` aligned left, the others right). A row shorter than the header ends
    in a cell spanning the rest, which sets no width."""

    def padded(row: list[str]) -> list[str]:
        return row if len(row) == len(header) else row[:-1]

    widths = [
        max(len(row[k]) for row in [header, *rows] if k < len(padded(row)))
        for k in range(len(header))
    ]

    def line(row: list[str]) -> str:
        cells = [
            cell.ljust(widths[k]) if k in left else cell.rjust(widths[k])
            for k, cell in enumerate(padded(row))
        ]
        return "  ".join(cells + row[len(cells) :]).rstrip()

    top = line(header)
    return [top, "-" * len(top)] + [line(row) for row in rows]


def _num(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.2e}"
