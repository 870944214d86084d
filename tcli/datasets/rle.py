"""COCO RLE (column-major, compressed or not) to a 0/1 numpy mask, without pycocotools."""

from __future__ import annotations

from typing import Any

#: a mask larger than this (a 16k x 16k image) is refused before anything is allocated
MAX_PIXELS = 1 << 28


def coco_counts(counts: Any) -> list[int]:
    """Run lengths of a COCO RLE ``counts`` (a list, or pycocotools' compressed string)."""
    if isinstance(counts, list):
        return [int(c) for c in counts]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if not isinstance(counts, str):
        raise ValueError("counts is neither a list nor a string")
    out: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x = 0
        k = 0
        more = 1
        while more:
            if p >= n:
                raise ValueError("truncated compressed RLE")
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def decode(seg: dict[str, Any]) -> Any:
    """The ``(height, width)`` uint8 mask of a COCO RLE dict ``{"size": [h, w], "counts": ...}``."""
    import numpy as np

    h, w = (int(v) for v in seg["size"])
    if h <= 0 or w <= 0 or h * w > MAX_PIXELS:
        raise ValueError(f"size {h}x{w} is empty or over {MAX_PIXELS} pixels")
    runs = coco_counts(seg["counts"])
    if any(r < 0 for r in runs) or sum(runs) != h * w:
        raise ValueError(f"RLE covers {sum(runs)} pixels, size is {h}x{w}")
    flat = np.zeros(h * w, dtype=np.uint8)
    pos = 0
    val = 0
    for r in runs:
        if val:
            flat[pos:pos + r] = 1
        pos += r
        val ^= 1
    return flat.reshape((w, h)).T
