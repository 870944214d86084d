"""Boxes of CVAT masks come from their pixels, not from the declared left/top/width/height."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from .helpers import cvat_xml, make_dataset


def _rle(bits: list[int]) -> str:
    runs, val, n = [], 0, 0
    for b in bits:
        if b != val:
            runs.append(n)
            val, n = b, 0
        n += 1
    runs.append(n)
    return ", ".join(map(str, runs))


def test_pixel_box_equals_the_decoded_masks_box_over_random_masks() -> None:
    """Oracle: cvat_rle_to_coco (numpy over the whole image) on 3,000 random masks, some with
    empty margins, some sparse, some wrapping rows, some reaching outside the image."""
    import cvat_dataset as cvat

    rng = random.Random(21)
    for _ in range(3000):
        w, h = rng.randint(1, 9), rng.randint(1, 9)
        p = rng.choice((0.05, 0.3, 0.9))
        bits = [int(rng.random() < p) for _ in range(w * h)]
        left, top = rng.randint(-3, 12), rng.randint(-3, 12)
        img_w, img_h = rng.randint(8, 16), rng.randint(8, 16)
        rle = _rle(bits)
        _rle_d, want_area, want_box = cvat.cvat_rle_to_coco(left, top, w, h, rle, img_w, img_h)
        box, area = cvat.mask_pixel_box(left, top, w, h, rle, img_w, img_h)
        assert (box, area) == (want_box, want_area), (left, top, w, h, bits, img_w, img_h)


@pytest.mark.parametrize(("rle", "error"), [
    ("2, 5", "covers 7 pixels, box is 3x2"),
    ("2, -1, 5", "negative count"),
    ("2, x", "not a comma list of counts"),
])
def test_a_bad_rle_is_refused(rle: str, error: str) -> None:
    """More pixels than the box, a negative run, a non-integer: refused by both decoders."""
    import cvat_dataset as cvat

    with pytest.raises(cvat.CvatError, match=error):
        cvat.mask_pixel_box(0, 0, 3, 2, rle, 10, 10)
    with pytest.raises(cvat.CvatError, match=error):
        cvat.cvat_rle_to_coco(0, 0, 3, 2, rle, 10, 10)


def test_an_rle_without_its_trailing_zeros_is_the_same_mask() -> None:
    """CVAT and datumaro leave out the trailing run of 0s (the real cgras_cvat_masks export
    does): the rest of the box is 0, in both decoders, over 1,000 random masks."""
    import cvat_dataset as cvat

    rng = random.Random(7)
    shortened = 0
    for _ in range(1000):
        w, h = rng.randint(1, 9), rng.randint(1, 9)
        bits = [int(rng.random() < 0.3) for _ in range(w * h)]
        full = _rle(bits)
        runs = full.split(", ")
        short = ", ".join(runs[:-1]) if len(runs) % 2 == 1 and len(runs) > 1 else full
        shortened += short != full
        left, top = rng.randint(-2, 6), rng.randint(-2, 6)
        for decode in (cvat.mask_pixel_box, cvat.cvat_rle_to_coco):
            assert decode(left, top, w, h, short, 12, 10) == \
                decode(left, top, w, h, full, 12, 10), (w, h, bits, short)
    assert shortened > 300
    assert cvat.mask_pixel_box(0, 0, 3, 2, "2, 3", 10, 10) == ([0.0, 0.0, 3.0, 2.0], 3.0)
    assert cvat.mask_pixel_box(0, 0, 3, 2, "", 10, 10) == ([0.0, 0.0, 0.0, 0.0], 0.0)


def test_detection_box_of_a_mask_with_empty_margins(tmp_path: Path) -> None:
    """A 10x8 mask box at (4, 5) whose pixels are the 3x2 block at columns 5..7, rows 3..4
    of the box: the training box is (9, 8, 3, 2), not the declared (4, 5, 10, 8)."""
    import dataset

    bits = [0] * 80
    for r in (3, 4):
        for c in (5, 6, 7):
            bits[r * 10 + c] = 1
    img = ('<image id="0" name="0.png" width="32" height="24"><mask label="weed" '
           f'rle="{_rle(bits)}" left="4" top="5" width="10" height="8" z_order="0"/></image>')
    make_dataset(tmp_path / "m", 3, n=1, xml=cvat_xml([img]))
    dataset.prepare("detection", {"train-split": 1.0, "test-split": 0.0}, dataset_id="3",
                    minio=tmp_path / "m", datasets=tmp_path / "d", log=lambda m: None)
    coco = json.loads((tmp_path / "d" / "labels" / "train" / "labels.json").read_text())
    (ann,) = coco["annotations"]
    assert ann["bbox"] == [9.0, 8.0, 3.0, 2.0] and ann["area"] == 6.0
