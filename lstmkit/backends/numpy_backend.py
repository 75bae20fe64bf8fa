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
    """The cell of :mod:`lstmkit.weights` in NumPy, one step at a time."""

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
        """(N, B) indices from (L, B, H) states to (N, B, H) top outputs and states."""
        H = self.hidden_size
        h, c = h.copy(), c.copy()
        top = np.empty((indices.shape[0], indices.shape[1], H), dtype=self.dtype)
        for t in range(indices.shape[0]):
            x = None
            for k in range(self.num_layers):
                if k == 0:
                    gates = (
                        self.embed[indices[t]] + h[0] @ self.weight_hh_t[0]
                    )  # (B, 4H)
                else:
                    gates = (
                        x @ self.weight_ih[k].T
                        + self.bias[k]
                        + h[k] @ self.weight_hh_t[k]
                    )
                i = _sigmoid(gates[:, 0:H])
                f = _sigmoid(gates[:, H : 2 * H])
                g = np.tanh(gates[:, 2 * H : 3 * H])
                o = _sigmoid(gates[:, 3 * H : 4 * H])
                c[k] = f * c[k] + i * g
                h[k] = o * np.tanh(c[k])
                x = h[k]
            top[t] = x
        return top, h, c


class NumpyBackend64(NumpyBackend):
    """The float64 reference."""

    name = "numpy64"
    dtype = np.float64
