"""The NumPy reference forward pass: float32 (``numpy``) and float64 (``numpy64``).

Imports no torch. ``numpy64`` is the yardstick ``lstmkit verify`` measures every other
backend against: the float32 weights are widened exactly to float64 and every sum is
done in float64. ``numpy`` runs a call of one character (generation) on a path of its
own, built for few NumPy calls (:class:`_StepPath`); ``numpy64`` runs every call the
same way, with its exact sigmoid.
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
        self._step_path = _StepPath(w) if self.dtype == np.float32 else None

    def _run(self, indices: np.ndarray) -> np.ndarray:
        if len(indices) == 1 and self._step_path is not None:
            return self._run_one(int(indices[0]))  # a list of one index too
        out = self._steps(indices[:, None], self.h[:, None, :], self.c[:, None, :])
        top, h, c = out  # (N, 1, H), (L, 1, H), (L, 1, H)
        self.h, self.c = h[:, 0, :], c[:, 0, :]
        return top[:, 0, :] @ self.decoder_weight_t + self.decoder_bias  # (N, K)

    def _run_one(self, index: int) -> np.ndarray:
        path = self._step_path
        if path is None:  # float64: the reference keeps its exact sigmoid
            return super()._run_one(index)
        if self.h is not path.h or self.c is not path.c:  # set, reset or run since
            path.h[...], path.c[...] = self.h, self.c
            self.h, self.c = path.h, path.c
        return path.step(index)

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


class _StepPath:
    """One character per call in float32, with as few NumPy calls as it takes.

    At small H a step's time goes to the overhead of each NumPy call rather than to
    arithmetic, so the step is arranged for few calls, each into a buffer set up once:

    - the state lives in one flat buffer ``[h_0, ..., h_{L-1}, 1]``, so a layer above
      0 reads ``[x; h] = [h_{k-1}; h_k]`` as one slice, updated in place layer by
      layer, and ``[W_ih | W_hh]`` is one (4H, 2H) matrix; the trailing 1 folds the
      decoder's bias into its product;
    - the gates are stacked o, i, f, g (torch stacks i, f, g, o) in a (5H,) work row
      followed by c, so one tanh covers the four gates, one product gives
      ``[i * g, f * c]`` and one sum gives c;
    - sigmoid(x) = (1 + tanh(x / 2)) / 2, and the rows of o, i and f are halved in
      the weights beforehand (exact for normal numbers: a power of two), so tanh of
      the whole row gives tanh(x / 2) for those three gates and tanh(x) for g.

    The results differ from the general path's by float32 rounding only: the sums run
    in another order, and the sigmoid's small values keep an absolute, not relative,
    precision of float32's (about 6e-8).

    Attributes:
        h: (L, H) view of the flat buffer; c: (L, H) view of the work rows. The
            backend's ``h`` and ``c`` are these arrays while steps run.
    """

    def __init__(self, w: LSTMWeights) -> None:
        H, L = w.hidden_size, w.num_layers
        order = np.r_[3 * H : 4 * H, 0 : 2 * H, 2 * H : 3 * H]  # i,f,g,o -> o,i,f,g
        scale = np.ones(4 * H, dtype=np.float32)  # halves o, i, f (after reordering)
        scale[: 3 * H] = 0.5
        scale = scale[:, None]

        self.flat = np.zeros(L * H + 1, dtype=np.float32)  # [h_0, ..., h_{L-1}, 1]
        self.flat[-1] = 1.0
        self.h = self.flat[: L * H].reshape(L, H)  # (L, H) view
        self.work = np.zeros((L, 5 * H), dtype=np.float32)  # rows [o, i, f, g, c]
        self.c = self.work[:, 4 * H :]  # (L, H) view

        layer = w.layers[0]
        embed = layer.weight_ih.T + (layer.bias_ih + layer.bias_hh)  # (K, 4H)
        self.embed = np.ascontiguousarray(embed[:, order] * scale.T)  # (K, 4H)
        self.layers = []  # per layer: matrix, its input, bias, work views, h out
        for k, layer in enumerate(w.layers):
            if k == 0:
                matrix, bias = layer.weight_hh, None  # input: the embed row
                x = self.flat[:H]  # h_0
            else:
                matrix = np.concatenate([layer.weight_ih, layer.weight_hh], axis=1)
                bias = (layer.bias_ih + layer.bias_hh)[order] * scale[:, 0]  # (4H,)
                x = self.flat[(k - 1) * H : (k + 1) * H]  # [h_{k-1}; h_k]
            matrix = np.ascontiguousarray(matrix[order] * scale)  # (4H, in + H)
            row = self.work[k]
            views = (
                row[: 4 * H],  # the gates
                row[: 3 * H],  # o, i, f: the sigmoid gates
                row[H : 3 * H],  # i, f
                row[3 * H :],  # g, c
                row[3 * H : 4 * H],  # g
                row[4 * H :],  # c
                row[:H],  # o
            )
            self.layers.append((matrix, x, bias, views, self.h[k]))
        decoder = np.concatenate([w.decoder_weight, w.decoder_bias[:, None]], axis=1)
        self.decoder_t = np.ascontiguousarray(decoder.T)  # (H + 1, K)
        self.top = self.flat[None, (L - 1) * H :]  # (1, H + 1): [h_{L-1}; 1]
        # Arrays, not Python floats: NumPy converts a scalar argument at every call.
        self.ones = np.ones(3 * H, dtype=np.float32)
        self.halves = np.full(3 * H, 0.5, dtype=np.float32)

    def step(self, index: int) -> np.ndarray:
        """One character from the state in ``h`` and ``c`` (updated) to (1, K)."""
        for matrix, x, bias, views, h in self.layers:
            gates, sig, i_f, g_c, g, c, o = views
            np.dot(matrix, x, out=gates)  # o, i, f, g
            np.add(gates, self.embed[index] if bias is None else bias, out=gates)
            np.tanh(gates, out=gates)
            np.add(sig, self.ones, out=sig)  # sigmoid(o, i, f) = (1 + tanh(x/2)) / 2
            np.multiply(sig, self.halves, out=sig)
            np.multiply(i_f, g_c, out=g_c)  # [g, c] -> [i * g, f * c]
            np.add(g, c, out=c)
            np.tanh(c, out=g)
            np.multiply(o, g, out=h)
        return np.dot(self.top, self.decoder_t)  # (1, K), bias included


class NumpyBackend64(NumpyBackend):
    """The float64 reference."""

    name = "numpy64"
    dtype = np.float64
