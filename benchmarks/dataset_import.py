"""``tc dataset import`` / ``inspect`` on synthetic COCO data.

Cases (env ``BENCH_CASES``, default ``100k,1M``), 10,000 images each (empty sample files:
COCO carries the sizes), 5 categories:
  100k: 100,000 boxes — import (COCO -> platform layout, hard links, CVAT 1.1 XML, mapping,
        report) end to end: target <= 2 s; ``inspect`` of the result: target <= 2 s;
        datumaro's COCO -> CVAT conversion of the same data when a datumaro venv exists
        (``BENCH_DATUMARO_PYTHON`` or ``benchmarks/.venv-datumaro/bin/python``): target
        ours >= 10x faster; otherwise it says that datumaro is not installed.
  1M:   1,000,000 boxes — the same; the JSON is over the 64 MB json.load limit, so it is
        streamed (ijson). Memory: peak RSS growth from 100k to 1M boxes, per box, next to the
        output's size per box (target: not more than the output).
Floors measured in the same run (json.load of the COCO file; a bare lxml iterparse pass over
the output XML) make the figures comparable on a loaded machine.
Every measurement is a fresh process (peak RSS = its VmHWM); import runs BENCH_RUNS times
(default 3), the median is reported.
"""

# ruff: noqa: UP031
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = {"100k": (10_000, 10), "1M": (10_000, 100)}
LABELS = ("weed", "crop", "soil", "stone", "root")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def generate(root: Path, n_images: int, per: int) -> Path:
    src = root / "coco"
    (src / "images").mkdir(parents=True)
    for i in range(n_images):
        open(src / "images" / f"img_{i:07d}.jpg", "wb").close()
    with open(src / "instances.json", "w") as fh:
        fh.write('{"info": {}, "categories": ' + json.dumps(
            [{"id": k * 2 + 1, "name": n, "supercategory": ""} for k, n in enumerate(LABELS)]))
        fh.write(', "images": ' + json.dumps(
            [{"id": i + 1, "file_name": f"img_{i:07d}.jpg", "width": 640, "height": 480}
             for i in range(n_images)]))
        fh.write(', "annotations": [')
        aid = 0
        for i in range(n_images):
            rows = []
            for k in range(per):
                aid += 1
                rows.append('{"id": %d, "image_id": %d, "category_id": %d, "bbox": [%.2f, %.2f,'
                            ' 40.25, 30.5], "area": 1227.625, "iscrowd": 0, "segmentation": []}'
                            % (aid, i + 1, (k % 5) * 2 + 1, k * 3 + 0.5, k * 2 + 1.25))
            fh.write(("," if i else "") + ",".join(rows))
        fh.write("]}\n")
    return src


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _child_import(root: str) -> dict[str, float]:
    from tcli.datasets.importer import import_dataset

    t0 = time.perf_counter()
    res = import_dataset(Path(root) / "coco", Path(root) / "minio", "coco", 1, force=True)
    return {"seconds": time.perf_counter() - t0, "images": res.images, "shapes": res.shapes}


def _child_inspect(root: str) -> dict[str, float]:
    from tcli.datasets.inspect import inspect

    t0 = time.perf_counter()
    ins = inspect(Path(root) / "minio", duplicates=False)  # the annotation pass only
    return {"seconds": time.perf_counter() - t0, "shapes": ins.shapes}


def _child_baseline(root: str) -> dict[str, float]:
    """The floor: importing tc's package and PIL/numpy, nothing else."""
    t0 = time.perf_counter()
    import numpy  # noqa: F401

    import tcli.datasets.importer  # noqa: F401

    return {"seconds": time.perf_counter() - t0}


def _child_json(root: str) -> dict[str, float]:
    """The floor of any COCO reader in Python: json.load of the file, nothing else."""
    t0 = time.perf_counter()
    with open(Path(root) / "coco" / "instances.json", "rb") as fh:
        json.load(fh)
    return {"seconds": time.perf_counter() - t0}


def _child_iterparse(root: str) -> dict[str, float]:
    """The floor of any streaming CVAT reader: a bare lxml iterparse pass over the output."""
    from lxml import etree

    t0 = time.perf_counter()
    xml = Path(root) / "minio" / "datasets" / "1" / "annotations" / "annotations.xml"
    for _ev, el in etree.iterparse(str(xml), events=("end",)):
        el.clear()
    return {"seconds": time.perf_counter() - t0}


CHILDREN = {"json": _child_json, "iterparse": _child_iterparse, "import": _child_import,
            "inspect": _child_inspect, "baseline": _child_baseline}

DATUMARO = """
import sys, time, resource
import datumaro as dm
t0 = time.perf_counter()
ds = dm.Dataset.import_from(sys.argv[1], "coco_instances")
ds.export(sys.argv[2], "cvat", save_media=True)
dt = time.perf_counter() - t0
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
print(dt, int(hwm) / 1024)
"""


def _measure(kind: str, root: Path) -> dict[str, float]:
    code = ("import json, sys; sys.path.insert(0, %r); from benchmarks import dataset_import "
            "as b; r = b.CHILDREN[%r](%r); r['peak_rss_mb'] = b.peak_rss_mb(); "
            "print(json.dumps(r))" % (str(REPO), kind, str(root)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _datumaro_python() -> str | None:
    env = os.environ.get("BENCH_DATUMARO_PYTHON")
    cand = Path(env) if env else REPO / "benchmarks" / ".venv-datumaro" / "bin" / "python"
    if not cand.is_file():
        return None
    ok = subprocess.run([str(cand), "-c", "import datumaro"], capture_output=True)
    return str(cand) if ok.returncode == 0 else None


def _datumaro(py: str, root: Path) -> tuple[float, float]:
    # datumaro's COCO importer wants <root>/annotations/instances_default.json + images/
    d = root / "dm-src"
    (d / "annotations").mkdir(parents=True)
    shutil.copy(root / "coco" / "instances.json", d / "annotations" / "instances_default.json")
    os.symlink(root / "coco" / "images", d / "images")
    out = subprocess.run([py, "-c", DATUMARO, str(d), str(root / "dm-out")],
                         capture_output=True, text=True, check=True).stdout
    secs, mb = out.strip().splitlines()[-1].split()
    return float(secs), float(mb)


def _bench_dir() -> str | None:
    env = os.environ.get("BENCH_DIR")
    if env:
        return env
    try:
        if shutil.disk_usage("/dev/shm").free > 3 * 2**30:
            return "/dev/shm"
    except OSError:
        pass
    return None


def main() -> int:
    cases = [c.strip() for c in os.environ.get("BENCH_CASES", "100k,1M").split(",") if c.strip()]
    ok = True
    print(f"working folder: {_bench_dir() or tempfile.gettempdir()} (set BENCH_DIR to change)")
    base = _measure("baseline", REPO)
    print(f"  baseline (python + tc's dataset package imported): {base['seconds']:.2f} s, "
          f"peak {base['peak_rss_mb']:.0f} MB")
    mem: dict[str, tuple[float, float, int]] = {}
    py_dm = _datumaro_python()
    for case in cases:
        n, per = CASES[case]
        tmp = Path(tempfile.mkdtemp(prefix=f"tc-bench-import-{case}-", dir=_bench_dir()))
        try:
            t0 = time.perf_counter()
            generate(tmp, n, per)
            js = (tmp / "coco" / "instances.json").stat().st_size / 2**20
            print(f"{case}: {n} images / {n * per} boxes, COCO JSON {js:.0f} MB, generated in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            floor = _measure("json", tmp)
            print(f"  json.load of the file (floor) : {floor['seconds']:6.2f} s  (load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
            runs = sorted((_measure("import", tmp) for _ in range(RUNS)),
                          key=lambda r: r["seconds"])
            med = runs[len(runs) // 2]
            xml = tmp / "minio" / "datasets" / "1" / "annotations" / "annotations.xml"
            out_mb = xml.stat().st_size / 2**20
            mem[case] = (med["peak_rss_mb"], out_mb, n * per)
            print(f"  import (COCO -> platform layout): {med['seconds']:6.2f} s  peak "
                  f"{med['peak_rss_mb']:5.0f} MB  output XML {out_mb:.0f} MB  (median of "
                  f"{len(runs)}: " + ", ".join(f"{r['seconds']:.2f}" for r in runs) + f"; "
                  f"{med['seconds'] / floor['seconds']:.1f}x the json.load floor)",
                  flush=True)
            ins = sorted((_measure("inspect", tmp) for _ in range(RUNS)),
                         key=lambda r: r["seconds"])
            imed = ins[len(ins) // 2]
            bare = _measure("iterparse", tmp)
            print(f"  bare lxml iterparse (floor)     : {bare['seconds']:6.2f} s", flush=True)
            print(f"  inspect (no --decode)           : {imed['seconds']:6.2f} s  peak "
                  f"{imed['peak_rss_mb']:5.0f} MB  ({imed['seconds'] / bare['seconds']:.1f}x the "
                  "iterparse floor)", flush=True)
            if case == "100k":
                met = med["seconds"] <= 2 and imed["seconds"] <= 2
                print(f"  target: import <= 2 s, inspect <= 2 s -> {'met' if met else 'NOT met'}",
                      flush=True)
                ok &= met
                if py_dm is None:
                    print("  datumaro: not installed (create benchmarks/.venv-datumaro with "
                          "`pip install datumaro`, or set BENCH_DATUMARO_PYTHON); ratio not "
                          "measured", flush=True)
                else:
                    dm_s, dm_mb = _datumaro(py_dm, tmp)
                    ratio = dm_s / med["seconds"]
                    print(f"  datumaro COCO -> CVAT           : {dm_s:6.2f} s  peak {dm_mb:5.0f} MB"
                          f"  ratio datumaro / ours {ratio:.1f}x (target >= 10x)", flush=True)
                    ok &= ratio >= 10
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if "100k" in mem and "1M" in mem:
        (r1, o1, b1), (r2, o2, b2) = mem["100k"], mem["1M"]
        grow = (r2 - r1) * 2**20 / (b2 - b1)
        out_per = (o2 - o1) * 2**20 / (b2 - b1)
        print(f"memory growth 100k -> 1M boxes: {grow:.0f} bytes per box; the output grows "
              f"{out_per:.0f} bytes per box -> {'met' if grow <= out_per else 'NOT met'}")
        ok &= grow <= out_per
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
