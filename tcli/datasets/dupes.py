"""Duplicate images in a dataset (``tc dataset inspect``; issue 22 item 4, the host part).

- **exact** duplicates: the same bytes (sha256 of the file, streamed: ``safety.digest``);
- **near** duplicates: a 64-bit difference hash (dHash: the image as 9x8 grey pixels, one bit
  per horizontal neighbour pair, brighter-or-not) within a Hamming distance of
  :data:`NEAR_BITS` (6 of 64 bits: re-encodes, resizes, small crops and brightness changes of
  the same photo; different photos of one field rarely come that close). Candidates are found
  by banding: the 64 bits as 8 bytes; two hashes within 7 bits share at least one byte
  (pigeonhole), so only images sharing a byte are compared;
- duplicates that **straddle the source's own subsets** (COCO/YOLO/VOC/ImageFolder train/val…):
  a group whose members lie in more than one subset, the leak that inflates a test score.

Decoding is bounded: at most :data:`MAX_PIXELS` per image (larger or unreadable ones are listed,
not hashed); JPEGs are decoded at a reduced size (``draft``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcli.safety.digest import sha256_file

NEAR_BITS = 6
MAX_PIXELS = 50_000_000
#: groups kept per kind in the report (their number is always exact)
MAX_GROUPS = 1000


@dataclass(frozen=True)
class Item:
    rel: str
    path: Path
    subset: str | None


@dataclass
class Duplicates:
    exact: list[list[str]] = field(default_factory=list)
    near: list[list[str]] = field(default_factory=list)
    straddling: list[dict[str, Any]] = field(default_factory=list)
    not_hashed: list[str] = field(default_factory=list)
    exact_groups: int = 0
    near_groups: int = 0
    straddling_groups: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"near_threshold_bits": NEAR_BITS,
                "exact_groups": self.exact_groups, "near_groups": self.near_groups,
                "straddling_groups": self.straddling_groups,
                "exact": self.exact, "near": self.near, "straddling": self.straddling,
                "not_hashed": self.not_hashed[:MAX_GROUPS]}


def dhash(path: Path) -> int | str:
    """The 64-bit dHash of an image file, or why it could not be computed."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                return f"{w}x{h} is over {MAX_PIXELS} pixels"
            im.draft("L", (64, 64))
            small = im.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
            px = small.tobytes()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        return f"does not decode ({exc.__class__.__name__})"
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return bits


class _Union:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _groups(union: _Union, n: int) -> list[list[int]]:
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        members[union.find(i)].append(i)
    return sorted((g for g in members.values() if len(g) > 1), key=lambda g: g[0])


def near_clusters(hashes: list[int | None], near_bits: int = NEAR_BITS) -> list[int]:
    """For each hash, a representative index: hashes within ``near_bits`` of each other (and
    transitively) share it; ``None`` stands alone. Banded: only hashes sharing one of their 8
    bytes are compared, which finds every pair within 7 bits (pigeonhole)."""
    assert 0 <= near_bits <= 7, "banding by 8 bytes finds every pair within 7 bits"
    union = _Union(len(hashes))
    bands: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        if h is None:
            continue
        for b in range(8):
            key = (b, (h >> (8 * b)) & 0xFF)
            for j in bands[key]:
                other = hashes[j]
                if other is not None and union.find(i) != union.find(j) and \
                        bin(h ^ other).count("1") <= near_bits:
                    union.join(i, j)
            bands[key].append(i)
    return [union.find(i) for i in range(len(hashes))]


def find(items: list[Item], near_bits: int = NEAR_BITS) -> Duplicates:
    """Exact and near duplicate groups among ``items``, and those straddling subsets."""
    out = Duplicates()
    n = len(items)
    by_sha: dict[str, list[int]] = defaultdict(list)
    hashes: list[int | None] = [None] * n
    for i, item in enumerate(items):
        sha = sha256_file(item.path)
        if sha is None:
            out.not_hashed.append(f"{item.rel}: not a readable regular file")
            continue
        by_sha[sha].append(i)
        if len(by_sha[sha]) > 1:  # same bytes: same dHash
            continue
        got = dhash(item.path)
        if isinstance(got, str):
            out.not_hashed.append(f"{item.rel}: {got}")
        else:
            hashes[i] = got
    exact = _Union(n)
    for idx in by_sha.values():
        for j in idx[1:]:
            exact.join(idx[0], j)
    near = _Union(n)
    for j, rep in enumerate(near_clusters(hashes, near_bits)):
        near.join(rep, j)
    for j in range(n):  # near groups include the exact ones
        near.join(exact.find(j), j)
    exact_groups = _groups(exact, n)
    exact_sets = {frozenset(g) for g in exact_groups}
    all_groups = _groups(near, n)  # every exact group lies inside one of these
    near_groups = [g for g in all_groups if frozenset(g) not in exact_sets]
    out.exact_groups, out.near_groups = len(exact_groups), len(near_groups)
    out.exact = [[items[i].rel for i in g] for g in exact_groups[:MAX_GROUPS]]
    out.near = [[items[i].rel for i in g] for g in near_groups[:MAX_GROUPS]]
    for g in all_groups:
        subsets = sorted({s for i in g if (s := items[i].subset) is not None})
        if len(subsets) > 1:
            out.straddling_groups += 1
            if len(out.straddling) < MAX_GROUPS:
                kind = "exact" if frozenset(g) in exact_sets else "near"
                out.straddling.append({"kind": kind, "subsets": subsets,
                                       "images": [f"{items[i].subset}:{items[i].rel}"
                                                  for i in g]})
    return out
