"""tc validate: a requirements.txt that would make pip replace the base image's CUDA torch is
an error naming the line and the fix; the same line over a non-PyTorch base is fine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcli import validate
from tcli.parsers.requirements import base_torch_requirements
from tests.validate_helpers import fresh, tdir


@pytest.fixture()
def proj(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return fresh("classification", tmp_path_factory.getbasetemp(), tmp_path / "proj")


def test_parser_finds_torch_stack_names() -> None:
    text = ("lxml==6.1.3\nTorch==2.5.1  # cpu\ntorch_vision>=0.20\n# torchaudio\n"
            "nvidia-cudnn-cu12==9.1.0.70\n--extra-index-url https://x\ntorchmetrics==1.9.0\n")
    assert base_torch_requirements(text) == [
        (2, "torch", "Torch==2.5.1"), (5, "nvidia-cudnn-cu12", "nvidia-cudnn-cu12==9.1.0.70")]
    assert base_torch_requirements("torchvision==0.20.1\ntriton\n") == [
        (1, "torchvision", "torchvision==0.20.1"), (2, "triton", "triton")]


def test_torch_in_requirements_over_pytorch_base_is_an_error(proj: Path) -> None:
    req = tdir(proj) / "docker" / "requirements.txt"
    req.write_text(req.read_text() + "torch==2.5.1\n")
    findings = [f for f in validate.validate_project(proj).findings
                if f.code == "requirements.replaces-base-torch"]
    assert len(findings) == 1
    f = findings[0]
    assert f.severity == "error" and f.line == len(req.read_text().splitlines())
    assert "'torch==2.5.1': the base image" in f.message and "pip would replace it" in f.message
    assert f.fix.startswith("drop torch from requirements.txt")


def test_torch_over_a_non_pytorch_base_is_fine(proj: Path) -> None:
    dockerfile = tdir(proj) / "docker" / "Dockerfile"
    text = dockerfile.read_text()
    assert "ARG BASE_IMAGE=nvcr.io/nvidia/pytorch:" in text
    dockerfile.write_text(text.replace("ARG BASE_IMAGE=nvcr.io/nvidia/pytorch:25.01-py3",
                                       "ARG BASE_IMAGE=python:3.11-slim"))
    req = tdir(proj) / "docker" / "requirements.txt"
    req.write_text(req.read_text() + "torch==2.5.1\n")
    codes = [f.code for f in validate.validate_project(proj).findings]
    assert "requirements.replaces-base-torch" not in codes
