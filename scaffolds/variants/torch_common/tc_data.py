# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Image decoding shared by tc's torchvision templates, and the loader-only benchmark.

``read_rgb(path, size)`` decodes only what training needs: a JPEG is decoded by Pillow's
draft mode (libjpeg's scaled DCT: 1/2, 1/4 or 1/8 of the size, chosen by Pillow as the
smallest scale that keeps both sides at or above the requested size) to at least
``DRAFT_GAP`` x the training size, then resized once, bilinear (with Pillow's antialiasing),
to ``size x size``. An image that is already RGB is not converted (no copy); grayscale,
RGBA and palette images are converted once, at the reduced size.

Train, val and inference stay consistent: train and val go through this one function (the
same pixels for the same file), and with ``DRAFT_GAP = 2`` the result differs from a full
decode + the same resize (what inference on the full-size image does) by at most one gray
level in tests (mean 0.16 on 4000x3000 JPEGs: tests/unit/templates/test_decode.py). The
exported model's input contract (float RGB in [0, 1], ``size x size``) is unchanged.

``loader_benchmark(run, loader, first_image)`` is ``--loader-benchmark N`` of every template:
the train loader alone for N epochs, one line ``loader epoch K: X img/s`` each, after one line
saying what it found (images, decode size, where the data comes from). See
docs/performance.md.

It is rendered next to train.py in the template's ``docker/`` folder (``from tc_data import
read_rgb``), as tc_torch.py is.
"""

from __future__ import annotations

import os
import time
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

#: decode a JPEG to at least this many times the training size before the one resize
#: (Pillow's ``reducing_gap`` idea: 2 keeps the result within one gray level of a full decode)
DRAFT_GAP = 2.0


class Decoded(NamedTuple):
    """One decoded image: ``array`` uint8 ``[size, size, 3]`` RGB; ``original`` the file's
    (width, height); ``decoded`` the (width, height) the decoder produced before the resize."""

    array: np.ndarray[Any, np.dtype[np.uint8]]
    original: tuple[int, int]
    decoded: tuple[int, int]


def read_rgb(path: str | os.PathLike[str], size: int, gap: float = DRAFT_GAP) -> Decoded:
    """Decode ``path`` to a ``size x size`` RGB uint8 array, decoding no more than needed."""
    with Image.open(path) as im:
        original = im.size
        if gap > 0 and im.format == "JPEG":
            want = max(size, round(size * gap))
            im.draft("RGB", (want, want))  # a no-op when the image is smaller
        decoded = im.size
        rgb = im if im.mode == "RGB" else im.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
        else:
            rgb.load()
        array = np.asarray(rgb, dtype=np.uint8)
    return Decoded(array, original, decoded)


def to_chw(array: np.ndarray[Any, np.dtype[np.uint8]]) -> torch.Tensor:
    """A uint8 ``[H, W, 3]`` array as a contiguous uint8 ``[3, H, W]`` tensor (its own memory)."""
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


# ----------------------------------------------------------------------------- benchmark
def data_source(path: str | os.PathLike[str]) -> str:
    """Where ``path`` really is: its target through symlinks and the file system of the mount
    it is on (``fuse.s3fs`` through the platform's S3 mount), from /proc/self/mounts."""
    real = os.path.realpath(path)
    best, fstype = "", "unknown file system"
    try:
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mnt = fields[1].replace("\\040", " ")
                inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, fstype = mnt, fields[2]
    except OSError:
        pass
    return f"{os.path.dirname(real)} ({fstype})"


def decode_note(path: str | os.PathLike[str], size: int) -> str:
    """What ``read_rgb`` does with ``path``: e.g. ``4000x3000 JPEG -> draft 1000x750 ->
    224x224``."""
    try:
        with Image.open(path) as im:
            kind, (w, h) = im.format or "image", im.size
        d = read_rgb(path, size).decoded
    except OSError as exc:
        return f"unreadable ({exc})"
    step = f" -> draft {d[0]}x{d[1]}" if d != (w, h) else ""
    return f"{w}x{h} {kind}{step} -> {size}x{size}"


def loader_benchmark(run: Any, loader: Any, first_image: str | os.PathLike[str]) -> int:
    """Iterate ``loader`` ``run.args.loader_benchmark`` epochs without a model; print one line
    of what it found, then ``loader epoch K: X img/s`` per epoch (this process's share under
    torchrun). Returns 0, train.py's exit status: nothing is trained, no model written."""
    from tc_torch import set_epoch

    epochs = int(run.args.loader_benchmark)
    run.log(f"loader benchmark: {len(loader.dataset)} images, batch {loader.batch_size}, "
            f"{run.workers} workers; decode {decode_note(first_image, run.args.img_size)}; "
            f"source {data_source(first_image)}; cache: none")
    for epoch in range(1, epochs + 1):
        set_epoch(loader, epoch)
        seen = 0
        t0 = time.perf_counter()
        for batch in loader:
            seen += len(batch[0])
        dt = max(time.perf_counter() - t0, 1e-9)
        run.log(f"loader epoch {epoch}: {seen / dt:.1f} img/s")
    run.close()
    return 0
