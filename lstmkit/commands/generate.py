"""``lstmkit generate`` and ``lstmkit score``: sample text, or measure a text's loss."""

from __future__ import annotations

import numpy as np

from lstmkit import backends, generate
from lstmkit.commands.convert import add_spec_options, spec_from_args
from lstmkit.errors import LstmkitError
from lstmkit.loading import load_model_file
from lstmkit.metadata import load as load_metadata
from lstmkit.metadata import read_text


def _add_model_options(p) -> None:
    p.add_argument("model", help="a .pth or .safetensors model file")
    p.add_argument(
        "--meta",
        help="the metadata file the model was trained with "
        "(needed unless the file carries its charset)",
    )
    p.add_argument(
        "--backend",
        default="numpy",
        choices=backends.names(),
        help="the implementation to run (default %(default)s)",
    )
    add_spec_options(p)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="sample text from a model",
        description="Sample text one character at a time: softmax over the scores "
        "divided by the temperature. A fixed --seed gives a fixed text.",
    )
    _add_model_options(p)
    p.add_argument(
        "--prime", default="\n", help="text to start from (default: newline)"
    )
    p.add_argument(
        "--length", type=int, default=300, help="characters to generate (default 300)"
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="below 1 is more conservative, above 1 more varied (default 1.0)",
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.set_defaults(func=run_generate)

    p = subparsers.add_parser(
        "score",
        help="a text's average loss under a model",
        description="The average loss of predicting each next character of a text, "
        "from a zero state, in nats and bits per character.",
    )
    _add_model_options(p)
    p.add_argument("--text-file", required=True, help="a UTF-8 text")
    p.add_argument(
        "--holdout",
        type=float,
        help="score only the tail that `lstmkit train --holdout F` kept out: the last "
        "fraction F of the text, or of its first data_size characters when --meta "
        "gives a data_size",
    )
    p.set_defaults(func=run_score)


def holdout_tail(text: str, fraction: float, data_size: int | None) -> str:
    """The characters ``lstmkit train --holdout fraction`` held out of ``text``."""
    if not 0 < fraction < 1:
        raise LstmkitError(f"--holdout: must be between 0 and 1, got {fraction}")
    used = text[:data_size] if data_size else text
    return used[len(used) - int(len(used) * fraction) :]


def _load(args):
    loaded = load_model_file(args.model, meta=args.meta, spec=spec_from_args(args))
    return loaded, loaded.metadata(), backends.create(args.backend, loaded.weights)


def run_generate(args) -> int:
    _, metadata, backend = _load(args)
    text = generate.sample(
        backend.run,
        metadata,
        prime=args.prime,
        length=args.length,
        temperature=args.temperature,
        seed=args.seed,
    )
    print(args.prime + text)
    return 0


def run_score(args) -> int:
    loaded, metadata, backend = _load(args)
    text = read_text(args.text_file)
    if args.holdout is not None:
        data_size = load_metadata(args.meta).data_size if args.meta else None
        text = holdout_tail(text, args.holdout, data_size)
    indices = np.asarray(metadata.encode(text, args.text_file), dtype=np.int64)
    nats = generate.score_indices(backend.run, indices, what=args.text_file)
    print(
        f"{args.text_file}{' (held-out tail)' if args.holdout else ''}: "
        f"{len(text) - 1} predictions, {nats:.4f} nats/char, "
        f"{generate.nats_to_bits(nats):.4f} bits/char ({args.backend} backend, "
        f"{loaded.path.name})"
    )
    return 0
