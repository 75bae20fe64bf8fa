"""Training, as the seed did it and faster: truncated backpropagation through time.

The text is cut into B parallel streams (``batch_size``; the seed used one) and each
stream into consecutive chunks of ``train_seq_size`` characters. The model carries its
state from chunk to chunk, detached, so gradients flow within a chunk only. Adam; the
learning rate is multiplied by ``lr_reduction_factor`` after ``stagnation_limit``
epochs without a new best loss. The best weights so far are saved atomically at the
end of each epoch, so an interrupted run leaves a file that loads. ``max_seconds``
gives the run a wall-time budget: when it runs out, the epoch under way ends early
and is the last.
"""

from __future__ import annotations

import ast
import inspect
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstmkit import fileio, generate, models
from lstmkit import metadata as meta_mod
from lstmkit.errors import LstmkitError
from lstmkit.loading import (
    KIND_OF_CLASS,
    NAME_PATTERN,
    PTH_SUFFIXES,
    PTH_WRITTEN,
    check_output_name,
    spec_from_name,
)

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Every training option; the CLI's flags map one to one onto these fields."""

    data_set: str
    data_meta: str | None = None
    model_name: str = "TorchLSTM"
    model_args: tuple = (128, 1)
    num_epoch: int = 10
    train_seq_size: int = 100
    learning_rate: float = 0.001
    stagnation_limit: int = 3
    lr_reduction_factor: float = 0.5
    model_load: str | None = None
    model_save: str | None = None
    batch_size: int = 1
    seed: int | None = None
    holdout: float = 0.0
    grad_clip: float = 5.0
    sample_length: int = 100
    threads: int | None = None
    dropout: float | None = None
    overwrite: bool = False
    progress: bool = True
    max_seconds: float | None = None  # wall-time budget; None: all the epochs


@dataclass
class EpochReport:
    """What one epoch did."""

    epoch: int
    train_loss: float
    holdout_loss: float | None
    learning_rate: float
    seconds: float
    saved: bool
    sample: str
    characters: int = 0  # characters trained: fewer than the text's when cut short
    train_seconds: float = 0.0  # of ``seconds``, those spent in training steps


def parse_model_args(text: str) -> tuple:
    """``--model-args``: a comma-separated list of Python literals, e.g. ``256,2``.

    Raises:
        LstmkitError: an argument that is not a literal (code is never run).
    """
    text = text.strip()
    if not text:
        return ()
    try:
        value = ast.literal_eval(f"({text},)")
    except (ValueError, SyntaxError) as exc:
        raise LstmkitError(
            f"--model-args: {text!r} is not a comma-separated list of Python literals "
            "(numbers, strings, True/False); for TorchLSTM give H,L such as 256,2"
        ) from exc
    return tuple(value)


def model_class(name: str) -> type[nn.Module]:
    """The class called ``name`` in :mod:`lstmkit.models`."""
    cls = getattr(models, name, None)
    if (
        not (inspect.isclass(cls) and issubclass(cls, nn.Module))
        or cls is models.CharModel
    ):
        choices = ", ".join(
            n
            for n, c in vars(models).items()
            if inspect.isclass(c)
            and issubclass(c, nn.Module)
            and c is not models.CharModel
        )
        raise LstmkitError(
            f"--model-name: no model class {name!r}; choose from {choices}"
        )
    return cls


def build_model(config: TrainConfig, char_size: int) -> nn.Module:
    """The model the config names, its weights loaded when ``model_load`` is set."""
    cls = model_class(config.model_name)
    extra = {}
    if config.dropout is not None:
        if "dropout" not in inspect.signature(cls).parameters:
            raise LstmkitError(f"--dropout: {config.model_name} takes no dropout")
        extra["dropout"] = config.dropout
    try:
        model = cls(char_size, *config.model_args, **extra)
    except TypeError as exc:
        raise LstmkitError(
            f"--model-args: {config.model_name}(char_size, "
            f"{', '.join(map(repr, config.model_args))}) failed: {exc}; the class "
            f"takes {config.model_name}{inspect.signature(cls)}"
        ) from exc
    _check_save_name(config)
    if config.model_load:
        model.load_model(config.model_load)  # raises, naming keys, before training
    return model


def _check_save_name(config: TrainConfig) -> None:
    """A save path must be writable and, when it follows the name convention, agree
    with the model: both are checked before training, not at the first save."""
    if not config.model_save:
        return
    # An existing file is replaced only when asked, or when training continues
    # from it (--model-load of the same file).
    continuing = bool(config.model_load) and Path(config.model_load).resolve() == (
        Path(config.model_save).resolve()
    )
    fileio.check_output_path(
        config.model_save, overwrite=config.overwrite or continuing
    )
    check_output_name(config.model_save, suffixes=PTH_SUFFIXES, written=PTH_WRITTEN)
    named = spec_from_name(config.model_save)
    kind = KIND_OF_CLASS.get(config.model_name)
    if named is None or kind is None:
        return
    args = tuple(a for a in config.model_args if not isinstance(a, bool))
    given = (named.hidden_size, named.num_layers)
    stem = NAME_PATTERN.match(Path(config.model_save).stem)["stem"] or "model"
    if (
        named.kind != kind
        or args[:2] != given[: len(args[:2])]
        or (len(args) == 1 and named.num_layers != 1)
    ):
        raise LstmkitError(
            f"--model-save: {Path(config.model_save).name} names a {named.class_name} "
            f"with H={named.hidden_size}, L={named.num_layers}, but training builds "
            f"{config.model_name}{config.model_args}; name it {stem}_{kind}_"
            f"{'_'.join(map(str, args))}.pth"
        )


def load_text(config: TrainConfig) -> tuple[meta_mod.Metadata, np.ndarray, np.ndarray]:
    """The charset, training indices and held-out indices."""
    text = meta_mod.read_text(config.data_set)
    if config.data_meta:
        metadata = meta_mod.load(config.data_meta)
    else:
        metadata = meta_mod.from_text(text)
    if metadata.data_size is not None:
        text = text[: metadata.data_size]
    indices = np.asarray(metadata.encode(text, config.data_set), dtype=np.int64)
    if not 0.0 <= config.holdout < 1.0:
        raise LstmkitError(f"--holdout: must be in [0, 1), got {config.holdout}")
    split = len(indices) - int(len(indices) * config.holdout)
    train, held = indices[:split], indices[split:]
    needed = config.batch_size * 2
    if len(train) < needed:
        raise LstmkitError(
            f"{config.data_set}: {len(train)} training characters are too few for "
            f"--batch-size {config.batch_size}; use a smaller batch or more text"
        )
    return metadata, train, held


def streams(indices: np.ndarray, B: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets cut into B contiguous streams: (S, B) each."""
    S = (len(indices) - 1) // B
    x = torch.from_numpy(indices[: B * S].reshape(B, S).T.copy())  # (S, B)
    y = torch.from_numpy(indices[1 : B * S + 1].reshape(B, S).T.copy())  # (S, B)
    return x, y


def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(n, B) indices to (n, B, K) scores; B=1 goes through the seed's (N,) call."""
    if x.shape[1] == 1:
        return model(x[:, 0]).unsqueeze(1)
    return model(x)


def evaluate(model: nn.Module, indices: np.ndarray, B: int, chunk: int = 1000) -> float:
    """Average loss in nats over ``indices`` cut into B streams, from a zero state."""
    x, y = streams(indices, B)
    model.eval()
    model.reset_state()
    total = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            scores = _forward(model, x[start : start + chunk])  # (n, B, K)
            total += nn.functional.cross_entropy(
                scores.reshape(-1, scores.shape[-1]),
                y[start : start + chunk].reshape(-1),
                reduction="sum",
            ).item()
    model.reset_state()
    return total / y.numel()


def train(
    config: TrainConfig, on_epoch: Callable[[EpochReport], None] | None = None
) -> list[EpochReport]:
    """Trains a model as the config says and saves the best weights.

    Args:
        config: the options.
        on_epoch: called after every epoch with its report.

    Returns:
        One report per epoch.
    """
    from tqdm import tqdm

    _check_numbers(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if config.seed is not None:
        torch.manual_seed(config.seed)
    metadata, train_ix, held_ix = load_text(config)
    model = build_model(config, len(metadata.charset))
    B = config.batch_size
    if B > 1 and not getattr(model, "supports_streams", False):
        raise LstmkitError(
            f"--batch-size: {config.model_name} takes (N,) inputs only; "
            "use --batch-size 1"
        )
    x, y = streams(train_ix, B)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    log.info(
        "training %s on %d characters: %s",
        config.model_name,
        len(train_ix),
        asdict(config),
    )

    run_start = time.perf_counter()

    def out_of_time() -> bool:
        elapsed = time.perf_counter() - run_start
        return config.max_seconds is not None and elapsed >= config.max_seconds

    best, since_best, reports = math.inf, 0, []
    for epoch in range(1, config.num_epoch + 1):
        start_time = time.perf_counter()
        model.train()
        model.reset_state()
        total, trained, steps = 0.0, 0, range(0, x.shape[0], config.train_seq_size)
        train_seconds = 0.0
        bar = tqdm(
            steps, desc=f"epoch {epoch}", leave=False, disable=not config.progress
        )
        for start in bar:
            # The wall-time budget ends the epoch between chunks (after one chunk at
            # least); the epoch is then scored and saved as usual, and is the last.
            if trained and out_of_time():
                break
            step_start = time.perf_counter()
            xs = x[start : start + config.train_seq_size]  # (n, B)
            ys = y[start : start + config.train_seq_size]
            scores = _forward(model, xs)  # (n, B, K)
            loss = nn.functional.cross_entropy(
                scores.reshape(-1, scores.shape[-1]), ys.reshape(-1)
            )
            optimizer.zero_grad()
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            total += loss.item() * ys.numel()
            trained += ys.numel()
            train_seconds += time.perf_counter() - step_start
            bar.set_postfix(loss=f"{loss.item():.3f}")
        train_loss = total / trained
        held_loss = evaluate(model, held_ix, min(B, 16)) if len(held_ix) > 32 else None

        current = held_loss if held_loss is not None else train_loss
        if not math.isfinite(current):
            raise LstmkitError(
                f"epoch {epoch}: the loss became {current}; lower --learning-rate"
            )
        saved = current < best
        if saved:
            best, since_best = current, 0
            if config.model_save:
                model.save_model(config.model_save)
        else:
            since_best += 1
            if since_best >= config.stagnation_limit:
                for group in optimizer.param_groups:
                    group["lr"] *= config.lr_reduction_factor
                since_best = 0

        report = EpochReport(
            epoch,
            train_loss,
            held_loss,
            optimizer.param_groups[0]["lr"],
            time.perf_counter() - start_time,
            saved,
            _sample(model, metadata, config),
            trained,
            train_seconds,
        )
        reports.append(report)
        if on_epoch:
            on_epoch(report)
        if out_of_time():
            break
    return reports


def _sample(model: nn.Module, metadata: meta_mod.Metadata, config: TrainConfig) -> str:
    """A short sample from the current model, from a fresh state."""
    if config.sample_length <= 0:
        return ""
    model.eval()
    model.reset_state()

    def run(indices: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(indices)).numpy()

    prime = metadata.charset[0] if "\n" not in metadata.charset else "\n"
    text = generate.sample(
        run, metadata, prime=prime, length=config.sample_length, seed=config.seed
    )
    model.reset_state()
    return text


def _check_numbers(config: TrainConfig) -> None:
    checks = [
        ("--num-epoch", config.num_epoch >= 1, "a positive integer"),
        ("--train-seq-size", config.train_seq_size >= 1, "a positive integer"),
        ("--learning-rate", config.learning_rate > 0, "a positive number"),
        ("--stagnation-limit", config.stagnation_limit >= 1, "a positive integer"),
        ("--lr-reduction-factor", 0 < config.lr_reduction_factor <= 1, "in (0, 1]"),
        ("--batch-size", config.batch_size >= 1, "a positive integer"),
        ("--threads", config.threads is None or config.threads >= 1, "positive"),
        (
            "--max-seconds",
            config.max_seconds is None or config.max_seconds > 0,
            "a positive number of seconds",
        ),
    ]
    for flag, ok, expected in checks:
        if not ok:
            raise LstmkitError(f"{flag}: must be {expected}")
