"""The one builder of CVAT datasets for the tests (CVAT for images 1.1, annotations.xml).

- :func:`cvat_xml`: the document (meta with the labels and their attributes, then the images);
- :func:`image`: one ``<image>`` element around the shapes given as XML text;
- :func:`box_image`: an image with one box (with an attribute) and one tag;
- :func:`write_dataset`: a dataset in the platform's MinIO layout
  (``<minio>/datasets/<id>/{images, annotations/annotations.xml}``).

Shapes stay XML text on purpose: the tests write hostile and odd shapes (NaN coordinates,
missing labels, rotated boxes) that a typed builder would refuse. The product's own writer
(tcli/datasets/cvat_writer.py) is what tests check, never what they build data with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def cvat_xml(images: Sequence[str], labels: Sequence[str] = ("weed", "crop"), *,
             project: bool = False, task_id: int = 1,
             attributes: Mapping[str, Sequence[str]] | None = None,
             color: str | None = "#fff") -> str:
    """An annotations.xml: ``labels`` declared in the meta of a task (or ``project``), each
    with its ``attributes`` (default: one ``attr_of_<label>``), then ``images``."""
    owner = "project" if project else "task"
    attrs = attributes if attributes is not None else {n: [f"attr_of_{n}"] for n in labels}
    meta = "".join(
        f"<label><name>{n}</name>" + (f"<color>{color}</color>" if color else "")
        + "<attributes>" + "".join(f"<attribute><name>{a}</name></attribute>"
                                   for a in attrs.get(n, ())) + "</attributes></label>"
        for n in labels)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
            f"<meta><{owner}><id>{task_id}</id><labels>{meta}</labels></{owner}></meta>"
            + "".join(images) + "</annotations>\n")


def image(i: int, name: str, shapes: str = "", *, w: int = 32, h: int = 24,
          subset: str | None = None) -> str:
    """One ``<image>`` element holding ``shapes`` (XML text)."""
    sub = f' subset="{subset}"' if subset is not None else ""
    return f'<image id="{i}" name="{name}" width="{w}" height="{h}"{sub}>{shapes}</image>'


def box_image(i: int, name: str, label: str, *, w: int = 32, h: int = 24, subset: str = "Train",
              extra: str = "") -> str:
    """An image with one box of ``label`` (occluded on odd ``i``, attribute ``a`` = v<i>) and a tag."""
    return image(i, name,
                 f'<box label="{label}" occluded="{i % 2}" source="manual" xtl="1.5" ytl="2" '
                 f'xbr="11.5" ybr="12" z_order="0"><attribute name="a">v{i}</attribute></box>'
                 f'<tag label="{label}"/>{extra}', w=w, h=h, subset=subset)


def write_dataset(minio: Path, ds_id: int, n: int = 10, *, labels: tuple[str, ...] = ("weed", "crop"),
                  real_images: bool = True, xml: str | None = None, prefix: str = "") -> Path:
    """Dataset ``ds_id`` under ``minio``: n images (PNG 32x24; empty files unless
    ``real_images``), each with one box + tag, labels alternating; ``xml`` replaces the
    annotations. Returns the dataset folder."""
    d = minio / "datasets" / str(ds_id)
    (d / "annotations").mkdir(parents=True, exist_ok=True)
    if real_images:
        from PIL import Image

        for i in range(n):
            Image.new("RGB", (32, 24), (i * 20 % 255, 0, 0)).save(d / f"{prefix}{i}.png")
    else:
        for i in range(n):
            (d / f"{prefix}{i}.png").write_bytes(b"")
    if xml is None:
        xml = cvat_xml([box_image(i, f"user/{ds_id}/{prefix}{i}.png", labels[i % len(labels)])
                        for i in range(n)], labels)
    (d / "annotations" / "annotations.xml").write_text(xml)
    return d
