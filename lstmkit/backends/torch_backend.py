"""The torch backends: ``torch`` runs a TorchLSTM, ``custom`` a CustomLSTM."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from lstmkit.backends.base import Backend
from lstmkit.convert import to_module
from lstmkit.weights import LSTMWeights

# oneDNN's LSTM prepares the weights on every call: faster over long sequences, about
# twice as slow one step at a time (measured at H=500, L=3, one thread; the two cross
# between 4 and 16 steps). Calls shorter than this take ATen's own kernel.
ONEDNN_MIN_STEPS = 8


@contextlib.contextmanager
def _onednn(enabled: bool):
    """oneDNN switched off inside the block when ``enabled`` is false."""
    saved = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = saved and enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = saved


class TorchBackend(Backend):
    """A TorchLSTM (``nn.LSTM``) built from the canonical weights, in eval mode."""

    name = "torch"
    kind = "torch"
    supports_batch = True

    def __init__(self, weights: LSTMWeights) -> None:
        self.model = to_module(weights, self.kind)
        super().__init__(weights)

    @torch.no_grad()
    def _run(self, indices: np.ndarray) -> np.ndarray:
        with _onednn(len(indices) >= ONEDNN_MIN_STEPS):
            scores = self.model(torch.from_numpy(indices))  # (N, K)
        self.h, self.c = (t.numpy().copy() for t in self.model.get_state())
        return scores.numpy()

    @torch.no_grad()
    def _run_batch(self, indices: np.ndarray) -> np.ndarray:
        saved = self.model.h, self.model.c
        self.model.reset_state()
        try:
            return self.model(torch.from_numpy(indices)).numpy()  # (N, B, K)
        finally:
            self.model.h, self.model.c = saved

    def set_state(self, h, c) -> None:
        super().set_state(h, c)
        self.model.set_state(torch.from_numpy(self.h), torch.from_numpy(self.c))

    def reset_state(self) -> None:
        super().reset_state()
        self.model.reset_state()


class CustomBackend(TorchBackend):
    """A CustomLSTM (four ``nn.Linear`` gates per layer) built from the canonical
    weights: the bias halves are summed into each gate's bias."""

    name = "custom"
    kind = "custom"
