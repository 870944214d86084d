"""GPU preflight for ``tc doctor``: will the host's NVIDIA driver run the base image's CUDA, and
was the image's torch built for this GPU?

Pure functions over recorded ``nvidia-smi --query-gpu=name,compute_cap,driver_version,
memory.total --format=csv,noheader`` output (tests use fixtures; no GPU needed), and tables:

- :data:`NGC_PYTORCH`: the CUDA each NGC PyTorch release is built on (the release notes,
  docs.nvidia.com/deeplearning/frameworks/pytorch-release-notes/rel-YY-MM.html, "Driver
  Requirements") and the minimum Linux driver of that CUDA (CUDA Toolkit Release Notes, table
  "CUDA Toolkit and Corresponding Driver Versions", docs.nvidia.com/cuda/cuda-toolkit-release-
  notes). The release notes name only the branch ("requires NVIDIA Driver release 570 or
  later"); the exact minimum is the CUDA version's.
- :data:`BUILDS`: the GPU architectures each image's torch carries (``TORCH_CUDA_ARCH_LIST`` /
  ``torch.cuda.get_arch_list()``). docs/doctor.md says which rows were measured.

Forward compatibility: NGC images carry CUDA's forward-compatibility package (cuda-compat),
which lets *data-center* GPUs (A100, H100, L40S, T4, …) run a newer CUDA 12.x image on an older
long-term driver branch (the 24.01 release notes: "470.57 (or later R470), 525.85 (or later
R525), 535.86 (or later R535), or 545.23 (or later R545)"). GeForce/RTX workstation cards do
not get it: there the driver must be at least the image's. Below CUDA 12's minimum (525.60.13)
no 12.x image runs without it. Images without cuda-compat (the local stand-in's pip torch) get
no forward compatibility at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tcli.contract import LOCAL_BASE_IMAGE

#: Minimum Linux driver of each CUDA version (CUDA Toolkit Release Notes, Table 3).
CUDA_MIN_DRIVER: dict[str, str] = {
    "12.1.1": "530.30.02", "12.2.1": "535.86.09", "12.2.2": "535.104.05",
    "12.3.0": "545.23.06", "12.3.2": "545.23.08", "12.4.0": "550.54.14", "12.4.1": "550.54.15",
    "12.5.0": "555.42.02", "12.5.1": "555.42.06", "12.6.0": "560.28.03", "12.6.1": "560.35.03",
    "12.6.2": "560.35.03", "12.6.3": "560.35.05", "12.8.0": "570.26", "12.8.1": "570.124.06",
    "13.0.0": "580.65.06",
}
#: NGC PyTorch release tag -> the CUDA it is built on (its release notes).
NGC_CUDA: dict[str, str] = {
    "23.07": "12.1.1", "23.08": "12.2.1", "23.09": "12.2.1", "23.10": "12.2.2",
    "23.11": "12.3.0", "23.12": "12.3.2", "24.01": "12.3.2", "24.02": "12.3.2",
    "24.03": "12.4.0", "24.04": "12.4.1", "24.05": "12.4.1", "24.06": "12.5.0",
    "24.07": "12.5.1", "24.08": "12.6.0", "24.09": "12.6.1", "24.10": "12.6.2",
    "24.11": "12.6.3", "24.12": "12.6.3", "25.01": "12.8.0", "25.02": "12.8.0",
    "25.03": "12.8.1",
}
#: NGC PyTorch release tag -> (CUDA version, minimum driver)
NGC_PYTORCH: dict[str, tuple[str, str]] = {
    tag: (cuda, CUDA_MIN_DRIVER[cuda]) for tag, cuda in NGC_CUDA.items()}
#: Long-term driver branches with forward compatibility on data-center GPUs (branch, minimum).
FORWARD_COMPAT: tuple[tuple[int, str], ...] = (
    (470, "470.57"), (525, "525.85"), (535, "535.86"), (545, "545.23"))
#: The oldest driver any CUDA 12.x image runs on (CUDA minor version compatibility).
CUDA12_MIN_DRIVER = "525.60.13"
#: Names of GPUs that get forward compatibility (data-center products).
DATA_CENTER = re.compile(r"\b(A\d{1,3}|H\d{2,3}|B\d{3}|GB\d{3}|GH\d{3}|L\d{1,2}S?|T4|V100|P100|"
                         r"Tesla|DGX)\b")
NGC_IMAGE = re.compile(r"(?:^|/)nvidia/pytorch:(\d{2}\.\d{2})-py3\Z")

#: NGC's TORCH_CUDA_ARCH_LIST before 25.01 (Pascal to Hopper, PTX of 9.0 for newer GPUs).
_NGC_ARCH_23 = ("sm_52", "sm_60", "sm_61", "sm_70", "sm_72", "sm_75", "sm_80", "sm_86", "sm_87",
                "sm_90", "compute_90")
#: From 25.01 (CUDA 12.8): Turing to Blackwell; Pascal and Volta dropped.
_NGC_ARCH_25 = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120")


@dataclass(frozen=True)
class TorchBuild:
    """What an image's torch was built with: its CUDA, the GPU architectures it carries
    (``sm_XY`` machine code, ``compute_XY`` PTX), whether the image has cuda-compat, and where
    the row comes from."""

    label: str
    cuda: str
    arch: tuple[str, ...]
    compat: bool
    source: str


def build_of(image: str) -> TorchBuild | None:
    """The torch build of ``image`` from tc's tables (None when not known)."""
    release = image_release(image)
    if release is not None and release in NGC_CUDA:
        arch = _NGC_ARCH_25 if release >= "25.01" else _NGC_ARCH_23
        return TorchBuild(f"NGC PyTorch {release}", NGC_CUDA[release], arch, True,
                          "NGC release notes (TORCH_CUDA_ARCH_LIST of the image)")
    return BUILDS.get(image)


#: Images outside the NGC series whose torch build tc knows.
BUILDS: dict[str, TorchBuild] = {
    LOCAL_BASE_IMAGE: TorchBuild(
        "torch 2.14.1+cu130 (PyPI wheel)", "13.0.0",
        ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"), False,
        "measured: torch.cuda.get_arch_list() in the image, 2026-12-05"),
}


@dataclass(frozen=True)
class Gpu:
    index: str
    name: str
    driver: str
    compute_cap: str
    memory: str = ""


@dataclass(frozen=True)
class Verdict:
    """One doctor line: status ok/warn/fail, detail, fix."""

    status: str
    detail: str
    fix: str | None = None


#: The query doctor runs (one line per GPU, in index order).
QUERY = ["nvidia-smi", "--query-gpu=name,compute_cap,driver_version,memory.total",
         "--format=csv,noheader"]


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def parse_gpus(csv: str) -> list[Gpu]:
    """GPUs from :data:`QUERY`'s output (``NVIDIA H100 80GB HBM3, 9.0, 535.161.08, 81559 MiB``;
    the name is everything before the last three fields). Lines that are not that shape
    (an nvidia-smi error message) are skipped."""
    gpus: list[Gpu] = []
    for line in csv.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        cap, driver, memory = parts[-3:]
        if re.fullmatch(r"\d+\.\d+", cap) and re.fullmatch(r"\d+(\.\d+){1,2}", driver):
            gpus.append(Gpu(str(len(gpus)), ", ".join(parts[:-3]), driver, cap, memory))
    return gpus


def image_release(image: str) -> str | None:
    """The NGC release (``25.01``) of an ``nvcr.io/nvidia/pytorch:25.01-py3`` image."""
    match = NGC_IMAGE.search(image)
    return match.group(1) if match else None


def working_tags(driver: str, data_center: bool) -> list[str]:
    """NGC PyTorch tags this driver runs (newest first)."""
    host = version_key(driver)
    ok = [tag for tag, (_, need) in NGC_PYTORCH.items() if host >= version_key(need)]
    if data_center and _forward_compatible(driver):
        ok = list(NGC_PYTORCH)
    return [f"nvcr.io/nvidia/pytorch:{t}-py3" for t in sorted(ok, reverse=True)]


def _forward_compatible(driver: str) -> bool:
    host = version_key(driver)
    return any(host[:1] == (branch,) and host >= version_key(least)
               for branch, least in FORWARD_COMPAT)


def check_driver(gpus: list[Gpu], image: str) -> Verdict:
    """The host driver against the image's CUDA, for the first GPU."""
    if not gpus:
        return Verdict("ok", "no NVIDIA GPU found (nvidia-smi missing or no GPU): CPU only, "
                             "nothing to check")
    gpu = gpus[0]
    build = build_of(image)
    if build is None:
        return Verdict("ok", f"driver {gpu.driver} ({gpu.name}); {image} is not in tc's table "
                             "of images: not checked")
    need = CUDA_MIN_DRIVER[build.cuda]
    data_center = bool(DATA_CENTER.search(gpu.name))
    head = f"driver {gpu.driver} ({gpu.name}), {image} needs CUDA {build.cuda}: driver >= {need}"
    if version_key(gpu.driver) >= version_key(need):
        return Verdict("ok", head)
    if build.compat and data_center and _forward_compatible(gpu.driver):
        return Verdict("warn", head + "; runs through CUDA forward compatibility (data-center "
                                      "GPU on a long-term branch)",
                       "fine for the platform's images; update the driver to lift the limits")
    tags = working_tags(gpu.driver, data_center)[:3]
    fix = f"update the NVIDIA driver to >= {need}"
    if tags:
        fix += f", or use a base image this driver runs: {', '.join(tags)} (--base-image)"
    elif version_key(gpu.driver) < version_key(CUDA12_MIN_DRIVER):
        fix += f" (no CUDA 12 image runs below {CUDA12_MIN_DRIVER})"
    return Verdict("fail", head + ": too old", fix)


def _sm(cap: str) -> tuple[int, int]:
    major, minor = cap.split(".")
    return int(major), int(minor)


def arch_support(cap: str, arch: tuple[str, ...]) -> str:
    """How a torch built for ``arch`` runs on a GPU of compute capability ``cap``:
    ``native`` (its own sm_XY, or an older minor of the same major: machine code runs on later
    minors), ``ptx`` (only PTX of an older architecture: the driver JIT-compiles it at start,
    slowly, and libraries without PTX fail), or ``none`` ("no kernel image is available")."""
    major, minor = _sm(cap)
    sms = [(int(a[3:-1]), int(a[-1])) for a in arch if re.fullmatch(r"sm_\d{2,3}", a)]
    if any(m == major and n <= minor for m, n in sms):
        return "native"
    ptx = [(int(a[8:-1]), int(a[-1])) for a in arch if re.fullmatch(r"compute_\d{2,3}", a)]
    if any((m, n) <= (major, minor) for m, n in ptx):
        return "ptx"
    return "none"


def images_for(cap: str) -> list[str]:
    """Images in tc's tables whose torch has machine code for ``cap`` (newest NGC first)."""
    found = [f"nvcr.io/nvidia/pytorch:{t}-py3" for t in sorted(NGC_CUDA, reverse=True)
             if arch_support(cap, _NGC_ARCH_25 if t >= "25.01" else _NGC_ARCH_23) == "native"]
    return found + [ref for ref, b in BUILDS.items() if arch_support(cap, b.arch) == "native"]


#: What ``tc doctor --probe-image`` runs in the image (no network): its torch's version, CUDA
#: and arch list (the compiled-in list: get_arch_list() is empty without a GPU on older torch).
PROBE = ["python", "-c",
         "import json, torch; f = getattr(torch._C, '_cuda_getArchFlags', lambda: '')(); "
         "print('tc-probe ' + json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, "
         "'arch': f.split() if f else torch.cuda.get_arch_list()}))"]
_ARCH = re.compile(r"(sm|compute)_\d{2,3}[af]?")


def build_from_probe(lines: list[str], image: str) -> TorchBuild | None:
    """The torch build :data:`PROBE` printed (None when its line is missing or malformed)."""
    import json

    for line in reversed(lines):
        if line.startswith("tc-probe "):
            try:
                doc = json.loads(line[len("tc-probe "):][:20000])
            except ValueError:
                return None
            arch = doc.get("arch") if isinstance(doc, dict) else None
            if not isinstance(arch, list) or not all(
                    isinstance(a, str) and _ARCH.fullmatch(a) for a in arch):
                return None
            cuda = doc.get("cuda") if isinstance(doc.get("cuda"), str) else None
            label = f"torch {str(doc.get('torch'))[:40]}" + (f" (CUDA {cuda[:10]})" if cuda
                                                             else " (CPU-only)")
            return TorchBuild(label, "", tuple(a.rstrip("af") for a in arch), False,
                              f"probed in {image}")
    return None


def check_arch(gpus: list[Gpu], image: str, build: TorchBuild | None = None) -> Verdict:
    """Each GPU's compute capability against the architectures the image's torch carries
    (``build``: a probed one; else tc's table)."""
    if not gpus:
        seen = (f"; {build.label} ({build.source}) has {' '.join(build.arch) or 'no CUDA arch'}"
                if build is not None else "")
        return Verdict("ok", "no NVIDIA GPU found: nothing to check" + seen)
    build = build or build_of(image)
    caps = sorted({(g.compute_cap, g.name) for g in gpus})
    shown = ", ".join(f"{name} sm_{cap.replace('.', '')}" for cap, name in caps)
    if build is None:
        return Verdict("ok", f"{shown}; {image} is not in tc's table of images: not checked "
                             "(tc doctor --probe-image reads it from the image)")
    if not build.arch:
        return Verdict("fail", f"{shown}; {build.label} has no CUDA architectures: it runs on "
                               "the CPU only", "use a base image with a CUDA build of torch")
    arch = " ".join(a for a in build.arch if a.startswith("sm_"))
    ptx = [a for a in build.arch if a.startswith("compute_")]
    head = f"{shown}; {build.label} has {arch}" + (f" (+PTX {ptx[0][8:]})" if ptx else "")
    verdicts = {cap: arch_support(cap, build.arch) for cap, _ in caps}
    bad = [cap for cap, how in verdicts.items() if how != "native"]
    if not bad:
        return Verdict("ok", head)
    sm = f"sm_{bad[0].replace('.', '')}"
    why = (f"no {sm}, only PTX of an older GPU (torch warns \"{sm} is not compatible\"; "
           "cuDNN/cuBLAS kernels without it fail)" if verdicts[bad[0]] == "ptx"
           else f"no {sm} (\"no kernel image is available\")")
    tags = images_for(bad[0])[:3]
    fix = (f"use a base image whose torch has {sm}: {', '.join(tags)} (--base-image)"
           if tags else f"no image in tc's table has {sm}: a torch built with "
                        f"TORCH_CUDA_ARCH_LIST including {bad[0]}")
    return Verdict("fail", f"{head}: {why}", fix)


#: /dev/shm a DataLoader needs at least, per worker (a batch of images in flight, prefetched
#: twice): below it the workers die of "bus error" (catalogue id shm-too-small).
SHM_PER_WORKER = 512 * 1024**2
#: Workers assumed when the project is not known (the templates' default num_workers).
DEFAULT_WORKERS = 4


def check_shm(shm_bytes: int | None, workers: int = DEFAULT_WORKERS) -> Verdict:
    """The host's /dev/shm: the platform runs train containers with ``--ipc host``, so the
    DataLoader workers share the host's /dev/shm (size from ``os.statvfs``)."""
    if shm_bytes is None:
        return Verdict("warn", "no /dev/shm on this host",
                       "DataLoader workers need shared memory; run on Linux with /dev/shm")
    need = workers * SHM_PER_WORKER
    gib = shm_bytes / 1024**3
    if shm_bytes >= need:
        return Verdict("ok", f"/dev/shm {gib:.1f} GiB (>= {need / 1024**3:.1f} GiB for "
                             f"{workers} DataLoader workers)")
    return Verdict("warn", f"/dev/shm {gib:.2f} GiB: under {need / 1024**3:.1f} GiB for "
                           f"{workers} DataLoader workers (containers share it: --ipc host)",
                   "enlarge it (sudo mount -o remount,size=8G /dev/shm) or lower num_workers "
                   "in train_config.json; else workers die with 'bus error'")
