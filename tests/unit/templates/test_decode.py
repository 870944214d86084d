"""tc_data.read_rgb (the torchvision templates' decode): a JPEG is decoded at a reduced size
(Pillow's draft mode) and still matches a full decode + the same resize within one gray level,
so the training-time val pipeline and inference on full-size images agree; and
``--loader-benchmark N`` of every template prints what it found and one line per epoch."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

Loader = Callable[[str], ModuleType]
Tiny = Callable[[str], Path]


def _photo(path: Path, w: int, h: int, seed: int = 0, mode: str = "RGB") -> Path:
    """A textured JPEG like a field photo (smooth colour field + sensor noise), quality 90."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
    field = np.asarray(base.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    arr = np.clip(field + rng.normal(0, 18, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).filter(ImageFilter.SMOOTH).convert(mode).save(path, quality=90)
    return path


def _full(path: Path, size: int) -> np.ndarray:
    """What inference on the full-size image does: full decode, RGB, one bilinear resize."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


def test_jpeg_is_decoded_reduced_and_within_one_gray_level(load_train: Loader,
                                                           tmp_path: Path) -> None:
    load_train("classification")  # puts tc_data beside train.py on the path
    import tc_data

    for seed in range(3):
        path = _photo(tmp_path / f"{seed}.jpg", 2000, 1500, seed)
        got = tc_data.read_rgb(path, 224)
        assert got.original == (2000, 1500)
        # decoded smaller than the file, and at least DRAFT_GAP x the training size
        assert got.decoded == (1000, 750)
        assert got.array.shape == (224, 224, 3) and got.array.dtype == np.uint8
        diff = np.abs(got.array.astype(int) - _full(path, 224).astype(int))
        assert diff.max() <= 1, diff.max()
        assert diff.mean() < 0.5, diff.mean()
        # without the gap (draft to the training size itself) it is cheaper and less exact
        assert tc_data.read_rgb(path, 224, gap=1).decoded == (500, 375)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_small_images_and_other_formats_are_decoded_exactly(load_train: Loader, tmp_path: Path,
                                                            mode: str) -> None:
    load_train("classification")
    import tc_data

    jpg = _photo(tmp_path / "small.jpg", 300, 200, mode=mode)
    png = tmp_path / "p.png"
    with Image.open(jpg) as im:
        im.convert("RGBA").save(png)
    for path in (jpg, png):  # no reduction possible or no JPEG: a full decode, RGB once
        got = tc_data.read_rgb(path, 224)
        assert got.decoded == (300, 200)
        assert np.array_equal(got.array, _full(path, 224))


def test_val_predictions_match_full_size_inference(load_train: Loader, tmp_path: Path) -> None:
    """The classification model on the training-time val pipeline's input vs on the input
    inference makes from the full-size files: class probabilities within 0.01, same class."""
    train = load_train("classification")
    torch.manual_seed(0)
    model = train.build_model("resnet18", 4).eval()
    wrapped = train.Normalized(model)
    paths = [_photo(tmp_path / f"{i}.jpg", 1600, 1200, seed=10 + i) for i in range(4)]
    pipeline = torch.stack([train.read_image(p, 96) for p in paths]).float() / 255
    full = torch.stack([torch.from_numpy(_full(p, 96).copy()).permute(2, 0, 1)
                        for p in paths]).float() / 255
    assert (pipeline - full).abs().max().item() <= 1 / 255 + 1e-6
    with torch.no_grad():
        a, b = wrapped(pipeline), wrapped(full)
    assert (a - b).abs().max().item() < 0.01
    assert torch.equal(a.argmax(1), b.argmax(1))


@pytest.mark.parametrize("template", ["classification", "detection", "segmentation"])
def test_loader_benchmark_prints_one_line_per_epoch_and_trains_nothing(
        load_train: Loader, tiny: Tiny, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        template: str) -> None:
    train = load_train(template)
    root = tiny(template)
    out = tmp_path / "out"
    rc = train.main(["--images-dir", str(root / "images"), "--labels-dir", str(root / "labels"),
                     "--output-dir", str(out), "--img-size", "32", "--batch-size", "2",
                     "--num-workers", "0", "--loader-benchmark", "3"])
    log = capsys.readouterr().out
    assert rc == 0, log
    epochs = re.findall(r"^loader epoch (\d+): (\d+\.\d) img/s$", log, re.M)
    assert [k for k, _ in epochs] == ["1", "2", "3"], log
    assert all(float(x) > 0 for _, x in epochs)
    found = [line for line in log.splitlines() if line.startswith("loader benchmark: ")]
    assert len(found) == 1, log
    assert re.search(r"images, batch 2, 0 workers; decode \d+x\d+ \w+.* -> 32x32; source /\S+ "
                     r"\(\S+\); cache: none$", found[0]), found[0]
    # the source is where the split's symlinks lead (the dataset), not the links' folder
    assert str(root / "images") not in found[0]
    assert not (out / "model.onnx").exists() and not (out / "metrics.json").exists()
    assert "epoch 1/" not in log  # no training epoch ran
