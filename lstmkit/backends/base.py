"""The interface every backend implements."""

from __future__ import annotations

import numpy as np

from lstmkit.weights import LSTMWeights, check_indices


class Backend:
    """Runs a character LSTM, carrying (h, c) between calls.

    Subclasses implement ``_run`` (and ``_run_batch`` where they support a batch) and
    keep the state in ``self.h`` and ``self.c``, each (L, H) NumPy arrays of
    ``self.dtype``.

    Attributes:
        name: the registry name.
        built_from: what the backend was built from, for reports.
        supports_batch: whether ``run_batch`` is available.
        step_multiple: U, the call length the backend accepts: ``run`` takes only
            sequences whose length is a multiple of U (1: any length). A graph unrolled
            for a fixed number of steps has U > 1.
    """

    name = "base"
    dtype: type = np.float32
    supports_batch = False
    step_multiple: int = 1

    def __init__(self, weights: LSTMWeights) -> None:
        weights.validate(finite=False)
        self.char_size = weights.char_size
        self.hidden_size = weights.hidden_size
        self.num_layers = weights.num_layers
        self.built_from = weights.describe()
        self.reset_state()

    def run(self, indices) -> np.ndarray:
        """Scores for each next character.

        Args:
            indices: (N,) integer character indices in ``[0, K)``.

        Returns:
            (N, K) raw scores. An empty sequence gives (0, K) and leaves the state as
            it is.
        """
        # Generation calls with one index; check_indices's checks, at a fraction of
        # its cost there. Anything else, a bad index included, goes the full way.
        if (
            type(indices) is np.ndarray
            and indices.shape == (1,)
            and indices.dtype.kind in "iu"  # integers, not bool
            and 0 <= indices.item() < self.char_size
        ):
            return self._run_one(indices.item())
        indices = check_indices(indices, self.char_size)
        if indices.size == 0:
            return np.zeros((0, self.char_size), dtype=self.dtype)
        return self._run(indices)

    def run_batch(self, indices) -> np.ndarray:
        """(N, B) indices of B independent streams, each from a zero state, to (N, B, K)
        scores. The carried state is left untouched."""
        if not self.supports_batch:
            raise NotImplementedError(f"backend {self.name} has no batched mode")
        indices = check_indices(indices, self.char_size, batched=True)
        return self._run_batch(indices)

    def get_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the carried (h, c), each (L, H)."""
        return self.h.copy(), self.c.copy()

    def set_state(self, h, c) -> None:
        """Sets the carried state from (L, H) arrays."""
        h, c = np.asarray(h), np.asarray(c)
        shape = (self.num_layers, self.hidden_size)
        if h.shape != shape or c.shape != shape:
            from lstmkit.errors import LstmkitError

            raise LstmkitError(
                f"state: expected h and c of shape (L, H) = {shape}, got "
                f"{h.shape} and {c.shape}"
            )
        self.h = h.astype(self.dtype, copy=True)
        self.c = c.astype(self.dtype, copy=True)

    def reset_state(self) -> None:
        """Zeros the carried state."""
        self.h = np.zeros((self.num_layers, self.hidden_size), dtype=self.dtype)
        self.c = np.zeros((self.num_layers, self.hidden_size), dtype=self.dtype)

    def _run(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # each backend runs its own implementation

    def _run_one(self, index: int) -> np.ndarray:
        """One checked index to (1, K); a backend may run it on a leaner path."""
        return self._run(np.array([index], dtype=np.int64))

    def _run_batch(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # only backends with supports_batch
