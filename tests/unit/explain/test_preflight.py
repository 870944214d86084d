"""tc doctor's driver check on recorded nvidia-smi outputs (tests/fixtures/nvidia-smi/*.csv,
the format of `nvidia-smi --query-gpu=index,name,driver_version,compute_cap
--format=csv,noheader`)."""

from __future__ import annotations

from pathlib import Path

from tcli.doctor import check_driver as doctor_check
from tcli.explain import preflight

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "nvidia-smi"
NEW = "nvcr.io/nvidia/pytorch:25.01-py3"


def gpus(name: str) -> list[preflight.Gpu]:
    return preflight.parse_gpus((FIX / name).read_text())


def test_old_driver_new_image_fails_with_tags_that_work() -> None:
    v = preflight.check_driver(gpus("rtx3090-535.csv"), NEW)
    assert v.status == "fail"
    assert v.detail == ("driver 535.183.01 (NVIDIA GeForce RTX 3090), "
                        "nvcr.io/nvidia/pytorch:25.01-py3 needs CUDA 12.8.0: driver >= 570.86: "
                        "too old")
    assert v.fix == ("update the NVIDIA driver to >= 570.86, or use a base image this driver "
                     "runs: nvcr.io/nvidia/pytorch:23.10-py3, nvcr.io/nvidia/pytorch:23.09-py3, "
                     "nvcr.io/nvidia/pytorch:23.08-py3 (--base-image)")


def test_data_center_gpu_on_a_long_term_branch_is_forward_compatible() -> None:
    v = preflight.check_driver(gpus("h100-535.csv"), NEW)
    assert v.status == "warn" and "forward compatibility" in v.detail


def test_new_enough_driver_passes() -> None:
    v = preflight.check_driver(gpus("a100-570.csv"), NEW)
    assert v.status == "ok" and v.detail.endswith("needs CUDA 12.8.0: driver >= 570.86")


def test_driver_below_cuda_12_minimum() -> None:
    v = preflight.check_driver(gpus("t4-510.csv"), NEW)
    assert v.status == "fail" and v.fix is not None
    assert "no CUDA 12 image runs below 525.60.13" in v.fix


def test_no_gpu_says_so_and_passes() -> None:
    check = doctor_check(lambda argv: None, NEW)
    assert check.name == "driver" and check.status == "ok"
    assert check.detail.startswith("no NVIDIA GPU found")


def test_doctor_runs_the_recorded_query() -> None:
    seen: list[list[str]] = []

    def runner(argv: list[str]) -> str:
        seen.append(argv)
        return (FIX / "rtx3090-535.csv").read_text()

    check = doctor_check(runner, NEW)
    assert check.status == "fail" and "23.10-py3" in (check.fix or "")
    assert seen == [["nvidia-smi", "--query-gpu=index,name,driver_version,compute_cap",
                     "--format=csv,noheader"]]


def test_unknown_image_is_not_checked() -> None:
    v = preflight.check_driver(gpus("rtx3090-535.csv"), "tc-local/pytorch:2.14.1")
    assert v.status == "ok" and "not checked" in v.detail


def test_shm_small_warns_big_passes(tmp_path: Path) -> None:
    small = preflight.check_shm(64 * 1024**2)
    assert small.status == "warn" and small.detail.startswith("/dev/shm 0.06 GiB: under 2.0 GiB")
    assert small.fix is not None and "num_workers" in small.fix
    assert preflight.check_shm(8 * 1024**3).status == "ok"
    assert preflight.check_shm(None).status == "warn"
    from tcli.doctor import check_shm

    assert check_shm(tmp_path / "none").status == "warn"
    assert check_shm(tmp_path).name == "shm"
