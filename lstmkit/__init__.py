"""lstmkit: move character LSTMs between implementations and prove nothing changed.

Dimension letters used everywhere in this package (torch, NumPy and ONNX code alike):

    N   sequence length (characters in one call)
    B   batch (parallel streams of text)
    L   layers
    H   hidden units per layer
    K   characters in the charset (input and output size)
    4H  the four gates stacked along one axis

Every path a model takes goes through :class:`lstmkit.weights.LSTMWeights`, the
canonical form: ``nn.LSTM``'s tensors per layer in PyTorch's gate order (i, f, g, o)
plus the decoder.
"""

from __future__ import annotations

__version__ = "0.1.0"

from lstmkit.errors import LstmkitError

__all__ = ["LstmkitError", "__version__"]
