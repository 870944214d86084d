# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""CVAT masks and polygons as COCO geometry: RLE conversion, pixel boxes, areas.

CVAT stores a mask as row-major runs over its box (starting with 0s); COCO wants
column-major runs over the whole image. numpy is imported only where an image-sized array
is needed.
"""

from __future__ import annotations

from typing import Any

from cvat_model import CvatError


def cvat_rle_to_coco(left: int, top: int, width: int, height: int, rle: str,
                     img_w: int, img_h: int) -> tuple[dict[str, Any], float, list[float]]:
    """Convert a CVAT mask (row-major runs over its box, starting with 0s; the trailing 0s
    may be left out) to an uncompressed COCO RLE over the whole image (column-major,
    starting with 0s).

    Returns (rle dict, pixel area, bbox [x, y, w, h] of the set pixels).
    """
    return coco_rle(mask_array(left, top, width, height, rle, img_w, img_h), (left, top))


def rle_counts(rle: str, width: int, height: int) -> list[int]:
    """The runs of a CVAT mask RLE (0s first, row-major over its ``width x height`` box).

    The runs may cover fewer pixels than the box: CVAT and datumaro leave out the trailing
    run of 0s (the rest of the box is 0). Covering more pixels than the box, a negative run
    or a count that is not an integer is an error."""
    if width <= 0 or height <= 0:
        raise CvatError(f"mask with empty box {width}x{height}")
    try:
        counts = [int(c) for c in rle.replace(" ", "").split(",") if c] if rle else []
    except ValueError:
        raise CvatError(f"mask rle {rle[:40]!r} is not a comma list of counts") from None
    if any(c < 0 for c in counts):
        raise CvatError(f"mask rle {rle[:40]!r} has a negative count")
    if sum(counts) > width * height:
        raise CvatError(f"mask rle covers {sum(counts)} pixels, box is {width}x{height}")
    return counts


def mask_array(left: int, top: int, width: int, height: int, rle: str, img_w: int,
               img_h: int) -> Any:
    """A CVAT mask as a 0/1 uint8 array of the whole image (clipped to it)."""
    import numpy as np

    counts = rle_counts(rle, width, height)
    flat = np.zeros(width * height, dtype=np.uint8)
    pos = 0
    val = 0
    for c in counts:
        if val:
            flat[pos:pos + c] = 1
        pos += c
        val ^= 1
    local = flat.reshape(height, width)
    if img_w <= 0 or img_h <= 0:
        img_w, img_h = left + width, top + height
    full = np.zeros((img_h, img_w), dtype=np.uint8)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + width, img_w), min(top + height, img_h)
    if x1 > x0 and y1 > y0:
        full[y0:y1, x0:x1] = local[y0 - top:y1 - top, x0 - left:x1 - left]
    return full


def coco_rle(full: Any, empty_at: tuple[int, int] = (0, 0)
             ) -> tuple[dict[str, Any], float, list[float]]:
    """(uncompressed COCO RLE, pixel area, bbox of the set pixels) of a 0/1 uint8 image
    array; an empty one has the bbox ``[*empty_at, 0, 0]``."""
    import numpy as np

    img_h, img_w = full.shape
    col = full.flatten(order="F")
    change = np.flatnonzero(np.diff(col)) + 1
    bounds = np.concatenate(([0], change, [col.size]))
    runs = np.diff(bounds).tolist()
    if col.size and col[0] == 1:
        runs = [0, *runs]
    area = float(full.sum())
    ys, xs = np.nonzero(full)
    if xs.size:
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                float(ys.max() - ys.min() + 1)]
    else:
        bbox = [float(empty_at[0]), float(empty_at[1]), 0.0, 0.0]
    return {"counts": runs, "size": [img_h, img_w]}, area, bbox


def mask_pixel_box(left: int, top: int, width: int, height: int, rle: str,
                   img_w: int, img_h: int) -> tuple[list[float], float]:
    """(bbox [x, y, w, h] of the set pixels, pixel count) of a CVAT mask, in image pixels.

    The box comes from the decoded pixels, not from the declared ``left/top/width/height``
    (real exports carry empty margins). Pure Python over the runs (no image-sized array);
    a mask reaching outside the image is clipped as :func:`cvat_rle_to_coco` clips it (it
    is used then). An empty mask gives ``[left, top, 0, 0]`` and 0, as that function does.
    """
    if img_w > 0 and img_h > 0 and (left < 0 or top < 0 or left + width > img_w
                                    or top + height > img_h):
        _rle, area, bbox = cvat_rle_to_coco(left, top, width, height, rle, img_w, img_h)
        return bbox, area
    counts = rle_counts(rle, width, height)
    x0, y0, x1, y1 = width, height, -1, -1
    pos, area = 0, 0
    for i, c in enumerate(counts):
        if i & 1 and c:
            r0, r1 = divmod(pos, width), divmod(pos + c - 1, width)
            y0, y1 = min(y0, r0[0]), max(y1, r1[0])
            if r0[0] == r1[0]:
                x0, x1 = min(x0, r0[1]), max(x1, r1[1])
            else:  # the run wraps: it reaches the last column of one row, the first of the next
                x0, x1 = 0, width - 1
            area += c
        pos += c
    if area == 0:
        return [float(left), float(top), 0.0, 0.0], 0.0
    return ([float(left + x0), float(top + y0), float(x1 - x0 + 1), float(y1 - y0 + 1)],
            float(area))


def polygon_area(flat: list[float]) -> float:
    """Shoelace area of a flat [x1, y1, x2, y2, ...] polygon."""
    xs, ys = flat[0::2], flat[1::2]
    n = len(xs)
    s = 0.0
    for i in range(n):
        j = (i + 1) % n
        s += xs[i] * ys[j] - xs[j] * ys[i]
    return abs(s) / 2.0


def polygon_bbox(flat: list[float]) -> list[float]:
    xs, ys = flat[0::2], flat[1::2]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
