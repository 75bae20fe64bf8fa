"""The seed's metadata format: written, read back, and never evaluated."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from lstmkit import metadata
from lstmkit.cli import main
from lstmkit.errors import LstmkitError


def test_round_trip_keeps_the_seed_format(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("hello, world\nhi", encoding="utf-8")
    meta_path = tmp_path / "meta.txt"
    written = metadata.generate(data, meta_path, 8)

    raw = ast.literal_eval(meta_path.read_text())
    assert set(raw) == {"data_size", "charset", "char_to_ix", "ix_to_char"}
    assert raw["data_size"] == 8
    assert raw["charset"] == sorted(set("hello, w"))
    assert raw["char_to_ix"]["h"] == raw["charset"].index("h")
    assert raw["ix_to_char"][0] == raw["charset"][0]
    assert metadata.load(meta_path) == written


def test_metadata_holding_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    meta_path = tmp_path / "meta.txt"
    meta_path.write_text(f"__import__('pathlib').Path({str(marker)!r}).write_text('x')")
    with pytest.raises(LstmkitError, match="never code"):
        metadata.load(meta_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1, 2]", "expected a dict"),
        ("{'charset': ['ab']}", "one-character"),
        ("{'charset': ['a', 'a']}", "twice"),
        ("{'charset': ['a', 'b'], 'char_to_ix': {'a': 1, 'b': 0}}", "disagrees"),
        ("{'charset': ['a'], 'data_size': -3}", "data_size"),
        ("{'charset': ['a'", "not a Python dict literal"),
    ],
)
def test_malformed_metadata_named(text, message):
    with pytest.raises(LstmkitError, match=message):
        metadata.parse(text)


def test_empty_metadata_file(tmp_path):
    path = tmp_path / "meta.txt"
    path.write_text("")
    with pytest.raises(LstmkitError, match="empty"):
        metadata.load(path)


def test_encode_lists_missing_characters():
    meta = metadata.Metadata(tuple("abc"))
    assert meta.encode("cab") == [2, 0, 1]
    with pytest.raises(LstmkitError, match=r"'x', 'z'"):
        meta.encode("axbz")


def test_dataset_not_utf8_names_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"abc\xffdef")
    with pytest.raises(LstmkitError, match="byte offset 3"):
        metadata.read_text(path)


def test_cli_and_seed_spelling_write_the_same(tmp_path, capsys):
    data = tmp_path / "data.txt"
    data.write_text("to be or not to be", encoding="utf-8")
    assert main(["gen-metadata", str(data), str(tmp_path / "a.txt"), "10"]) == 0
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lstmkit.utils",
            "gen_metadata",
            str(data),
            str(tmp_path / "b.txt"),
            "10",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text()
    assert main(["gen-metadata", str(data), str(tmp_path / "a.txt")]) == 2
    assert "already exists" in capsys.readouterr().err
