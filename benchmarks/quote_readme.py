"""Copies the latest benchmark's tables into README.md, between the quote markers.

    .venv/bin/python benchmarks/quote_readme.py [--check]

The README quotes, from benchmarks/results/latest.md, the line saying when and where it
was measured, the three workloads' tables and the targets; the footnotes on figures
timed on a prefix stay on the page itself. ``--check`` changes nothing and exits 1
when the README's quote differs from what the latest results would give (a test runs
it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from lstmkit import fileio

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- benchmark quote: start (benchmarks/quote_readme.py writes this part) -->"
END = "<!-- benchmark quote: end -->"
SECTIONS = ("generate", "score", "batched score", "Against the targets")


def quote(page: str) -> str:
    """The README's quote of a benchmark page (latest.md's text)."""
    measured = re.search(r"^Measured (.*)$", page, re.M)
    if measured is None:
        raise ValueError("the page has no 'Measured ...' line")
    parts = [
        "The latest run, quoted here, was measured " + measured.group(1),
    ]
    for title in SECTIONS:
        found = re.search(
            rf"^## ({re.escape(title)}.*?)$\n(.*?)(?=^## |\Z)", page, re.M | re.S
        )
        if found is None:
            raise ValueError(f"the page has no section '## {title}'")
        lines = found.group(2).splitlines()
        kept = [line for line in lines if line.startswith(("|", "- "))]
        parts.append(f"### {found.group(1)}\n\n" + "\n".join(kept))
    return "\n\n".join(parts)


def splice(readme: str, text: str) -> str:
    """The README with ``text`` between the markers."""
    if readme.count(START) != 1 or readme.count(END) != 1:
        raise ValueError(f"README.md needs one '{START}' and one '{END}'")
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{text}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare only, write nothing")
    p.add_argument("--page", type=Path, default=ROOT / "benchmarks/results/latest.md")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = p.parse_args(argv)
    try:
        readme = args.readme.read_text(encoding="utf-8")
        wanted = splice(readme, quote(args.page.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        print(f"quote_readme: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if wanted != readme:
            print(
                f"quote_readme: {args.readme} does not quote {args.page}; "
                "run benchmarks/quote_readme.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if wanted != readme:
        fileio.write_text_atomic(args.readme, wanted)
    print(f"{args.readme}: quotes {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
