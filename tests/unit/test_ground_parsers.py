"""Ground and parser helpers that replaced copies: byte formatting, the DATASET_ID line, the
score-regexp rule shared by validate and dev-run."""

from __future__ import annotations

import re

from tcli.custom_json import compile_score_regexp
from tcli.parsers.envfile import dataset_id_of, sets_dataset_id, with_dataset_id
from tcli.units import human_bytes


def test_human_bytes_stops_at_the_largest_unit() -> None:
    assert human_bytes(999) == "999 B"
    assert human_bytes(41_200) == "41.2 kB"
    assert human_bytes(2_500_000_000) == "2.5 GB"
    assert human_bytes(2_500_000_000, "MB") == "2500.0 MB"


def test_dataset_id_line() -> None:
    text = "A=1\nexport DATASET_ID='7'\nDATASET_ID=9\n"
    assert sets_dataset_id(text) and not sets_dataset_id("DATASET=1\n")
    assert dataset_id_of(text) == "7"
    assert dataset_id_of("DATASET_ID=abc\nDATASET_ID=3\n") == "3"
    assert dataset_id_of("DATASET_ID=\n") is None
    assert with_dataset_id(text, 2) == "A=1\nDATASET_ID=2\n"


def test_score_regexp_rule() -> None:
    assert isinstance(compile_score_regexp("("), re.error)
    assert compile_score_regexp("Acc [0-9.]+") is None
    compiled = compile_score_regexp("Acc ([0-9.]+)")
    assert isinstance(compiled, re.Pattern) and compiled.search("Acc 0.5").group(1) == "0.5"
