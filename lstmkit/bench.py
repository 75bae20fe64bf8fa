"""Benchmarks: every backend's speed and exactness, side by side, in one run.

For each model size TorchLSTM(K, H, L) and each thread count, three workloads:

    score      one call on N characters (default 2,000)
    generate   N characters one per call, the state carried (default 500)
    batch      B streams of N characters in one ``run_batch`` call (64 x 256)

Beside each backend's characters per second stand two ratios, both measured in the
same process and the same rounds: to plain ``nn.LSTM`` + ``nn.Linear`` in eager
PyTorch (what a user would pick instead) and to the machine's limit (only the matrix
products the workload needs, in NumPy and in torch, each in both layouts, the fastest
of the four). And the
largest absolute difference of the scores from ``numpy64`` on the same input.

Each thread count runs in a subprocess of its own. BLAS libraries size their thread
pools from environment variables when they load, so a fresh process with
``OMP_NUM_THREADS`` and its kin set, plus ``torch.set_num_threads`` and onnxruntime's
intra-op threads, controls every library's threads without another dependency.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from lstmkit import backends, fileio, metadata
from lstmkit.bench_report import to_markdown
from lstmkit.bench_timing import Workload, measure
from lstmkit.errors import LstmkitError
from lstmkit.threads import THREAD_VARIABLES, thread_env
from lstmkit.weights import LSTMWeights, random_weights

log = logging.getLogger(__name__)

FORMAT = "lstmkit-bench 1"
SEED = 0
WEIGHT_SCALE = 0.1  # small weights keep the gates off saturation, so every sum counts
WORKLOADS = ("score", "generate", "batch")
# Backends that run another backend's code on weights that went through a file: their
# speed is that backend's, and ``lstmkit verify`` checks their exactness.
SAME_CODE_AS = {"safetensors": "numpy"}


@dataclass
class Settings:
    """What to measure. ``configs`` are (H, L) pairs; K comes from ``text``."""

    configs: list[tuple[int, int]] = field(
        default_factory=lambda: [(128, 1), (256, 2), (500, 3)]
    )
    threads: list[int] = field(default_factory=lambda: [1, 2])
    text: str = "data/input.txt"
    score_chars: int = 2000
    generate_chars: int = 500
    batch_streams: int = 64
    batch_chars: int = 256
    repeat: int = 5
    budget: float = 0.2  # seconds one timed call may take before it is cut
    backends: list[str] | None = None  # None: every registered one (see SAME_CODE_AS)
    quick: bool = False
    only: list[str] | None = None  # workload names to run; None: all three

    def workloads(self) -> list[Workload]:
        every = [
            Workload("score", self.score_chars),
            Workload("generate", self.generate_chars),
            Workload("batch", self.batch_chars, self.batch_streams),
        ]
        return [w for w in every if self.only is None or w.name in self.only]

    def validate(self) -> Settings:
        """Raises LstmkitError naming the first setting out of range."""
        if not self.configs:
            raise LstmkitError("--configs: expected at least one HxL, e.g. 128x1")
        for H, L in self.configs:
            if H < 1 or L < 1:
                raise LstmkitError(f"--configs: {H}x{L}: H and L must be positive")
        if not self.threads or min(self.threads) < 1:
            raise LstmkitError(
                f"--threads: expected positive counts, got {self.threads}"
            )
        counts = {
            "--repeat": self.repeat,
            "score characters": self.score_chars,
            "generate characters": self.generate_chars,
            "batch streams": self.batch_streams,
            "batch characters": self.batch_chars,
        }
        for what, value in counts.items():
            if value < 1:
                raise LstmkitError(f"{what}: expected a positive number, got {value}")
        if not self.budget > 0:
            raise LstmkitError(f"--budget: expected seconds > 0, got {self.budget}")
        if self.only is not None:
            unknown = sorted(set(self.only) - set(WORKLOADS))
            if unknown or not self.only:
                raise LstmkitError(
                    f"--workloads: expected some of {', '.join(WORKLOADS)}, got "
                    f"{', '.join(self.only) or 'none'}"
                )
        return self


def quick_settings(**changes) -> Settings:
    """Tiny sizes for a smoke test of the whole run: seconds, not minutes."""
    quick = Settings(
        configs=[(16, 1), (8, 2)],
        score_chars=40,
        generate_chars=12,
        batch_streams=4,
        batch_chars=10,
        repeat=2,
        quick=True,
    )
    return replace(quick, **changes)


def backend_names(requested: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """The backends to time (the reference first) and those skipped, with why.

    Raises:
        LstmkitError: a requested name that is not registered.
    """
    registered = backends.names()
    if requested is None:
        skipped = {
            name: f"runs the {SAME_CODE_AS[name]} backend's code on weights read back "
            f"from a file: its speed is {SAME_CODE_AS[name]}'s; lstmkit verify checks "
            "its exactness (time it with --backends)"
            for name in registered
            if name in SAME_CODE_AS
        }
        return [name for name in registered if name not in skipped], skipped
    unknown = sorted(set(requested) - set(registered))
    if unknown:
        raise LstmkitError(
            f"--backends: no backend named {', '.join(unknown)}; choose from "
            f"{', '.join(registered)}"
        )
    # numpy64 always runs: every difference is measured from it.
    chosen = [backends.REFERENCE] + [n for n in requested if n != backends.REFERENCE]
    return list(dict.fromkeys(chosen)), {}


def run(settings: Settings, *, verbose: bool = False) -> dict:
    """Runs the benchmark, one subprocess per thread count, and returns the results.

    Returns:
        A JSON-ready dict: ``machine``, ``versions``, ``settings``, ``skipped`` and
        ``results``, one entry per (model, threads, workload) with every backend's
        figures, the eager ``nn.LSTM`` and the machine's limit.

    Raises:
        LstmkitError: a bad setting or text file, or a subprocess that failed.
    """
    settings.validate()
    names, skipped = backend_names(settings.backends)
    text = metadata.read_text(settings.text)
    meta = metadata.from_text(text)
    codes = _encode_inputs(meta, text, settings)

    started = time.perf_counter()
    load_start = _load_average()
    results = []
    for threads in settings.threads:
        spec = {
            "settings": asdict(settings),
            "char_size": len(meta.charset),
            "codes": codes.tolist(),
            "backends": names,
            "threads": threads,
            "verbose": verbose,
        }
        results.extend(_run_worker(spec, verbose))

    return {
        "format": FORMAT,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "machine": _machine(load_start),
        "versions": _versions(),
        "settings": {
            **asdict(settings),
            "backends": names,
            "char_size": len(meta.charset),
            "weights": f"random_weights seed {SEED}, scale {WEIGHT_SCALE}",
            "thread_control": "one subprocess per thread count: "
            f"{', '.join(THREAD_VARIABLES)} set before any library loads, "
            "torch.set_num_threads, onnxruntime intra_op_num_threads",
        },
        "skipped": skipped,
        "results": results,
    }


def save(result: dict, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Writes the Markdown table and the JSON into ``folder`` (``latest.md`` and
    ``latest.json``; ``quick.*`` for a --quick run), atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = "quick" if result["settings"]["quick"] else "latest"
    markdown = fileio.write_text_atomic(folder / f"{stem}.md", to_markdown(result))
    data = fileio.write_text_atomic(
        folder / f"{stem}.json", json.dumps(result, indent=1) + "\n"
    )
    return markdown, data


def _encode_inputs(meta, text: str, settings: Settings) -> np.ndarray:
    """The text's first characters as indices, repeated if the text is short."""
    score_and_generate = settings.score_chars + settings.generate_chars
    needed = max(score_and_generate, settings.batch_streams * settings.batch_chars)
    codes = np.asarray(meta.encode(text[:needed]), dtype=np.int64)
    return np.resize(codes, needed)


def _run_worker(spec: dict, verbose: bool) -> list[dict]:
    threads = spec["threads"]
    env = thread_env(threads)
    code = "import sys; from lstmkit.bench import worker_main; sys.exit(worker_main())"

    with tempfile.TemporaryDirectory(prefix="lstmkit-bench-") as folder:
        spec_path, out_path = Path(folder) / "spec.json", Path(folder) / "out.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        log.info("benchmark: starting the %d-thread process", threads)
        done = subprocess.run(
            [sys.executable, "-c", code, str(spec_path), str(out_path)],
            env=env,
            stderr=None if verbose else subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            lines = (done.stderr or "").strip().splitlines()
            detail = lines[-1] if lines else "its error is printed above"
            raise LstmkitError(
                f"benchmark: the {threads}-thread process failed "
                f"(exit {done.returncode}): {detail}"
            )
        return json.loads(out_path.read_text(encoding="utf-8"))


def worker_main(argv: list[str] | None = None) -> int:
    """The subprocess: ``SPEC_JSON OUT_JSON``. Its thread variables are already set."""
    spec_path, out_path = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO if spec["verbose"] else logging.WARNING,
        format="%(message)s",
    )
    import torch

    threads = spec["threads"]
    torch.set_num_threads(threads)
    settings = Settings(**spec["settings"])
    K, codes = spec["char_size"], np.asarray(spec["codes"], dtype=np.int64)
    inputs = workload_inputs(codes, settings)

    rows = []
    for H, L in settings.configs:
        weights = random_weights(K, H, L, seed=SEED, scale=WEIGHT_SCALE)
        models = {name: _create(name, weights, threads) for name in spec["backends"]}
        for workload in settings.workloads():
            row = measure(
                models,
                weights,
                workload,
                inputs[workload.name],
                threads,
                repeat=settings.repeat,
                budget=settings.budget,
            )
            row["torch_threads"] = torch.get_num_threads()  # as set, for the record
            rows.append(row)
            log.info("%s", _progress_line(row))
    fileio.write_text_atomic(out_path, json.dumps(rows))
    return 0


def workload_inputs(codes: np.ndarray, settings: Settings) -> dict[str, np.ndarray]:
    """Each workload's indices: (N,) for score and generate, (N, B) for batch."""
    S, G = settings.score_chars, settings.generate_chars
    B, N = settings.batch_streams, settings.batch_chars
    return {
        "score": codes[:S],
        "generate": codes[S : S + G],
        "batch": np.ascontiguousarray(codes[: B * N].reshape(B, N).T),  # (N, B)
    }


def _create(name: str, weights: LSTMWeights, threads: int) -> backends.Backend:
    # Backends with a thread pool of their own (onnxruntime) take it as an option.
    module_name, class_name = backends.REGISTRY[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    takes_threads = "threads" in inspect.signature(cls).parameters
    return backends.create(
        name, weights, **({"threads": threads} if takes_threads else {})
    )


def _progress_line(row: dict) -> str:
    parts = [
        f"{name} {figure['chars_per_second']:,.0f}"
        for name, figure in row["backends"].items()
        if "chars_per_second" in figure
    ]
    return (
        f"[{row['threads']} thread(s)] {row['hidden_size']}x{row['num_layers']} "
        f"{row['workload']}: {', '.join(parts)}, eager "
        f"{row['eager']['chars_per_second']:,.0f}, limit "
        f"{row['limit']['chars_per_second']:,.0f} ({row['limit']['by']}) chars/s"
    )


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _machine(load_start: float | None) -> dict:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": cpus,
        "cpu": model,
        "platform": platform.platform(),
        "load_average_start": load_start,
        "load_average_end": _load_average(),
    }


def _versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in ("lstmkit", "numpy", "torch", "onnxruntime", "onnx"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        versions["numpy_blas"] = f"{blas['name']} {blas['version']}"
    except (KeyError, TypeError):
        versions["numpy_blas"] = None
    return versions
