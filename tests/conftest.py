"""Fixtures shared by several test files. Keep this small."""

from __future__ import annotations

import os

# Tiny models gain nothing from threads, and on a busy 2-core machine torch's and
# OpenBLAS's spinning threads slow the suite many times over. Set before they load.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def save_torch_model(tmp_path):
    """Saves a TorchLSTM(K, H, L) with seeded random weights under lstmkit's name
    convention in tmp_path and returns the path."""

    def save(K: int, H: int, L: int, *, seed: int = 0, stem: str = "m") -> Path:
        import torch

        from lstmkit.models import TorchLSTM

        torch.manual_seed(seed)
        path = tmp_path / f"{stem}_torch_{H}_{L}.pth"
        TorchLSTM(K, H, L).save_model(path)
        return path

    return save


@pytest.fixture
def initial_state():
    """A distinct nonzero (h, c) for L layers of H units, each (L, H) float32."""

    def make(L: int, H: int, *, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        h = rng.uniform(-0.9, 0.9, (L, H)).astype(np.float32)
        c = rng.uniform(-2.0, 2.0, (L, H)).astype(np.float32)
        return h, c

    return make
