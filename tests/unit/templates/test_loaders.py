"""The templates' data loaders on the tiny fixture (grayscale and RGBA images included)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

Loader = Callable[[str], ModuleType]
Tiny = Callable[[str], Path]
NAMES = ["circle", "square", "triangle"]
TRAIN_FILES = ["tiny_0.png", "tiny_1.png", "tiny_3.png", "tiny_4.png"]  # tiny_3 L, tiny_4 RGBA


@pytest.mark.parametrize("template", ["classification", "sklearn"])
def test_classification_items(load_train: Loader, tiny: Tiny, template: str) -> None:
    train = load_train(template)
    root = tiny("classification")
    items, cats = train.load_split(root / "images", root / "labels", "train")
    assert [c["name"] for c in cats] == NAMES
    assert [(p.name, label) for p, label in items] == [
        ("tiny_0.png", 0), ("tiny_1.png", 1), ("tiny_3.png", 0), ("tiny_4.png", 1)]
    val, _ = train.load_split(root / "images", root / "labels", "val")
    assert [(p.name, label) for p, label in val] == [("tiny_2.png", 2), ("tiny_5.png", 2)]
    missing, none = train.load_split(root / "images", root / "labels", "test")
    assert (missing, none) == ([], [])


def test_classification_dataset_decodes_any_mode(load_train: Loader, tiny: Tiny) -> None:
    train = load_train("classification")
    from tc_torch import make_loader  # beside train.py once a template is loaded

    root = tiny("classification")
    items, _ = train.load_split(root / "images", root / "labels", "train")
    ds = train.ImageDataset(items, 48)
    for i in range(len(ds)):
        x, label = ds[i]
        assert x.dtype == torch.uint8 and tuple(x.shape) == (3, 48, 48)
        assert label == items[i][1]
    gray, _ = ds[2]  # tiny_3 is stored as "L": the three channels are equal
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    loader = make_loader(ds, batch_size=3, shuffle=True, workers=0, cuda=False, seed=0)
    batches = [(x.shape, y.tolist()) for x, y in loader]
    assert batches == [(torch.Size([3, 3, 48, 48]), batches[0][1])]  # drop_last: 4 -> 3
    again = [y.tolist() for _, y in make_loader(ds, batch_size=3, shuffle=True, workers=0,
                                                 cuda=False, seed=0)]
    assert again == [batches[0][1]], "shuffling is seeded"


def test_sklearn_features(load_train: Loader, tiny: Tiny) -> None:
    train = load_train("sklearn")
    root = tiny("classification")
    items, _ = train.load_split(root / "images", root / "labels", "train")
    x, y = train.featurize(items, 8, 4)
    assert x.dtype == np.float32 and x.shape == (4, 8 * 8 * 3 + 3 * 4)
    assert y.tolist() == [0, 1, 0, 1]
    assert np.all((x >= 0) & (x <= 1))
    hist = x[:, 8 * 8 * 3:].reshape(4, 3, 4)
    assert np.allclose(hist.sum(axis=2), 1.0)  # one normalised histogram per channel
    red_circle, green_square = x[0, :192].reshape(8, 8, 3), x[1, :192].reshape(8, 8, 3)
    assert red_circle[4, 4, 0] > red_circle[4, 4, 1]  # shape centre carries the class colour
    assert green_square[4, 4, 1] > green_square[4, 4, 0]


def test_segmentation_masks(load_train: Loader, tiny: Tiny) -> None:
    train = load_train("segmentation")
    root = tiny("segmentation")
    items, cats = train.load_split(root / "images", root / "labels", "train")
    assert [p.name for p, _, _ in items] == TRAIN_FILES
    ds = train.SegmentationDataset(items, cats, 32)
    for i, expected in enumerate([1, 2, 1, 2]):
        x, mask = ds[i]
        assert x.shape == (3, 32, 32) and mask.dtype == torch.int64
        assert set(mask.unique().tolist()) == {0, expected}
        assert int(mask[16, 16]) == expected  # the shape sits near the centre
        assert 0.05 < float((mask > 0).float().mean()) < 0.6
    # polygon rasterisation equals the RLE path (pycocotools)
    from pycocotools import mask as mask_utils

    _path, image, anns = items[0]
    poly = train.rasterize(image, anns, {1: 1, 2: 2, 3: 3})
    rle = mask_utils.frPyObjects(anns[0]["segmentation"], 32, 32)[0]
    rle["counts"] = rle["counts"].decode()
    as_rle = dict(anns[0], segmentation=rle)
    assert np.array_equal(poly, train.rasterize(image, [as_rle], {1: 1, 2: 2, 3: 3}))
    # an image without annotations is all background
    assert not train.rasterize(image, [], {}).any()


def test_detection_targets(load_train: Loader, tiny: Tiny) -> None:
    train = load_train("detection")
    root = tiny("detection")
    items, cats = train.load_split(root / "images", root / "labels", "train")
    coco = json.loads((root / "labels" / "train" / "labels.json").read_text())
    ds = train.DetectionDataset(items, cats, 64)  # 32 -> 64: boxes double
    x, target = ds[0]
    assert x.shape == (3, 64, 64)
    bx, by, bw, bh = coco["annotations"][0]["bbox"]
    expected = torch.tensor([[bx * 2, by * 2, (bx + bw) * 2, (by + bh) * 2]])
    assert torch.allclose(target["boxes"], expected, atol=1e-4)
    assert target["labels"].tolist() == [1]
    # negatives are kept with empty targets
    items[1] = (items[1][0], items[1][1], [])
    _, empty = train.DetectionDataset(items, cats, 64)[1]
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,)
    images, targets = train.collate([ds[0], ds[1]])
    assert images.shape == (2, 3, 64, 64) and len(targets) == 2


def test_detection_flip_moves_boxes(load_train: Loader) -> None:
    train = load_train("detection")
    torch.manual_seed(0)
    x = torch.zeros(8, 3, 10, 10)
    x[:, :, :, 0] = 1.0  # a bright left column
    targets = [dict(boxes=torch.tensor([[0.0, 1.0, 3.0, 4.0]]), labels=torch.tensor([1]))
               for _ in range(8)]
    fx, ft = train.flip_batch(x, targets)
    for img, tgt in zip(fx, ft, strict=True):
        flipped = bool(img[0, 0, 9] == 1.0)
        expected = [7.0, 1.0, 10.0, 4.0] if flipped else [0.0, 1.0, 3.0, 4.0]
        assert tgt["boxes"][0].tolist() == expected


def test_local_weights_load_matching_tensors_only(load_train: Loader, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A state_dict from a 5-class model: the backbone loads, the 3-class head stays random;
    BatchNorm momentum is raised for short runs."""
    train = load_train("classification")
    torch.manual_seed(1)
    donor = train.build_model("mobilenet_v3_small", 5)
    path = tmp_path / "donor.pt"
    torch.save({"state_dict": donor.state_dict()}, path)
    torch.manual_seed(2)
    model = train.build_model("mobilenet_v3_small", 3, str(path))
    own, theirs = model.state_dict(), donor.state_dict()
    same = [k for k in own if torch.equal(own[k], theirs[k])]
    differ = [k for k in own if own[k].shape != theirs[k].shape]
    assert differ == ["classifier.3.weight", "classifier.3.bias"]
    assert len(same) == len(own) - len(differ)
    assert f"weights: loaded {len(same)} of {len(own)} tensors from {path}" in capsys.readouterr().out
    momenta = {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta == {0.1}
