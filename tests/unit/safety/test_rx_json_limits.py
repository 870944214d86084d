"""tcli.safety: regex budget, safe JSON, bounded reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcli.errors import InputError
from tcli.safety import jsonload, limits, rx


def test_catastrophic_pattern_ends_in_timeout_not_a_hang() -> None:
    # the regex engine defuses ^(a+)+$ by itself (re hangs on it); (a|aa)+$ still backtracks
    assert rx.search(r"^(a+)+$", "a" * 40 + "!") is None
    with pytest.raises(rx.RegexTimeout, match="catastrophic backtracking"):
        rx.search(r"(a|aa)+$", "a" * 80 + "!", budget_s=0.2, what="custom.json score_regexp")


def test_ordinary_pattern_matches_like_re() -> None:
    m = rx.search(r"score:\s*(\d+\.\d+)", "epoch 3 score: 0.875")
    assert m is not None and m.group(1) == "0.875"
    assert rx.fullmatch(r"[A-Z][a-z]+", "Prov") is not None
    assert rx.fullmatch(r"^[A-Za-z]+$", "Prov\n") is None  # fullmatch: no trailing newline


def test_bad_patterns_are_input_errors() -> None:
    with pytest.raises(rx.RegexInvalid, match="does not compile"):
        rx.compile_pattern("(")
    with pytest.raises(rx.RegexInvalid, match="more than"):
        rx.compile_pattern("a" * 5000)
    with pytest.raises(rx.RegexInvalid, match="must be a string"):
        rx.compile_pattern(3)  # type: ignore[arg-type]


def test_duplicate_keys_refused_with_file_name() -> None:
    with pytest.raises(jsonload.JsonRefused, match=r"custom.json: duplicate key 'score_regexp'"):
        jsonload.loads('{"score_regexp": "a", "x": {"k": 1}, "score_regexp": "b"}', name="custom.json")
    with pytest.raises(jsonload.JsonRefused, match="duplicate key 'k'"):
        jsonload.loads('[{"k": 1, "k": 1}]')


def test_deep_nesting_refused_before_parsing() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(jsonload.JsonRefused, match="nested 100000 levels deep"):
        jsonload.loads(deep, name="x.json")
    assert jsonload.loads('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') \
        == {"a": "[" * 68}


def test_size_nan_utf8_and_syntax() -> None:
    with pytest.raises(jsonload.JsonRefused, match="more than the 10 bytes"):
        jsonload.loads("[" + "1," * 10 + "1]", max_bytes=10)
    with pytest.raises(jsonload.JsonRefused, match="NaN is not valid JSON"):
        jsonload.loads('{"train-split": NaN}')
    with pytest.raises(jsonload.JsonRefused, match="not UTF-8"):
        jsonload.loads(b'{"a": "\xff"}')
    with pytest.raises(jsonload.JsonRefused, match="line 2 column 1"):
        jsonload.loads('{"a": 1,\n}')
    assert jsonload.loads('\ufeff{"a": 1}') == {"a": 1}


def test_load_refuses_devices_and_folders(tmp_path: Path) -> None:
    with pytest.raises(jsonload.JsonRefused, match="not a regular file"):
        jsonload.load(Path("/dev/zero"))
    with pytest.raises(jsonload.JsonRefused, match="not a regular file"):
        jsonload.load(tmp_path)
    (tmp_path / "ok.json").write_text(json.dumps({"a": [1, 2]}))
    assert jsonload.load(tmp_path / "ok.json") == {"a": [1, 2]}


def test_bounded_reading(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a regular file"):
        limits.read_text(Path("/dev/zero"), what="--log /dev/zero")
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(limits.TooLarge, match="2000 bytes, more than the limit of 1000"):
        limits.read_bytes(big, max_bytes=1000)
    assert limits.read_text(big, max_bytes=2000) == "x" * 2000
    with pytest.raises(InputError, match="no such file"):
        limits.read_bytes(tmp_path / "missing")
    (tmp_path / "bin").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8"):
        limits.read_text(tmp_path / "bin")


def test_a_compiled_pattern_keeps_its_flags() -> None:
    import re

    assert rx.search(re.compile(r"^S (\d)$", re.M), "x\nS 1\n") is not None
    assert rx.search(re.compile(r"^S (\d)$"), "x\nS 1\n") is None
