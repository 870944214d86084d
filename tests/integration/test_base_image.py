"""The stand-in base image build: independent of the host's pip configuration, offline inside.

Each test makes its own pip configuration (a file named by PIP_CONFIG_FILE, every other PIP_*
variable removed), builds a small flavor of the stand-in with it through the real engine, and
checks what the image holds: the package resolved the way that configuration says, and no pip
configuration or host path inside.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tcli import baseimage, engine
from tcli.errors import BuildFailed
from tests.waits import LineReader

pytestmark = pytest.mark.integration


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel ``name`` whose module says its version."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n',
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tc-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for member, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{member},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in files.items():
            zf.writestr(member, text)
    return path


def pip_env(config: Path | None, **extra: str) -> dict[str, str]:
    """The environment with no PIP_* variable but PIP_CONFIG_FILE (``None``: no configuration)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = str(config) if config else os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def flavor(tag: str, packages: tuple[str, ...], imports: tuple[str, ...]) -> baseimage.Flavor:
    return baseimage.Flavor(f"test-{os.getpid()}", tag, (), packages, imports, "test flavor")


def in_image(client: Any, tag: str, script: str) -> str:
    out = client.containers.run(tag, ["bash", "-c", script], remove=True, network_mode="none")
    return str(out.decode().strip())


@pytest.fixture(scope="module")
def debian(docker_client: Any) -> str:
    """The Debian image of the stand-ins (built here when absent: about a minute)."""
    baseimage.ensure_debian_image(docker_client)
    return baseimage.DEBIAN_IMAGE


@pytest.fixture()
def tag(docker_client: Any, request: pytest.FixtureRequest) -> Any:
    name = f"tc-test/stand-in-{request.node.name.split('[')[-1].strip(']')}:{os.getpid()}".lower()
    yield name
    if engine.image_exists(docker_client, name):
        docker_client.images.remove(name, force=True)


def _config(tmp_path: Path, case: str) -> tuple[Path | None, tuple[str, ...], str]:
    """(pip configuration file, requirements, the version the image must hold)."""
    if case == "none":
        return None, ("six==1.16.0",), "1.16.0"
    if case == "constraint-and-find-links":
        wheels = tmp_path / "wheels"
        make_wheel(wheels, "tcfixture", "1.0")
        make_wheel(wheels, "tcfixture", "2.0")
        constraints = tmp_path / "constraints.txt"
        constraints.write_text("tcfixture==1.0\n")
        conf = tmp_path / "pip.conf"
        conf.write_text(f"[global]\nno-index = true\nfind-links = {wheels}\nconstraint = {constraints}\n")
        return conf, ("tcfixture",), "1.0"
    assert case == "extra-index-url"
    simple = tmp_path / "simple"
    wheel = make_wheel(simple / "tcfixture", "tcfixture", "2.0")
    (simple / "tcfixture" / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>\n')
    empty = tmp_path / "empty"
    empty.mkdir()
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = file://{empty}\nextra-index-url = file://{simple}\n")
    return conf, ("tcfixture",), "2.0"


@pytest.mark.parametrize("case", ["none", "constraint-and-find-links", "extra-index-url"])
def test_build_succeeds_with_each_pip_configuration(
    case: str, tmp_path: Path, docker_client: Any, debian: str, tag: str
) -> None:
    conf, packages, version = _config(tmp_path, case)
    module = "six" if case == "none" else "tcfixture"
    lines: list[str] = []
    result = baseimage.ensure_stand_in(
        docker_client, flavor(tag, packages, (module,)), pip_env=pip_env(conf), on_status=lines.append,
    )
    assert result.built and engine.image_exists(docker_client, tag)
    attr = "__version__" if module == "six" else "VERSION"
    assert in_image(docker_client, tag, f"python -c 'import {module}; print({module}.{attr})'") == version
    # nothing of the host's pip configuration went into the image
    leftovers = in_image(
        docker_client, tag,
        f"ls -d /etc/pip.conf /etc/xdg/pip /root/.config/pip /root/.pip {tmp_path} /wheelhouse/* "
        "2>/dev/null; env | grep -E '^PIP_(CONFIG_FILE|FIND_LINKS|INDEX_URL|CONSTRAINT)' || true",
    )
    assert leftovers == ""
    labels = engine.image_info(docker_client, tag)
    assert labels is not None and labels.labels[baseimage.LABEL_SPEC] == flavor(tag, packages, ()).spec_hash()
    assert any("no network, no pip configuration" in line for line in lines)


def test_missing_package_is_one_clear_line(tmp_path: Path, docker_client: Any, debian: str, tag: str) -> None:
    (tmp_path / "wheels").mkdir()
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nno-index = true\nfind-links = {tmp_path / 'wheels'}\n")
    with pytest.raises(BuildFailed) as info:
        baseimage.ensure_stand_in(
            docker_client, flavor(tag, ("tc-no-such-package==9.9",), ()), pip_env=pip_env(conf)
        )
    assert info.value.message == "could not fetch tc-no-such-package==9.9: no matching distribution"
    assert info.value.hint == "the build needs the package registry or a wheelhouse: --wheelhouse DIR"
    assert not engine.image_exists(docker_client, tag)


def test_unreachable_registry_is_one_clear_line(
    tmp_path: Path, docker_client: Any, debian: str, tag: str
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = http://127.0.0.1:{port}/simple\n")
    with pytest.raises(BuildFailed) as info:
        baseimage.ensure_stand_in(
            docker_client, flavor(tag, ("six==1.16.0",), ()),
            pip_env=pip_env(conf, PIP_RETRIES="1", PIP_TIMEOUT="2"),
        )
    assert info.value.message.startswith(
        "could not fetch six==1.16.0: the package registry is unreachable ("
    ), info.value.message
    assert "--wheelhouse DIR" in (info.value.hint or "")
    assert not engine.image_exists(docker_client, tag)


def _tc(args: list[str], **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "tcli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_wheelhouse_missing_a_package_fails_in_the_image(
    tmp_path: Path, docker_client: Any, debian: str, tag: str
) -> None:
    """--wheelhouse: the container installs offline; a wheel it lacks is named, no tag left."""
    make_wheel(tmp_path / "house", "tcfixture", "1.0")
    proc = _tc(["base-image", "--flavor", "sklearn", "--tag", tag, "--wheelhouse", str(tmp_path / "house")])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 4, out + err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "could not fetch " in errors[0] and "no matching distribution" in errors[0]
    assert "hint: the build needs the package registry or a wheelhouse: --wheelhouse DIR" in err
    assert "Traceback" not in err
    assert not engine.image_exists(docker_client, tag)
    assert not docker_client.containers.list(all=True, filters={"label": f"org.tc.job.tag={tag}"})


def test_ctrl_c_leaves_no_tag_and_no_container(
    tmp_path: Path, docker_client: Any, debian: str, tag: str
) -> None:
    """SIGINT while the image installs: exit on the interrupt, the final tag never appears, the
    container removed.

    The import check prints a marker and then blocks (10 minutes), so the build cannot end on
    its own; the SIGINT is sent only once the marker came through tc's output, i.e. while the
    container runs (no fixed delay)."""
    house = tmp_path / "house"
    make_wheel(house, "tcfixture", "1.0")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nno-index = true\nfind-links = {house}\n")
    marker = "tc-test: inside the import check"
    slow = flavor(tag, ("tcfixture",),
                  (f'tcfixture; print("{marker}", flush=True); import time; time.sleep(600)',))
    script = (
        "import sys; from tcli import baseimage, engine; "
        f"baseimage.ensure_stand_in(engine.connect(), {slow!r}, on_status=print)"
    )
    env = {**pip_env(conf), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script.replace("Flavor(", "baseimage.Flavor(")],
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = LineReader(proc)
    try:
        out.wait_for(lambda line: marker in line and "print(" not in line)
        proc.send_signal(signal.SIGINT)
        out.finish()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, out.text()
    assert "KeyboardInterrupt" in out.text(), out.text()
    assert not engine.image_exists(docker_client, tag)
    assert not docker_client.containers.list(all=True, filters={"label": f"org.tc.job.tag={tag}"})


def test_dev_run_picks_the_sklearn_stand_in(tmp_path: Path, docker_client: Any, debian: str) -> None:
    """No BASE_IMAGE given and NVIDIA's image unreachable: the scikit-learn stand-in, said in one line."""
    project = tmp_path / "sk"
    env = {k: v for k, v in os.environ.items() if k != "TC_BASE_IMAGE"}
    env.update(NO_COLOR="1", COLUMNS="200", TC_NETWORK="host")
    subprocess.run([sys.executable, "-m", "tcli", "new", str(project), "--template", "sklearn",
                    "--defaults", "--no-git"], env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "tcli", "dev-run", str(project), "--demo"],
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    note = [ln for ln in (done.stdout + done.stderr).splitlines() if "using the local stand-in" in ln]
    assert note == [
        "base image nvcr.io/nvidia/pytorch:25.01-py3 is not reachable here (nvcr.io): using the local "
        "stand-in tc-local/python-sklearn:bookworm (sklearn, for the "
        "ScikitLearn/Classification/LogisticRegression template)"
    ], done.stderr
