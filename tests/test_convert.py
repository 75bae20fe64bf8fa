"""lstmkit.convert and ``lstmkit convert``: both directions, any number of layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import cli
from lstmkit.convert import convert_file, from_module, to_module
from lstmkit.errors import LstmkitError
from lstmkit.models import CustomLSTM, TorchLSTM

K, H = 5, 7
INDICES = torch.tensor([0, 4, 2, 2, 1, 3, 0, 4, 4, 1, 2, 3, 0, 1, 3, 2])


def scores(model) -> np.ndarray:
    model.reset_state()
    with torch.no_grad():
        return model(INDICES).numpy()  # (N, K)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_custom_to_torch_to_custom_is_bit_for_bit(L):
    torch.manual_seed(L)
    custom = CustomLSTM(K, H, L)
    back = to_module(from_module(to_module(from_module(custom), "torch")), "custom")
    original, again = custom.state_dict(), back.state_dict()
    assert list(again) == list(original)
    for name, tensor in original.items():
        assert torch.equal(again[name], tensor), name


@pytest.mark.parametrize("L", [1, 2, 3])
def test_custom_to_torch_puts_gate_bias_in_bias_ih(L):
    torch.manual_seed(L)
    custom = CustomLSTM(K, H, L)
    torch_model = to_module(from_module(custom), "torch")
    for k in range(L):
        assert not getattr(torch_model.lstm, f"bias_hh_l{k}").any()
    np.testing.assert_allclose(scores(torch_model), scores(custom), atol=1e-6, rtol=0)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_torch_to_custom_to_torch_gives_the_same_scores(L):
    torch.manual_seed(10 + L)
    source = TorchLSTM(K, H, L)
    custom = to_module(from_module(source), "custom")
    back = to_module(from_module(custom), "torch")
    expected = scores(source)
    np.testing.assert_allclose(scores(custom), expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(scores(back), expected, atol=1e-6, rtol=0)
    # The weight matrices themselves pass through untouched.
    for k in range(L):
        for name in (f"weight_ih_l{k}", f"weight_hh_l{k}"):
            assert torch.equal(getattr(back.lstm, name), getattr(source.lstm, name)), (
                name
            )


def test_to_module_refuses_unknown_kind():
    torch.manual_seed(0)
    with pytest.raises(LstmkitError, match="model kind"):
        to_module(from_module(TorchLSTM(K, H, 1)), "keras")


# ---------------------------------------------------------------- files and CLI


@pytest.mark.parametrize("L", [1, 2, 3])
def test_cli_converts_both_ways_and_target_class_loads_it(
    L, save_torch_model, tmp_path, capsys
):
    src = save_torch_model(K, H, L, seed=L)
    source = TorchLSTM(K, H, L)
    source.load_model(src)

    assert cli.main(["convert", str(src), "--to", "custom"]) == 0
    custom_name = f"m_custom_{H}.pth" if L == 1 else f"m_custom_{H}_{L}.pth"
    custom_path = tmp_path / custom_name
    assert f"wrote {custom_path}" in capsys.readouterr().out
    custom = CustomLSTM(K, H, L)
    custom.load_model(custom_path)
    np.testing.assert_allclose(scores(custom), scores(source), atol=1e-6, rtol=0)

    back_path = tmp_path / "out" / f"back_torch_{H}_{L}.pth"
    back_path.parent.mkdir()
    argv = ["convert", str(custom_path), "--to", "torch", "-o", str(back_path)]
    assert cli.main(argv) == 0
    back = TorchLSTM(K, H, L)
    back.load_model(back_path)
    np.testing.assert_allclose(scores(back), scores(source), atol=1e-6, rtol=0)


def test_convert_file_names_output_by_convention(save_torch_model, tmp_path):
    src = save_torch_model(K, H, 2, stem="shakespeare")
    result = convert_file(src, "custom")
    assert result.path == tmp_path / f"shakespeare_custom_{H}_2.pth"
    assert result.spec.class_name == "CustomLSTM"


def test_convert_refuses_existing_output_and_keeps_it(
    save_torch_model, tmp_path, capsys
):
    src = save_torch_model(K, H, 1)
    existing = tmp_path / f"m_custom_{H}.pth"
    existing.write_bytes(b"keep me")
    assert cli.main(["convert", str(src), "--to", "custom"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"
    assert cli.main(["convert", str(src), "--to", "custom", "--force"]) == 0
    CustomLSTM(K, H, 1).load_model(existing)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_convert_refuses_nonfinite_weights_and_writes_nothing(tmp_path, capsys, value):
    """As verify and export do: the converted file could never be shown to match."""
    model = TorchLSTM(K, H, 2)
    with torch.no_grad():
        model.lstm.weight_hh_l1[3, 2] = value
    src = tmp_path / f"bad_torch_{H}_2.pth"
    model.save_model(src)
    assert cli.main(["convert", str(src), "--to", "custom"]) == 2
    assert "tensor lstm.weight_hh_l1 holds 1 NaN or infinite" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_convert_refuses_writing_over_its_source(save_torch_model):
    src = save_torch_model(K, H, 1)
    with pytest.raises(LstmkitError, match="is the source file"):
        convert_file(src, "torch", src, overwrite=True)


def test_convert_needs_spec_options_for_unconventional_names(tmp_path, capsys):
    torch.manual_seed(0)
    src = tmp_path / "weights.pth"
    CustomLSTM(K, H, 2).save_model(src)
    dst = tmp_path / f"w_torch_{H}_2.pth"
    argv = ["convert", str(src), "--to", "torch", "-o", str(dst)]
    # Options that give the wrong L are refused, saying what the file holds.
    assert cli.main(argv + ["--model-class", "custom", "--hidden-size", str(H)]) == 2
    err = capsys.readouterr().err
    assert f"the options say CustomLSTM(H={H}, L=1) but it holds a CustomLSTM " in err
    assert f"--model-class custom --hidden-size {H} --num-layers 2" in err
    assert not dst.exists()
    argv += ["--model-class", "custom", "--hidden-size", str(H), "--num-layers", "2"]
    assert cli.main(argv) == 0
    TorchLSTM(K, H, 2).load_model(dst)


def test_convert_keeps_float64_weights(tmp_path, capsys):
    torch.manual_seed(5)
    source = TorchLSTM(K, H, 2).double()
    src = tmp_path / f"d_torch_{H}_2.pth"
    source.save_model(src)
    expected = scores(source)

    custom_path = tmp_path / f"d_custom_{H}_2.pth"
    back_path = tmp_path / f"back_torch_{H}_2.pth"
    assert (
        cli.main(["convert", str(src), "--to", "custom", "-o", str(custom_path)]) == 0
    )
    argv = ["convert", str(custom_path), "--to", "torch", "-o", str(back_path)]
    assert cli.main(argv) == 0
    for path in (custom_path, back_path):
        state = torch.load(path, weights_only=True)
        assert {v.dtype for v in state.values()} == {torch.float64}, path

    # float64 all the way: far closer than a float32 pass (about 1e-7) could be.
    custom = CustomLSTM(K, H, 2).double()
    custom.load_state_dict(torch.load(custom_path, weights_only=True))
    assert scores(custom).dtype == np.float64
    np.testing.assert_allclose(scores(custom), expected, atol=1e-13, rtol=0)
    # float32 weights still give a float32 module.
    assert to_module(
        from_module(TorchLSTM(K, H, 1)), "custom"
    ).decoder.weight.dtype == (torch.float32)
