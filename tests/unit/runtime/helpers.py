"""Synthetic CVAT datasets for the runtime tests."""

from __future__ import annotations

from pathlib import Path


def cvat_xml(images: list[str], labels: tuple[str, ...] = ("weed", "crop"),
             project: bool = False) -> str:
    owner = "project" if project else "task"
    meta = "".join(f"<label><name>{n}</name><color>#fff</color><attributes><attribute>"
                   f"<name>attr_of_{n}</name></attribute></attributes></label>" for n in labels)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
            f"<meta><{owner}><id>1</id><labels>{meta}</labels></{owner}></meta>"
            + "".join(images) + "</annotations>\n")


def box_image(i: int, name: str, label: str, *, w: int = 32, h: int = 24, subset: str = "Train",
              extra: str = "") -> str:
    return (f'<image id="{i}" name="{name}" width="{w}" height="{h}" subset="{subset}">'
            f'<box label="{label}" occluded="{i % 2}" source="manual" xtl="1.5" ytl="2" '
            f'xbr="11.5" ybr="12" z_order="0"><attribute name="a">v{i}</attribute></box>'
            f'<tag label="{label}"/>{extra}</image>')


def make_dataset(minio: Path, ds_id: int, n: int = 10, *, labels: tuple[str, ...] = ("weed", "crop"),
                 real_images: bool = True, xml: str | None = None, prefix: str = "") -> Path:
    """n images (PNG 32x24), each with one box + tag, alternating labels."""
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

