"""The NumPy reference forward pass: float32 (``numpy``) and float64 (``numpy64``).

Imports no torch. ``numpy64`` is the yardstick ``lstmkit verify`` measures every other
backend against: the float32 weights are widened exactly to float64 and every sum is
done in float64.
"""

from __future__ import annotations

import numpy as np

from lstmkit.backends.base import Backend
from lstmkit.weights import LSTMWeights


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a nonpositive number only: no overflow, and full relative precision on
    # both tails (1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


class NumpyBackend(Backend):
    """The cell of :mod:`lstmkit.weights` in NumPy, layer by layer, step by step."""

    name = "numpy"
    dtype = np.float32
    supports_batch = True

    def __init__(self, weights: LSTMWeights) -> None:
        super().__init__(weights)
        w = weights.astype(self.dtype)
        self.weight_ih = [layer.weight_ih for layer in w.layers]  # L x (4H, in)
        self.weight_hh_t = [
            np.ascontiguousarray(layer.weight_hh.T) for layer in w.layers
        ]
        self.bias = [layer.bias_ih + layer.bias_hh for layer in w.layers]  # L x (4H,)
        # Layer 0's input is one-hot, so W_ih x is column x of W_ih: a lookup table.
        self.embed = (
            np.ascontiguousarray(w.layers[0].weight_ih.T) + self.bias[0]
        )  # (K, 4H)
        self.decoder_weight_t = np.ascontiguousarray(w.decoder_weight.T)  # (H, K)
        self.decoder_bias = w.decoder_bias

    def _run(self, indices: np.ndarray) -> np.ndarray:
        out = self._steps(indices[:, None], self.h[:, None, :], self.c[:, None, :])
        top, h, c = out  # (N, 1, H), (L, 1, H), (L, 1, H)
        self.h, self.c = h[:, 0, :], c[:, 0, :]
        return top[:, 0, :] @ self.decoder_weight_t + self.decoder_bias  # (N, K)

    def _run_batch(self, indices: np.ndarray) -> np.ndarray:
        N, B = indices.shape
        zeros = np.zeros((self.num_layers, B, self.hidden_size), dtype=self.dtype)
        top, _, _ = self._steps(indices, zeros, zeros.copy())  # (N, B, H)
        return top @ self.decoder_weight_t + self.decoder_bias  # (N, B, K)

    def _steps(self, indices, h, c):
        """(N, B) indices from (L, B, H) states to (N, B, H) top outputs and states.

        Layer by layer rather than step by step: a layer's input term for all N steps
        is one matrix product, and only its W_hh is used in the step loop, so it stays
        in cache (about 3x faster for H=500, L=3). The sums are the cell's, in the same
        order: (W_ih x + b) + W_hh h.
        """
        H = self.hidden_size
        h, c = h.copy(), c.copy()
        top = None  # the layer below's outputs, (N, B, H)
        for k in range(self.num_layers):
            if top is None:
                inputs = self.embed[indices]  # (N, B, 4H), bias included
            else:
                inputs = top @ self.weight_ih[k].T + self.bias[k]  # (N, B, 4H)
            top = np.empty(indices.shape + (H,), dtype=self.dtype)  # (N, B, H)
            h_k, c_k = h[k], c[k]  # (B, H)
            for t in range(indices.shape[0]):
                gates = inputs[t] + h_k @ self.weight_hh_t[k]  # (B, 4H)
                i = _sigmoid(gates[:, 0:H])
                f = _sigmoid(gates[:, H : 2 * H])
                g = np.tanh(gates[:, 2 * H : 3 * H])
                o = _sigmoid(gates[:, 3 * H : 4 * H])
                c_k = f * c_k + i * g
                h_k = o * np.tanh(c_k)
                top[t] = h_k
            h[k], c[k] = h_k, c_k
        return top, h, c


class NumpyBackend64(NumpyBackend):
    """The float64 reference."""

    name = "numpy64"
    dtype = np.float64
