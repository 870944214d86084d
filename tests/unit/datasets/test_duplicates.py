"""tc dataset inspect's duplicates (issue 22 item 4, host part): a dataset with planted exact
and near duplicates, one pair straddling the source's own train/val subsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from tcli.datasets import dupes
from tcli.datasets.inspect import inspect


def _photo(seed: int) -> Image.Image:
    """A distinct 'field photo': smooth random blobs (dHash sees structure, not noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((96, 96), Image.Resampling.BICUBIC)


def _plant(root: Path) -> None:
    """ImageFolder train/val: 12 distinct photos, plus
    - train/rose/copy.png: the same bytes as train/tulip/0.png (exact, same subset),
    - val/daisy/leak.jpg: train/daisy/1.png re-encoded as JPEG, resized and brightened (near,
      across train/val)."""
    photos = iter(range(100, 200))
    for split, k in (("train", 3), ("val", 1)):
        for cls in ("tulip", "daisy", "rose"):
            for i in range(k):
                path = root / split / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                _photo(next(photos)).save(path)
    (root / "train" / "rose" / "copy.png").write_bytes((root / "train/tulip/0.png").read_bytes())
    with Image.open(root / "train" / "daisy" / "1.png") as im:
        near = ImageEnhance.Brightness(im.convert("RGB").resize((80, 80))).enhance(1.08)
        near.save(root / "val" / "daisy" / "leak.jpg", quality=80)


def test_planted_duplicates_are_found_and_the_leak_is_named(tmp_path: Path) -> None:
    _plant(tmp_path / "src")
    ins = inspect(tmp_path / "src")
    found = ins.duplicates
    assert found is not None
    assert [sorted(g) for g in found.exact] == [["train/rose/copy.png", "train/tulip/0.png"]]
    assert [sorted(g) for g in found.near] == [["train/daisy/1.png", "val/daisy/leak.jpg"]]
    assert found.straddling_groups == 1
    assert found.straddling[0]["kind"] == "near"
    assert found.straddling[0]["subsets"] == ["train", "val"]
    kinds = {p.kind: p.count for p in ins.problems}
    assert kinds["exact duplicates (same bytes; groups)"] == 1
    assert kinds["near duplicates (dHash within 6 of 64 bits; groups)"] == 1
    assert kinds["duplicates across the source's subsets (a train/val leak; groups)"] == 1
    assert ins.as_dict()["duplicates"]["straddling_groups"] == 1  # type: ignore[index]


def test_distinct_photos_are_not_duplicates(tmp_path: Path) -> None:
    items = []
    for seed in range(40):
        path = tmp_path / f"{seed}.png"
        _photo(seed).save(path)
        items.append(dupes.Item(path.name, path, None))
    found = dupes.find(items)
    assert (found.exact_groups, found.near_groups, found.not_hashed) == (0, 0, [])


def test_unreadable_and_huge_images_are_listed_not_hashed(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image")
    big = tmp_path / "big.png"
    Image.new("L", (8000, 7000)).save(big)  # 56 Mpx: over the cap, never decoded
    found = dupes.find([dupes.Item("bad.png", tmp_path / "bad.png", None),
                        dupes.Item("big.png", big, None)])
    assert sorted(found.not_hashed) == ["bad.png: does not decode (UnidentifiedImageError)",
                                        "big.png: 8000x7000 is over 50000000 pixels"]


def test_banding_finds_every_pair_within_the_threshold() -> None:
    """Pigeonhole: two 64-bit hashes within 7 bits share one of their 8 bytes; the banded
    search equals the all-pairs one on random hashes with planted close pairs."""
    rng = np.random.default_rng(0)
    base = [int(x) for x in rng.integers(0, 2**63, size=200)]
    hashes = list(base)
    for i in range(0, 200, 10):  # plant a neighbour 1..6 bits away
        flip = 0
        for b in rng.choice(64, size=int(rng.integers(1, 7)), replace=False):
            flip |= 1 << int(b)
        hashes.append(base[i] ^ flip)
    close = {(i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
             if bin(hashes[i] ^ hashes[j]).count("1") <= dupes.NEAR_BITS}
    assert len(close) >= 20
    rep = dupes.near_clusters(list(hashes))
    for i, j in close:
        assert rep[i] == rep[j], (i, j)
    far = [(i, j) for i in range(200) for j in range(i + 1, 200) if rep[i] == rep[j]]
    assert far == []  # the random base hashes are far apart: nothing joins them
