"""Every catalogued signature recognises a REAL log line (source cited next to each), and
ordinary training output matches none."""

from __future__ import annotations

import pytest

from tcli.explain import catalogue

#: the real failing runs of docs/explain.md's table
RUN = "a real run here (docs/explain.md, 2026-12-05: the entrypoint in tc-local/pytorch:2.14.1"
#: (signature id, a real line, where it comes from)
REAL_LINES: list[tuple[str, str, str]] = [
    ("cuda-out-of-memory",
     "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total "
     "capacity of 79.15 GiB of which 11.31 MiB is free. Including non-PyTorch memory, this process "
     "has 79.12 GiB memory in use.",
     "pytorch c10/cuda/CUDACachingAllocator.cpp (the OutOfMemoryError message)"),
    ("cuda-out-of-memory",
     "RuntimeError: CUDA out of memory. Tried to allocate 2.00 MiB (GPU 0; 7.79 GiB total capacity; "
     "6.09 GiB already allocated; 3.44 MiB free; 6.18 GiB reserved in total by PyTorch)",
     "the same allocator message before torch 2.1"),
    ("shm-too-small",
     "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient "
     "shared memory (shm).",
     "pytorch torch/csrc/DataLoader.cpp SIGNAL_HANDLER(SIGBUS, handler_SIGBUS, ...)"),
    ("shm-too-small",
     "RuntimeError: DataLoader worker (pid 4382) is killed by signal: Bus error. It is possible "
     "that dataloader's workers are out of shared memory. Please try to raise your shared memory "
     "limit.",
     "pytorch torch/csrc/DataLoader.cpp (worker status check)"),
    ("shm-too-small",
     "RuntimeError: unable to write to file </torch_287_2714559211_8>: No space left on device (28)",
     "torch/lib/libshm (a worker writing its batch to /dev/shm), quoted with the bus error in a "
     "public shm troubleshooting note"),
    ("shm-too-small",
     "RuntimeError: unable to allocate shared memory(shm) for file </torch_16_1956183694_0>: No "
     "space left on device (28)",
     RUN + ", DataLoader with 4 workers, --ipc private --shm-size 2m; torch 2.14.1's message)"),
    ("cuda-driver-too-old",
     "RuntimeError: CUDA driver version is insufficient for CUDA runtime version",
     "CUDA runtime cudaGetErrorString(cudaErrorInsufficientDriver), as torch raises it"),
    ("cuda-driver-too-old",
     "RuntimeError: The NVIDIA driver on your system is too old (found version 11040). Please "
     "update your GPU driver by downloading and installing a new version from the URL: "
     "http://www.nvidia.com/Download/index.aspx",
     "pytorch torch/cuda/__init__.py _check_driver"),
    ("no-kernel-image",
     "RuntimeError: CUDA error: no kernel image is available for execution on the device",
     "CUDA runtime cudaErrorNoKernelImageForDevice via c10/cuda/CUDAException.h"),
    ("no-kernel-image",
     "UserWarning: NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the "
     "current PyTorch installation.",
     "pytorch torch/cuda/__init__.py _check_capability"),
    ("pip-replaced-torch", "  Attempting uninstall: torch",
     "pip src/pip/_internal/req/__init__.py install_given_reqs"),
    ("pip-replaced-torch", "      Successfully uninstalled torch-2.6.0a0+ecf3bae40a.nv25.1",
     "pip src/pip/_internal/req/req_install.py (uninstall commit)"),
    ("nccl-timeout",
     "[rank0]:[E1218 20:27:21.426415540 ProcessGroupNCCL.cpp:629] [Rank 0] Watchdog caught "
     "collective operation timeout: WorkNCCL(SeqNum=1, OpType=BROADCAST, NumelIn=131072000, "
     "NumelOut=131072000, Timeout(ms)=600000) ran for 600081 milliseconds before timing out.",
     "pytorch torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp, a log quoted in a public issue"),
    ("nccl-timeout",
     "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/"
     "NCCLUtils.hpp:275, remote process exited or there was a network error, NCCL version 2.20.5",
     "pytorch torch/csrc/distributed/c10d/NCCLUtils.hpp C10D_NCCL_CHECK"),
    ("fuse-missing", "fuse: device not found, try 'modprobe fuse' first",
     "libfuse lib/mount.c (also printed by s3fs, sshfs, fuse-overlayfs)"),
    ("s3-token-expired",
     "[mount-s3] error: STS at http://127.0.0.1:9000 refused AssumeRoleWithWebIdentity: "
     "<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredTokenException</Code><Message>Token "
     "expired: current date/time 1733390000 must be before the expiration date/time1733300000"
     "</Message></Error></ErrorResponse>",
     "scaffolds/project/common/mount-s3.sh die line with AWS STS AssumeRoleWithWebIdentity's "
     "ExpiredTokenException answer"),
    ("s3-mount-refused",
     "[mount-s3] error: s3fs could not mount bucket 'datasets' at /minio",
     "scaffolds/project/common/mount-s3.sh"),
    ("s3-mount-refused", "s3fs: unable to access MOUNTPOINT /minio: No such file or directory",
     "s3fs-fuse src/s3fs.cpp (my_fuse_opt_proc)"),
    ("disk-full", "OSError: [Errno 28] No space left on device",
     "CPython OSError for ENOSPC (strerror)"),
    ("disk-full",
     "RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598",
     RUN + ", torch.save into a 1 MiB tmpfs: torch never says 'No space left')"),
    ("peer-rank-lost",
     "[rank0]: RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:"
     "545] Read error [127.0.0.1]:22685: Connection reset by peer. This is typically caused by a "
     "remote worker hanging or bugs in the application. Check the logs of the remote worker "
     "before reporting an error. GLHF! \U0001f3d6\ufe0f",
     RUN + ", 2 nodes over gloo: node 0 after node 1's train.py was SIGKILLed)"),
    ("rank-died",
     "E1205 16:20:49.944000 15 torch/distributed/elastic/multiprocessing/api.py:1002] failed "
     "(exitcode: -9) local_rank: 0 (pid: 18) of binary: /usr/local/bin/python",
     RUN + ", 2 nodes: node 1's torchrun after its train.py was SIGKILLed)"),
    ("rank-died", "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
     "pytorch torch/distributed/elastic/multiprocessing/errors/__init__.py"),
    ("rank-died", "  exitcode  : -9 (pid: 2812)",
     "pytorch torch/distributed/elastic/multiprocessing/errors/__init__.py (failure format)"),
    ("pinned-weights-mismatch",
     "tc-weights: error: tiny: the download from http://127.0.0.1:41235/tiny.pth has sha256 "
     "4b4ba1e0f1c06a8b1b1c8ac0c8b2f6e0b8f2b0a6e7b2f3c4d5e6f708192a3b4c (20 bytes), weights.lock "
     "says 9f2e0a7c4f7d0c59c1c1b77d1b36f46d1ef8a5a0b7a7e1b3a0d1b2c3d4e5f607 (1227 bytes)",
     "docker/tc_weights.py install, the Dockerfile's weights step (tests/integration/"
     "test_weights_docker.py)"),
    ("pinned-weights-mismatch",
     "weights: error: resnet18: /opt/tc-weights/weights-9f2e0a7c4f7d0c59c1c1b77d1b36f46d1ef8a5a0b"
     "7a7e1b3a0d1b2c3d4e5f607 is missing (the image was built without it: rebuild with tc dev-run "
     "or tc build)", "docker/tc_weights.py pinned_weights, called by train.py"),
]


@pytest.mark.parametrize(("sig_id", "line", "source"), REAL_LINES,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(REAL_LINES)])
def test_real_line_is_recognised(sig_id: str, line: str, source: str) -> None:
    found = [s.id for s in catalogue.match_line(line)]
    assert found and found[0] == sig_id, (found, source)


def test_every_signature_has_a_real_line() -> None:
    assert {s.id for s in catalogue.SIGNATURES} <= {r[0] for r in REAL_LINES}


@pytest.mark.parametrize("line", [
    "epoch 3/10 loss=0.4123 accuracy=0.912",
    "[entrypoint] GPU 0, NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15",
    "Successfully installed scikit-learn-1.5.2",
    "accuracy: 0.93",
])
def test_ordinary_output_matches_nothing(line: str) -> None:
    assert catalogue.match_line(line) == []


def test_scan_primary_first_and_evidence_lines() -> None:
    lines = ["step 1", REAL_LINES[0][1], "more",
             "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: "]
    found = catalogue.scan(lines)
    assert [f.id for f in found] == ["cuda-out-of-memory", "rank-died"]
    assert found[0].evidence == ((2, REAL_LINES[0][1]),)


def test_shm_line_is_not_also_a_full_disk() -> None:
    shm = next(r[1] for r in REAL_LINES if "allocate shared memory" in r[1])
    assert [s.id for s in catalogue.match_line(shm)] == ["shm-too-small"]


def test_ids_unique() -> None:
    ids = [s.id for s in catalogue.SIGNATURES]
    assert len(ids) == len(set(ids))


def test_docs_table_names_every_failure() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "explain.md").read_text()
    ids = [s.id for s in catalogue.SIGNATURES] + [
        catalogue.OOM_KILLED, catalogue.SCORE_NO_MATCH, catalogue.SCORE_TWICE,
        catalogue.MODEL_MISSING]
    for sig_id in ids:
        assert docs.count(f"| `{sig_id}` |") >= 2, sig_id  # "What is recognised" and the runs
