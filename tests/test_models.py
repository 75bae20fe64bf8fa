"""The seed's conventions for TorchLSTM and CustomLSTM, each pinned."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lstmkit.convert import from_module, to_module
from lstmkit.errors import LstmkitError
from lstmkit.models import CharModel, CustomLSTM, TorchLSTM
from lstmkit.weights import random_weights

K, H = 5, 7


def _models(L: int = 2) -> list[CharModel]:
    weights = random_weights(K, H, L, seed=3)
    return [to_module(weights, "torch"), to_module(weights, "custom")]


@pytest.mark.parametrize("cls", [TorchLSTM, CustomLSTM])
def test_inherits_module_and_takes_char_size_first(cls):
    model = cls(K, H, 2)
    assert isinstance(model, nn.Module)
    assert model.char_size == K and model.decoder.out_features == K


@pytest.mark.parametrize("model", _models(), ids=["torch", "custom"])
@pytest.mark.parametrize("N", [1, 4])
def test_forward_shapes(model, N):
    # Case 06: one index gives (1, K), not (K,).
    scores = model(torch.arange(N) % K)
    assert scores.shape == (N, K) and scores.dtype == torch.float32


@pytest.mark.parametrize("model", _models(), ids=["torch", "custom"])
def test_empty_sequence_keeps_state(model):
    model(torch.tensor([1, 2]))
    h, c = model.get_state()
    assert model(torch.zeros(0, dtype=torch.long)).shape == (0, K)
    h2, c2 = model.get_state()
    assert torch.equal(h, h2) and torch.equal(c, c2)


@pytest.mark.parametrize("model", _models(3), ids=["torch", "custom"])
def test_carried_state_equals_one_call(model):
    seq = torch.tensor([0, 4, 2, 2, 1, 3, 0, 1, 4, 4, 2])
    whole = model(seq)
    model.reset_state()
    halves = torch.cat([model(seq[:6]), model(seq[6:])])
    assert torch.allclose(whole, halves, atol=1e-6)
    assert not model.h.requires_grad and not model.c.requires_grad


def test_case07_custom_thirty_then_ten_and_twenty():
    # Case 07: h and c each carried in its own place.
    weights = random_weights(6, 4, 1, seed=7)
    seq = torch.from_numpy(np.random.default_rng(7).integers(0, 6, 30))
    whole = to_module(weights, "custom")(seq)
    fresh = to_module(weights, "custom")
    split = torch.cat([fresh(seq[:10]), fresh(seq[10:])])
    assert torch.allclose(whole, split, atol=1e-6)


def test_reset_state_forgets():
    model = _models()[0]
    seq = torch.tensor([1, 2, 3])
    first = model(seq)
    assert not torch.allclose(model(seq), first)  # the state moved on
    model.reset_state()
    assert torch.equal(model(seq), first)


def test_scores_are_raw_decoder_output():
    # The seed's training applies softmax outside the model: scores may be negative.
    model = _models()[0]
    scores = model(torch.arange(K))
    assert (scores < 0).any()
    assert not torch.allclose(scores.exp().sum(1), torch.ones(K))


@pytest.mark.parametrize(
    "bad",
    [
        torch.tensor([K]),
        torch.tensor([-1]),
        torch.tensor([0.5]),
        torch.zeros(2, 2, 2).long(),
    ],
)
def test_bad_indices_rejected(bad):
    with pytest.raises(LstmkitError, match="indices"):
        _models()[0](bad)


def test_custom_single_layer_keys_are_the_seeds():
    state = CustomLSTM(K, H).state_dict()
    expected = {
        f"{g}.{p}"
        for g in ("decoder", "cell_inp", "i_gate", "f_gate", "o_gate")
        for p in ("weight", "bias")
    }
    assert set(state) == expected
    assert state["i_gate.weight"].shape == (H, H + K)
    assert state["decoder.weight"].shape == (K, H)


def test_torch_keys_are_nn_lstm_plus_decoder():
    state = TorchLSTM(K, H, 2).state_dict()
    lstm = {f"lstm.{k}" for k in nn.LSTM(K, H, 2).state_dict()}
    assert set(state) == lstm | {"decoder.weight", "decoder.bias"}


def test_init_rand_false_starts_at_zero():
    assert all(not p.any() for p in CustomLSTM(K, H, init_rand=False).parameters())


@pytest.mark.parametrize("kind", ["torch", "custom"])
def test_save_load_round_trip(tmp_path, kind):
    model = to_module(random_weights(K, H, 2, seed=1), kind)
    path = tmp_path / f"m_{kind}_{H}_2.pth"
    model.save_model(path)
    fresh = type(model)(K, H, 2)
    fresh.load_model(path)
    seq = torch.tensor([0, 1, 2, 3, 4])
    assert torch.equal(fresh(seq), model(seq))


def test_mismatched_load_raises_and_keeps_weights(tmp_path):
    path = tmp_path / "m_torch_7_2.pth"
    TorchLSTM(K, H, 2).save_model(path)
    other = TorchLSTM(K, H + 1, 1)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(LstmkitError) as err:
        other.load_model(path)
    message = str(err.value)
    assert "unexpected keys lstm.bias_hh_l1" in message
    assert "lstm.weight_hh_l0: file has (28, 7), model expects (32, 8)" in message
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())


def test_stacked_custom_matches_torch_math():
    weights = random_weights(K, H, 3, seed=5)
    torch_model, custom_model = (
        to_module(weights, "torch"),
        to_module(weights, "custom"),
    )
    seq = torch.tensor([4, 3, 2, 1, 0, 0, 1])
    assert torch.allclose(torch_model(seq), custom_model(seq), atol=1e-5)
    back = from_module(custom_model)
    assert back.num_layers == 3 and back.hidden_size == H


def test_batched_streams_match_single_streams():
    model = _models()[1]
    seqs = torch.tensor([[0, 1], [2, 3], [4, 0]])  # (N=3, B=2)
    batched = model(seqs)
    assert batched.shape == (3, 2, K)
    for b in range(2):
        model.reset_state()
        assert torch.allclose(batched[:, b], model(seqs[:, b]), atol=1e-6)


def test_dropout_adds_no_weights_and_is_off_in_eval():
    plain = TorchLSTM(K, H, 2)
    dropped = TorchLSTM(K, H, 2, dropout=0.5)
    assert set(dropped.state_dict()) == set(plain.state_dict())
    dropped.load_state_dict(plain.state_dict())
    seq = torch.tensor([0, 1, 2, 3, 4, 0])
    with torch.no_grad():
        assert torch.equal(dropped.eval()(seq), plain.eval()(seq))
        dropped.train().reset_state()
        plain.reset_state()
        assert not torch.equal(dropped(seq), plain(seq))
    with pytest.raises(LstmkitError, match="dropout"):
        TorchLSTM(K, H, 2, dropout=1.0)
