"""Sizes as people write and read them (ground layer; the one parser and formatter of bytes).

Powers of 1000 as Docker prints them; ``parse_size`` also takes KiB/MiB/GiB.
"""

from __future__ import annotations

import re

from tcli.errors import InputError

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kKMG]i?B|B)?\s*")
_FACTORS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9,
            "KiB": 2**10, "kiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def parse_size(text: str, option: str = "--max-file-size") -> int:
    """``10MB`` -> 10_000_000; units B, kB/KB, MB, GB (powers of 1000), KiB, MiB, GiB."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise InputError(f"{option} {text!r} is not a size",
                         "use e.g. 10MB, 500kB, 2MiB or a number of bytes")
    number, unit = float(match.group(1)), (match.group(2) or "B")
    factor = _FACTORS.get(unit)
    if factor is None:
        raise InputError(f"{option} {text!r}: unknown unit {unit!r}",
                         "use B, kB, MB, GB, KiB, MiB or GiB")
    return int(number * factor)


def human_bytes(size: int, largest: str = "GB") -> str:
    """``532 B``, ``41.2 kB``, ``1.3 MB`` (powers of 1000, like Docker), up to ``largest``."""
    value = float(size)
    units = ("B", "kB", "MB", "GB")
    for unit in units[: units.index(largest) + 1]:
        if value < 1000 or unit == largest:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def megabytes(size: int) -> float:
    """Bytes as (decimal) megabytes."""
    return size / 1e6
