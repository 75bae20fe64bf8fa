"""The ``safetensors`` backend: the weights written to a safetensors file and read
back through :func:`lstmkit.loading.load_model_file`, then run by the float32 NumPy
backend (a file round trip needs no second torch run, and NumPy is the faster of the
two one character at a time).

It shows in ``lstmkit verify`` that the safetensors path loses nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lstmkit import export_safetensors
from lstmkit.backends.numpy_backend import NumpyBackend
from lstmkit.loading import load_model_file
from lstmkit.weights import LSTMWeights


class SafetensorsBackend(NumpyBackend):
    """The NumPy backend holding the weights after a safetensors round trip."""

    name = "safetensors"

    def __init__(self, weights: LSTMWeights) -> None:
        with tempfile.TemporaryDirectory(prefix="lstmkit-") as folder:
            path = Path(folder) / "model.safetensors"
            export_safetensors.export(weights, path)
            loaded = load_model_file(path)
        super().__init__(loaded.weights)
        self.built_from = (
            f"{weights.describe()}, written to safetensors, read back and run in "
            "NumPy (float32)"
        )
