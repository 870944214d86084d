"""``tc doctor`` core: check what ``tc dev-run`` needs on this machine, with a fix for each problem.

Checks: the Docker daemon (reachable, version), the NVIDIA container runtime and GPUs, free
disk space where Docker keeps its images, the base image, and FUSE (``/dev/fuse`` and s3fs,
used by the platform's dataset mount). Each check is a :class:`Check` of a
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

#: Free space below which building and running train images becomes a problem.
MIN_FREE_BYTES = 20 * 1000**3


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


def _nvidia_smi(runner: Callable[[list[str]], str | None]) -> list[str]:
    out = runner(["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader"])
    return [line.strip() for line in (out or "").splitlines() if line.strip()]


def check_driver(runner: Callable[[list[str]], str | None], image: str) -> Check:
    """The host's NVIDIA driver against the base image's CUDA (tcli/explain/preflight.py)."""
    from tcli.explain import preflight

    out = runner(["nvidia-smi", "--query-gpu=index,name,driver_version,compute_cap",
                  "--format=csv,noheader"])
    verdict = preflight.check_driver(preflight.parse_gpus(out or ""), image)
    return Check("driver", verdict.status, verdict.detail, verdict.fix)


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


def check_disk(path: Path, min_free: int = MIN_FREE_BYTES) -> Check:
    """Free space on the file system holding ``path`` (the nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_gb = usage.free / 1000**3
    detail = f"{free_gb:.1f} GB free on {probe} ({usage.free * 100 // max(usage.total, 1)}% free)"
    if usage.free < min_free:
        return Check(
            "disk", "warn", detail,
            f"free at least {min_free // 1000**3} GB: 'docker system prune' removes stopped "
            "containers, dangling images and the build cache",
        )
    return Check("disk", "ok", detail)


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
    min_free: int = MIN_FREE_BYTES,
) -> DoctorReport:
    """Run every check. ``client_factory`` returns a Docker client (default: from the env)."""
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

    gpus = _nvidia_smi(runner)
    if info is None:
        checks.append(Check("gpu", "warn", "unknown (no Docker daemon)", None))
    elif info.nvidia and gpus:
        checks.append(Check("gpu", "ok", f"NVIDIA runtime; GPUs: {'; '.join(gpus)}"))
    elif info.nvidia:
        checks.append(Check(
            "gpu", "warn", "NVIDIA runtime configured but nvidia-smi finds no GPU",
            "check the driver: nvidia-smi; tc dev-run --gpus auto runs on CPU meanwhile",
        ))
    else:
        detail = "no NVIDIA container runtime: tc dev-run runs on CPU"
        if gpus:
            detail += f" although GPUs exist ({'; '.join(gpus)})"
        checks.append(Check(
            "gpu", "warn", detail,
            "for GPUs: install nvidia-container-toolkit, then 'sudo nvidia-ctk runtime "
            "configure --runtime=docker' and restart Docker",
        ))

    checks.append(check_driver(runner, base_image or DEFAULT_BASE_IMAGE))
    checks.append(check_shm())

    root = Path(info.root_dir) if info and info.root_dir else Path("/var/lib/docker")
    try:
        checks.append(check_disk(root, min_free))
    except OSError as exc:
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
