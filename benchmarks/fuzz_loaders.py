"""Fuzz lstmkit's loaders: every mutated file must load correctly or be refused with
lstmkit's own error, never raise another exception, crash or hang.

    python benchmarks/fuzz_loaders.py [--inputs 3000] [--seed 0] [--timeout 30]
        [--keep DIR] [--selftest]

The seeds are small valid files made by lstmkit itself: a TorchLSTM and a CustomLSTM
``.pth`` (K=5, H=3, L=2), the ``.safetensors`` export, the ``.onnx`` exports (LSTM
operator, and unrolled over 2 steps) and a metadata file. Each input is one seed with
one to three mutations stacked: bit flips, truncation, byte insertion and deletion,
zeroed ranges, an "interesting" integer written over a field, and edits that know the
format (the pickle inside a ``.pth`` or the whole object swapped for another, the
safetensors JSON header, the ONNX graph, metadata properties and initializers, tokens
spliced into a metadata literal).

Every loader for the file's type is run on it:

    .pth, .safetensors  lstmkit.loading.load_model_file; TorchLSTM and CustomLSTM
                        load_model (whose weights must be unchanged after a refusal)
    .onnx               lstmkit.onnx_file.read_info; OnnxFileBackend built and run
                        on 3 indices; scripts/ort_common.Model opened and run
    metadata            lstmkit.metadata.load

An outcome is ``loaded``, ``refused`` (LstmkitError, or the scripts' ScriptError, in
one line naming the file) or a finding: any other exception, a refusal that does not
name the file or spans lines, weights changed by a refused load, a crash of the
process, or a hang past ``--timeout`` seconds. The loaders run in a worker process
limited to 4 GiB of address space (so a file claiming a huge tensor cannot exhaust
the machine); a hang or crash kills the worker and a new one takes the next input.
``--selftest`` plants a loader that raises, one that hangs and one that aborts, and
checks that each is reported.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import multiprocessing
import os
import random
import struct
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
K, H, L = 5, 3, 2
CHARSET = tuple("ab c\n")
MEMORY_LIMIT = 4 << 30  # bytes of address space for the worker
STARTUP_TIMEOUT = 120.0  # seconds for a worker process to start

# File types, each with its seeds' names (the name convention gives the class) and the
# loaders run on every mutated input.
LOADERS = {
    "pth": ("load_model_file", "TorchLSTM.load_model", "CustomLSTM.load_model"),
    "safetensors": (
        "load_model_file",
        "TorchLSTM.load_model",
        "CustomLSTM.load_model",
    ),
    "onnx": ("onnx_file.read_info", "OnnxFileBackend", "ort_common.Model"),
    "metadata": ("metadata.load",),
}
SELFTEST_LOADERS = ("selftest.raise", "selftest.hang", "selftest.abort")


# --------------------------------------------------------------------------- seeds


@dataclass
class Seed:
    """A valid file to mutate: its type, the name it is written under, its bytes."""

    kind: str
    name: str
    data: bytes


def make_seeds() -> list[Seed]:
    """The valid files every input starts from, made by lstmkit's own writers."""
    from lstmkit import export_onnx, export_safetensors, metadata
    from lstmkit.convert import to_module
    from lstmkit.weights import random_weights

    weights = random_weights(K, H, L, seed=0)
    seeds = []
    with tempfile.TemporaryDirectory(prefix="lstmkit-fuzz-") as folder:
        folder = Path(folder)
        for kind, name in (
            ("torch", "m_torch_3_2.pth"),
            ("custom", "m_custom_3_2.pth"),
        ):
            to_module(weights, kind).save_model(folder / name)
        export_safetensors.export(weights, folder / "m.safetensors", charset=CHARSET)
        export_onnx.export(weights, folder / "m.onnx", charset=CHARSET)
        export_onnx.export(weights, folder / "u.onnx", charset=CHARSET, unroll=2)
        metadata.save(metadata.Metadata(CHARSET, 100), folder / "meta.txt")
        for name, kind in (
            ("m_torch_3_2.pth", "pth"),
            ("m_custom_3_2.pth", "pth"),
            ("m.safetensors", "safetensors"),
            ("m.onnx", "onnx"),
            ("u.onnx", "onnx"),
            ("meta.txt", "metadata"),
        ):
            seeds.append(Seed(kind, name, (folder / name).read_bytes()))
    return seeds


# --------------------------------------------------------------------------- mutations

INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1)
INTERESTING += (2**63 - 1, 2**64 - 1)


def mutate(seed: Seed, rng: random.Random) -> tuple[bytes, list[str]]:
    """``seed``'s bytes with one to three mutations; returns them and their names."""
    data, names = seed.data, []
    for _ in range(rng.choice((1, 1, 2, 3))):
        aware = FORMAT_MUTATIONS[seed.kind]
        if rng.random() < 0.5:
            name, fn = rng.choice(list(BYTE_MUTATIONS.items()))
        else:
            name, fn = rng.choice(list(aware.items()))
        try:
            data = fn(data, rng)
        except Exception:  # a format edit on bytes an earlier mutation broke
            name, data = "flip", _flip(data, rng)
        names.append(name)
    return data, names


def _span(data: bytes, rng: random.Random, most: int) -> tuple[int, int]:
    start = rng.randrange(len(data) + 1)
    return start, min(len(data), start + rng.randint(1, most))


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def _insert(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    if rng.random() < 0.5 and data:
        start, end = _span(data, rng, 64)
        chunk = data[start:end]  # a copy of bytes from elsewhere in the file
    else:
        chunk = rng.randbytes(rng.randint(1, 64))
    return data[:at] + chunk + data[at:]


def _delete(data: bytes, rng: random.Random) -> bytes:
    start, end = _span(data, rng, 64)
    return data[:start] + data[end:]


def _zero(data: bytes, rng: random.Random) -> bytes:
    start, end = _span(data, rng, 256)
    return data[:start] + bytes(end - start) + data[end:]


def _interesting(data: bytes, rng: random.Random) -> bytes:
    width = rng.choice((1, 2, 4, 8))
    value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
    at = rng.randrange(max(1, len(data) - width + 1))
    return data[:at] + value.to_bytes(width, "little") + data[at + width :]


BYTE_MUTATIONS = {
    "flip": _flip,
    "truncate": _truncate,
    "insert": _insert,
    "delete": _delete,
    "zero": _zero,
    "interesting": _interesting,
}


def _pth_pickle(data: bytes, rng: random.Random) -> bytes:
    """A byte mutation inside the archive's ``data.pkl`` only (stored uncompressed)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        member = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
        pickle_bytes = archive.read(member)
    start = data.index(pickle_bytes)
    mutated = rng.choice(list(BYTE_MUTATIONS.values()))(pickle_bytes, rng)
    return data[:start] + mutated + data[start + len(pickle_bytes) :]


def _pth_member(data: bytes, rng: random.Random) -> bytes:
    """The archive rewritten with one member dropped, renamed or emptied."""
    source = zipfile.ZipFile(io.BytesIO(data))
    members = source.infolist()
    victim = rng.choice(members)
    action = rng.choice(("drop", "rename", "empty"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for info in members:
            content = source.read(info)
            if info is victim:
                if action == "drop":
                    continue
                if action == "rename":
                    info = zipfile.ZipInfo(info.filename + "x")
                else:
                    content = b""
            archive.writestr(info.filename, content)
    return out.getvalue()


def _pth_swap(data: bytes, rng: random.Random) -> bytes:
    """The whole file replaced by ``torch.save`` of another, plausible object."""
    import torch

    with warnings.catch_warnings():  # an earlier mutation may have marred it
        warnings.simplefilter("ignore")
        state = torch.load(io.BytesIO(data), weights_only=True)
    key = rng.choice(sorted(state))
    variants = {
        "int64 tensor": lambda s: s | {key: s[key].long()},
        "float64 tensor": lambda s: s | {key: s[key].double()},
        "extra key": lambda s: s | {"extra.weight": torch.zeros(2)},
        "missing key": lambda s: {k: v for k, v in s.items() if k != key},
        "int value": lambda s: s | {key: 3},
        "scalar tensor": lambda s: s | {key: torch.tensor(1.0)},
        "reshaped": lambda s: s | {key: s[key].reshape(1, -1)},
        "nan": lambda s: s | {key: torch.full_like(s[key], float("nan"))},
        "wrapped": lambda s: {"state_dict": s, "epoch": 3},
        "list": lambda s: list(s.values()),
        "bare tensor": lambda s: s[key],
        "nested": lambda s: {"model": s},
        "int keys": lambda s: {k: v for k, v in enumerate(s.values())},
    }
    out = io.BytesIO()
    torch.save(variants[rng.choice(sorted(variants))](dict(state)), out)
    return out.getvalue()


def _safetensors_header(data: bytes, rng: random.Random) -> bytes:
    """The JSON header edited (dtype, shape, offsets, names, metadata) and its length
    rewritten to match; or the length field alone set to a wrong value."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    names = [n for n in header if n != "__metadata__"]
    name = rng.choice(names)
    edit = rng.choice(
        ("dtype", "shape", "offsets", "drop", "rename", "meta", "length", "meta_type")
    )
    if edit == "length":
        value = rng.choice((0, 1, length - 1, length + 1, len(data), 2**40, 2**64 - 1))
        return struct.pack("<Q", value) + data[8:]
    if edit == "dtype":
        header[name]["dtype"] = rng.choice(("F16", "F64", "I64", "BOOL", "U8", "X", ""))
    elif edit == "shape":
        shape = list(header[name]["shape"])
        choice = rng.randrange(4)
        if choice == 0:
            shape.append(rng.choice((1, 2)))
        elif choice == 1 and shape:
            shape.pop()
        elif shape:
            shape[rng.randrange(len(shape))] = rng.choice((0, 1, 7, 2**31, -1))
        header[name]["shape"] = shape
    elif edit == "offsets":
        start, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = rng.choice(
            ([end, start], [start, end + 4], [0, end - start], [start, 2**40], [-1, 4])
        )
    elif edit == "drop":
        del header[name]
    elif edit == "rename":
        header[name.replace("l0", "l9").replace("weight", "w") + "_"] = header.pop(name)
    elif edit == "meta":
        info = header.setdefault("__metadata__", {})
        key = rng.choice(("format", "format_version", "model_class", "charset"))
        info[key] = rng.choice(
            ("", "2", "lstmkit", "CustomLSTM", "[", '["a"]', '["ab"]', "null", "{}")
        )
    else:
        header["__metadata__"] = rng.choice(([], 3, {"charset": 5}, None))
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def _onnx_model(data: bytes):
    import onnx

    model = onnx.ModelProto()
    model.ParseFromString(data)
    return model


def _onnx_metadata(data: bytes, rng: random.Random) -> bytes:
    """One metadata property deleted or set to something malformed."""
    model = _onnx_model(data)
    props = {p.key: p.value for p in model.metadata_props}
    key = rng.choice(sorted(props) + ["unroll"])
    junk = (
        "",
        "2",
        "{",
        "[]",
        "null",
        '["a", "b"]',
        '["ab", "c", "d", "e", "f"]',
        '{"char_size": 5, "hidden_size": 0, "num_layers": 2}',
        '{"char_size": 5, "hidden_size": 3, "num_layers": 99}',
        '{"char_size": 1e9, "hidden_size": 3, "num_layers": 2}',
        "TorchLSTM",
        "lstmkit",
    )
    if rng.random() < 0.3:
        props.pop(key, None)
    else:
        props[key] = rng.choice(junk)
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


def _onnx_interface(data: bytes, rng: random.Random) -> bytes:
    """An input or output deleted, renamed, retyped or reshaped."""
    model = _onnx_model(data)
    values = model.graph.input if rng.random() < 0.5 else model.graph.output
    value = rng.choice(list(values))
    edit = rng.choice(("delete", "rename", "type", "dim", "dims"))
    if edit == "delete":
        values.remove(value)
    elif edit == "rename":
        value.name = value.name + "_"
    elif edit == "type":
        value.type.tensor_type.elem_type = rng.choice((1, 6, 7, 10, 11))
    elif edit == "dim" and value.type.tensor_type.shape.dim:
        dim = rng.choice(list(value.type.tensor_type.shape.dim))
        if rng.random() < 0.5:
            dim.dim_value = rng.choice((0, 1, 2, 7, 2**31))
        else:
            dim.dim_param = "X"
    else:
        value.type.tensor_type.shape.ClearField("dim")
    return model.SerializeToString()


def _onnx_initializer(data: bytes, rng: random.Random) -> bytes:
    """An initializer whose dims, data type or bytes no longer agree."""
    model = _onnx_model(data)
    tensor = rng.choice(list(model.graph.initializer))
    edit = rng.choice(("dims", "type", "truncate", "clear"))
    if edit == "dims":
        tensor.dims[:] = [rng.choice((0, 1, 2, 3, 7, 2**20)) for _ in tensor.dims]
    elif edit == "type":
        tensor.data_type = rng.choice((0, 6, 7, 9, 11, 16, 99))
    elif edit == "truncate":
        tensor.raw_data = tensor.raw_data[: len(tensor.raw_data) // 2]
    else:
        tensor.ClearField("raw_data")
    return model.SerializeToString()


def _onnx_node(data: bytes, rng: random.Random) -> bytes:
    """A node dropped, retyped, rewired, or its hidden_size changed; or the opset."""
    model = _onnx_model(data)
    nodes = model.graph.node
    node = rng.choice(list(nodes))
    edit = rng.choice(("drop", "op", "input", "hidden_size", "opset"))
    if edit == "drop":
        nodes.remove(node)
    elif edit == "op":
        node.op_type = rng.choice(("Relu", "GRU", "MatMul", "Loop", "Nope"))
    elif edit == "input" and node.input:
        node.input[rng.randrange(len(node.input))] = rng.choice(("h0", "x", "", "zz"))
    elif edit == "hidden_size" and node.attribute:
        node.attribute[0].i = rng.choice((0, 1, 4, 2**20, -1))
    else:
        model.opset_import[0].version = rng.choice((1, 7, 13, 99, 10**6))
    return model.SerializeToString()


METADATA_TOKENS = (
    "{",
    "}",
    "[",
    "]",
    "(",
    "'",
    '"',
    ",",
    ":",
    "\\",
    "'charset': ",
    "'data_size': ",
    "None",
    "True",
    "-1",
    "1e999",
    "0x10",
    "9" * 5000,
    "[" * 1000,
    "__import__('os').system('true')",
    "lambda: 0",
    "'ab'",
    "\x00",
    "\ufeff",
)


def _metadata_token(data: bytes, rng: random.Random) -> bytes:
    token = rng.choice(METADATA_TOKENS).encode()
    at = rng.randrange(len(data) + 1)
    cut = rng.choice((0, 0, 1, len(token)))
    return data[:at] + token + data[at + cut :]


def _metadata_value(data: bytes, rng: random.Random) -> bytes:
    """A parseable literal of the wrong kind in place of one of the four keys."""
    import ast

    value = ast.literal_eval(data.decode())
    key = rng.choice(("charset", "char_to_ix", "ix_to_char", "data_size"))
    value[key] = rng.choice(
        ([], ["a", "a"], ["ab"], [1, 2], "abc", {0: "a"}, {"a": 5}, 0, -3, 2.5, None)
    )
    return repr(value).encode()


FORMAT_MUTATIONS = {
    "pth": {"pickle": _pth_pickle, "member": _pth_member, "swap": _pth_swap},
    "safetensors": {"header": _safetensors_header},
    "onnx": {
        "metadata_props": _onnx_metadata,
        "interface": _onnx_interface,
        "initializer": _onnx_initializer,
        "node": _onnx_node,
    },
    "metadata": {"token": _metadata_token, "value": _metadata_value},
}


# --------------------------------------------------------------------------- loaders


def _load_file(path: Path) -> str:
    from lstmkit.loading import load_model_file

    return load_model_file(path).describe()


def _load_into(class_name: str, path: Path) -> str:
    """``load_model`` into a fresh model; a refusal must leave its weights as they
    were."""
    import torch

    from lstmkit import models

    model = getattr(models, class_name)(K, H, L)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        model.load_model(path)
    except Exception:
        after = model.state_dict()
        if any(not torch.equal(before[k], after[k]) for k in before):
            raise AssertionError("a refused load changed the model's weights") from None
        raise
    return f"loaded into {class_name}"


def _read_info(path: Path) -> str:
    from lstmkit import onnx_file

    info = onnx_file.read_info(path)
    return f"K={info.char_size} H={info.hidden_size} L={info.num_layers}"


def _onnx_file_backend(path: Path) -> str:
    import numpy as np

    from lstmkit.backends.onnx_backend import OnnxFileBackend

    backend = OnnxFileBackend(path)
    unroll = backend.info.unroll
    steps = unroll if unroll is not None and unroll <= 8 else 3  # else refused
    scores = backend.run(np.arange(steps) % backend.char_size)
    if scores.shape != (steps, backend.char_size):
        raise AssertionError(f"scores of shape {scores.shape}")
    return f"ran, scores {scores.shape}"


def _ort_model(path: Path) -> str:
    import numpy as np

    sys.path.insert(0, str(ROOT / "scripts"))
    import ort_common

    model = ort_common.Model(str(path))
    scores = model.run(np.arange(3, dtype=np.int64) % len(model.charset))
    if scores.shape != (3, len(model.charset)):
        raise AssertionError(f"scores of shape {scores.shape}")
    return f"ran, scores {scores.shape}"


def _load_metadata(path: Path) -> str:
    from lstmkit import metadata

    return f"{len(metadata.load(path).charset)} characters"


def _selftest(kind: str, path: Path) -> str:
    if kind == "raise":
        raise ValueError("planted")
    if kind == "hang":
        time.sleep(3600)
    os.abort()


LOADER_FUNCTIONS = {
    "load_model_file": _load_file,
    "TorchLSTM.load_model": lambda path: _load_into("TorchLSTM", path),
    "CustomLSTM.load_model": lambda path: _load_into("CustomLSTM", path),
    "onnx_file.read_info": _read_info,
    "OnnxFileBackend": _onnx_file_backend,
    "ort_common.Model": _ort_model,
    "metadata.load": _load_metadata,
    "selftest.raise": lambda path: _selftest("raise", path),
    "selftest.hang": lambda path: _selftest("hang", path),
    "selftest.abort": lambda path: _selftest("abort", path),
}


def _expected_errors() -> tuple[type, ...]:
    from lstmkit.errors import LstmkitError

    sys.path.insert(0, str(ROOT / "scripts"))
    from ort_common import ScriptError

    return LstmkitError, ScriptError


def run_loader(name: str, path: Path) -> tuple[str, str]:
    """One loader on one file: ``("loaded" | "refused" | "finding", detail)``."""
    try:
        return "loaded", LOADER_FUNCTIONS[name](path)
    except _expected_errors() as exc:
        message = str(exc)
        if "\n" in message:
            return "finding", f"a refusal of more than one line: {message!r}"
        if path.name not in message:
            return "finding", f"a refusal that does not name the file: {message}"
        return "refused", message
    except BaseException as exc:  # anything else is what the fuzzer looks for
        where = traceback.extract_tb(exc.__traceback__)[-1]
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return "finding", (
            f"{type(exc).__name__}: {first} (at {Path(where.filename).name}:"
            f"{where.lineno})"
        )


def _worker(conn) -> None:
    """Runs loaders on files sent through ``conn`` until told to stop."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        names, path = job
        conn.send([run_loader(name, Path(path)) for name in names])


class Worker:
    """A worker process that runs loaders with a time limit, restarted after a hang
    or a crash."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.context = multiprocessing.get_context("spawn")
        self.process = None
        self.restarts = -1

    def _start(self) -> None:
        self.conn, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.restarts += 1
        # the time limit counts from here: a slow start on a busy machine is no hang
        if not self.conn.poll(STARTUP_TIMEOUT) or self.conn.recv() != "ready":
            raise RuntimeError(f"the worker did not start in {STARTUP_TIMEOUT}s")

    def run(self, names: tuple[str, ...], path: Path) -> list[tuple[str, str]]:
        """Each loader's outcome; a hang or a crash is reported for all of them."""
        if self.process is None or not self.process.is_alive():
            self._start()
        self.conn.send((names, str(path)))
        if self.conn.poll(self.timeout):
            with contextlib.suppress(EOFError, ConnectionResetError):
                return self.conn.recv()
            self.process.join(5)
            fault = f"crash: the worker died with exit code {self.process.exitcode}"
        else:
            fault = f"hang: no answer within {self.timeout:g}s"
        self.process.kill()
        self.process.join()
        self.process = None
        return [("finding", fault)] * len(names)

    def close(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.conn.send(None)
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()


# --------------------------------------------------------------------------- driver


@dataclass
class Summary:
    """What a run tried and found.

    Attributes:
        inputs: inputs tried per file type.
        outcomes: (file type, loader, outcome) to count.
        findings: (file type, loader, mutations, detail, kept file or None).
        seconds: wall time.
        restarts: worker restarts (after hangs and crashes).
    """

    inputs: collections.Counter = field(default_factory=collections.Counter)
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    findings: list[tuple[str, str, str, str, str | None]] = field(default_factory=list)
    seconds: float = 0.0
    restarts: int = 0


def fuzz(
    inputs: int,
    *,
    seed: int = 0,
    timeout: float = 30.0,
    keep: Path | None = None,
    loaders: dict[str, tuple[str, ...]] | None = None,
    seeds: list[Seed] | None = None,
) -> Summary:
    """Feeds ``inputs`` mutated files, spread over the seeds (by default
    :func:`make_seeds`), to every loader for their file type."""
    loaders = loaders or LOADERS
    rng = random.Random(seed)
    seeds = [s for s in seeds or make_seeds() if s.kind in loaders]
    summary = Summary()
    worker = Worker(timeout)
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="lstmkit-fuzz-") as folder:
            for n in range(inputs):
                origin = seeds[n % len(seeds)]
                data, mutations = mutate(origin, rng)
                path = Path(folder) / origin.name
                path.write_bytes(data)
                summary.inputs[origin.kind] += 1
                names = loaders[origin.kind]
                for name, (outcome, detail) in zip(
                    names, worker.run(names, path), strict=True
                ):
                    summary.outcomes[origin.kind, name, outcome] += 1
                    if outcome == "finding":
                        kept = _keep(keep, n, origin, data)
                        summary.findings.append(
                            (origin.kind, name, "+".join(mutations), detail, kept)
                        )
    finally:
        worker.close()
    summary.seconds = time.perf_counter() - start
    summary.restarts = max(worker.restarts, 0)
    return summary


def _keep(folder: Path | None, n: int, origin: Seed, data: bytes) -> str | None:
    if folder is None:
        return None
    path = folder / f"{n:05d}_{origin.name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def format_summary(summary: Summary) -> str:
    """Counts per file type and loader, then each distinct finding once."""
    lines = [
        f"{sum(summary.inputs.values())} inputs in {summary.seconds:.0f}s "
        f"({summary.restarts} worker restart(s))",
        "",
        f"{'file type':<12} {'inputs':>6}  {'loader':<22} {'loaded':>7} "
        f"{'refused':>7} {'findings':>8}",
    ]
    for kind in summary.inputs:
        names = sorted({name for k, name, _ in summary.outcomes if k == kind})
        for k, name in enumerate(names):
            counts = [summary.outcomes[kind, name, o] for o in _OUTCOMES]
            head = f"{kind:<12} {summary.inputs[kind]:>6}" if k == 0 else " " * 19
            lines.append(
                f"{head}  {name:<22} {counts[0]:>7} {counts[1]:>7} {counts[2]:>8}"
            )
    distinct = collections.Counter((k, n, d) for k, n, _, d, _ in summary.findings)
    lines += ["", f"findings: {len(summary.findings)} ({len(distinct)} distinct)"]
    for (kind, name, detail), count in distinct.most_common():
        example = next(
            f for f in summary.findings if f[:2] == (kind, name) and f[3] == detail
        )
        kept = f"; kept {example[4]}" if example[4] else ""
        lines.append(f"  {count}x {kind} {name} [{example[2]}]: {detail}{kept}")
    return "\n".join(lines)


_OUTCOMES = ("loaded", "refused", "finding")


def selftest(timeout: float = 10.0) -> dict[str, tuple[str, str]]:
    """Plants a loader that raises, one that hangs and one that aborts, then runs a
    real loader on a valid and on a broken file in the restarted worker. Returns
    each check's outcome."""
    worker = Worker(timeout)
    try:
        with tempfile.TemporaryDirectory(prefix="lstmkit-fuzz-") as folder:
            path = Path(folder) / "meta.txt"
            path.write_text("{'charset': ['a', 'b']}\n", encoding="utf-8")
            outcomes = {name: worker.run((name,), path)[0] for name in SELFTEST_LOADERS}
            outcomes["valid metadata"] = worker.run(("metadata.load",), path)[0]
            path.write_text("{'charset': ['a', 'a']}\n", encoding="utf-8")
            outcomes["broken metadata"] = worker.run(("metadata.load",), path)[0]
    finally:
        worker.close()
    return outcomes


SELFTEST_EXPECTED = {
    "selftest.raise": ("finding", "ValueError"),
    "selftest.hang": ("finding", "hang"),
    "selftest.abort": ("finding", "crash"),
    "valid metadata": ("loaded", "2 characters"),
    "broken metadata": ("refused", "meta.txt"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=3000, help="mutated files to try")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per input before a hang"
    )
    parser.add_argument("--keep", type=Path, help="write each finding's input here")
    parser.add_argument(
        "--selftest", action="store_true", help="check that faults are reported"
    )
    args = parser.parse_args(argv)
    if args.selftest:
        failed = 0
        for name, (outcome, detail) in selftest().items():
            want, phrase = SELFTEST_EXPECTED[name]
            ok = outcome == want and phrase in detail
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {outcome}, {detail}")
        return 1 if failed else 0
    summary = fuzz(args.inputs, seed=args.seed, timeout=args.timeout, keep=args.keep)
    print(format_summary(summary))
    return 1 if summary.findings else 0


if __name__ == "__main__":
    sys.exit(main())
