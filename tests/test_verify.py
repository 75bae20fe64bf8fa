"""lstmkit.verify and ``lstmkit verify``: the comparison, its self-test with planted
faults, the tolerance rule, input errors, exit codes and the JSON document."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstmkit import backends, cli, metadata
from lstmkit.backends.numpy_backend import NumpyBackend64
from lstmkit.backends.torch_backend import TorchBackend
from lstmkit.errors import LstmkitError
from lstmkit.verify import OptionError, call_lengths, chunk_sizes, verify
from lstmkit.weights import LayerWeights, LSTMWeights, random_weights

K, H, L = 4, 6, 2
WEIGHTS = random_weights(K, H, L, seed=21)
# Character 2 first appears at step 7: a fault tied to it must first show there.
INDICES = np.array([0, 1, 3, 0, 3, 1, 0, 2, 1, 2, 0, 3, 2, 2, 1, 0, 3, 1])
FIRST_TWO = 7


# ---------------------------------------------------------------- planted faults


def tamper(weights: LSTMWeights, fix) -> LSTMWeights:
    """A deep copy of ``weights`` with ``fix(k, layer)`` applied to each layer."""
    layers = []
    for k, layer in enumerate(weights.layers):
        copy = LayerWeights(
            layer.weight_ih.copy(),
            layer.weight_hh.copy(),
            layer.bias_ih.copy(),
            layer.bias_hh.copy(),
        )
        fix(k, copy)
        layers.append(copy)
    return LSTMWeights(
        layers, weights.decoder_weight.copy(), weights.decoder_bias.copy(), "tampered"
    )


def swap_blocks(array: np.ndarray, a: int, b: int) -> None:
    """Swaps gate blocks a and b (0=i, 1=f, 2=g, 3=o) along axis 0, in place."""
    rows = array.shape[0] // 4
    block_a = array[a * rows : (a + 1) * rows].copy()
    array[a * rows : (a + 1) * rows] = array[b * rows : (b + 1) * rows]
    array[b * rows : (b + 1) * rows] = block_a


class SwappedGates(NumpyBackend64):
    """A conversion that swapped the forget and output gates in every layer."""

    name = "swapped-gates"

    def __init__(self, weights: LSTMWeights) -> None:
        def fix(k, layer):
            for array in (layer.weight_ih, layer.weight_hh, layer.bias_ih):
                swap_blocks(array, 1, 3)
            swap_blocks(layer.bias_hh, 1, 3)

        super().__init__(tamper(weights, fix))


class SwappedGatesForCharTwo(NumpyBackend64):
    """Input and cell gates swapped in layer 0's column of character 2 only: exact
    until character 2 is read."""

    name = "swapped-column"

    def __init__(self, weights: LSTMWeights) -> None:
        def fix(k, layer):
            if k == 0:
                swap_blocks(layer.weight_ih[:, 2:3], 0, 2)

        super().__init__(tamper(weights, fix))


class DroppedBiasHalf(TorchBackend):
    """A TorchLSTM conversion that dropped bias_hh."""

    name = "dropped-bias"

    def __init__(self, weights: LSTMWeights) -> None:
        super().__init__(tamper(weights, lambda k, layer: layer.bias_hh.fill(0)))


class ForgetsCell(NumpyBackend64):
    """Carries h between calls but starts every call from c = 0."""

    name = "forgets-c"

    def _run(self, indices):
        self.c = np.zeros_like(self.c)
        return super()._run(indices)


class Offset(NumpyBackend64):
    """The exact scores times ``scale`` plus ``offset``."""

    name = "offset"

    def __init__(self, weights, offset=0.0, scale=1.0):
        super().__init__(weights)
        self.offset, self.scale = offset, scale

    def _run(self, indices):
        return super()._run(indices) * self.scale + self.offset


class FixedSteps(NumpyBackend64):
    """Like an unrolled graph: takes only calls of a multiple of ``step_multiple``."""

    name = "fixed-steps"

    def __init__(self, weights, step_multiple=4):
        super().__init__(weights)
        self.step_multiple = step_multiple

    def _run(self, indices):
        if len(indices) % self.step_multiple:
            raise LstmkitError(f"got {len(indices)} indices")
        return super()._run(indices)


class FixedStepsSwappedColumn(FixedSteps, SwappedGatesForCharTwo):
    """Takes multiples of 4 steps and holds the fault of SwappedGatesForCharTwo."""

    name = "fixed-steps-faulty"

    def __init__(self, weights):
        SwappedGatesForCharTwo.__init__(self, weights)
        self.step_multiple = 4


class Broken(NumpyBackend64):
    name = "broken"

    def _run(self, indices):
        raise RuntimeError("boom")


class NarrowScores(NumpyBackend64):
    name = "narrow"

    def _run(self, indices):
        return super()._run(indices)[:, :-1]


class NanScores(NumpyBackend64):
    name = "nan"

    def _run(self, indices):
        return super()._run(indices) * np.nan


# ---------------------------------------------------------------- a clean run


def test_every_registered_backend_passes_in_every_pattern(initial_state):
    report = verify(WEIGHTS, INDICES, chunks=3, initial_state=initial_state(L, H))
    assert report.ok, report.failures()
    assert list(report.backends) == backends.names()
    assert report.backends["numpy64"].is_reference
    assert set(report.backends["numpy64"].patterns) == {"chunks", "per_char"}
    for name, backend in report.backends.items():
        if name != "numpy64":
            assert set(backend.patterns) == {"one_call", "chunks", "per_char"}
        assert WEIGHTS.describe() in backend.built_from
        for result in backend.patterns.values():
            assert result.argmax_agrees and result.state_ok
            assert result.max_abs <= 1e-5
    assert report.chunk_sizes == [6, 6, 6] and report.length == INDICES.size
    assert report.initial_state and report.atol == report.rtol == 1e-5


def test_default_backends_follow_the_registry(monkeypatch):
    monkeypatch.setitem(
        backends.REGISTRY,
        "numpy-twin",
        ("lstmkit.backends.numpy_backend", "NumpyBackend"),
    )
    report = verify(WEIGHTS, INDICES[:5])
    assert "numpy-twin" in report.backends and report.backends["numpy-twin"].ok


def test_only_the_backends_asked_for_run():
    report = verify(WEIGHTS, INDICES[:5], backends=["custom"])
    assert list(report.backends) == ["numpy64", "custom"]


# ---------------------------------------------------------------- the self-test


@pytest.mark.parametrize("pattern", ["one_call", "chunks", "per_char"])
def test_swapped_gates_fail_naming_backend_and_step(pattern):
    report = verify(WEIGHTS, INDICES, backends=["numpy"], extra=[SwappedGates(WEIGHTS)])
    assert not report.ok
    assert report.backends["numpy"].ok
    result = report.backends["swapped-gates"].patterns[pattern]
    assert not result.ok and result.first_bad_step == 0 and result.max_abs > 1e-2
    assert any(line.startswith("swapped-gates (") for line in report.failures())
    assert all(line.startswith("swapped-gates") for line in report.failures())


@pytest.mark.parametrize("pattern", ["one_call", "chunks", "per_char"])
def test_fault_in_one_column_is_found_at_its_first_step(pattern, initial_state):
    report = verify(
        WEIGHTS,
        INDICES,
        backends=[],
        extra=[SwappedGatesForCharTwo(WEIGHTS)],
        initial_state=initial_state(L, H),
    )
    result = report.backends["swapped-column"].patterns[pattern]
    assert result.first_bad_step == FIRST_TWO
    assert not result.state_ok
    label = {"one_call": "one call", "chunks": "chunks", "per_char": "per char"}
    assert (
        f"swapped-column ({label[pattern]}): scores past tolerance from step "
        f"{FIRST_TWO}"
    ) in "\n".join(report.failures())


def test_dropped_bias_half_fails_from_the_first_step():
    report = verify(WEIGHTS, INDICES, backends=[], extra=[DroppedBiasHalf(WEIGHTS)])
    backend = report.backends["dropped-bias"]
    assert not backend.ok
    assert [p.first_bad_step for p in backend.patterns.values()] == [0, 0, 0]


def test_state_lost_between_calls_fails_only_the_split_patterns():
    report = verify(
        WEIGHTS, INDICES, backends=[], extra=[ForgetsCell(WEIGHTS)], chunks=3
    )
    patterns = report.backends["forgets-c"].patterns
    assert patterns["one_call"].ok
    assert patterns["chunks"].first_bad_step == 6  # the second chunk's first step
    assert patterns["per_char"].first_bad_step == 1
    assert not patterns["chunks"].state_ok and not patterns["per_char"].state_ok


def test_a_backend_ignoring_set_state_is_caught_only_with_an_initial_state(
    initial_state,
):
    class IgnoresState(NumpyBackend64):
        name = "ignores-state"

        def set_state(self, h, c):
            self.reset_state()

    extra = {"ignores-state": IgnoresState(WEIGHTS)}
    assert verify(WEIGHTS, INDICES, backends=[], extra=extra).ok
    report = verify(
        WEIGHTS, INDICES, backends=[], extra=extra, initial_state=initial_state(L, H)
    )
    assert report.backends["ignores-state"].patterns["one_call"].first_bad_step == 0


def test_a_failing_backend_does_not_stop_the_others():
    extra = [Broken(WEIGHTS), NarrowScores(WEIGHTS)]
    report = verify(WEIGHTS, INDICES, backends=["numpy"], extra=extra)
    assert report.backends["numpy"].ok
    assert report.backends["broken"].error == "RuntimeError: boom"
    assert "expected (18, 4)" in report.backends["narrow"].error
    assert "broken: RuntimeError: boom" in report.failures()
    assert not report.ok


def test_nan_scores_fail_and_become_null_in_json():
    report = verify(WEIGHTS, INDICES, backends=[], extra=[NanScores(WEIGHTS)])
    result = report.backends["nan"].patterns["one_call"]
    assert result.first_bad_step == 0 and np.isnan(result.max_abs)
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert document["backends"]["nan"]["patterns"]["one_call"]["max_abs"] is None


def test_argmax_disagreement_is_counted():
    class SwapsTopTwo(NumpyBackend64):
        name = "swaps-top"

        def _run(self, indices):
            scores = super()._run(indices)
            order = np.argsort(scores, axis=1)  # (N, K), best last
            rows = np.arange(len(scores))
            best, second = order[:, -1], order[:, -2]
            scores[rows, best], scores[rows, second] = (
                scores[rows, second],
                scores[rows, best].copy(),
            )
            return scores

    report = verify(WEIGHTS, INDICES, backends=[], extra=[SwapsTopTwo(WEIGHTS)])
    result = report.backends["swaps-top"].patterns["per_char"]
    assert result.argmax_mismatches == INDICES.size
    assert result.first_argmax_mismatch == 0 and not result.argmax_agrees


# ---------------------------------------------------------------- step multiples


def test_call_lengths():
    assert call_lengths("one_call", 18, [6, 6, 6]) == [18]
    assert call_lengths("chunks", 18, [6, 6, 6]) == [6, 6, 6]
    assert call_lengths("per_char", 3, [3]) == [1, 1, 1]
    # U = 4: the first 16 of 18 steps, in multiples of 4
    assert call_lengths("one_call", 18, [6, 6, 6], 4) == [16]
    assert call_lengths("chunks", 18, [6, 6, 6], 4) == [8, 4, 4]
    assert call_lengths("chunks", 18, [2] * 9, 4) == [4, 4, 4, 4]
    assert call_lengths("per_char", 18, [6, 6, 6], 4) == [4, 4, 4, 4]
    assert call_lengths("per_char", 4, [4], 4) == [4]


def test_a_backend_taking_multiples_of_u_runs_the_steps_that_fit(initial_state):
    report = verify(
        WEIGHTS,
        INDICES,
        backends=[],
        extra=[FixedSteps(WEIGHTS)],
        chunks=3,
        initial_state=initial_state(L, H),
    )
    assert report.ok, report.failures()
    backend = report.backends["fixed-steps"]
    assert backend.step_multiple == 4 and report.length == 18
    lengths = {name: p.call_lengths for name, p in backend.patterns.items()}
    assert lengths == {
        "one_call": [16],
        "chunks": [8, 4, 4],
        "per_char": [4, 4, 4, 4],
    }
    # Its final state is compared with the reference's after step 16, not 18.
    reference = NumpyBackend64(WEIGHTS)
    reference.set_state(*initial_state(L, H))
    reference.run(INDICES[:16])
    after_16 = reference.get_state()[0]
    reference.run(INDICES[16:])
    assert np.abs(reference.get_state()[0] - after_16).max() > 1e-3
    assert backend.patterns["one_call"].h_max_abs == 0.0

    document = json.loads(json.dumps(report.to_dict()))["backends"]["fixed-steps"]
    assert document["step_multiple"] == 4
    assert document["patterns"]["chunks"]["steps"] == 16
    assert document["patterns"]["chunks"]["calls"] == [
        {"count": 1, "length": 8},
        {"count": 2, "length": 4},
    ]
    whole = report.backends["numpy64"].patterns["per_char"]
    assert whole.steps == 18 and whole.calls() == [(18, 1)]


def test_a_fault_in_a_backend_taking_multiples_of_u_names_its_first_step():
    report = verify(
        WEIGHTS, INDICES, backends=[], extra=[FixedStepsSwappedColumn(WEIGHTS)]
    )
    backend = report.backends["fixed-steps-faulty"]
    assert backend.step_multiple == 4 and not backend.ok
    assert [p.first_bad_step for p in backend.patterns.values()] == [FIRST_TWO] * 3
    assert (
        f"fixed-steps-faulty (per char): scores past tolerance from step {FIRST_TWO}"
        in "\n".join(report.failures())
    )


def test_a_sequence_shorter_than_the_step_multiple_is_a_usage_error():
    with pytest.raises(OptionError, match="verify on at least 20") as caught:
        verify(WEIGHTS, INDICES, backends=[], extra=[FixedSteps(WEIGHTS, 20)])
    assert caught.value.option == "extra"
    assert "fixed-steps takes calls of a multiple of 20 steps" in str(caught.value)
    assert "only 18 indices" in str(caught.value)


# ---------------------------------------------------------------- the tolerance rule


@pytest.mark.parametrize(
    ("offset", "scale", "atol", "rtol", "ok"),
    [
        (0.9e-5, 1.0, 1e-5, 0.0, True),
        (1.1e-5, 1.0, 1e-5, 0.0, False),
        (0.0, 1 + 0.9e-3, 0.0, 1e-3, True),
        (0.0, 1 + 1.1e-3, 0.0, 1e-3, False),
    ],
)
def test_tolerance_is_atol_plus_rtol_times_reference(offset, scale, atol, rtol, ok):
    extra = {"offset": Offset(WEIGHTS, offset, scale)}
    report = verify(WEIGHTS, INDICES, backends=[], extra=extra, atol=atol, rtol=rtol)
    result = report.backends["offset"].patterns["one_call"]
    assert result.ok is ok
    assert result.first_bad_step == (None if ok else 0)
    if offset:
        assert result.max_abs == pytest.approx(offset, rel=1e-6)
    else:
        assert result.max_rel == pytest.approx(scale - 1, rel=1e-6)


# ---------------------------------------------------------------- bad input


def test_nan_weights_are_refused_naming_the_tensor():
    weights = tamper(WEIGHTS, lambda k, layer: layer.bias_hh.fill(np.nan) if k else 0)
    with pytest.raises(LstmkitError, match=r"lstm\.bias_hh_l1 holds"):
        verify(weights, INDICES)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"indices": []}, "the sequence is empty"),
        ({"indices": [0, 4]}, "4 is out of range"),
        ({"atol": -1e-5}, "atol: expected a finite number >= 0"),
        ({"rtol": float("nan")}, "rtol"),
        ({"backends": ["torch", "tf"]}, "no backend named 'tf'"),
        ({"backends": ["torch", "torch"]}, "given twice"),
        ({"chunks": 19}, "from 1 to the sequence length 18"),
        ({"chunks": [5, 5]}, "add up to the sequence length 18"),
        ({"initial_state": (np.zeros(H), np.zeros(H))}, r"\(L, H\) = \(2, 6\)"),
        ({"extra": {"torch": NumpyBackend64(WEIGHTS)}}, "'torch' is taken"),
        (
            {"extra": {"other": NumpyBackend64(random_weights(K, H + 1, L))}},
            "built from another model",
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    kwargs = {"indices": INDICES, "backends": ["numpy"], **kwargs}
    with pytest.raises(LstmkitError, match=message) as caught:
        verify(WEIGHTS, **kwargs)
    assert "--" not in str(caught.value)  # the library names its parameters


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"backends": ["tf"]}, "backends"),
        ({"chunks": 0}, "chunks"),
        ({"atol": -1.0}, "atol"),
        ({"rtol": -1.0}, "rtol"),
        ({"extra": {"torch": NumpyBackend64(WEIGHTS)}}, "extra"),
        ({"initial_state": (np.zeros(H), np.zeros(H))}, "initial_state"),
    ],
)
def test_option_errors_name_the_parameter(kwargs, option):
    with pytest.raises(OptionError) as caught:
        verify(WEIGHTS, INDICES, **kwargs)
    assert caught.value.option == option
    assert str(caught.value) == f"{option}: {caught.value.detail}"


def test_chunk_sizes():
    assert chunk_sizes(4, 10) == [3, 3, 2, 2]
    assert chunk_sizes(1, 5) == [5]
    assert chunk_sizes([5, 5, 2], 12) == [5, 5, 2]
    with pytest.raises(LstmkitError):
        chunk_sizes(0, 5)
    with pytest.raises(LstmkitError):
        chunk_sizes([3, 0, 2], 5)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def abcd(tmp_path, save_torch_model):
    """A TorchLSTM over the charset 'abcd' and its metadata file."""
    meta = tmp_path / "meta.txt"
    metadata.save(metadata.Metadata(tuple("abcd")), meta)
    return save_torch_model(4, 5, 2), meta


def test_cli_passes_and_prints_table_tolerances_and_origins(abcd, capsys):
    model, meta = abcd
    argv = ["verify", str(model), "--meta", str(meta), "--text", "abcabdcadbca"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "atol=1e-05, rtol=1e-05" in out and "12 characters of --text" in out
    for name in backends.names():
        assert f"\n  {name}: K=4 H=5 L=2 from {model.name}" in out
    assert "OK:" in out and "FAIL" not in out


def test_cli_exits_1_naming_backend_and_step(abcd, capsys, monkeypatch):
    monkeypatch.setitem(
        backends.REGISTRY, "faulty", (__name__, "SwappedGatesForCharTwo")
    )
    model, meta = abcd
    text = "abdabdacab"
    argv = ["verify", str(model), "--meta", str(meta), "--text", text]
    assert cli.main(argv + ["--backends", "torch,faulty"]) == 1
    out = capsys.readouterr().out
    step = text.index("c")  # the fault is in character 2's column: 'c'
    assert f"faulty (one call): scores past tolerance from step {step}" in out
    assert f"faulty (per char): scores past tolerance from step {step}" in out
    assert "torch (" not in out.split("FAILED:")[1]


def test_cli_json_document(abcd, capsys):
    model, _ = abcd
    argv = ["verify", str(model), "--length", "25", "--seed", "4", "--json"]
    assert cli.main(argv + ["--chunks", "10,10,5"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True and document["failures"] == []
    assert document["reference"] == "numpy64" and document["length"] == 25
    assert document["input"] == "25 random indices (seed 4)"
    assert document["chunk_sizes"] == [10, 10, 5]
    assert document["tolerance"]["atol"] == 1e-5 == document["tolerance"]["rtol"]
    assert set(document["backends"]) == set(backends.names())
    torch_entry = document["backends"]["torch"]
    assert torch_entry["ok"] and model.name in torch_entry["built_from"]
    assert set(torch_entry["patterns"]) == {"one_call", "chunks", "per_char"}
    assert torch_entry["patterns"]["chunks"]["first_bad_step"] is None


def test_cli_default_text_is_data_input_txt(save_torch_model, capsys):
    from conftest import REPO

    meta = REPO / "data" / "meta_20000.txt"
    K_meta = len(metadata.load(meta).charset)
    model = save_torch_model(K_meta, 3, 1)
    argv = ["verify", str(model), "--meta", str(meta), "--backends", "numpy"]
    assert cli.main(argv + ["--chars", "40"]) == 0
    out = capsys.readouterr().out
    assert f"40 characters of {REPO / 'data' / 'input.txt'}" in out


@pytest.mark.parametrize(
    ("extra_args", "message"),
    [
        ([], "carries no charset to encode the text with; pass --meta"),
        (["--length", "5", "--chars", "9"], "--chars: applies to text"),
        (["--seed", "3"], "--seed: applies only with --length"),
        (["--length", "0"], "--length: expected a positive count"),
        (["--length", "5", "--backends", "torch,tf"], "--backends: no backend named"),
        (["--length", "5", "--backends", "numpy,numpy"], "--backends: a name is given"),
        (["--length", "5", "--chunks", "two"], "--chunks: expected a count"),
        (["--length", "5", "--chunks", "6"], "--chunks: expected a count from 1"),
        (["--length", "5", "--chunks", "2,2"], "--chunks: lengths [2, 2] must"),
        (["--length", "5", "--atol", "-1"], "--atol: expected a finite number"),
        (["--length", "5", "--rtol", "nan"], "--rtol: expected a finite number"),
        (["--length", "5", "--threads", "0"], "--threads: expected a positive"),
        (["--text", "abz"], "not in the model's charset: 'z'"),
    ],
)
def test_cli_usage_errors_exit_2(abcd, capsys, extra_args, message):
    model, meta = abcd
    argv = ["verify", str(model), *extra_args]
    if "--text" in extra_args:
        argv += ["--meta", str(meta)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_missing_file_and_nan_weights_exit_2(tmp_path, capsys):
    import torch

    from lstmkit.models import TorchLSTM

    assert cli.main(["verify", str(tmp_path / "none_torch_3_1.pth")]) == 2
    assert "no such file" in capsys.readouterr().err
    model = TorchLSTM(4, 3, 1)
    with torch.no_grad():
        model.lstm.bias_ih_l0[1] = float("nan")
    path = tmp_path / "nan_torch_3_1.pth"
    model.save_model(path)
    assert cli.main(["verify", str(path), "--length", "5"]) == 2
    assert "lstm.bias_ih_l0 holds 1 NaN" in capsys.readouterr().err


def test_cli_onnx_files(abcd, tmp_path, capsys):
    onnx_backend = pytest.importorskip(
        "lstmkit.backends.onnx_backend", exc_type=ImportError
    )
    import onnx

    from lstmkit import export_onnx
    from lstmkit.loading import load_model_file
    from lstmkit.weights import onnx_to_torch_gates

    model, _ = abcd
    weights = load_model_file(model).weights
    good = tmp_path / "good.onnx"
    export_onnx.export(weights, good)

    # Case 01: the weights left in PyTorch's gate order where ONNX expects its own.
    def unordered(k, layer):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(layer, name, onnx_to_torch_gates(getattr(layer, name)))

    bad = tmp_path / "bad.onnx"
    onnx.save(export_onnx.build(tamper(weights, unordered)), bad)
    assert isinstance(onnx_backend.OnnxFileBackend(bad), backends.Backend)

    argv = ["verify", str(model), "--length", "12", "--backends", "numpy"]
    assert cli.main(argv + ["--onnx", str(good)]) == 0
    assert "onnx:good.onnx" in capsys.readouterr().out
    assert cli.main(argv + ["--onnx", str(good), "--onnx", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "onnx:bad.onnx (one call): scores past tolerance from step 0" in out
    assert "onnx:good.onnx (" not in out.split("FAILED:")[1]


def test_cli_onnx_file_with_another_charset_is_refused(abcd, tmp_path, capsys):
    """Right scores index by index, wrong characters: a file exported with another
    metadata file (or edited) must not pass as the model's export."""
    pytest.importorskip("lstmkit.backends.onnx_backend", exc_type=ImportError)
    from lstmkit import export_onnx
    from lstmkit.loading import load_model_file

    model, meta = abcd
    weights = load_model_file(model).weights
    same, swapped = tmp_path / "same.onnx", tmp_path / "swapped.onnx"
    export_onnx.export(weights, same, charset=tuple("abcd"))
    export_onnx.export(weights, swapped, charset=tuple("bacd"))

    argv = ["verify", str(model), "--meta", str(meta), "--text", "abcdab"]
    assert cli.main([*argv, "--onnx", str(same)]) == 0
    capsys.readouterr()
    assert cli.main([*argv, "--onnx", str(swapped)]) == 2
    err = capsys.readouterr().err
    assert "swapped.onnx: its charset differs from the model's" in err
    assert "index 0 is 'b' there and 'a' in" in err
    # without a charset on the model's side there is nothing to compare
    no_charset = ["verify", str(model), "--length", "6", "--onnx", str(swapped)]
    assert cli.main(no_charset) == 0


def table_lines(out: str) -> list[str]:
    """The table's header and rows, the rule excluded."""
    lines = out.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("backend "))
    end = next(k for k in range(start, len(lines)) if lines[k].startswith("calls:"))
    return [lines[start]] + lines[start + 2 : end]


def test_cli_table_columns_fit_a_long_backend_name(abcd, tmp_path, capsys):
    pytest.importorskip("lstmkit.backends.onnx_backend", exc_type=ImportError)
    from lstmkit import export_onnx
    from lstmkit.loading import load_model_file

    model, _ = abcd
    long = tmp_path / "shakespeare_torch_256_2_and_then_some.onnx"
    export_onnx.export(load_model_file(model).weights, long)
    argv = ["verify", str(model), "--length", "12", "--backends", "numpy"]
    assert cli.main(argv + ["--onnx", str(long)]) == 0
    lines = table_lines(capsys.readouterr().out)
    header = lines[0]
    rows = [line for line in lines[1:] if "(reference)" not in line]
    assert any(line.startswith(f"onnx:{long.name}  ") for line in rows)
    for column in ("pattern", "calls"):  # left-aligned: they start together
        assert {line.index(" ", header.index(column) - 1) for line in rows} == {
            header.index(column) - 1
        }
    for column in ("max abs", "first bad", "secs"):  # right-aligned: they end together
        end = header.index(column) + len(column)
        assert all(line[end - 1] != " " and line[end] == " " for line in rows)


@pytest.fixture
def unrolled(abcd, tmp_path):
    """An unrolled (U = 5) export of the abcd model, and its weights."""
    pytest.importorskip("lstmkit.backends.onnx_backend", exc_type=ImportError)
    from lstmkit import export_onnx
    from lstmkit.loading import load_model_file

    model, _ = abcd
    weights = load_model_file(model).weights
    path = tmp_path / "m_unroll5.onnx"
    export_onnx.export(weights, path, unroll=5)
    return path, weights


def test_cli_verifies_an_unrolled_export(abcd, unrolled, capsys):
    model, meta = abcd
    path, _ = unrolled
    text = "abcdabcadbcabdd"[:13]  # 13 = 2 x 5 + 3
    argv = ["verify", str(model), "--meta", str(meta), "--text", text]
    assert cli.main(argv + ["--onnx", str(path), "--backends", "numpy"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in table_lines(out) if line.startswith("onnx:")]
    assert len(rows) == 3 and all(line.endswith("ok") for line in rows)
    patterns_and_calls = [line.split("  ")[1:] for line in rows]
    assert [
        [c.strip() for c in cells if c.strip()][:2] for cells in patterns_and_calls
    ] == [
        ["one call", "1x10"],
        ["chunks", "2x5"],
        ["per char", "2x5"],
    ]
    assert (
        "onnx:m_unroll5.onnx: runs calls of a multiple of 5 steps; compared over the "
        "first 10 of 13 steps"
    ) in out
    assert "OK:" in out

    assert (
        cli.main(
            [
                "verify",
                str(model),
                "--length",
                "20",
                "--json",
                "--onnx",
                str(path),
                "--backends",
                "numpy",
                "--chunks",
                "2",
            ]
        )
        == 0
    )
    entry = json.loads(capsys.readouterr().out)["backends"]["onnx:m_unroll5.onnx"]
    assert entry["ok"] and entry["step_multiple"] == 5
    calls = {name: p["calls"] for name, p in entry["patterns"].items()}
    assert calls == {
        "one_call": [{"count": 1, "length": 20}],
        "chunks": [{"count": 2, "length": 10}],
        "per_char": [{"count": 4, "length": 5}],
    }


def test_cli_fails_a_wrong_unrolled_export_naming_the_first_bad_step(
    abcd, unrolled, tmp_path, capsys
):
    import onnx

    from lstmkit import export_onnx
    from lstmkit.weights import onnx_to_torch_gates

    model, meta = abcd
    _, weights = unrolled

    # The gates left in PyTorch's order where ONNX's is expected: wrong from step 0.
    def unordered(k, layer):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(layer, name, onnx_to_torch_gates(getattr(layer, name)))

    # The input and cell gates swapped in character 'c''s column: wrong from its
    # first 'c'.
    def column(k, layer):
        if k == 0:
            swap_blocks(layer.weight_ih[:, 2:3], 0, 2)

    paths = []
    for name, fix in (("order", unordered), ("column", column)):
        paths.append(tmp_path / f"{name}_unroll5.onnx")
        onnx.save(export_onnx.build_unrolled(tamper(weights, fix), 5), paths[-1])

    text = "abdabdacabdb"  # the first 'c' at step 7; 12 = 2 x 5 + 2
    argv = ["verify", str(model), "--meta", str(meta), "--text", text]
    argv += ["--backends", "numpy", "--onnx", str(paths[0]), "--onnx", str(paths[1])]
    assert cli.main(argv) == 1
    failed = capsys.readouterr().out.split("FAILED:")[1]
    for label in ("one call", "chunks", "per char"):
        assert (
            f"onnx:order_unroll5.onnx ({label}): scores past tolerance from step 0"
        ) in failed
        assert (
            f"onnx:column_unroll5.onnx ({label}): scores past tolerance from step 7"
        ) in failed
    assert "numpy (" not in failed


def test_cli_input_shorter_than_an_unrolled_graph_exits_2(abcd, unrolled, capsys):
    model, _ = abcd
    path, _ = unrolled
    argv = ["verify", str(model), "--length", "4", "--onnx", str(path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.endswith(
        "--onnx: onnx:m_unroll5.onnx takes calls of a multiple of 5 steps, but the "
        "sequence has only 4 indices; verify on at least 5"
    )
