"""tc doctor's GPU preflight on recorded nvidia-smi outputs (tests/fixtures/nvidia-smi/*.csv,
the format of `nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total
--format=csv,noheader`): the driver against the image's CUDA, each GPU's architecture against
the image's torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcli.contract import LOCAL_BASE_IMAGE
from tcli.doctor import check_arch as doctor_arch
from tcli.doctor import check_driver as doctor_check
from tcli.doctor import check_gpu
from tcli.engine import DaemonInfo
from tcli.explain import preflight

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "nvidia-smi"
NEW = "nvcr.io/nvidia/pytorch:25.01-py3"
OLD = "nvcr.io/nvidia/pytorch:24.12-py3"


def gpus(name: str) -> list[preflight.Gpu]:
    return preflight.parse_gpus((FIX / name).read_text())


def test_parse_reads_every_gpu_and_skips_error_lines() -> None:
    two = gpus("h100-535.csv")
    assert [(g.index, g.name, g.compute_cap, g.driver, g.memory) for g in two] == [
        ("0", "NVIDIA H100 80GB HBM3", "9.0", "535.161.08", "81559 MiB"),
        ("1", "NVIDIA H100 80GB HBM3", "9.0", "535.161.08", "81559 MiB")]
    failed = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
              "Make sure that the latest NVIDIA driver is installed and running.\n")
    assert preflight.parse_gpus(failed) == []


def test_old_driver_new_image_fails_with_tags_that_work() -> None:
    v = preflight.check_driver(gpus("rtx3090-535.csv"), NEW)
    assert v.status == "fail"
    assert v.detail == ("driver 535.183.01 (NVIDIA GeForce RTX 3090), "
                        "nvcr.io/nvidia/pytorch:25.01-py3 needs CUDA 12.8.0: driver >= 570.26: "
                        "too old")
    assert v.fix == ("update the NVIDIA driver to >= 570.26, or use a base image this driver "
                     "runs: nvcr.io/nvidia/pytorch:23.10-py3, nvcr.io/nvidia/pytorch:23.09-py3, "
                     "nvcr.io/nvidia/pytorch:23.08-py3 (--base-image)")


def test_data_center_gpu_on_a_long_term_branch_is_forward_compatible() -> None:
    v = preflight.check_driver(gpus("h100-535.csv"), NEW)
    assert v.status == "warn" and "forward compatibility" in v.detail


def test_new_enough_driver_passes() -> None:
    v = preflight.check_driver(gpus("a100-570.csv"), NEW)
    assert v.status == "ok" and v.detail.endswith("needs CUDA 12.8.0: driver >= 570.26")


def test_driver_below_cuda_12_minimum() -> None:
    v = preflight.check_driver(gpus("t4-510.csv"), NEW)
    assert v.status == "fail" and v.fix is not None
    assert "no CUDA 12 image runs below 525.60.13" in v.fix


def test_stand_in_needs_cuda_13_driver_and_has_no_forward_compatibility() -> None:
    # the stand-in's pip torch is cu130 and the image has no cuda-compat package
    v = preflight.check_driver(gpus("h100-535.csv"), LOCAL_BASE_IMAGE)
    assert v.status == "fail"
    assert v.detail.endswith(f"{LOCAL_BASE_IMAGE} needs CUDA 13.0.0: driver >= 580.65.06: too old")
    assert preflight.check_driver(gpus("l4-580.csv"), LOCAL_BASE_IMAGE).status == "ok"


def test_no_gpu_says_so_and_passes() -> None:
    check = doctor_check(lambda argv: None, NEW)
    assert check.name == "driver" and check.status == "ok"
    assert check.detail.startswith("no NVIDIA GPU found")
    arch = doctor_arch(lambda argv: None, NEW)
    assert arch.name == "arch" and arch.status == "ok"
    assert arch.detail == "no NVIDIA GPU found: nothing to check"


def test_doctor_runs_the_recorded_query() -> None:
    seen: list[list[str]] = []

    def runner(argv: list[str]) -> str:
        seen.append(argv)
        return (FIX / "rtx3090-535.csv").read_text()

    check = doctor_check(runner, NEW)
    assert check.status == "fail" and "23.10-py3" in (check.fix or "")
    assert seen == [["nvidia-smi", "--query-gpu=name,compute_cap,driver_version,memory.total",
                     "--format=csv,noheader"]]


def test_unknown_image_is_not_checked() -> None:
    v = preflight.check_driver(gpus("rtx3090-535.csv"), "example.org/own/torch:1")
    assert v.status == "ok" and "not checked" in v.detail
    a = preflight.check_arch(gpus("rtx3090-535.csv"), "example.org/own/torch:1")
    assert a.status == "ok" and "not checked" in a.detail


@pytest.mark.parametrize(("fixture", "image", "status"), [
    ("v100-550.csv", OLD, "ok"),                # NGC up to 24.12 carries sm_70
    ("v100-550.csv", NEW, "fail"),              # 25.01 dropped Volta
    ("v100-550.csv", LOCAL_BASE_IMAGE, "fail"),  # torch 2.14.1+cu130: sm_75 and up
    ("t4-510.csv", NEW, "ok"),
    ("t4-510.csv", LOCAL_BASE_IMAGE, "ok"),
    ("a100-570.csv", NEW, "ok"),
    ("rtx3090-535.csv", LOCAL_BASE_IMAGE, "ok"),
    ("l4-580.csv", LOCAL_BASE_IMAGE, "ok"),     # sm_89 runs sm_86 machine code
    ("h100-535.csv", OLD, "ok"),
    ("rtx5090-570.csv", OLD, "fail"),           # only PTX of 9.0
    ("rtx5090-570.csv", NEW, "ok"),
    ("rtx5090-570.csv", LOCAL_BASE_IMAGE, "ok"),
])
def test_arch_of_each_gpu_against_each_image(fixture: str, image: str, status: str) -> None:
    assert preflight.check_arch(gpus(fixture), image).status == status


def test_volta_on_the_stand_in_names_images_that_carry_sm_70() -> None:
    v = preflight.check_arch(gpus("v100-550.csv"), LOCAL_BASE_IMAGE)
    assert v.detail == ("Tesla V100-SXM2-16GB sm_70; torch 2.14.1+cu130 (PyPI wheel) has sm_75 "
                        "sm_80 sm_86 sm_90 sm_100 sm_120: no sm_70 (\"no kernel image is "
                        "available\")")
    assert v.fix == ("use a base image whose torch has sm_70: nvcr.io/nvidia/pytorch:24.12-py3, "
                     "nvcr.io/nvidia/pytorch:24.11-py3, nvcr.io/nvidia/pytorch:24.10-py3 "
                     "(--base-image)")


def test_blackwell_on_an_older_ngc_image_is_only_ptx() -> None:
    v = preflight.check_arch(gpus("rtx5090-570.csv"), OLD)
    assert v.status == "fail"
    assert "no sm_120, only PTX of an older GPU" in v.detail and "(+PTX 90)" in v.detail
    assert v.fix is not None and "nvcr.io/nvidia/pytorch:25.03-py3" in v.fix


def test_arch_rule_same_major_older_minor_runs() -> None:
    assert preflight.arch_support("8.9", ("sm_80", "sm_86")) == "native"
    assert preflight.arch_support("8.0", ("sm_86",)) == "none"
    assert preflight.arch_support("10.0", ("sm_90", "compute_90")) == "ptx"
    assert preflight.arch_support("7.0", ("sm_75", "compute_75")) == "none"


def test_every_ngc_row_has_a_cuda_with_a_known_driver() -> None:
    for tag, (cuda, need) in preflight.NGC_PYTORCH.items():
        assert need == preflight.CUDA_MIN_DRIVER[cuda], tag
    # rows checked against the CUDA Toolkit Release Notes' driver table (docs/doctor.md)
    assert preflight.NGC_PYTORCH["25.01"] == ("12.8.0", "570.26")
    assert preflight.NGC_PYTORCH["24.08"] == ("12.6.0", "560.28.03")
    assert preflight.NGC_PYTORCH["23.08"] == ("12.2.1", "535.86.09")


def _info(runtimes: tuple[str, ...]) -> DaemonInfo:
    return DaemonInfo("27.0", "1.47", runtimes, "runc", "/var/lib/docker", 2, 1 << 30, "Linux")


def test_gpu_check_runtime() -> None:
    h100 = gpus("h100-535.csv")
    ok = check_gpu(_info(("nvidia", "runc")), h100)
    assert ok.status == "ok" and ok.detail == (
        "NVIDIA runtime; GPUs: 0, NVIDIA H100 80GB HBM3, 81559 MiB; "
        "1, NVIDIA H100 80GB HBM3, 81559 MiB")
    unconfigured = check_gpu(_info(("runc",)), h100,
                             lambda name: "/usr/bin/nvidia-ctk" if name == "nvidia-ctk" else None)
    assert unconfigured.status == "warn" and "installed but Docker does not use it" in \
        unconfigured.detail
    assert unconfigured.fix == ("'sudo nvidia-ctk runtime configure --runtime=docker' and "
                                "restart Docker")
    missing = check_gpu(_info(("runc",)), [], lambda name: None)
    assert missing.detail == "no NVIDIA container runtime in Docker: tc dev-run runs on CPU"
    assert missing.fix is not None and "install nvidia-container-toolkit" in missing.fix


def test_shm_small_warns_big_passes(tmp_path: Path) -> None:
    small = preflight.check_shm(64 * 1024**2)
    assert small.status == "warn" and small.detail.startswith("/dev/shm 0.06 GiB: under 2.0 GiB")
    assert small.fix is not None and "num_workers" in small.fix
    assert preflight.check_shm(8 * 1024**3).status == "ok"
    assert preflight.check_shm(None).status == "warn"
    from tcli.doctor import check_shm

    assert check_shm(tmp_path / "none").status == "warn"
    assert check_shm(tmp_path).name == "shm"


def test_probe_output_parsed_and_checked() -> None:
    line = ('tc-probe {"torch": "2.14.1+cu130", "cuda": "13.0", "arch": ["sm_75", "sm_80", '
            '"sm_86", "sm_90", "sm_100", "sm_120"]}')
    build = preflight.build_from_probe(["noise", line], "example.org/own/torch:1")
    assert build is not None and build.label == "torch 2.14.1+cu130 (CUDA 13.0)"
    v = preflight.check_arch(gpus("v100-550.csv"), "example.org/own/torch:1", build)
    assert v.status == "fail" and "no sm_70" in v.detail
    cpu = preflight.build_from_probe(['tc-probe {"torch": "2.5.1+cpu", "cuda": null, "arch": []}'],
                                     "x")
    assert cpu is not None and cpu.label == "torch 2.5.1+cpu (CPU-only)"
    assert preflight.check_arch(gpus("a100-570.csv"), "x", cpu).status == "fail"
    for bad in ['tc-probe {"arch": ["<script>"]}', "tc-probe {", "no probe line"]:
        assert preflight.build_from_probe([bad], "x") is None
