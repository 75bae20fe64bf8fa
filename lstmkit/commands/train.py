"""``lstmkit train``: the seed's training script, every flag kept."""

from __future__ import annotations

import sys
from dataclasses import fields

from lstmkit.train import EpochReport, TrainConfig, parse_model_args, train


def register(subparsers) -> None:
    d = TrainConfig(data_set="")
    p = subparsers.add_parser(
        "train",
        help="train a model class of lstmkit.models on a text",
        description="Train a character LSTM with truncated backpropagation through "
        "time and Adam, saving the best weights after each epoch.",
    )
    p.add_argument(
        "--model-name",
        default=d.model_name,
        help="a class of lstmkit.models (default %(default)s)",
    )
    p.add_argument(
        "--model-args",
        default=",".join(map(str, d.model_args)),
        help="comma-separated Python literals after char_size, e.g. 256,2 "
        "for TorchLSTM(K, 256, 2) (default %(default)s)",
    )
    p.add_argument("--data-set", required=True, help="the UTF-8 training text")
    p.add_argument(
        "--data-meta",
        help="metadata file (lstmkit gen-metadata); its data_size limits the "
        "text used (default: the whole text, its own charset)",
    )
    p.add_argument(
        "--num-epoch",
        "--num-epochs",
        dest="num_epoch",
        type=int,
        default=d.num_epoch,
        help="epochs to train (default %(default)s)",
    )
    p.add_argument(
        "--train-seq-size",
        type=int,
        default=d.train_seq_size,
        help="characters per backpropagation chunk (default %(default)s)",
    )
    p.add_argument(
        "--learning-rate",
        type=float,
        default=d.learning_rate,
        help="initial Adam learning rate (default %(default)s)",
    )
    p.add_argument(
        "--stagnation-limit",
        type=int,
        default=d.stagnation_limit,
        help="epochs without a new best before the rate is reduced "
        "(default %(default)s)",
    )
    p.add_argument(
        "--lr-reduction-factor",
        type=float,
        default=d.lr_reduction_factor,
        help="factor the rate is multiplied by then (default %(default)s)",
    )
    p.add_argument("--model-load", help="start from these weights (.pth/.safetensors)")
    p.add_argument(
        "--model-save",
        help="save the best weights here, e.g. weights/x_torch_256_2.pth",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help="parallel streams of the text (default %(default)s, as the seed)",
    )
    p.add_argument("--seed", type=int, help="random seed for a reproducible run")
    p.add_argument(
        "--holdout",
        type=float,
        default=d.holdout,
        help="fraction of the text's tail held out and scored each epoch "
        "(default %(default)s); the best epoch is chosen on it when set",
    )
    p.add_argument(
        "--grad-clip",
        type=float,
        default=d.grad_clip,
        help="clip the gradient norm (0: off; default %(default)s)",
    )
    p.add_argument(
        "--sample-length",
        type=int,
        default=d.sample_length,
        help="characters of the sample shown after each epoch",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: torch's choice); 1 is faster on a machine "
        "busy with other work",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        help="wall-time budget: when it runs out, the epoch under way ends early, "
        "is scored and saved as usual, and is the last (default: no limit)",
    )
    p.add_argument(
        "--dropout",
        type=float,
        help="dropout in training, for classes that take it (TorchLSTM); "
        "it changes no weights' shapes or names",
    )
    p.add_argument(
        "--force",
        dest="overwrite",
        action="store_true",
        help="replace an existing --model-save file (not needed when it is also "
        "--model-load)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    # Every flag is named after its TrainConfig field; two need converting.
    options = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if hasattr(args, f.name)
    }
    options["model_args"] = parse_model_args(args.model_args)
    options["progress"] = not args.no_progress and sys.stderr.isatty()
    config = TrainConfig(**options)

    def show(r: EpochReport) -> None:
        held = f" held-out {r.holdout_loss:.4f}" if r.holdout_loss is not None else ""
        mark = " (best, saved)" if r.saved and config.model_save else ""
        print(
            f"epoch {r.epoch}: train {r.train_loss:.4f}{held} nats/char, "
            f"lr {r.learning_rate:.2e}, {r.seconds:.1f}s{mark}",
            flush=True,
        )
        if r.sample:
            print("  sample: " + r.sample.replace("\n", "\n          "), flush=True)

    train(config, on_epoch=show)
    if config.model_save:
        print(f"wrote {config.model_save}")
    else:
        print("note: no --model-save was given, so the trained weights were not kept")
    return 0
