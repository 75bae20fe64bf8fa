"""Files written by the seed's own classes load in lstmkit and give the same scores.

The two classes below are written from the seed README's description (an ``nn.LSTM``
named ``lstm`` plus a ``decoder``; four ``Linear(H + K, H)`` gates over ``[h | x]``),
step by step and independently of lstmkit's code, and save their state dicts with a
plain ``torch.save`` as the seed did.
"""

from __future__ import annotations

import torch
from torch import nn

from lstmkit.loading import load_model_file
from lstmkit.models import CustomLSTM, TorchLSTM

K, H = 6, 5


class SeedTorch(nn.Module):
    def __init__(self, char_size, hidden_size, num_layers):
        super().__init__()
        self.lstm = nn.LSTM(char_size, hidden_size, num_layers)
        self.decoder = nn.Linear(hidden_size, char_size)
        self.k = char_size

    def forward(self, seq):
        x = nn.functional.one_hot(seq, self.k).float()
        out, _ = self.lstm(x)
        return self.decoder(out)


class SeedCustom(nn.Module):
    def __init__(self, char_size, hidden_size):
        super().__init__()
        self.k, self.hs = char_size, hidden_size
        self.i_gate = nn.Linear(hidden_size + char_size, hidden_size)
        self.f_gate = nn.Linear(hidden_size + char_size, hidden_size)
        self.o_gate = nn.Linear(hidden_size + char_size, hidden_size)
        self.cell_inp = nn.Linear(hidden_size + char_size, hidden_size)
        self.decoder = nn.Linear(hidden_size, char_size)

    def forward(self, seq):
        h, c, outs = torch.zeros(self.hs), torch.zeros(self.hs), []
        for k in seq.tolist():
            x = torch.zeros(self.k)
            x[k] = 1.0
            hx = torch.cat([h, x])
            c = torch.sigmoid(self.f_gate(hx)) * c + torch.sigmoid(
                self.i_gate(hx)
            ) * torch.tanh(self.cell_inp(hx))
            h = torch.sigmoid(self.o_gate(hx)) * torch.tanh(c)
            outs.append(self.decoder(h))
        return torch.stack(outs)


def _seq():
    return torch.tensor([0, 5, 3, 3, 1, 2, 4, 0, 5])


def test_seed_torch_file_loads_with_same_scores(tmp_path):
    torch.manual_seed(0)
    seed = SeedTorch(K, H, 3)
    path = tmp_path / "old_torch_5_3.pth"
    torch.save(seed.state_dict(), path)

    model = TorchLSTM(K, H, 3)
    model.load_model(path)
    with torch.no_grad():
        assert torch.allclose(model(_seq()), seed(_seq()), atol=1e-6)
    assert load_model_file(path).spec.num_layers == 3


def test_seed_custom_file_loads_with_same_scores(tmp_path):
    torch.manual_seed(1)
    seed = SeedCustom(K, H)
    path = tmp_path / "old_custom_5.pth"
    torch.save(seed.state_dict(), path)

    model = CustomLSTM(K, H)
    model.load_model(path)
    with torch.no_grad():
        assert torch.allclose(model(_seq()), seed(_seq()), atol=1e-6)
    assert load_model_file(path).spec.kind == "custom"


def test_lstmkit_files_load_in_the_seed_classes(tmp_path):
    ours = CustomLSTM(K, H)
    path = tmp_path / "new_custom_5.pth"
    ours.save_model(path)
    seed = SeedCustom(K, H)
    seed.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        assert torch.allclose(seed(_seq()), ours(_seq()), atol=1e-6)

    ours_t = TorchLSTM(K, H, 2)
    path = tmp_path / "new_torch_5_2.pth"
    ours_t.save_model(path)
    seed_t = SeedTorch(K, H, 2)
    seed_t.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        assert torch.allclose(seed_t(_seq()), ours_t(_seq()), atol=1e-6)
