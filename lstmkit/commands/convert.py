"""``lstmkit convert SRC --to {torch,custom} [-o DST]``."""

from __future__ import annotations

from lstmkit.convert import convert_file
from lstmkit.loading import KINDS, ModelSpec


def add_spec_options(p) -> None:
    """Options that name a model file's class when its name follows no convention."""
    p.add_argument(
        "--model-class",
        choices=KINDS,
        help="the source's class, for a file named outside the convention",
    )
    p.add_argument("--hidden-size", type=int, help="H, with --model-class")
    p.add_argument("--num-layers", type=int, default=1, help="L, with --model-class")


def spec_from_args(args) -> ModelSpec | None:
    """The ModelSpec the options give, or None."""
    from lstmkit.errors import LstmkitError

    if args.model_class is None:
        if args.hidden_size is not None:
            raise LstmkitError("--hidden-size: needs --model-class too")
        return None
    if args.hidden_size is None or args.hidden_size < 1 or args.num_layers < 1:
        raise LstmkitError(
            "--model-class: needs --hidden-size H (and --num-layers L), both positive"
        )
    return ModelSpec(args.model_class, args.hidden_size, args.num_layers)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a TorchLSTM file to CustomLSTM or back",
        description="Convert SRC (.pth or .safetensors) to the other model class and "
        "save it by the naming convention (<stem>_torch_<H>_<L>.pth, "
        "<stem>_custom_<H>[_<L>].pth) beside SRC, or to DST.",
    )
    p.add_argument("src", help="the model file to convert")
    p.add_argument("--to", required=True, choices=KINDS, help="the target class")
    p.add_argument("-o", "--output", help="the output path (default: by convention)")
    p.add_argument("--force", action="store_true", help="replace the output if present")
    add_spec_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    result = convert_file(
        args.src, args.to, args.output, overwrite=args.force, spec=spec_from_args(args)
    )
    print(f"read {result.source.describe()}")
    print(f"wrote {result.path} ({result.spec.class_name})")
    return 0
