"""``lstmkit gen-metadata DATASET META [SIZE]``."""

from __future__ import annotations

from lstmkit import metadata


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gen-metadata",
        aliases=["gen_metadata"],
        help="write the charset metadata of a dataset (the seed's dict literal)",
        description="Write META, the seed's metadata dict literal (data_size, charset, "
        "char_to_ix, ix_to_char) for the first SIZE characters of DATASET (all of it "
        "when SIZE is left out).",
    )
    p.add_argument("dataset", help="a UTF-8 text file")
    p.add_argument("meta", help="the metadata file to write")
    p.add_argument(
        "size",
        nargs="?",
        type=int,
        default=None,
        help="how many characters of DATASET training uses (default: all)",
    )
    p.add_argument("--force", action="store_true", help="replace META if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    meta = metadata.generate(args.dataset, args.meta, args.size, overwrite=args.force)
    print(
        f"{len(meta.charset)} distinct characters in the first {meta.data_size} "
        f"characters of {args.dataset}"
    )
    if args.size is not None and args.size > meta.data_size:
        print(
            f"note: SIZE {args.size} is more than the text holds; data_size is "
            f"{meta.data_size}"
        )
    print(f"wrote {args.meta}")
    return 0
