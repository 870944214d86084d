"""tcli.engine: parsing the legacy builder's stream, the memlock fallback, archive round trip,
a dead daemon. Fakes stand in for the engine only where the engine's answer is the input."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tcli import engine as docker_ops
from tcli.errors import BuildFailed, DockerError


class FakeApi:
    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.chunks = chunks
        self.kwargs: dict[str, Any] = {}

    def build(self, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        return iter(self.chunks)


class FakeClient:
    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.api = FakeApi(chunks)


def stream(*texts: str) -> list[dict[str, Any]]:
    return [{"stream": t} for t in texts]


def test_build_parses_steps_cache_and_output(tmp_path: Path) -> None:
    chunks = [*stream(
        "Step 1/3 : FROM base\n", " ---> 1a2b3c\n",
        "Step 2/3 : RUN pip install -r requirements.txt\n", " ---> Using cache\n", " ---> 4d5e6f\n",
        "Step 3/3 : COPY *.py /workspace/\n", " ---> Running in 0123abcd\n",
        "\x1b[91mcopied 3 fi", "les\n\x1b[0m", "Removing intermediate container 0123abcd\n",
        " ---> 789abc\n", "Successfully built 789abc\n",
    ), {"aux": {"ID": "sha256:789abc"}}]
    client = FakeClient(chunks)
    events: list[tuple[str, str]] = []
    result = docker_ops.build_image(
        client, tmp_path, "tc-dev/x:latest", buildargs={"BASE_IMAGE": "b"}, network_mode="host",
        on_event=lambda e: events.append((e[0], e[2])),
    )
    assert result.image_id == "sha256:789abc"
    assert [(s.number, s.cached) for s in result.steps] == [(1, False), (2, True), (3, False)]
    assert result.steps[2].output == ["copied 3 files"]
    assert [e for e in events if e[0] != "step"] == [
        ("cached", " ---> Using cache"), ("output", "copied 3 files")
    ]
    assert client.api.kwargs["network_mode"] == "host"
    assert client.api.kwargs["buildargs"] == {"BASE_IMAGE": "b"}
    assert client.api.kwargs["rm"] and client.api.kwargs["forcerm"]


def test_build_failure_names_the_step(tmp_path: Path) -> None:
    chunks = [
        *stream("Step 1/2 : FROM base\n", "Step 2/2 : RUN false\n", "boom\n"),
        {"errorDetail": {"code": 1, "message": "The command '/bin/sh -c false' returned a "
                         "non-zero code: 1"}, "error": "ignored"},
    ]
    with pytest.raises(docker_ops.BuildStepFailed) as info:
        docker_ops.build_image(FakeClient(chunks), tmp_path, "t")
    assert isinstance(info.value, BuildFailed) and info.value.exit_code == 4
    assert info.value.message == (
        "docker build failed at step 2/2 (RUN false): The command '/bin/sh -c false' returned a "
        "non-zero code: 1"
    )
    assert info.value.step is not None and info.value.step.output == ["boom"]


def test_build_missing_base_names_the_flag(tmp_path: Path) -> None:
    chunks = [
        *stream("Step 1/2 : ARG BASE_IMAGE=x\n", "Step 2/2 : FROM ${BASE_IMAGE}\n"),
        {"error": "pull access denied for nope, repository does not exist"},
    ]
    with pytest.raises(DockerError, match="base image nope:1 is not available") as info:
        docker_ops.build_image(FakeClient(chunks), tmp_path, "t", buildargs={"BASE_IMAGE": "nope:1"})
    assert info.value.hint is not None and "--base-image" in info.value.hint
    assert "make base-image" in info.value.hint


class FakeContainer:
    def __init__(self, owner: FakeContainers, ulimits: list[Any]) -> None:
        self.owner = owner
        self.name = "c"
        self.ulimits = ulimits
        self.removed = False

    def start(self) -> None:
        if any(u["Name"] == "memlock" for u in self.ulimits):
            raise docker.errors.APIError(
                "500 Server Error", explanation="failed to create shim task: OCI runtime create "
                "failed: error setting rlimits for ready process: error setting rlimit type 8: "
                "operation not permitted: unknown",
            )

    def remove(self, force: bool = False) -> None:
        self.removed = True


class FakeContainers:
    def __init__(self) -> None:
        self.created: list[FakeContainer] = []

    def create(self, image: str, **kwargs: Any) -> FakeContainer:
        container = FakeContainer(self, list(kwargs["ulimits"] or []))
        self.created.append(container)
        return container


def test_memlock_refusal_falls_back_with_one_warning() -> None:
    client = type("C", (), {"containers": FakeContainers()})()
    warnings: list[str] = []
    spec = docker_ops.RunSpec(image="i", name="c", environment={}, volumes={})
    container, ulimits = docker_ops.create_and_start(client, spec, warn=warnings.append)
    assert [u[0] for u in ulimits] == ["stack"]
    first, second = client.containers.created
    assert first.removed and not second.removed and container is second
    assert len(warnings) == 1 and "memlock=-1" in warnings[0]


def test_put_and_read_file_round_trip() -> None:
    class ArchiveContainer:
        name = "c"
        def __init__(self) -> None:
            self.files: dict[str, bytes] = {}

        def put_archive(self, path: str, data: bytes) -> bool:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar.getmembers():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    self.files[f"{path}/{member.name}"] = extracted.read()
            return True

        def get_archive(self, path: str) -> tuple[list[bytes], dict[str, Any]]:
            if path not in self.files:
                raise docker.errors.NotFound("no such file")
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
                info.size = len(self.files[path])
                tar.addfile(info, io.BytesIO(self.files[path]))
            return [buf.getvalue()], {"size": info.size}

    container = ArchiveContainer()
    docker_ops.put_file(container, "/workspace/.env", b"DATASET_ID=2\n")
    assert docker_ops.read_file(container, "/workspace/.env") == b"DATASET_ID=2\n"
    assert docker_ops.read_file(container, "/workspace/none") is None
    assert docker_ops.file_size(container, "/workspace/.env") == 13


def test_connect_to_a_dead_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    with pytest.raises(DockerError) as info:
        docker_ops.connect(timeout=5)
    assert info.value.message == f"Docker daemon not reachable at unix://{tmp_path}/dead.sock"
    assert info.value.exit_code == 3
    assert info.value.hint is not None and "systemctl start docker" in info.value.hint


def test_gpu_requests() -> None:
    (every,) = docker_ops.gpu_requests("all")
    assert every["Count"] == -1 and every["Capabilities"] == [["gpu"]]
    (some,) = docker_ops.gpu_requests("0,1")
    assert some["DeviceIDs"] == ["0", "1"]


def test_started_at_reads_dockers_state() -> None:
    from types import SimpleNamespace

    from tcli.engine import started_at

    real = SimpleNamespace(attrs={"State": {"StartedAt": "2026-12-05T16:31:05.123456789Z"}})
    assert started_at(real) == pytest.approx(1796488265.123456789)
    never = SimpleNamespace(attrs={"State": {"StartedAt": "0001-01-01T00:00:00Z"}})
    assert started_at(never) is None and started_at(SimpleNamespace(attrs={})) is None
