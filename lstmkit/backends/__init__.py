"""Backends: one model, many implementations, behind one small interface.

Every backend is built from :class:`lstmkit.weights.LSTMWeights` and runs (N,) index
sequences to (N, K) scores with the state carried between calls. Adding a backend is one
module and one entry in ``REGISTRY``; modules are imported only when their backend is
created, so the NumPy backends never import torch.
"""

from __future__ import annotations

import importlib

from lstmkit.backends.base import Backend
from lstmkit.errors import LstmkitError
from lstmkit.weights import LSTMWeights

# name: (module, class). numpy64 is the float64 yardstick every other is compared to.
REGISTRY: dict[str, tuple[str, str]] = {
    "numpy64": ("lstmkit.backends.numpy_backend", "NumpyBackend64"),
    "numpy": ("lstmkit.backends.numpy_backend", "NumpyBackend"),
    "torch": ("lstmkit.backends.torch_backend", "TorchBackend"),
    "custom": ("lstmkit.backends.torch_backend", "CustomBackend"),
    "onnx": ("lstmkit.backends.onnx_backend", "OnnxBackend"),
    "safetensors": ("lstmkit.backends.safetensors_backend", "SafetensorsBackend"),
}

REFERENCE = "numpy64"


def names() -> list[str]:
    """Every registered backend's name, the reference first."""
    return list(REGISTRY)


def create(name: str, weights: LSTMWeights, **options) -> Backend:
    """Builds the backend called ``name`` from ``weights``.

    Raises:
        LstmkitError: no backend of that name.
    """
    if name not in REGISTRY:
        raise LstmkitError(
            f"backend: no backend named {name!r}; choose from {', '.join(REGISTRY)}"
        )
    module_name, class_name = REGISTRY[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(weights, **options)


__all__ = ["REFERENCE", "REGISTRY", "Backend", "create", "names"]
