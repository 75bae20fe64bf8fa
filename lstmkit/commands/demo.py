"""``lstmkit demo``: the main job on the shipped default model, end to end.

Runs, and prints before each step, the same commands a user would type: convert the
model to the other class, export ONNX and safetensors into ``exports/``, verify every
backend, and generate a sample with the onnxruntime script (no torch in that process).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from lstmkit.errors import LstmkitError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = "weights/shakespeare_torch_256_2.pth"
DEFAULT_META = "data/meta.txt"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the main job: convert, export, verify and generate, end to end",
        description="Convert the default model to CustomLSTM, export it to ONNX and "
        "safetensors in exports/, verify every backend against the float64 reference, "
        "and generate text with scripts/ort_generate.py (onnxruntime only).",
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help="default %(default)s")
    p.add_argument("--meta", default=DEFAULT_META, help="default %(default)s")
    p.add_argument(
        "--out", default="exports", help="output folder (default %(default)s)"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from lstmkit.cli import main
    from lstmkit.loading import load_model_file

    model, meta, out = (ROOT / args.model, ROOT / args.meta, ROOT / args.out)
    if not model.exists():
        raise LstmkitError(f"{model}: no such model; pass --model PATH")
    out.mkdir(exist_ok=True)
    spec = load_model_file(model, meta=meta).spec
    other = "custom" if spec.kind == "torch" else "torch"
    stem = model.stem
    steps = [
        [
            "convert",
            str(model),
            "--to",
            other,
            "-o",
            str(out / f"{stem.replace(spec.kind, other)}.pth"),
            "--force",
        ],
        [
            "export",
            str(model),
            "--format",
            "onnx",
            "--meta",
            str(meta),
            "-o",
            str(out / f"{stem}.onnx"),
            "--force",
        ],
        [
            "export",
            str(model),
            "--format",
            "safetensors",
            "--meta",
            str(meta),
            "-o",
            str(out / f"{stem}.safetensors"),
            "--force",
        ],
        ["verify", str(model), "--meta", str(meta)],
    ]
    start = time.perf_counter()
    for argv in steps:
        print(f"\n$ lstmkit {shlex.join(_short(argv))}", flush=True)
        code = main(argv)
        if code:
            print(f"lstmkit demo: step failed with exit code {code}", file=sys.stderr)
            return code

    script = [
        sys.executable,
        str(ROOT / "scripts" / "ort_generate.py"),
        str(out / f"{stem}.onnx"),
        "--prime",
        "ROMEO:",
        "--length",
        "300",
        "--seed",
        "0",
    ]
    print(f"\n$ python {shlex.join(_short(script[1:]))}", flush=True)
    result = subprocess.run(script, check=False)
    if result.returncode:
        return result.returncode
    print(f"\ndemo finished in {time.perf_counter() - start:.1f}s")
    return 0


def _short(argv: list[str]) -> list[str]:
    """Paths relative to the repository, for display."""
    return [
        str(Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a for a in argv
    ]
