"""tcli.devrun pure parts: names, custom.json, .env rewriting, GPUs, the log watcher, mock MinIO."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tcli import devrun, units
from tcli.errors import DockerError, InputError
from tcli.parsers import envfile
from tcli.project import Project


def make_project(root: Path, custom: dict[str, object] | None = None) -> Project:
    tpl = root / "templates" / "Prov" / "Classification" / "Arch"
    (tpl / "config").mkdir(parents=True)
    (tpl / "docker").mkdir(parents=True)
    (tpl / "config" / "custom.json").write_text(json.dumps(custom or {
        "model_filepath": "/train/model.onnx", "score_name": "Acc.",
        "score_regexp": "[ ]+Accuracy[ ]+(\\d*[.]\\d*)\\n",
    }))
    (tpl / "docker" / "Dockerfile").write_text(
        "# comment\nARG BASE_IMAGE=nvcr.io/nvidia/pytorch:25.01-py3\nFROM ${BASE_IMAGE}\n"
    )
    return Project.load(root)


def test_names_are_docker_safe(tmp_path: Path) -> None:
    project = make_project(tmp_path / "My Project")
    ref = project.select(None)
    assert devrun.image_tag(project, ref) == "tc-dev/my-project-prov-classification-arch:latest"
    assert devrun.container_name(project, ref) == "tc-my-project-prov-classification-arch"
    assert devrun.slug("..") == "tc"


def test_load_custom(tmp_path: Path) -> None:
    ref = make_project(tmp_path).select(None)
    custom = devrun.load_custom(ref)
    assert custom.model_filepath == "/train/model.onnx"
    assert custom.score_regexp.search("Test metric  Accuracy  0.9583\n").group(1) == "0.9583"


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({"model_filepath": "/train/m.pt", "score_name": "A"}, "field 'score_regexp' must be"),
        ({"model_filepath": "/train/m.pt", "score_name": "A", "score_regexp": "("},
         "field 'score_regexp' is not a valid regular expression"),
        ({"model_filepath": "/train/m.pt", "score_name": "A", "score_regexp": "Acc \\d+"},
         "field 'score_regexp' has no capture group"),
    ],
)
def test_load_custom_errors_name_the_field(
    tmp_path: Path, custom: dict[str, object], message: str
) -> None:
    ref = make_project(tmp_path, custom).select(None)
    with pytest.raises(InputError, match=re.escape(message)) as info:
        devrun.load_custom(ref)
    assert "custom.json" in info.value.message


def test_dockerfile_base_image(tmp_path: Path) -> None:
    ref = make_project(tmp_path).select(None)
    assert devrun.dockerfile_base_image(ref.docker_dir / "Dockerfile") == (
        "nvcr.io/nvidia/pytorch:25.01-py3"
    )
    plain = tmp_path / "Dockerfile.plain"
    plain.write_text("FROM debian:bookworm AS base\n")
    assert devrun.dockerfile_base_image(plain) == "debian:bookworm"


def test_env_with_dataset_id_replaces_every_assignment() -> None:
    text = "A=1\nDATASET_ID=1\nexport DATASET_ID=7\nB=two\n\n"
    assert envfile.with_dataset_id(text, 3) == "A=1\nB=two\nDATASET_ID=3\n"
    assert envfile.with_dataset_id("", 2) == "DATASET_ID=2\n"
    assert envfile.sets_dataset_id(text)
    assert not envfile.sets_dataset_id("# DATASET_ID=1\nMY_DATASET_ID=2\n")


def test_round_score_like_the_platform() -> None:
    assert devrun.round_score("0.91666") == 0.917
    assert devrun.round_score("1") == 1.0
    assert devrun.round_score("abc") is None
    assert devrun.round_score("nan") is None


def test_plan_gpus() -> None:
    auto_cpu = devrun.plan_gpus("auto", nvidia_runtime=False)
    assert (auto_cpu.label, auto_cpu.visible_devices, auto_cpu.uses_gpu) == ("none", "void", False)
    assert auto_cpu.warning is not None and "running on CPU" in auto_cpu.warning
    auto_gpu = devrun.plan_gpus("auto", nvidia_runtime=True)
    assert (auto_gpu.label, auto_gpu.device_ids, auto_gpu.warning) == ("all", None, None)
    ids = devrun.plan_gpus("0,1", nvidia_runtime=True)
    assert (ids.device_ids, ids.visible_devices) == ("0,1", "0,1")
    assert devrun.plan_gpus("none", nvidia_runtime=True).uses_gpu is False
    with pytest.raises(DockerError, match="no NVIDIA container runtime"):
        devrun.plan_gpus("all", nvidia_runtime=False)
    with pytest.raises(InputError, match="--gpus 'two' is not valid"):
        devrun.plan_gpus("two", nvidia_runtime=True)


def test_log_watcher_score_and_phases() -> None:
    watcher = devrun.LogWatcher(re.compile("[ ]+Accuracy[ ]+(\\d*[.]\\d*)\\n"))
    assert watcher.feed("[setup] dataset 1: 30 samples", 1.0) is None
    assert watcher.feed("[train] python train.py --epochs 1", 2.0) is None
    assert watcher.train_started == 2.0
    assert watcher.feed("epoch 1 loss 0.3", 3.0) is None
    assert watcher.feed("Test metric  Accuracy  0.9583", 4.0) == "0.9583"
    assert watcher.feed("Test metric  Accuracy  0.1", 5.0) is None  # first match wins
    assert watcher.final_score() == "0.9583"
    assert watcher.last_lines(2) == ["Test metric  Accuracy  0.9583", "Test metric  Accuracy  0.1"]


def test_log_watcher_without_score() -> None:
    watcher = devrun.LogWatcher(re.compile(r"F1 (\d+\.\d+)"))
    watcher.feed("nothing here", 0.0)
    assert watcher.final_score() is None and watcher.train_started is None


def write_cvat(folder: Path, names: list[str], nested: bool = True) -> None:
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"\x89PNG fake " + name.encode())
    xml = "<annotations><version>1.1</version></annotations>"
    if nested:
        (folder / "annotations").mkdir()
        (folder / "annotations" / "annotations.xml").write_text(xml)
    else:
        (folder / "annotations.xml").write_text(xml)


def test_link_dataset_hard_links_never_copies(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    source = tmp_path / "data"
    write_cvat(source, ["a.png", "b.png", ".hidden"], nested=False)
    layout = devrun.link_dataset(project, source, 4)
    assert layout.mode == "hardlink" and layout.samples == 2 and layout.volumes == {}
    target = project.tc_dir / "minio" / "datasets" / "4"
    assert sorted(p.name for p in target.iterdir()) == [".tc-made.json", "a.png", "annotations",
                                                        "b.png"]
    assert os.stat(target / "a.png").st_ino == os.stat(source / "a.png").st_ino
    assert (target / "annotations" / "annotations.xml").is_file()
    # a second layout replaces the first and leaves the sources alone
    (source / "b.png").unlink()
    devrun.link_dataset(project, source, 4)
    assert sorted(p.name for p in target.iterdir()) == [".tc-made.json", "a.png", "annotations"]
    assert (source / "a.png").is_file()


def test_link_dataset_symlinks_into_a_readonly_mount(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    source = tmp_path / "data"
    write_cvat(source, ["a.png"])
    layout = devrun.link_dataset(project, source, 2, mode="symlink")
    assert layout.volumes == {str(source): {"bind": "/tc-sources/2", "mode": "ro"}}
    link = project.tc_dir / "minio" / "datasets" / "2" / "a.png"
    assert os.readlink(link) == "/tc-sources/2/a.png"


def test_link_dataset_input_errors(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    with pytest.raises(InputError, match="no such folder"):
        devrun.link_dataset(project, tmp_path / "missing", 1)
    (tmp_path / "bare").mkdir()
    with pytest.raises(InputError, match=r"no annotations/annotations\.xml"):
        devrun.link_dataset(project, tmp_path / "bare", 1)
    with pytest.raises(InputError, match="no dataset 1 in"):
        devrun.existing_dataset(project, 1)


def test_demo_dataset_and_task(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    ref = project.select(None)
    assert devrun.template_task(project, ref) == "classification"
    layout = devrun.demo_dataset(project, "classification", 3, images=5)
    assert layout.samples == 5 and layout.path == project.tc_dir / "minio" / "datasets" / "3"
    assert devrun.existing_dataset(project, 3).samples == 5


def test_options_conflicts() -> None:
    with pytest.raises(InputError, match="--demo and --dataset exclude each other"):
        devrun.check_options(devrun.DevRunOptions(demo=True, dataset=Path("x")))
    with pytest.raises(InputError, match="--no-cache cannot be used with --rerun"):
        devrun.check_options(devrun.DevRunOptions(rerun=True, no_cache=True))


def test_human_bytes() -> None:
    assert units.human_bytes(532) == "532 B"
    assert units.human_bytes(78_600) == "78.6 kB"
    assert units.human_bytes(1_300_000) == "1.3 MB"
