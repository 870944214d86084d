"""``tc doctor`` core: check what ``tc dev-run`` needs on this machine, with a fix for each problem.

Checks: the Docker daemon (reachable, version), the NVIDIA container runtime and GPUs, the
host driver against the base image's CUDA and each GPU's architecture against its torch
(:mod:`tcli.explain.preflight`), /dev/shm, free disk space where Docker keeps its images
against the base image's size, the base image, and FUSE (``/dev/fuse`` and s3fs, used by the
platform's dataset mount). Each check is a :class:`Check` of a
:class:`DoctorReport`, with a status ``ok``/``warn``/``fail``, a one-line detail and, unless
ok, a fix. No drawing here: :mod:`tcli.ui.doctor_view` shows the report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tcli.contract import DEFAULT_BASE_IMAGE, LOCAL_BASE_IMAGE
from tcli.errors import DockerError

#: Free space below which building and running train images becomes a problem (used when
#: the base image's size is not known).
MIN_FREE_BYTES = 20 * 1000**3
#: Room the train image's own layers, pip's wheels and the build cache need on top of a base
#: image that is already there.
BUILD_HEADROOM = 10 * 1000**3
#: Unpacked size assumed for a base image that is not there yet: NGC PyTorch images are about
#: 20 GB unpacked; the torch stand-in about 6.5 GB (tcli/baseimage.py).
ASSUMED_SIZE = 20 * 1000**3


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str  # ok, warn, fail
    detail: str
    fix: str | None = None


@dataclass
class DoctorReport:
    """Every check, in order."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "checks": [asdict(c) for c in self.checks]}, indent=2)


def query_gpus(runner: Callable[[list[str]], str | None]) -> list[Any]:
    """The host's GPUs (one ``nvidia-smi --query-gpu=name,compute_cap,driver_version,
    memory.total`` run; empty when nvidia-smi is missing or finds none)."""
    from tcli.explain import preflight

    return preflight.parse_gpus(runner(preflight.QUERY) or "")


def check_driver(runner: Callable[[list[str]], str | None], image: str,
                 gpus: list[Any] | None = None) -> Check:
    """The host's NVIDIA driver against the base image's CUDA (tcli/explain/preflight.py)."""
    from tcli.explain import preflight

    verdict = preflight.check_driver(query_gpus(runner) if gpus is None else gpus, image)
    return Check("driver", verdict.status, verdict.detail, verdict.fix)


def check_arch(runner: Callable[[list[str]], str | None], image: str,
               gpus: list[Any] | None = None, build: Any = None) -> Check:
    """Each GPU's compute capability against the image's torch arch list (preflight.py;
    ``build``: what :func:`probe_build` read from the image)."""
    from tcli.explain import preflight

    verdict = preflight.check_arch(query_gpus(runner) if gpus is None else gpus, image, build)
    return Check("arch", verdict.status, verdict.detail, verdict.fix)


def probe_build(client: Any, image: str) -> tuple[Any, str | None]:
    """Run the image's python once (no network, a throwaway container, tc-doctor-probe-*) to
    read its torch's arch list: (TorchBuild or None, why not)."""
    import uuid

    from tcli import engine
    from tcli.explain import preflight

    if not engine.image_exists(client, image):
        return None, f"{image} is not here to probe"
    container, code, tail = engine.run_job(
        client, image, preflight.PROBE, name=f"tc-doctor-probe-{uuid.uuid4().hex[:8]}",
        binds={}, environment={}, network_mode="none")
    engine.remove(container)
    build = preflight.build_from_probe(tail, image)
    if build is None:
        return None, f"probing {image} gave no torch arch list (exit {code}: " \
                     f"{(tail[-1] if tail else '')[:120]})"
    return build, None


def check_shm(path: Path = Path("/dev/shm")) -> Check:
    """The host's /dev/shm against DataLoader workers (tcli/explain/preflight.py)."""
    from tcli.explain import preflight

    try:
        st = os.statvfs(path)
        size: int | None = st.f_blocks * st.f_frsize
    except OSError:
        size = None
    verdict = preflight.check_shm(size)
    return Check("shm", verdict.status, verdict.detail, verdict.fix)


def run_quiet(argv: list[str]) -> str | None:
    """stdout of a command, or None when it is missing or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def check_disk(path: Path, min_free: int = MIN_FREE_BYTES, why: str = "") -> Check:
    """Free space on the file system holding ``path`` (the nearest existing parent) against
    ``min_free`` (``why`` says where that number comes from)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_gb = usage.free / 1000**3
    detail = f"{free_gb:.1f} GB free on {probe} ({usage.free * 100 // max(usage.total, 1)}% free)"
    need = f"{min_free / 1000**3:.0f} GB" + (f" ({why})" if why else "")
    if usage.free < min_free:
        return Check(
            "disk", "warn", f"{detail}: under {need}",
            f"free at least {min_free / 1000**3:.0f} GB: 'docker system prune' removes stopped "
            "containers, dangling images and the build cache",
        )
    return Check("disk", "ok", f"{detail} >= {need}")


def disk_need(client: Any, image: str) -> tuple[int, str]:
    """Bytes ``tc build``/``dev-run`` need free for ``image`` and why: the base image's size
    (the Docker SDK's Size, through tcli.engine) when it is there, else a pull of it."""
    from tcli import engine

    info = engine.image_info(client, image) if client is not None else None
    if info is not None and info.size:
        return BUILD_HEADROOM, (f"{image} is here ({info.size / 1000**3:.1f} GB); the train "
                                "image's layers and the build cache")
    size = ASSUMED_SIZE if image != LOCAL_BASE_IMAGE else int(6.5 * 1000**3)
    return int(1.5 * size) + BUILD_HEADROOM, (
        f"{image} is not here: about {size / 1000**3:.1f} GB unpacked plus its download, "
        "and the train image")


def check_gpu(info: Any, gpus: list[Any], which: Callable[[str], str | None] = shutil.which
              ) -> Check:
    """The NVIDIA container runtime (Docker's runtimes) and the GPUs nvidia-smi lists."""
    shown = "; ".join(f"{g.index}, {g.name}, {g.memory}" for g in gpus)
    if info is None:
        return Check("gpu", "warn", "unknown (no Docker daemon)", None)
    if info.nvidia and gpus:
        return Check("gpu", "ok", f"NVIDIA runtime; GPUs: {shown}")
    if info.nvidia:
        return Check("gpu", "warn", "NVIDIA runtime configured but nvidia-smi finds no GPU",
                     "check the driver: nvidia-smi; tc dev-run --gpus auto runs on CPU meanwhile")
    detail = "no NVIDIA container runtime in Docker: tc dev-run runs on CPU"
    if gpus:
        detail += f" although GPUs exist ({shown})"
    if which("nvidia-container-runtime") or which("nvidia-ctk"):
        return Check("gpu", "warn", detail + "; nvidia-container-toolkit is installed but Docker "
                                             "does not use it",
                     "'sudo nvidia-ctk runtime configure --runtime=docker' and restart Docker")
    return Check("gpu", "warn", detail,
                 "for GPUs: install nvidia-container-toolkit, then 'sudo nvidia-ctk runtime "
                 "configure --runtime=docker' and restart Docker")


def check_fuse(dev_fuse: Path = Path("/dev/fuse")) -> Check:
    """FUSE for the platform's s3fs mount (dev-run itself mounts a local folder instead)."""
    problems: list[str] = []
    if not dev_fuse.exists():
        problems.append(f"no {dev_fuse}")
    s3fs = shutil.which("s3fs")
    fusermount = shutil.which("fusermount3") or shutil.which("fusermount")
    if not fusermount:
        problems.append("no fusermount")
    if not problems:
        detail = f"{dev_fuse} present, {Path(fusermount or '').name}"
        detail += f", s3fs at {s3fs}" if s3fs else ", s3fs not installed (only the S3 tests need it)"
        return Check("fuse", "ok", detail)
    return Check(
        "fuse", "warn", "; ".join(problems) + " (tc dev-run does not need it; S3 mount tests do)",
        "sudo apt-get install -y fuse3 s3fs && sudo modprobe fuse",
    )


def diagnose(
    client_factory: Callable[[], Any] | None = None,
    *,
    base_image: str | None = None,
    runner: Callable[[list[str]], str | None] = run_quiet,
    min_free: int | None = None,
    probe: bool = False,
) -> DoctorReport:
    """Run every check. ``client_factory`` returns a Docker client (default: from the env);
    ``probe``: read the base image's torch arch list by running its python once."""
    from tcli import engine

    checks: list[Check] = []
    factory = client_factory or engine.connect
    client: Any = None
    info: engine.DaemonInfo | None = None
    try:
        client = factory()
        info = engine.daemon_info(client)
        checks.append(Check(
            "docker", "ok",
            f"daemon {info.server_version} (API {info.api_version}) at {engine.docker_host()}, "
            f"{info.cpus} CPUs, {info.memory_bytes / 1024**3:.1f} GiB",
        ))
    except DockerError as exc:
        hint = (exc.hint or engine.START_DOCKER_HINT).split("; 'tc doctor'")[0]
        checks.append(Check("docker", "fail", exc.message, hint))

    image = base_image or os.environ.get("TC_BASE_IMAGE") or DEFAULT_BASE_IMAGE
    gpus = query_gpus(runner)
    checks.append(check_gpu(info, gpus))
    checks.append(check_driver(runner, image, gpus))
    build, why_not = (probe_build(client, image) if probe and client is not None
                      else (None, None))
    arch = check_arch(runner, image, gpus, build)
    if why_not and arch.status == "ok":
        arch = Check("arch", "warn", f"{arch.detail}; {why_not}", arch.fix)
    checks.append(arch)
    checks.append(check_shm())

    root = Path(info.root_dir) if info and info.root_dir else Path("/var/lib/docker")
    try:
        need, why = (min_free, "") if min_free is not None else disk_need(client, image)
        checks.append(check_disk(root, need, why))
    except (OSError, DockerError) as exc:
        checks.append(Check("disk", "warn", f"cannot measure {root}: {exc}", None))

    if client is not None:
        checks.append(_check_base_image(client, base_image))
        checks.append(check_stand_ins(client))
    else:
        checks.append(Check("base image", "warn", "unknown (no Docker daemon)", None))
        checks.append(Check("stand-ins", "warn", "unknown (no Docker daemon)", None))

    checks.append(check_fuse())
    checks.append(check_command(os.environ.get("PATH")))
    return DoctorReport(checks)


def _check_base_image(client: Any, base_image: str | None) -> Check:
    from tcli import engine

    wanted = base_image or os.environ.get("TC_BASE_IMAGE") or DEFAULT_BASE_IMAGE
    if engine.image_exists(client, wanted):
        return Check("base image", "ok", f"{wanted} present")
    local = engine.image_exists(client, LOCAL_BASE_IMAGE)
    if local:
        return Check(
            "base image", "warn",
            f"{wanted} not present; the local stand-in {LOCAL_BASE_IMAGE} is",
            f"pass --base-image {LOCAL_BASE_IMAGE} (or export TC_BASE_IMAGE={LOCAL_BASE_IMAGE}), "
            f"or 'docker pull {wanted}' where the registry is reachable",
        )
    return Check(
        "base image", "warn", f"{wanted} not present (tc dev-run pulls it; registries may be blocked)",
        f"'make base-image' builds the stand-in {LOCAL_BASE_IMAGE} without a registry; "
        f"or 'docker pull {wanted}'",
    )


def check_stand_ins(client: Any) -> Check:
    """Which local stand-ins of the base image exist, and how to build the missing ones."""
    from tcli import baseimage, engine

    parts: list[str] = []
    missing: list[str] = []
    for flavor in baseimage.FLAVORS.values():
        info = engine.image_info(client, flavor.tag)
        if info is None:
            parts.append(f"{flavor.name} {flavor.tag} missing")
            missing.append(flavor.name)
        else:
            current = info.labels.get(baseimage.LABEL_SPEC) in (None, flavor.spec_hash())
            stale = "" if current else ", outdated"
            parts.append(f"{flavor.name} {flavor.tag} ({info.size / 1e9:.1f} GB{stale})")
            if stale:
                missing.append(flavor.name)
    if not missing:
        return Check("stand-ins", "ok", "; ".join(parts))
    fixes = "; ".join(f"'tc base-image --flavor {name}'" for name in missing)
    return Check(
        "stand-ins", "warn", "; ".join(parts),
        f"{fixes} builds it without a registry (tc dev-run also builds the one a template needs)",
    )


def check_command(path_env: str | None) -> Check:
    """Whether ``tc`` on PATH is this program (iproute2 installs a ``tc`` of its own in sbin)."""
    from tcli.safety.clash import ALIASES, detect_tc_clash

    clash = detect_tc_clash(path_env)
    if clash is None:
        return Check("command", "ok", "'tc' on PATH is tc (also: traincontainer, python -m tcli)")
    return Check("command", "warn", clash.split(": use ")[0], ALIASES)
