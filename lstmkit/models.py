"""The seed's model classes, faithful to its conventions and fixed where it went wrong.

Conventions every class here follows (and any class added here must follow to work
with ``lstmkit train`` unchanged):

* It inherits ``torch.nn.Module`` and calls its constructor first.
* The constructor's first argument is ``char_size`` (K); the rest are the class's own.
* ``forward(indices)`` takes an integer tensor of character indices of shape (N,) and
  returns float scores of shape (N, K); N=1 gives (1, K). A (N, B) tensor of B parallel
  streams gives (N, B, K); training uses it for ``--batch-size``.
* The scores are the decoder's raw output. The seed README calls them nonnegative, but
  its training and sampling apply softmax to whatever the model returns, so raw scores
  (which may be negative) are what every existing weight file was trained to produce.
* The state (h and c of every layer) is kept in the model between calls and detached,
  so backpropagation runs within one call. ``reset_state()`` forgets it.
* ``save_model(path)`` / ``load_model(path)`` write and read the state dict.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from lstmkit import fileio
from lstmkit.errors import LstmkitError
from lstmkit.weights import TORCH_GATES, check_state_dict, custom_gate_prefix
from lstmkit.weights import check_indices as weights_check_indices

__all__ = ["CharModel", "CustomLSTM", "TorchLSTM", "check_indices"]


def check_indices(indices: torch.Tensor, char_size: int) -> torch.Tensor:
    """Validates (N,) or (N, B) character indices and returns them as int64.

    Raises:
        LstmkitError: not an integer tensor, the wrong shape, or an index outside
            ``[0, char_size)``.
    """
    if not isinstance(indices, torch.Tensor):
        raise LstmkitError(
            "indices: expected a torch integer tensor of shape (N,), got "
            f"{type(indices).__name__}"
        )
    array = indices.detach().cpu().numpy()
    checked = weights_check_indices(array, char_size, batched=array.ndim == 2)
    return torch.from_numpy(checked)


class CharModel(nn.Module):
    """What the two classes share: the carried state, the checks and save/load.

    Subclasses set ``char_size``, ``hidden_size``, ``num_layers`` and implement
    ``_run(onehot, h, c)``: (N, B, K) inputs and (L, B, H) states to (N, B, H) top-layer
    outputs and the new states.
    """

    char_size: int
    hidden_size: int
    num_layers: int
    supports_streams = True  # forward also takes (N, B); see train --batch-size

    def __init__(self) -> None:
        super().__init__()
        self.h: torch.Tensor | None = None  # (L, H) or (L, B, H), detached
        self.c: torch.Tensor | None = None

    def reset_state(self) -> None:
        """Forgets the carried state; the next call starts from zeros."""
        self.h = None
        self.c = None

    def get_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The carried (h, c), each (L, H); zeros before the first call."""
        if self.h is None or self.c is None:
            zeros = torch.zeros(self.num_layers, self.hidden_size)
            return zeros, zeros.clone()
        return self.h.clone(), self.c.clone()

    def set_state(self, h: torch.Tensor, c: torch.Tensor) -> None:
        """Sets the carried state: h and c each (L, H), or (L, B, H) for B streams."""
        h = torch.as_tensor(h, dtype=torch.float32)
        c = torch.as_tensor(c, dtype=torch.float32)
        if (
            h.shape != c.shape
            or h.dim() not in (2, 3)
            or tuple(h.shape[0:1]) != (self.num_layers,)
            or h.shape[-1] != self.hidden_size
        ):
            raise LstmkitError(
                f"state: expected h and c of shape (L, H) = ({self.num_layers}, "
                f"{self.hidden_size}), got {tuple(h.shape)} and {tuple(c.shape)}"
            )
        self.h = h.detach().clone()
        self.c = c.detach().clone()

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """Scores for each next character.

        Args:
            indices: (N,) integer character indices, or (N, B) for B streams.

        Returns:
            (N, K) float scores (raw decoder output), or (N, B, K).
        """
        indices = check_indices(indices, self.char_size)
        batched = indices.dim() == 2
        steps = indices if batched else indices.unsqueeze(1)  # (N, B)
        N, B = steps.shape
        param = next(self.parameters())
        if N == 0:  # nothing to run: no scores, the state is left as it is
            shape = (0, B, self.char_size) if batched else (0, self.char_size)
            return torch.zeros(shape, dtype=param.dtype)

        h, c = self._initial_state(B, batched, param.dtype)  # (L, B, H) each
        onehot = nn.functional.one_hot(steps, self.char_size).to(
            param.dtype
        )  # (N, B, K)
        top, h, c = self._run(onehot, h, c)  # (N, B, H), (L, B, H), (L, B, H)
        scores = self.decoder(top)  # (N, B, K)

        self.h = (h if batched else h.squeeze(1)).detach()
        self.c = (c if batched else c.squeeze(1)).detach()
        return scores if batched else scores.squeeze(1)  # (N, K)

    def _initial_state(
        self, B: int, batched: bool, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        L, H = self.num_layers, self.hidden_size
        if self.h is None or self.c is None:
            zeros = torch.zeros(L, B, H, dtype=dtype)
            return zeros, zeros.clone()
        h = self.h if self.h.dim() == 3 else self.h.unsqueeze(1)  # (L, B', H)
        c = self.c if self.c.dim() == 3 else self.c.unsqueeze(1)
        if h.shape[1] != B or (self.h.dim() == 3) != batched:
            raise LstmkitError(
                f"the carried state is for {h.shape[1]} stream(s) of shape "
                f"{tuple(self.h.shape)}, this call has {B}; call reset_state() first"
            )
        return h.to(dtype), c.to(dtype)

    def _run(
        self, onehot: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError  # each subclass runs its own cell

    def save_model(self, path: str | os.PathLike) -> None:
        """Writes the state dict to ``path`` atomically (replacing any old file)."""
        state = {k: v.detach().clone() for k, v in self.state_dict().items()}
        fileio.write_atomic(path, lambda tmp: torch.save(state, tmp))

    def load_model(self, path: str | os.PathLike) -> None:
        """Copies the weights in ``path`` into this model, strictly.

        ``.pth`` files are read without unpickling objects; ``.safetensors`` files
        (which always hold TorchLSTM's names) are converted through the canonical
        form. The carried state is reset.

        Raises:
            LstmkitError: the file cannot be read, or its keys or shapes do not fit this
                model; the error names them, and the model's weights are left untouched.
        """
        path = os.fspath(path)
        if path.endswith(".safetensors"):
            state = self._state_from_safetensors(path)
        else:
            state = fileio.read_pth(path)
        expected = {k: tuple(v.shape) for k, v in self.state_dict().items()}
        check_state_dict(state, expected, f"{path} for {self._describe()}")
        with torch.no_grad():
            self.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
        self.reset_state()

    def _state_from_safetensors(self, path: str) -> dict[str, torch.Tensor]:
        # The one safetensors reader (format version and charset checked), imported
        # here because lstmkit.loading builds on this floor.
        from lstmkit.loading import load_model_file
        from lstmkit.weights import to_custom_state

        weights = load_model_file(path, finite=False).weights  # as a .pth loads
        tensors = (
            to_custom_state(weights)
            if isinstance(self, CustomLSTM)
            else (weights.tensors())
        )
        return {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}

    def _describe(self) -> str:
        return (
            f"{type(self).__name__}(char_size={self.char_size}, "
            f"hidden_size={self.hidden_size}, num_layers={self.num_layers})"
        )


class TorchLSTM(CharModel):
    """A character LSTM on ``nn.LSTM``, with a ``Linear(H, K)`` decoder.

    State-dict keys: ``lstm.weight_ih_l{k}``, ``lstm.weight_hh_l{k}``,
    ``lstm.bias_ih_l{k}``, ``lstm.bias_hh_l{k}`` for each layer k, and
    ``decoder.weight``, ``decoder.bias``. File name convention:
    ``<stem>_torch_<H>_<L>.pth``.

    Args:
        char_size: K, the number of characters.
        hidden_size: H, units per layer.
        num_layers: L, stacked layers.
        dropout: in training mode only, the dropout applied to each layer's output
            (between layers and before the decoder); it adds no weights, so files
            are the same with or without it. Training sets it with ``--dropout``.
    """

    def __init__(
        self,
        char_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_sizes(char_size, hidden_size, num_layers)
        self.char_size, self.hidden_size, self.num_layers = (
            char_size,
            hidden_size,
            num_layers,
        )
        if not 0.0 <= dropout < 1.0:
            raise LstmkitError(f"dropout: expected a value in [0, 1), got {dropout}")
        self.lstm = nn.LSTM(
            char_size, hidden_size, num_layers, dropout=dropout if num_layers > 1 else 0
        )
        self.drop = nn.Dropout(dropout)  # identity in eval mode
        self.decoder = nn.Linear(hidden_size, char_size)

    def _run(self, onehot, h, c):
        out, (h, c) = self.lstm(onehot, (h.contiguous(), c.contiguous()))  # (N, B, H)
        return self.drop(out), h, c


class CustomLSTM(CharModel):
    """The same cell written by hand from four ``nn.Linear`` gates.

    Each gate of layer k is ``Linear(H + in, H)`` over the concatenation ``[h | x]``
    (h first): ``i_gate``, ``f_gate``, ``o_gate`` and ``cell_inp`` (the candidate g)
    for layer 0, exactly the seed's names and shapes, and ``i_gate_l{k}`` and so on
    above it.
    ``decoder`` maps H to K. File name convention: ``<stem>_custom_<H>.pth``, or
    ``<stem>_custom_<H>_<L>.pth`` when L > 1.

    Args:
        char_size: K, the number of characters.
        hidden_size: H, units per layer.
        num_layers: L, stacked layers.
        init_rand: draw random initial weights (``nn.Linear``'s default); when false
            every parameter starts at zero, to be filled by ``load_model``.
    """

    def __init__(
        self,
        char_size: int,
        hidden_size: int,
        num_layers: int = 1,
        init_rand: bool = True,
    ) -> None:
        super().__init__()
        _check_sizes(char_size, hidden_size, num_layers)
        self.char_size, self.hidden_size, self.num_layers = (
            char_size,
            hidden_size,
            num_layers,
        )
        for k in range(num_layers):
            width = hidden_size + (char_size if k == 0 else hidden_size)  # [h | x]
            for gate in TORCH_GATES:
                self.add_module(
                    custom_gate_prefix(gate, k), nn.Linear(width, hidden_size)
                )
        self.decoder = nn.Linear(hidden_size, char_size)
        if not init_rand:
            with torch.no_grad():
                for param in self.parameters():
                    param.zero_()

    def _gates(self, k: int) -> tuple[nn.Linear, nn.Linear, nn.Linear, nn.Linear]:
        return tuple(getattr(self, custom_gate_prefix(g, k)) for g in TORCH_GATES)

    def _run(self, onehot, h, c):
        hs, cs = list(h.unbind(0)), list(c.unbind(0))  # L x (B, H)
        outputs = []
        for x in onehot.unbind(0):  # N x (B, K)
            for k in range(self.num_layers):
                i_gate, f_gate, g_gate, o_gate = self._gates(k)
                hx = torch.cat([hs[k], x], dim=1)  # (B, H + in)
                i = torch.sigmoid(i_gate(hx))
                f = torch.sigmoid(f_gate(hx))
                g = torch.tanh(g_gate(hx))
                o = torch.sigmoid(o_gate(hx))
                cs[k] = f * cs[k] + i * g
                hs[k] = o * torch.tanh(cs[k])
                x = hs[k]
            outputs.append(x)
        return torch.stack(outputs), torch.stack(hs), torch.stack(cs)  # (N, B, H), ...


def _check_sizes(char_size: int, hidden_size: int, num_layers: int) -> None:
    for name, value in (
        ("char_size", char_size),
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LstmkitError(f"{name}: expected a positive integer, got {value!r}")
