"""GPU preflight for ``tc doctor``: will the host's NVIDIA driver run the base image's CUDA?

Pure functions over recorded ``nvidia-smi --query-gpu=index,name,driver_version,compute_cap
--format=csv,noheader`` output (tests use fixtures; no GPU needed). The table below is NVIDIA's
published support matrix for the NGC PyTorch container (the "Driver Requirements" of each
release's notes, docs.nvidia.com/deeplearning/frameworks/support-matrix): the CUDA each release
was built with and the driver it requires.

Forward compatibility: NGC images carry CUDA's forward-compatibility package, which lets
*data-center* GPUs (A100, H100, L40S, T4, …) run a newer CUDA 12.x image on an older
long-term driver branch (R470 from 470.57, R525 from 525.85, R535 from 535.86, R545 from
545.23). GeForce/RTX workstation cards do not get it: there the driver must be at least the
image's. Below CUDA 12's minimum (525.60.13) no 12.x image runs at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: NGC PyTorch release tag -> (CUDA version, minimum driver)
NGC_PYTORCH: dict[str, tuple[str, str]] = {
    "23.07": ("12.1.1", "530.30.02"),
    "23.08": ("12.2.1", "535.86.10"),
    "23.09": ("12.2.1", "535.86.10"),
    "23.10": ("12.2.2", "535.104.05"),
    "23.11": ("12.3.0", "545.23.06"),
    "23.12": ("12.3.2", "545.23.08"),
    "24.01": ("12.3.2", "545.23.08"),
    "24.02": ("12.3.2", "545.23.08"),
    "24.03": ("12.4.0", "550.54.14"),
    "24.04": ("12.4.1", "550.54.15"),
    "24.05": ("12.4.1", "550.54.15"),
    "24.06": ("12.5.0", "555.42.02"),
    "24.07": ("12.5.1", "555.42.06"),
    "24.08": ("12.6.0", "560.35.03"),
    "24.09": ("12.6.1", "560.35.03"),
    "24.10": ("12.6.2", "560.35.03"),
    "24.11": ("12.6.3", "560.35.05"),
    "24.12": ("12.6.3", "560.35.05"),
    "25.01": ("12.8.0", "570.86"),
    "25.02": ("12.8.0", "570.86"),
    "25.03": ("12.8.1", "570.124.06"),
}
#: Long-term driver branches with forward compatibility on data-center GPUs (branch, minimum).
FORWARD_COMPAT: tuple[tuple[int, str], ...] = (
    (470, "470.57"), (525, "525.85"), (535, "535.86"), (545, "545.23"))
#: The oldest driver any CUDA 12.x image runs on (CUDA minor version compatibility).
CUDA12_MIN_DRIVER = "525.60.13"
#: Names of GPUs that get forward compatibility (data-center products).
DATA_CENTER = re.compile(r"\b(A\d{1,3}|H\d{2,3}|B\d{3}|GB\d{3}|GH\d{3}|L\d{1,2}S?|T4|V100|P100|"
                         r"Tesla|DGX)\b")
NGC_IMAGE = re.compile(r"(?:^|/)nvidia/pytorch:(\d{2}\.\d{2})-py3\Z")


@dataclass(frozen=True)
class Gpu:
    index: str
    name: str
    driver: str
    compute_cap: str


@dataclass(frozen=True)
class Verdict:
    """One doctor line: status ok/warn/fail, detail, fix."""

    status: str
    detail: str
    fix: str | None = None


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def parse_gpus(csv: str) -> list[Gpu]:
    """GPUs from ``--query-gpu=index,name,driver_version,compute_cap --format=csv,noheader``."""
    gpus = []
    for line in csv.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4 and parts[0].isdigit():
            gpus.append(Gpu(parts[0], parts[1], parts[2], parts[3]))
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
    """The host driver against the image's CUDA (the NGC matrix), for the first GPU."""
    if not gpus:
        return Verdict("ok", "no NVIDIA GPU found (nvidia-smi missing or no GPU): CPU only, "
                             "nothing to check")
    gpu = gpus[0]
    release = image_release(image)
    if release is None or release not in NGC_PYTORCH:
        return Verdict("ok", f"driver {gpu.driver} ({gpu.name}); {image} is not in tc's NGC "
                             "table: not checked")
    cuda, need = NGC_PYTORCH[release]
    data_center = bool(DATA_CENTER.search(gpu.name))
    head = f"driver {gpu.driver} ({gpu.name}), {image} needs CUDA {cuda}: driver >= {need}"
    if version_key(gpu.driver) >= version_key(need):
        return Verdict("ok", head)
    if data_center and _forward_compatible(gpu.driver):
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
