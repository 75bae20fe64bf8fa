"""Bad input and faults (issue 6): a clear error, nothing lost, nothing run.

One test, or one parametrised group, per row of the issue's table, through the command
line where a user meets it (one line on stderr naming the file or option, exit 2, no
traceback) and through the library where that is the surface (models, backends).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from lstmkit import backends, export_onnx, export_safetensors, fileio, metadata
from lstmkit.backends.onnx_backend import OnnxFileBackend
from lstmkit.cli import main
from lstmkit.convert import convert_file, from_module
from lstmkit.errors import LstmkitError
from lstmkit.loading import load_model_file, spec_from_name
from lstmkit.models import CustomLSTM, TorchLSTM
from lstmkit.train import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
CHARSET = ("\n", " ", "a", "b", "c")
K, H, L = len(CHARSET), 4, 2


def cli_error(capsys, argv: list[str]) -> str:
    """Runs ``lstmkit ARGV``, checks it failed as a user's mistake should, and returns
    the one line it printed on stderr."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A TorchLSTM (K=5, H=4, L=2) as .pth, .safetensors and .onnx, and its
    metadata."""
    folder = tmp_path_factory.mktemp("good")
    torch.manual_seed(0)
    model = TorchLSTM(K, H, L)
    paths = {"pth": folder / f"m_torch_{H}_{L}.pth", "meta": folder / "meta.txt"}
    model.save_model(paths["pth"])
    metadata.save(metadata.Metadata(CHARSET), paths["meta"])
    weights = from_module(model)
    paths["safetensors"] = folder / "m.safetensors"
    export_safetensors.export(weights, paths["safetensors"], charset=CHARSET)
    paths["onnx"] = folder / "m.onnx"
    export_onnx.export(weights, paths["onnx"], charset=CHARSET)
    return paths


def copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


# ----------------------------------------------------------- metadata holding code


@pytest.mark.parametrize(
    "code",
    [
        "__import__('os').system('touch {marker}')",
        "{{'charset': __import__('os').system('touch {marker}')}}",
        "(lambda: open('{marker}', 'w'))()",
        "{{'charset': ['a'], 'data_size': [open('{marker}', 'w')][0]}}",
    ],
)
def test_metadata_holding_code_is_refused_and_never_run(files, tmp_path, capsys, code):
    marker = tmp_path / "ran"
    meta = tmp_path / "meta.txt"
    meta.write_text(code.format(marker=marker), encoding="utf-8")
    line = cli_error(capsys, ["verify", files["pth"], "--meta", meta, "--text", "ab"])
    assert str(meta) in line and "never code" in line
    assert not marker.exists()


# ---------------------------------------------------- pickles that would run code


def _plant(marker: str) -> str:
    """Code a hostile pickle would run: it leaves a marker file."""
    Path(marker).write_text("ran")
    return "planted"


class PlantedByReduce:
    """A user-defined class whose unpickling calls :func:`_plant`."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (_plant, (self.marker,))


class PlantedBySetstate:
    """A user-defined class whose ``__setstate__`` writes the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state: dict) -> None:
        _plant(state["marker"])


class SystemCall:
    """A pickle that runs a shell command: ``os.system`` via ``__reduce__``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("planted", [PlantedByReduce, PlantedBySetstate, SystemCall])
def test_case04_pickled_objects_are_refused_and_never_run(
    files, tmp_path, capsys, planted
):
    marker = tmp_path / "ran"
    state = torch.load(files["pth"], weights_only=True)
    path = tmp_path / f"evil_torch_{H}_{L}.pth"
    torch.save(state | {"config": planted(marker)}, path)

    line = cli_error(capsys, ["verify", path, "--length", "5"])
    assert str(path) in line and "refused" in line and "safetensors" in line
    assert "weights_only" not in line  # never the advice to load it unsafely

    model = TorchLSTM(K, H, L)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(LstmkitError, match="safetensors"):
        model.load_model(path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(LstmkitError, match="refused"):
        load_model_file(path)
    assert not marker.exists()

    # The control: unsafe unpickling of the same file does run the planted code.
    torch.load(path, weights_only=False)
    assert marker.exists()


# --------------------------------------------- a .pth that does not fit its name


def test_pth_that_does_not_fit_its_name_says_what_it_holds(files, tmp_path, capsys):
    # TorchLSTM(K, 4, 2) weights under a name that says H=5, L=1
    wrong = copy(files["pth"], tmp_path / "m_torch_5_1.pth")
    line = cli_error(capsys, ["verify", wrong, "--length", "5"])
    says = "its name says TorchLSTM(H=5, L=1) but it holds a TorchLSTM with H=4, L=2"
    assert says in line
    assert "rename it m_torch_4_2.pth" in line

    # CustomLSTM weights under a TorchLSTM name
    custom = tmp_path / "c_torch_4_1.pth"
    CustomLSTM(K, 4, 1).save_model(custom)
    line = cli_error(capsys, ["convert", custom, "--to", "custom"])
    assert "but it holds a CustomLSTM with H=4, L=1" in line
    assert "--model-class custom --hidden-size 4 --num-layers 1" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [custom.name, wrong.name]


def test_pth_of_no_whole_class_names_keys_and_shapes(files, tmp_path, capsys):
    """No safe guess when the file is not one class's whole state dict: then every
    missing key and wrong shape is listed."""
    state = torch.load(files["pth"], weights_only=True)
    del state["lstm.bias_hh_l1"]
    state["lstm.weight_hh_l0"] = torch.zeros(20, 5)
    damaged = tmp_path / "d_torch_4_2.pth"
    torch.save(state, damaged)
    line = cli_error(capsys, ["verify", damaged, "--length", "5"])
    assert "missing keys lstm.bias_hh_l1" in line
    assert "lstm.weight_hh_l0: file has (20, 5), model expects (16, 4)" in line
    assert "rename it" not in line


@pytest.mark.parametrize("cls", [TorchLSTM, CustomLSTM])
def test_model_load_of_other_weights_never_reinitialises(files, cls):
    model = cls(K, 6, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(LstmkitError, match="does not fit") as error:
        model.load_model(files["pth"])
    assert "decoder.weight" in str(error.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ------------------------------------- a name outside the convention, unknown keys


def test_name_outside_convention_with_unknown_keys_says_how_to_name_it(
    files, tmp_path, capsys
):
    path = tmp_path / "weights.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path)
    line = cli_error(capsys, ["verify", path, "--length", "5"])
    assert str(path) in line and "encoder.weight" in line
    assert "<stem>_torch_<H>_<L>.pth" in line and "--model-class" in line

    # the same name with recognisable keys loads, and options override the name
    readable = copy(files["pth"], tmp_path / "weights2.pth")
    assert load_model_file(readable).spec.hidden_size == H
    assert main(["verify", str(readable), "--length", "5", "--backends", "numpy"]) == 0
    capsys.readouterr()


# ------------------------------------------- empty, truncated and corrupt files


def _damage(data: bytes, how: str) -> bytes:
    if how == "empty":
        return b""
    if how == "truncated":
        return data[: len(data) // 2]
    return data[:8] + bytes(b ^ 0x5A for b in data[8:40]) + data[40:]  # "corrupt"


def _argv(kind: str, path: Path, files: dict) -> list:
    """The command a user would give a file of this kind to."""
    if kind == "onnx":
        return ["verify", files["pth"], "--onnx", path, "--length", "5"]
    if kind == "meta":
        return ["verify", files["pth"], "--meta", path, "--text", "ab"]
    return ["verify", path, "--length", "5"]


@pytest.mark.parametrize("how", ["empty", "truncated", "corrupt"])
@pytest.mark.parametrize("kind", ["pth", "safetensors", "onnx", "meta"])
def test_damaged_files_are_named_with_the_problem(files, tmp_path, capsys, kind, how):
    name = {"pth": f"x_torch_{H}_{L}.pth", "meta": "meta.txt"}.get(kind, f"x.{kind}")
    path = tmp_path / name
    path.write_bytes(_damage(files[kind].read_bytes(), how))
    line = cli_error(capsys, _argv(kind, path, files))
    assert str(path) in line
    words = ("empty", "truncated", "corrupt", "not a", "not valid")
    assert any(word in line for word in words), line


@pytest.mark.parametrize("kind", ["pth", "safetensors", "onnx", "meta"])
def test_missing_file_or_folder_is_named(files, tmp_path, capsys, kind):
    missing = tmp_path / f"absent_torch_4_2.{kind}"
    assert "no such file" in cli_error(capsys, _argv(kind, missing, files))
    if kind != "meta":
        folder = tmp_path / f"folder_torch_4_2.{kind}"
        folder.mkdir()
        assert str(folder) in cli_error(capsys, _argv(kind, folder, files))


def test_debug_shows_the_traceback(files, tmp_path):
    path = tmp_path / f"e_torch_{H}_{L}.pth"
    path.write_bytes(b"")
    with pytest.raises(LstmkitError, match="empty"):
        main(["--debug", "verify", str(path), "--length", "5"])


# ------------------------------------------------- indices and empty sequences


@pytest.fixture(scope="module")
def every_backend(files):
    """Every registered backend and the ONNX file backend, built from the model."""
    weights = load_model_file(files["pth"]).weights
    built = {name: backends.create(name, weights) for name in backends.names()}
    built["onnx-file"] = OnnxFileBackend(files["onnx"])
    return built


BAD_INDICES = [
    ([0, K], rf"{K} is out of range; valid indices are 0 to {K - 1}"),
    ([2, -1], rf"-1 is out of range; valid indices are 0 to {K - 1}"),
    (np.array([0.0, 1.0]), r"expected integers of shape \(N,\), got dtype float64"),
    ([True, False], "got dtype bool"),
    (np.zeros((2, 2), dtype=np.int64), r"expected shape \(N,\), got \(2, 2\)"),
    (np.int64(1), r"expected shape \(N,\), got \(\)"),
]


@pytest.mark.parametrize("indices, message", BAD_INDICES)
def test_bad_indices_name_range_and_shape_on_every_backend(
    every_backend, indices, message
):
    for name, backend in every_backend.items():
        backend.reset_state()
        with pytest.raises(LstmkitError, match=message):
            backend.run(indices)
        assert not np.any(backend.get_state()[0]), name  # nothing ran


def test_bad_indices_on_the_model_classes():
    for model in (TorchLSTM(K, 3), CustomLSTM(K, 3)):
        with pytest.raises(LstmkitError, match=f"valid indices are 0 to {K - 1}"):
            model(torch.tensor([K]))
        with pytest.raises(LstmkitError, match=r"expected shape \(N,\)"):
            model(torch.zeros(2, 2, 2, dtype=torch.long))
        with pytest.raises(LstmkitError, match="dtype"):
            model(torch.tensor([0.5]))


@pytest.mark.parametrize("empty", [[], np.zeros(0, dtype=np.int64)])
def test_empty_sequence_gives_0_by_k_and_keeps_the_state(every_backend, empty):
    rng = np.random.default_rng(3)
    h, c = rng.uniform(-1, 1, (2, L, H)).astype(np.float32)
    for name, backend in every_backend.items():
        backend.set_state(h, c)
        backend.run([1, 2, 3])
        before = backend.get_state()
        scores = backend.run(empty)
        assert scores.shape == (0, K), name
        after = backend.get_state()
        assert np.array_equal(before[0], after[0]), name
        assert np.array_equal(before[1], after[1]), name


# ------------------------------------------------- text and charsets that disagree


def test_characters_outside_the_charset_are_listed(files, capsys):
    line = cli_error(
        capsys, ["verify", files["pth"], "--meta", files["meta"], "--text", "abzq!a"]
    )
    assert "--text: 3 character(s) not in the model's charset: '!', 'q', 'z'" in line
    line = cli_error(
        capsys,
        ["generate", files["pth"], "--meta", files["meta"], "--prime", "xa"],
    )
    assert "--prime" in line and "'x'" in line


def test_charset_size_mismatch_gives_both_numbers(files, tmp_path, capsys):
    meta = tmp_path / "meta3.txt"
    metadata.save(metadata.Metadata(("a", "b", "c")), meta)
    line = cli_error(
        capsys,
        [
            "export",
            files["pth"],
            "--format",
            "safetensors",
            "--meta",
            meta,
            "-o",
            tmp_path / "x.safetensors",
        ],
    )
    assert str(meta) in line and "3 characters" in line and f"char_size {K}" in line
    assert not (tmp_path / "x.safetensors").exists()

    weights = load_model_file(files["pth"]).weights
    with pytest.raises(LstmkitError, match=f"has 3 characters .* char_size {K}"):
        export_onnx.build(weights, charset=("a", "b", "c"))


# ------------------------------------------------------- NaN and infinite weights


@pytest.fixture
def nonfinite(tmp_path):
    """A model whose only non-finite value is in decoder.bias, the last tensor."""
    model = TorchLSTM(K, H, L)
    with torch.no_grad():
        model.decoder.bias[1] = float("inf")
        model.decoder.bias[3] = float("nan")
    path = tmp_path / f"bad_torch_{H}_{L}.pth"
    model.save_model(path)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "{src}", "--length", "5"],
        ["export", "{src}", "--format", "onnx", "-o", "{out}.onnx"],
        ["export", "{src}", "--format", "safetensors", "-o", "{out}.safetensors"],
        ["generate", "{src}", "--meta", "{meta}", "--length", "3"],
    ],
)
def test_nan_and_inf_weights_name_the_tensor(files, nonfinite, tmp_path, capsys, argv):
    out = tmp_path / "out"
    argv = [a.format(src=nonfinite, out=out, meta=files["meta"]) for a in argv]
    line = cli_error(capsys, argv)
    assert "tensor decoder.bias holds 2 NaN or infinite value(s)" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [nonfinite.name]


# -------------------------------------------- ONNX files without lstmkit's interface


def test_onnx_without_lstmkits_interface_says_what_is_missing(files, tmp_path, capsys):
    model = onnx.load(files["onnx"])
    model.graph.output[1].name = "h_last"
    for node in model.graph.node:  # renamed where it is made too: the graph is valid
        node.output[:] = ["h_last" if o == "hn" else o for o in node.output]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(model, foreign)

    line = cli_error(capsys, _argv("onnx", foreign, files))
    assert str(foreign) in line and "missing output hn at position 1" in line

    script = REPO / "scripts" / "ort_generate.py"
    result = subprocess.run(
        [sys.executable, str(script), str(foreign), "--length", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(foreign) in result.stderr and "missing hn" in result.stderr


def test_onnx_whose_state_or_charset_disagrees_is_refused(files, tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    import ort_common

    model = onnx.load(files["onnx"])
    model.graph.input[2].type.tensor_type.shape.dim[2].dim_value = H + 1  # c0
    bad_state = tmp_path / "c0.onnx"
    onnx.save(model, bad_state)
    with pytest.raises(LstmkitError, match="h0 and c0 have shapes"):
        OnnxFileBackend(bad_state)
    with pytest.raises(ort_common.ScriptError, match="c0 has shape"):
        ort_common.Model(str(bad_state))

    model = onnx.load(files["onnx"])
    for prop in model.metadata_props:
        if prop.key == "charset":
            prop.value = '["a", "b"]'
    short = tmp_path / "short.onnx"
    onnx.save(model, short)
    with pytest.raises(LstmkitError, match=f"has 2 characters .* char_size {K}"):
        OnnxFileBackend(short)
    with pytest.raises(ort_common.ScriptError, match="the charset has 2 characters"):
        ort_common.Model(str(short))


# ------------------------------------------------------------------ output paths


def _writers(files: dict, out: Path) -> dict[str, list]:
    """Every command that writes a file, writing ``out`` (with the right suffix; an
    export keeps the source's class, so its name says TorchLSTM)."""
    src = files["pth"]
    exported = out.with_name(out.name.replace("_custom_", "_torch_"))
    return {
        "convert": ["convert", src, "--to", "custom", "-o", out.with_suffix(".pth")],
        "export onnx": [
            "export",
            src,
            "--format",
            "onnx",
            "-o",
            exported.with_suffix(".onnx"),
        ],
        "export safetensors": [
            "export",
            src,
            "--format",
            "safetensors",
            "-o",
            exported.with_suffix(".safetensors"),
        ],
        "gen-metadata": ["gen-metadata", files["meta"], out.with_suffix(".txt")],
    }


WRITERS = ["convert", "export onnx", "export safetensors", "gen-metadata"]


@pytest.mark.parametrize("writer", WRITERS)
def test_output_in_a_missing_folder(files, tmp_path, capsys, writer):
    argv = _writers(files, tmp_path / "nowhere" / "out_custom_4_2")[writer]
    line = cli_error(capsys, argv)
    assert "folder" in line and "nowhere" in line and "does not exist" in line


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root writes into a read-only folder anyway, so the case cannot be staged",
)
@pytest.mark.parametrize("writer", WRITERS)
def test_output_in_an_unwritable_folder(files, tmp_path, capsys, writer):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = cli_error(capsys, _writers(files, folder / "out_custom_4_2")[writer])
    finally:
        folder.chmod(0o700)
    assert "not writable" in line and str(folder) in line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("writer", WRITERS)
def test_existing_output_replaced_only_with_force(files, tmp_path, capsys, writer):
    argv = _writers(files, tmp_path / "out_custom_4_2")[writer]
    out = Path(argv[-1])
    out.write_bytes(b"old contents")

    line = cli_error(capsys, argv)
    assert str(out) in line and "--force" in line
    assert out.read_bytes() == b"old contents"

    assert main([str(a) for a in argv] + ["--force"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_bytes() != b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temp file
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    if out.suffix == ".pth":
        CustomLSTM(K, H, L).load_model(out)
    elif out.suffix == ".txt":
        metadata.load(out)
    elif out.suffix == ".onnx":
        OnnxFileBackend(out)
    else:
        load_model_file(out)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_that_is_a_folder(files, tmp_path, capsys):
    (tmp_path / "x.onnx").mkdir()
    argv = ["export", files["pth"], "--format", "onnx", "-o", tmp_path / "x.onnx"]
    assert "is a folder" in cli_error(capsys, argv + ["--force"])


@pytest.mark.parametrize(
    "save, message",
    [
        ("nowhere/t_torch_4_1.pth", "nowhere does not exist"),
        ("t.safetensors", r"must end in \.pth or \.pt.*name it t\.pth"),
    ],
)
def test_train_checks_model_save_before_training(tmp_path, save, message):
    text = tmp_path / "input.txt"
    text.write_text("abc ab\n" * 30, encoding="utf-8")
    epochs = []
    config = TrainConfig(
        data_set=str(text),
        model_args=(4, 1),
        num_epoch=1,
        model_save=str(tmp_path / save),
        progress=False,
    )
    with pytest.raises(LstmkitError, match=message):
        train(config, on_epoch=epochs.append)
    assert epochs == []  # refused before the first epoch, not at the first save


# ---------------------------------------------------- atomic writes of every writer


def _write_with(writer: str, files: dict, path: Path) -> None:
    """Writes ``path`` through one of lstmkit's writers, replacing what is there."""
    weights = load_model_file(files["pth"]).weights
    if writer == "save_model":
        TorchLSTM(K, H, L).save_model(path)
    elif writer == "convert":
        convert_file(files["pth"], "custom", path, overwrite=True)
    elif writer == "export onnx":
        export_onnx.export(weights, path, overwrite=True)
    elif writer == "export safetensors":
        export_safetensors.export(weights, path, overwrite=True)
    else:
        metadata.generate(files["meta"], path, overwrite=True)


ATOMIC = {
    "save_model": "m_torch_4_2.pth",
    "convert": "m_custom_4_2.pth",
    "export onnx": "m.onnx",
    "export safetensors": "m.safetensors",
    "gen-metadata": "meta.txt",
}


@pytest.mark.parametrize("writer", list(ATOMIC))
def test_failure_while_writing_leaves_the_old_file(
    files, tmp_path, monkeypatch, writer
):
    path = tmp_path / ATOMIC[writer]
    path.write_bytes(b"the old file")

    # The disk fills up after the writer has written: fileio's flush to disk fails.
    # A writer that bypassed fileio's atomic path would not reach it and would have
    # replaced the old file.
    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(LstmkitError, match="No space left on device.*unchanged"):
        _write_with(writer, files, path)
    assert path.read_bytes() == b"the old file"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left

    # And a writer stopped half way through its own write (Ctrl-C) changes nothing.
    monkeypatch.undo()
    real_replace = os.replace

    def interrupted(src, dst):
        Path(src).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _write_with(writer, files, path)
    assert path.read_bytes() == b"the old file"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]

    monkeypatch.setattr(fileio.os, "replace", real_replace)
    _write_with(writer, files, path)
    assert path.read_bytes() != b"the old file"


# ------------------------------------------------------- train killed during a save


def test_train_killed_during_a_save_leaves_a_file_that_loads(tmp_path):
    text = tmp_path / "input.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 6, "utf-8")
    save = tmp_path / "k_torch_96_1.pth"
    argv = ["train", "--data-set", text, "--model-args", "96,1", "--num-epoch",
            "100000", "--model-save", save, "--sample-length", "0", "--seed", "0",
            "--train-seq-size", "300", "--no-progress"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "lstmkit", *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ | {"OMP_NUM_THREADS": "1"},  # on a busy machine, far faster
    )
    try:
        # Wait for the first save, then kill the process while a later save is
        # being written, which shows as a temporary file beside the target.
        deadline = time.monotonic() + 120
        while not save.exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.01)
        assert save.exists(), "no save within 120s"
        temp = []
        deadline = time.monotonic() + 30
        while not temp and time.monotonic() < deadline:
            temp = [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        process.kill()
        process.stderr.close()

    assert temp, "the kill never landed during a save"
    assert process.returncode == -signal.SIGKILL
    model = TorchLSTM(len(set(text.read_text())), 96, 1)
    model.load_model(save)  # the best so far, whole
    assert load_model_file(save).spec.hidden_size == 96


# --------------------------------------------------------- datasets that are not UTF-8


def test_dataset_not_utf8_names_the_byte_offset(tmp_path, capsys):
    data = tmp_path / "input.txt"
    data.write_bytes("héllo wörld\n".encode() * 3 + b"ab\xe9cd\n")
    offset = len("héllo wörld\n".encode()) * 3 + 2
    line = cli_error(capsys, ["train", "--data-set", data, "--num-epoch", "1"])
    assert f"{data}: not valid UTF-8 at byte offset {offset} (byte 0xe9)" in line

    meta = tmp_path / "meta.txt"
    meta.write_bytes(b"{'charset': ['a', '\xff']}")
    text = tmp_path / "ok.txt"
    text.write_text("ab" * 50, encoding="utf-8")
    line = cli_error(capsys, ["train", "--data-set", text, "--data-meta", meta])
    offset = meta.read_bytes().index(b"\xff")
    assert f"{meta}: not valid UTF-8 at byte offset {offset} (byte 0xff)" in line


# ------------------------------------------- output names that contradict the contents


@pytest.mark.parametrize(
    "tail, fits",
    [
        (
            ["convert", "--to", "custom", "-o", "conv_torch_4_2.pth"],
            "conv_custom_4_2.pth",
        ),
        (["convert", "--to", "custom", "-o", "out.onnx"], "out.pth"),
        (["convert", "--to", "torch", "-o", "c_custom_128.pth"], "c_torch_4_2.pth"),
        (["export", "--format", "onnx", "-o", "x.safetensors"], "x.onnx"),
        (["export", "--format", "safetensors", "-o", "x.onnx"], "x.safetensors"),
        (["export", "--format", "onnx", "-o", "e_custom_4_2.onnx"], "e_torch_4_2.onnx"),
        (
            [
                "export",
                "--format",
                "onnx",
                "--unroll",
                "3",
                "-o",
                "m_torch_4_2_unroll5.onnx",
            ],
            "m_torch_4_2_unroll3.onnx",
        ),
    ],
)
def test_output_name_contradicting_format_or_class_is_refused(
    files, tmp_path, capsys, tail, fits
):
    out = tmp_path / tail[-1]
    argv = [tail[0], files["pth"], *tail[1:-1], out]
    line = cli_error(capsys, argv)
    assert str(out) in line and line.endswith(f"name it {fits}"), line
    assert list(tmp_path.iterdir()) == []

    # The name it suggests is accepted, and what it holds reads back as named.
    good = tmp_path / fits
    assert main([str(a) for a in argv[:-1] + [good]]) == 0
    if good.suffix == ".pth" and spec_from_name(good) is not None:  # keys must fit it
        assert load_model_file(good).spec == spec_from_name(good)


def test_output_path_is_checked_before_the_source_is_read(files, tmp_path, capsys):
    # A corrupt source: were it read first, its error would be the one shown.
    src = tmp_path / f"bad_torch_{H}_{L}.pth"
    src.write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "taken.onnx").write_bytes(b"old")
    (tmp_path / "taken.pth").write_bytes(b"old")
    cases = [
        (
            ["export", src, "--format", "onnx", "-o", tmp_path / "missing" / "x.onnx"],
            "does not exist",
        ),
        (["export", src, "--format", "onnx", "-o", tmp_path], "is a folder"),
        (["export", src, "--format", "onnx", "-o", tmp_path / "taken.onnx"], "--force"),
        (
            ["convert", src, "--to", "custom", "-o", tmp_path / "missing" / "x.pth"],
            "does not exist",
        ),
        (["convert", src, "--to", "custom", "-o", tmp_path / "taken.pth"], "--force"),
    ]
    for argv, words in cases:
        line = cli_error(capsys, argv)
        assert words in line and "corrupt" not in line, line
    assert (tmp_path / "taken.onnx").read_bytes() == b"old"


def test_random_bytes_as_pth_are_called_corrupt_not_unsafe(tmp_path, capsys):
    path = tmp_path / f"noise_torch_{H}_{L}.pth"
    path.write_bytes(np.random.default_rng(1).bytes(4000))
    line = cli_error(capsys, ["verify", path, "--length", "5"])
    assert f"{path}: not a readable PyTorch weight file" in line
    assert "truncated or corrupt" in line
    assert "refused" not in line and "safetensors" not in line and "()" not in line
    with pytest.raises(LstmkitError, match="corrupt"):
        fileio.read_pth(path)


def test_pth_entry_that_is_not_a_tensor_is_named(tmp_path, capsys):
    path = tmp_path / "odd_torch_3_1.pth"
    torch.save({"lstm.weight_ih_l0": torch.zeros(12, 4), "epoch": 3}, path)
    assert main(["verify", str(path), "--length", "4"]) == 2
    err = capsys.readouterr().err
    assert "entry 'epoch' holds a int" in err and "save_model" in err


def test_pth_key_that_is_not_a_name_is_named(tmp_path, capsys):
    path = tmp_path / "odd_torch_3_1.pth"
    torch.save({1: torch.zeros(3)}, path)
    assert main(["verify", str(path), "--length", "4"]) == 2
    assert "a key is not a name but the int 1" in capsys.readouterr().err


def test_model_args_of_the_wrong_count_show_the_signature(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abcabc\n" * 20, encoding="utf-8")
    argv = ["train", "--model-name", "TorchLSTM", "--model-args", "8,1,5,6"]
    assert main([*argv, "--data-set", str(text), "--num-epoch", "1"]) == 2
    err = capsys.readouterr().err
    assert "--model-args: TorchLSTM(char_size, 8, 1, 5, 6) failed" in err
    assert "the class takes TorchLSTM(char_size" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "m_torch_3_1.pth", "--format", "tflite"], "choice: 'tflite'"),
        (["frob"], "invalid choice: 'frob'"),
        (["verify"], "the following arguments are required: src"),
    ],
)
def test_usage_errors_are_one_line_too(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "usage:" not in err
    assert err.rstrip().endswith(" -h")
