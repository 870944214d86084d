"""Local stand-ins for the platform's base image, built without any image registry.

On the platform a train container builds ``FROM ${BASE_IMAGE}``: NVIDIA's PyTorch image. Where
that registry cannot be reached, tc builds a stand-in that fits the template:

- ``sklearn``: Debian bookworm + python3 + the scikit-learn template's packages (~0.6 GB);
- ``torch``: the same + torch/torchvision + the torchvision templates' packages (~6.5 GB).

A build has three steps, each cached:

1. **root file system** — ``scripts/build-rootfs.sh`` (debootstrap, no Docker) writes a
   tarball, imported as :data:`DEBIAN_IMAGE`;
2. **wheelhouse** — the *host's* pip, with whatever configuration it has (index URLs,
   find-links, constraint files, certificates), downloads wheels for the image's Python and
   platform into ``$TC_HOME/wheelhouse/<flavor>``; or the user names one with ``--wheelhouse``;
3. **install** — a container of step 1 with *no network* and *no pip configuration*
   (``PIP_CONFIG_FILE=/dev/null``) installs ``--no-index --find-links /wheelhouse``, checks
   the imports, copies the host's CA bundle in (``PIP_CERT``, so a template's own
   ``pip install`` works behind a TLS-intercepting proxy), and is committed under the final
   tag only when all of that succeeded. The temporary container is removed in every case
   (failure, Ctrl-C, full disk), so no half-built image ever carries the tag.

Progress goes to an ``on_status`` callback (one line each); errors are :mod:`tcli.errors`.
The host-side pip step lives in :mod:`tcli.wheelhouse`. This module is a little over 400 lines
because the flavors, the three build steps and the base-image choice of ``tc dev-run`` /
``tc build`` share one set of facts (tags, labels, fault lines); splitting them would spread
those facts over several modules.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcli.contract import LOCAL_BASE_IMAGE, TEMPLATES
from tcli.errors import BuildFailed, InputError, TcError
from tcli.paths import scaffolds_dir, tc_home
from tcli.wheelhouse import (
    IMAGE_PYTHON,
    NO_SPACE,
    NO_VERSION,
    NOT_FOUND,
    WHEELHOUSE_HINT,
    fetch_failure,
    fill_wheelhouse,
)

DEBIAN_IMAGE = "tc-local/debian-python:bookworm"
HOST_CA = Path(os.environ.get("TC_HOST_CA", "/etc/ssl/certs/ca-certificates.crt"))
IMAGE_CA = "/usr/local/share/tc/host-ca.crt"
LABEL_FLAVOR = "org.tc.stand-in"
LABEL_SPEC = "org.tc.stand-in.spec"
#: The label of images built before flavors existed (scripts/build-base-image.sh).
LABEL_LEGACY = "org.tc.base-image"
#: Labels of the temporary install container (what it builds), so leftovers can be found.
LABEL_JOB = "org.tc.job"
LABEL_JOB_TAG = "org.tc.job.tag"

#: Packages every template's runtime (setup.py, dataset stage, exporter) imports.
RUNTIME_PACKAGES = ("numpy==2.4.6", "pillow==13.0.0", "lxml==6.1.3", "jsonschema==4.26.0")
SKLEARN_PACKAGES = ("scikit-learn==1.9.1", "onnx==1.23.2", "onnxruntime==1.32.0",
                    "skl2onnx==1.20.0", "onnxmltools==1.16.0")
TORCH_PACKAGES = ("torch==2.14.1", "torchvision==0.29.1", "pycocotools==2.0.11")

@dataclass(frozen=True)
class Flavor:
    """One kind of stand-in: its tag, the templates it serves and its pinned packages."""

    name: str
    tag: str
    templates: tuple[str, ...]
    packages: tuple[str, ...]
    imports: tuple[str, ...]
    about: str

    def requirements(self) -> list[str]:
        """The flavor's pins plus every requirement of the templates it serves (sorted, unique)."""
        pins = {_name_of(p): p for p in self.packages}
        for template in self.templates:
            req = scaffolds_dir() / "variants" / template / "docker" / "requirements.txt"
            if req.is_file():
                for line in req.read_text(encoding="utf-8").splitlines():
                    line = line.split("#", 1)[0].strip()
                    if line:
                        pins.setdefault(_name_of(line), line)
        return sorted(pins.values(), key=str.lower)

    def spec_hash(self) -> str:
        """What decides the image's content: requirements, Python, root file system recipe."""
        text = "\n".join([*self.requirements(), IMAGE_PYTHON, DEBIAN_IMAGE])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


FLAVORS: dict[str, Flavor] = {
    "sklearn": Flavor(
        "sklearn", "tc-local/python-sklearn:bookworm",
        tuple(t.name for t in TEMPLATES if t.flavor == "sklearn"),
        (*RUNTIME_PACKAGES, *SKLEARN_PACKAGES), ("sklearn", "onnxruntime", "skl2onnx", "lxml"),
        "Debian + Python + scikit-learn/ONNX (the scikit-learn template)",
    ),
    "torch": Flavor(
        "torch", LOCAL_BASE_IMAGE, tuple(t.name for t in TEMPLATES if t.flavor == "torch"),
        (*RUNTIME_PACKAGES, *SKLEARN_PACKAGES, *TORCH_PACKAGES),
        ("torch", "torchvision", "torchmetrics", "pycocotools", "onnxruntime"),
        "Debian + Python + torch/torchvision (the torchvision templates)",
    ),
}


def _name_of(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def flavor_for_template(template: str) -> Flavor:
    """The stand-in a template (``sklearn``, ``classification`` …) builds on."""
    for flavor in FLAVORS.values():
        if template in flavor.templates:
            return flavor
    return FLAVORS["torch"]


def flavor_for_docker_dir(docker_dir: Path) -> Flavor:
    """The stand-in a template's ``docker/`` folder needs: torch when it uses torch, else sklearn."""
    text = ""
    for name in ("requirements.txt", "train.py"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text += (docker_dir / name).read_text(encoding="utf-8")[:200_000]
    if re.search(r"^\s*(import|from)\s+torch|^\s*torch", text, re.MULTILINE):
        return FLAVORS["torch"]
    if re.search(r"sklearn|scikit-learn", text):
        return FLAVORS["sklearn"]
    return FLAVORS["torch"]


def flavor_named(name: str) -> Flavor:
    """A flavor by name, or InputError listing the known ones."""
    if name not in FLAVORS:
        raise InputError(f"--flavor {name!r} is unknown; available: {', '.join(FLAVORS)}")
    return FLAVORS[name]


def stand_in_tags() -> set[str]:
    """Every tag tc builds itself (so a user's ``--base-image`` naming one is built on demand)."""
    return {f.tag for f in FLAVORS.values()}


# --------------------------------------------------------------------------- reachability


def registry_of(ref: str) -> str:
    """The registry host of an image reference (Docker Hub when none is named)."""
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return first
    return "registry-1.docker.io"


def registry_reachable(ref: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the image's registry (port 443) opens within ``timeout``."""
    host = registry_of(ref)
    name, _, port = host.partition(":")
    try:
        with socket.create_connection((name, int(port or 443)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------- build


def _rootfs_script() -> Path:
    for candidate in (Path(__file__).resolve().parent / "_data" / "scripts" / "build-rootfs.sh",
                      Path(__file__).resolve().parent.parent / "scripts" / "build-rootfs.sh"):
        if candidate.is_file():
            return candidate
    raise TcError("tc installation is incomplete: scripts/build-rootfs.sh not found")


def rootfs_tarball() -> Path:
    """Where ``scripts/build-rootfs.sh`` leaves the root file system (``make demo`` too)."""
    return tc_home() / "base-images" / "rootfs-bookworm.tar"


def start_rootfs(client: Any, on_status: Callable[[str], None] | None = None) -> subprocess.Popen[str] | None:
    """Start making the root file system in the background when the Debian image needs it."""
    from tcli import engine

    tarball = rootfs_tarball()
    if engine.image_exists(client, DEBIAN_IMAGE) or tarball.is_file():
        return None
    if on_status:
        on_status(f"building the Debian root file system ({tarball.name}, about a minute)")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["bash", str(_rootfs_script()), str(tarball)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def ensure_debian_image(
    client: Any,
    on_status: Callable[[str], None] | None = None,
    proc: subprocess.Popen[str] | None = None,
) -> None:
    """Import the Debian root file system as :data:`DEBIAN_IMAGE` unless it is there.

    ``proc``: a running :func:`start_rootfs` to wait for (else one is started here).
    """
    from tcli import engine

    if proc is None:
        if engine.image_exists(client, DEBIAN_IMAGE):
            return
        proc = start_rootfs(client, on_status)
    tarball = rootfs_tarball()
    if proc is not None:
        try:
            _out, err = proc.communicate()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
        if proc.returncode != 0:
            last = [ln for ln in (err or "").splitlines() if ln.strip()][-1:] or ["failed"]
            raise BuildFailed(
                f"cannot build the Debian root file system: {last[0].removeprefix('[build-rootfs] ')}",
                "debootstrap needs root and Debian's package mirror (TC_DEBIAN_MIRROR); "
                "'bash scripts/provision-docker.sh' installs it",
            )
    if engine.image_exists(client, DEBIAN_IMAGE):
        tarball.unlink(missing_ok=True)
        return
    if on_status:
        on_status(f"docker import -> {DEBIAN_IMAGE}")
    engine.import_rootfs(client, tarball, DEBIAN_IMAGE, [
        "ENV PIP_BREAK_SYSTEM_PACKAGES=1 PYTHONUNBUFFERED=1 "
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["/bin/bash"]',
    ])
    tarball.unlink(missing_ok=True)


@dataclass(frozen=True)
class StandIn:
    """A stand-in image as it is after :func:`ensure_stand_in`."""

    flavor: str
    tag: str
    built: bool
    seconds: float
    size: int


def _install_script(flavor: Flavor, copy_ca: bool) -> str:
    checks = "; ".join(f"import {m}" for m in flavor.imports)
    ca = f" && mkdir -p {os.path.dirname(IMAGE_CA)} && cp /tmp/host-ca.crt {IMAGE_CA}" if copy_ca else ""
    return (
        "set -e; n=$(ls /wheelhouse/*.whl | wc -l); echo \"installing $n wheels (no network)\"; "
        "python -m pip install -q --no-index --find-links /wheelhouse -r /wheelhouse/requirements.txt"
        f" && python -c '{checks}' && echo 'imports ok: {', '.join(flavor.imports)}'{ca}"
    )


def ensure_stand_in(
    client: Any,
    flavor: Flavor,
    *,
    force: bool = False,
    wheelhouse: Path | None = None,
    pip_env: dict[str, str] | None = None,
    tag: str | None = None,
    on_status: Callable[[str], None] | None = None,
) -> StandIn:
    """Make the flavor's stand-in exist (build it when absent, outdated or ``force``).

    ``wheelhouse``: a folder of wheels to install from instead of the host's pip (offline).
    ``pip_env``: the environment of the host's pip (tests give it their own configuration).

    Raises:
        BuildFailed: a package could not be fetched or installed, or the disk is full.
        DockerError: the engine refused an operation.
        KeyboardInterrupt: passed on after the temporary container is removed.
    """
    from tcli import engine

    ref = tag or flavor.tag
    say = on_status or (lambda _line: None)
    info = engine.image_info(client, ref)
    want = flavor.spec_hash()
    if wheelhouse is not None:
        check_wheelhouse(wheelhouse)
    if info is not None and not force:
        have = info.labels.get(LABEL_SPEC)
        if have in (want, None) or wheelhouse is not None:
            if wheelhouse is not None:
                say(f"{ref} exists, so --wheelhouse {wheelhouse} was not used; "
                    "pass --force to rebuild it from those wheels")
            return StandIn(flavor.name, ref, False, 0.0, info.size)
        say(f"{ref} was built from other package pins: rebuilding it")
    started = time.monotonic()
    requirements = flavor.requirements()
    tmp_house: Path | None = None
    rootfs = start_rootfs(client, say)  # debootstrap runs while the host's pip fetches wheels
    try:
        if wheelhouse is None:
            house = tc_home() / "wheelhouse" / flavor.name
            fill_wheelhouse(requirements, house, env=pip_env, on_status=say)
        else:
            house = tmp_house = _wheelhouse_copy(wheelhouse, requirements)
    except BaseException:
        if rootfs is not None:
            rootfs.terminate()
            rootfs.wait()
        raise
    try:
        ensure_debian_image(client, say, rootfs)
        binds = {str(house): "/wheelhouse"}
        copy_ca = HOST_CA.is_file()
        if copy_ca:
            binds[str(HOST_CA.resolve())] = "/tmp/host-ca.crt"
        name = f"tc-stand-in-{flavor.name}-{os.getpid()}"
        say(f"installing into {ref} in container {name} (no network, no pip configuration)")
        container, code, tail = engine.run_job(
            client, DEBIAN_IMAGE, ["bash", "-c", _install_script(flavor, copy_ca)], name=name,
            binds=binds, labels={LABEL_JOB: "stand-in-build", LABEL_JOB_TAG: ref},
            environment={"PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1",
                         "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore"},
            on_line=lambda line: say(f"  {line}") if line.strip() else None,
        )
        try:
            if code != 0:
                reason, hint = _install_failure(tail, code)
                raise BuildFailed(f"building {ref} failed: {reason}", hint)
            changes = [
                "ENV PIP_BREAK_SYSTEM_PACKAGES=1 PYTHONUNBUFFERED=1",
                f"LABEL {LABEL_FLAVOR}={flavor.name} {LABEL_SPEC}={want} {LABEL_LEGACY}=stand-in",
                'CMD ["/bin/bash"]',
            ]
            if copy_ca:
                changes.insert(1, f"ENV PIP_CERT={IMAGE_CA}")
            say(f"committing {ref}")
            engine.commit(container, ref, changes)
        finally:
            engine.remove(container)
    finally:
        if tmp_house is not None:
            shutil.rmtree(tmp_house, ignore_errors=True)
    built = engine.image_info(client, ref)
    seconds = time.monotonic() - started
    say(f"built {ref} in {seconds:.0f} s")
    return StandIn(flavor.name, ref, True, seconds, built.size if built else 0)


def _install_failure(tail: list[str], code: int) -> tuple[str, str]:
    """Why the install container failed, in one line, and what to do."""
    text = "\n".join(tail)
    if NOT_FOUND.search(text) or NO_VERSION.search(text):
        return fetch_failure(text), WHEELHOUSE_HINT
    if NO_SPACE.search(text):
        return "no space left on device", "free disk space where Docker stores images, then retry"
    return (tail[-1].strip() if tail else f"exit {code}"), "rerun with --force; 'tc doctor' checks the setup"


def check_wheelhouse(wheelhouse: Path) -> Path:
    """``--wheelhouse DIR`` resolved; InputError (exit 2, before any Docker work) unless it is a
    folder holding at least one regular ``.whl`` file."""
    house = wheelhouse.expanduser().resolve()
    if not house.is_dir():
        what = "not a folder" if house.exists() else "no such folder"
        raise InputError(f"--wheelhouse {wheelhouse}: {what}", "name a folder of .whl files")
    try:
        has_wheels = any(p.is_file() for p in house.glob("*.whl"))
    except OSError as exc:
        raise InputError(f"--wheelhouse {wheelhouse}: cannot read: {exc.strerror or exc}",
                         "name a folder of .whl files you can read") from None
    if not has_wheels:
        raise InputError(f"--wheelhouse {wheelhouse}: no .whl files in it",
                         "fill it with: pip download --only-binary=:all: -d DIR <packages>")
    return house


def _wheelhouse_copy(wheelhouse: Path, requirements: Sequence[str]) -> Path:
    """A temporary wheelhouse: the user's wheels (hard-linked when possible) + requirements.txt."""
    house = check_wheelhouse(wheelhouse)
    tmp = Path(tempfile.mkdtemp(prefix="tc-wheelhouse-"))
    for wheel in house.glob("*.whl"):
        if _same_fs(wheel, tmp):
            os.link(wheel, tmp / wheel.name)
        else:
            shutil.copy2(wheel, tmp / wheel.name)
    (tmp / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    return tmp


def _same_fs(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False


# --------------------------------------------------------------------------- choice for dev-run


@dataclass(frozen=True)
class BaseChoice:
    """Which base image a build uses, and whether it is passed as the BASE_IMAGE build arg."""

    image: str | None
    as_build_arg: bool
    note: str | None = None


def choose_base_image(
    client: Any,
    *,
    explicit: str | None,
    dockerfile_default: str | None,
    flavor: Flavor,
    template: str,
    on_status: Callable[[str], None] | None = None,
    reachable: Callable[[str], bool] = registry_reachable,
) -> BaseChoice:
    """The base image for a dev-run build.

    - ``explicit`` (``--base-image`` / ``TC_BASE_IMAGE``) wins; a stand-in tag is built when absent;
    - otherwise the Dockerfile's default (NVIDIA's image) when it is present locally, or when its
      registry answers (the build pulls it);
    - otherwise the stand-in the template needs (``flavor``), built when absent, said in one line.
    """
    from tcli import engine

    by_tag = {f.tag: f for f in FLAVORS.values()}
    if explicit:
        if explicit in by_tag and not engine.image_exists(client, explicit):
            ensure_stand_in(client, by_tag[explicit], on_status=on_status)
        else:
            engine.ensure_image(client, explicit, on_status=on_status)
        return BaseChoice(explicit, True)
    if not dockerfile_default:
        return BaseChoice(None, False)
    if engine.image_exists(client, dockerfile_default):
        return BaseChoice(dockerfile_default, False)
    if reachable(dockerfile_default):
        engine.ensure_image(client, dockerfile_default, on_status=on_status)
        return BaseChoice(dockerfile_default, False)
    note = (f"base image {dockerfile_default} is not reachable here ({registry_of(dockerfile_default)}): "
            f"using the local stand-in {flavor.tag} ({flavor.name}, for the {template} template)")
    if on_status:
        on_status(note)
    ensure_stand_in(client, flavor, on_status=on_status)
    return BaseChoice(flavor.tag, True, note)
