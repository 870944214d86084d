"""The dataset stage end to end (a fresh ``python setup.py``) vs. its floor and datumaro.

For each case — 10k images / 100k boxes and 100k / 1M (``BENCH_CASES``, default
``10k,100k``), each with short file names (``img_000000.jpg``, link targets under 60 bytes
like the platform's ``/minio/datasets/1/img_000000.jpg``) and with 79-byte names (camera
timestamp + UUID: every target 60 bytes or longer, which ext4 stores out of the inode) —
this measures, interleaved, ``BENCH_RUNS`` (default 5) times each, every one a fresh process:

- **floor**: lxml ``iterparse`` reading every box's 5 attributes (label, xtl, ytl, xbr,
  ybr; elements cleared as they go) plus the same number of bare ``os.symlink`` calls with
  the platform's absolute targets into a fresh folder; the two loops' own time (interpreter
  start and imports not counted, so the floor is the strict one);
- **tc, first run**: wall time of ``python setup.py`` of the detection template (interpreter
  start, imports, config, parse, split, COCO labels, symlinks, manifest, final config) into
  a fresh, empty ``DATASETS_ROOT``;
- **tc, rerun**: the same again over that run's output (as under ``docker start``);
- **datumaro**: ``Dataset.import_from(..., "cvat")`` of the same XML, every item iterated,
  nothing written, wall time of the fresh process (``BENCH_DATUMARO_RUNS_LARGE``, default 1,
  runs at 100k: it takes ~10x longer). datumaro lives only in ``.bench-venv/`` (made here on
  first use with pip; never a dependency of tc or of the image); ``BENCH_DATUMARO=0`` skips it.

Hygiene: before every timed run the file system is left alone for a moment (``BENCH_SETTLE_S``,
default 1 s; ``BENCH_SYNC=1`` also syncs, slow on a busy shared disk), a
rerun's detached deleter of the previous tree is waited for, and nothing large is deleted
until every measurement of a case is done. The working folder is ``BENCH_DIR`` (default: the
temp dir, a disk file system, where the symlink costs are real). Peak memory is the child's
``ru_maxrss`` (this runner stays small, so fork/exec inheritance cannot inflate it).
Targets: e2e <= 1.5x floor, >= 4x faster than datumaro, peak at 100k <= 213 MB.
"""

# ruff: noqa: UP031
from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tcli.contract import RUNTIME_FILES

REPO = Path(__file__).resolve().parent.parent
CASES = {"10k": (10_000, 10), "100k": (100_000, 10)}
NAMES = ("short", "long")
LABELS = ("weed", "crop", "soil", "stone", "root")
TEMPLATE_SETUP = REPO / ("scaffolds/project/templates/{{provider}}/{{category}}/"
                         "{{architecture}}/docker/setup.py.jinja")
WORKSPACE_FILES = (*(f"scaffolds/project/{rel}" for rel in RUNTIME_FILES.values() if rel.endswith(".py")),
                   "scaffolds/variants/detection/docker/args.py",
                   "scaffolds/variants/detection/config/presets.json",
                   "scaffolds/variants/detection/config/train_config.json")
BENCH_VENV = REPO / ".bench-venv"
TARGET_RATIO, TARGET_DATUMARO, TARGET_PEAK_MB = 1.5, 4.0, 213


# ----------------------------------------------------------------------------- data

def file_name(i: int, kind: str, rng: random.Random) -> str:
    if kind == "short":
        return f"img_{i:06d}.jpg"
    return f"cam-front-left_2024-05-17T12-34-56.{i:06d}Z_{rng.getrandbits(128):032x}.jpg"


def generate(root: Path, n_images: int, per_image: int, kind: str) -> dict[str, Any]:
    """``root/m/datasets/1/``: empty sample files + annotations.xml (task export, 5 labels,
    folder-carrying names, random 2-decimal coordinates); ``root/names.txt``; the
    datumaro layout ``root/dm/{annotations.xml,images/user/1/<file>}``."""
    rng = random.Random(n_images * 7 + len(kind))
    d = root / "m" / "datasets" / "1"
    (d / "annotations").mkdir(parents=True)
    meta = "".join(f"<label><name>{n}</name><color>#ffffff</color><attributes/></label>"
                   for n in LABELS)
    names = []
    xml = d / "annotations" / "annotations.xml"
    with open(xml, "w") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
                 f"  <meta><task><id>1</id><name>bench</name><labels>{meta}</labels></task></meta>\n")
        chunk = []
        for i in range(n_images):
            name = file_name(i, kind, rng)
            names.append(name)
            boxes = []
            for _ in range(per_image):
                x, y = rng.randint(0, 50000) / 100, rng.randint(0, 40000) / 100
                w, h = rng.randint(100, 14000) / 100, rng.randint(100, 8000) / 100
                boxes.append(f'\n    <box label="{LABELS[rng.randrange(5)]}" source="manual" '
                             f'occluded="{rng.randrange(2)}" xtl="{x:.2f}" ytl="{y:.2f}" '
                             f'xbr="{x + w:.2f}" ybr="{y + h:.2f}" z_order="0">\n    </box>')
            chunk.append(f'  <image id="{i}" name="user/1/{name}" width="640" height="480">'
                         f'{"".join(boxes)}\n  </image>\n')
            if len(chunk) >= 2000:
                fh.write("".join(chunk))
                chunk.clear()
        fh.write("".join(chunk) + "</annotations>\n")
    dm = root / "dm" / "images" / "user" / "1"
    dm.mkdir(parents=True)
    os.link(xml, root / "dm" / "annotations.xml")
    for name in names:
        open(d / name, "wb").close()
        open(dm / name, "wb").close()
    (root / "names.txt").write_text("\n".join(names) + "\n")
    ws = root / "ws"
    ws.mkdir()
    for f in WORKSPACE_FILES:
        shutil.copy(REPO / f, ws)
    (ws / "setup.py").write_text(TEMPLATE_SETUP.read_text().replace("{{ template }}", "detection"))
    shutil.copy(ws / "train_config.json", root / "train_config.orig.json")
    return {"xml_mb": xml.stat().st_size / 2**20, "name_bytes": len(names[0]),
            "target_bytes": len(str(d / names[0]))}


# ----------------------------------------------------------------------------- children

FLOOR = r"""
import json, os, sys, time
from lxml import etree
root = sys.argv[1]
names = open(os.path.join(root, "names.txt")).read().split()
src = os.path.join(root, "m", "datasets", "1")
out = sys.argv[2]
os.mkdir(out)
t0 = time.perf_counter()
n = 0
for _ev, el in etree.iterparse(os.path.join(src, "annotations", "annotations.xml"),
                               events=("end",), tag="image"):
    for b in el:
        g = b.get
        _a = (g("label"), g("xtl"), g("ytl"), g("xbr"), g("ybr"))
        n += 1
    el.clear()
    while el.getprevious() is not None:
        del el.getparent()[0]
t1 = time.perf_counter()
sym = os.symlink
for name in names:
    sym(src + "/" + name, out + "/" + name)
t2 = time.perf_counter()
print(json.dumps({"parse": t1 - t0, "links": t2 - t1, "boxes": n}))
"""

DATUMARO = r"""
import json, sys, time
from datumaro.components.dataset import Dataset
ds = Dataset.import_from(sys.argv[1], "cvat")
n = boxes = 0
for item in ds:
    n += 1
    boxes += len(item.annotations)
print(json.dumps({"items": n, "boxes": boxes}))
"""


def _spawn_usage(argv: list[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> dict[str, Any]:
    """Run a fresh process; its wall time, CPU time and peak RSS (from wait4)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    out = p.stdout.read()
    err = p.stderr.read()
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed ({p.returncode}): {err.decode()[-2000:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024,
            "out": out.decode(), "err": err.decode()}


def settle(folder: Path | None = None, timeout: float = 120) -> None:
    """Wait until a rerun's detached deleter is done, sync, and let the disk rest."""
    if folder is not None:
        deadline = time.monotonic() + timeout
        while (folder / ".tc-trash").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if os.environ.get("BENCH_SYNC") == "1":  # system-wide: slow on a busy shared machine
        os.sync()
    time.sleep(float(os.environ.get("BENCH_SETTLE_S", "1")))


def run_floor(root: Path, i: int, tag: str) -> dict[str, Any]:
    r = _spawn_usage([sys.executable, "-c", FLOOR, str(root), str(root / f"floor-{tag}-{i}")])
    data = json.loads(r["out"].strip().splitlines()[-1])
    return {**r, **data, "floor": data["parse"] + data["links"]}


def run_tc(root: Path, out: Path) -> dict[str, Any]:
    shutil.copy(root / "train_config.orig.json", root / "ws" / "train_config.json")
    env = {**os.environ, "DATASET_ID": "1", "MINIO_ROOT": str(root / "m"),
           "DATASETS_ROOT": str(out), "TRAIN_ROOT": str(root / "train"),
           "WORKSPACE": str(root / "ws")}
    for k in ("TC_LINK_WORKER", "TC_LINK_WORKER_MIN", "TC_BACKGROUND_DELETE_MIN",
              "DATASET_FORMATS", "SPLIT_SEED"):
        env.pop(k, None)
    return _spawn_usage([sys.executable, "setup.py"], env=env, cwd=root / "ws")


def datumaro_python() -> Path | None:
    """The benchmark's own venv with datumaro (created with pip on first use)."""
    if os.environ.get("BENCH_DATUMARO") == "0":
        return None
    py = BENCH_VENV / "bin" / "python"
    check = [str(py), "-c", "import datumaro"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return py
    print("  (installing datumaro into .bench-venv/ for the comparison, once)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True,
                       capture_output=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "datumaro"], check=True,
                       capture_output=True, timeout=1200)
    except (subprocess.SubprocessError, OSError):
        return None
    return py if subprocess.run(check, capture_output=True).returncode == 0 else None


def run_datumaro(py: Path, root: Path) -> dict[str, Any]:
    r = _spawn_usage([str(py), "-c", DATUMARO, str(root / "dm")])
    return {**r, **json.loads(r["out"].strip().splitlines()[-1])}


# ----------------------------------------------------------------------------- report

def _med(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _runs(rows: list[dict[str, Any]], key: str) -> str:
    return ", ".join("%.2f" % r[key] for r in rows)


def bench_case(case: str, kind: str, dm_py: Path | None, runs: int) -> dict[str, Any]:
    n, per = CASES[case]
    base = os.environ.get("BENCH_DIR") or None
    root = Path(tempfile.mkdtemp(prefix="tcb", dir=base))
    try:
        t0 = time.perf_counter()
        info = _spawn_usage([sys.executable, "-c",
                             "import json, sys; sys.path.insert(0, %r); from benchmarks import "
                             "cvat_setup as b; from pathlib import Path; print(json.dumps("
                             "b.generate(Path(%r), %d, %d, %r)))"
                             % (str(REPO), str(root), n, per, kind)])
        meta = json.loads(info["out"].strip().splitlines()[-1])
        print(f"{case} images/{n * per // 1000}k boxes, {kind} names ({meta['name_bytes']} B, "
              f"floor link targets {meta['target_bytes']} B), XML {meta['xml_mb']:.0f} MB, "
              f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
        dm_runs = runs if case == "10k" else int(os.environ.get("BENCH_DATUMARO_RUNS_LARGE", "1"))
        floors, firsts, reruns, dms = [], [], [], []
        for i in range(runs):
            settle()
            floors.append(run_floor(root, i, kind))
            settle()
            out = root / f"out-{i}"
            firsts.append(run_tc(root, out))
            settle(out)
            reruns.append(run_tc(root, out))
            settle(out)
            if dm_py is not None and i < dm_runs:
                dms.append(run_datumaro(dm_py, root))
        if dms:
            assert dms[0]["boxes"] == n * per, dms[0]
        res = {"case": case, "kind": kind, "floor": _med(floors, "floor"),
               "best_floor": min(r["floor"] for r in floors),
               "parse": _med(floors, "parse"), "links": _med(floors, "links"),
               "first": _med(firsts, "wall"), "rerun": _med(reruns, "wall"),
               "first_cpu": _med(firsts, "cpu"), "rerun_cpu": _med(reruns, "cpu"),
               "peak": max(r["peak_mb"] for r in firsts + reruns),
               "datumaro": _med(dms, "wall") if dms else None, "dm_runs": len(dms)}
        f = res["floor"]
        print(f"  floor (iterparse 5 attrs + {n} os.symlink): {f:6.2f} s  (parse "
              f"{res['parse']:.2f} + links {res['links']:.2f}; process CPU "
              f"{_med(floors, 'cpu'):.2f} s; median of {runs}: "
              f"{_runs(floors, 'floor')})", flush=True)
        for label, rows, key in (("tc first run", firsts, "first"), ("tc rerun    ", reruns, "rerun")):
            print(f"  {label} (e2e setup.py): {res[key]:6.2f} s  = {res[key] / f:.2f}x floor; "
                  f"CPU {_med(rows, 'cpu'):.2f} s; peak {max(r['peak_mb'] for r in rows):.0f} MB "
                  f"(median of {runs}: {_runs(rows, 'wall')})", flush=True)
        if dms:
            d = res["datumaro"]
            print(f"  datumaro CVAT import   : {d:6.2f} s  (median of {len(dms)}: "
                  f"{_runs(dms, 'wall')}; CPU {_med(dms, 'cpu'):.2f} s; peak "
                  f"{max(r['peak_mb'] for r in dms):.0f} MB) -> tc "
                  f"{d / res['first']:.1f}x faster (first run), {d / res['rerun']:.1f}x (rerun)",
                  flush=True)
        else:
            print("  datumaro: " + ("skipped (BENCH_DATUMARO=0)" if os.environ.get(
                "BENCH_DATUMARO") == "0" else "not installed"), flush=True)
        return res
    finally:
        settle(root / "out-0", timeout=60)  # a detached deleter may still be at work
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    cases = [c.strip() for c in os.environ.get("BENCH_CASES", "10k,100k").split(",") if c.strip()]
    kinds = [k.strip() for k in os.environ.get("BENCH_NAMES", "short,long").split(",") if k.strip()]
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    where = os.environ.get("BENCH_DIR") or tempfile.gettempdir()
    print(f"working folder: {where} (BENCH_DIR), {runs} fresh processes per measurement "
          "(BENCH_RUNS), medians", flush=True)
    dm_py = datumaro_python()
    if dm_py is None:
        print("datumaro: " + ("skipped (BENCH_DATUMARO=0)" if os.environ.get("BENCH_DATUMARO")
                              == "0" else "not installed"), flush=True)
    results = [bench_case(c, k, dm_py, runs) for c in cases for k in kinds]
    print("summary (median wall s; ratios in the same run):", flush=True)
    print("  case  names  floor  first  rerun  first/floor  rerun/floor  datumaro  dm/first  "
          "dm/rerun  peak MB  best floor  first/best", flush=True)
    ok = True
    for r in results:
        d = r["datumaro"]
        ratios = (r["first"] / r["floor"], r["rerun"] / r["floor"])
        ok &= max(ratios) <= TARGET_RATIO
        dm = ("%8.2f  %7.1fx  %7.1fx" % (d, d / r["first"], d / r["rerun"])) if d else \
            "       -         -         -"
        if d:
            ok &= min(d / r["first"], d / r["rerun"]) >= TARGET_DATUMARO
        if r["case"] == "100k":
            ok &= r["peak"] <= TARGET_PEAK_MB
        # the floor's link loop is bimodal on some disks (one 10k run in 0.06 s, the next
        # in 1.1 s): its best run is shown too, as a check on the median (not a target)
        print("  %-5s %-5s %6.2f %6.2f %6.2f %11.2fx %11.2fx %s %8.0f %11.2f %10.2fx" % (
            r["case"], r["kind"], r["floor"], r["first"], r["rerun"], *ratios, dm, r["peak"],
            r["best_floor"], r["first"] / r["best_floor"]), flush=True)
    print(f"targets: e2e <= {TARGET_RATIO}x floor, >= {TARGET_DATUMARO:.0f}x faster than "
          f"datumaro, peak at 100k <= {TARGET_PEAK_MB} MB -> {'met' if ok else 'NOT met'}",
          flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
