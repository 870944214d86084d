"""The one catalogue of failure signatures: data and pure functions, no I/O.

Each :class:`Signature` is an id, the regexps that recognise it in a log line (matched through
:mod:`tcli.safety.rx`, a time budget per line), the cause and the fix. The patterns are the
messages the tools really print; tests/unit/explain/test_catalogue.py holds one real line for
each, with where it comes from. Order matters: the first signature found is the primary cause
(a specific message such as CUDA OOM wins over the generic torchrun ChildFailedError that
follows it).

Three failures are not a log line but the run's state and the project's files: the container
OOM-killed (exit 137, OOMKilled), the score regexp matching nothing (or twice), and the model
file missing; :mod:`tcli.explain.diagnose` checks those with the same :class:`Finding` shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcli.safety import rx


@dataclass(frozen=True)
class Signature:
    """One recognisable failure."""

    id: str
    title: str
    patterns: tuple[str, ...]
    cause: str
    fix: str


@dataclass(frozen=True)
class Finding:
    """A recognised failure: the signature's text plus the evidence (1-based line, text)."""

    id: str
    title: str
    cause: str
    fix: str
    evidence: tuple[tuple[int, str], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "cause": self.cause, "fix": self.fix,
                "evidence": [{"line": n, "text": t} for n, t in self.evidence]}


#: Ids of the checks that need the run's state or the project (not log signatures).
OOM_KILLED = "container-oom-killed"
SCORE_NO_MATCH = "score-regexp-no-match"
SCORE_TWICE = "score-regexp-twice"
MODEL_MISSING = "model-missing"

SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "cuda-out-of-memory", "CUDA out of memory",
        (r"CUDA out of memory\. Tried to allocate", r"\bOutOfMemoryError: CUDA out of memory",
         r"CUBLAS_STATUS_ALLOC_FAILED"),
        "the GPU ran out of memory (the model, the batch and the activations do not fit)",
        "lower batch_size (or the image size) in train_config.json, use mixed precision "
        "(--amp) or gradient accumulation, or train on a GPU with more memory",
    ),
    Signature(
        "shm-too-small", "shared memory too small for the DataLoader workers",
        (r"Unexpected bus error encountered in worker", r"DataLoader worker \(pid \d+\) is killed "
         r"by signal: Bus error", r"out of shared memory", r"insufficient shared memory \(shm\)",
         r"unable to write to file </torch_",
         r"unable to allocate shared memory\(shm\) for file </torch_",
         r"^\s*Bus error( \(core dumped\))?\s*$"),
        "the DataLoader workers pass batches through /dev/shm, and it is smaller than they need",
        "run with a bigger /dev/shm (the platform gives 8g and --ipc host; docker run "
        "--shm-size 8g), or lower num_workers in train_config.json",
    ),
    Signature(
        "cuda-driver-too-old", "NVIDIA driver too old for the image's CUDA",
        (r"CUDA driver version is insufficient for CUDA runtime version",
         r"The NVIDIA driver on your system is too old",
         r"cudaErrorInsufficientDriver"),
        "the host's NVIDIA driver is older than the CUDA version the base image was built with",
        "update the host's NVIDIA driver, or use an older base image whose CUDA the driver "
        "supports (tc doctor lists them)",
    ),
    Signature(
        "no-kernel-image", "GPU architecture not supported by the installed torch",
        (r"no kernel image is available for execution on the device",
         r"CUDA capability sm_\d+ is not compatible with the current PyTorch installation"),
        "the installed torch was not compiled for this GPU's architecture (compute capability)",
        "use the base image's own torch (do not install torch from requirements.txt), or a "
        "base image / torch build whose arch list includes this GPU",
    ),
    Signature(
        "pip-replaced-torch", "pip replaced the base image's torch",
        (r"Attempting uninstall: (torch|torchvision|torchaudio|nvidia-[a-z0-9-]+)\s*$",
         r"Successfully uninstalled (torch|torchvision|torchaudio)-\d"),
        "requirements.txt made pip uninstall the base image's CUDA build of torch and install "
        "another (often CPU-only or for another CUDA)",
        "drop torch/torchvision/torchaudio from requirements.txt (the base image has them), or "
        "pin exactly the base image's versions",
    ),
    Signature(
        "nccl-timeout", "NCCL collective timed out",
        (r"Watchdog caught collective operation timeout", r"NCCL (communicator|watchdog).*timeout",
         r"DistBackendError: NCCL error", r"socketStartConnect: Connect to .* failed"),
        "a collective operation between ranks did not complete: a rank hung, died, or the "
        "nodes cannot reach each other",
        "look for the first rank that failed above; check that every node reaches the master "
        "address/port and runs the same code and data; set NCCL_DEBUG=INFO to see more",
    ),
    Signature(
        "peer-rank-lost", "another rank disconnected",
        (r"gloo/transport/tcp/pair\.cc:\d+\] (Read error|Write error|Connection closed by peer)",
         r"Connection reset by peer\. This is typically caused by a remote worker",
         r"remote process exited or there was a network error"),
        "this rank lost its connection to another rank in the middle of a collective: the "
        "other process died (killed, out of memory, crashed) or its node went away",
        "this node is not the cause: read the log (or failure.json) of the other node/rank "
        "for its first error; under tc dev-run --nodes, the node that ended first (node r "
        "writes .tc/train-node<r>/failure.json)",
    ),
    Signature(
        "fuse-missing", "FUSE not available for the S3 mount",
        (r"fuse: device not found", r"/dev/fuse: No such file or directory",
         r"fuse: failed to open /dev/fuse", r"fusermount: .*Operation not permitted"),
        "s3fs needs FUSE, and the container has no /dev/fuse (or no permission to mount)",
        "run the container with --device /dev/fuse --cap-add SYS_ADMIN (the platform does), "
        "or run locally without S3_HOST so the bucket is not mounted",
    ),
    Signature(
        "s3-token-expired", "S3/STS token expired or invalid",
        (r"ExpiredToken", r"InvalidIdentityToken", r"[Tt]oken (has )?expired",
         r"did not return credentials for the OIDC access token"),
        "the OIDC access token given to STS is expired or not valid, so no S3 credentials",
        "start the run again with a fresh token (the platform issues one per run); locally, "
        "get a new OID_ACCESS_TOKEN",
    ),
    Signature(
        "s3-mount-refused", "the S3 bucket could not be mounted",
        (r"refused AssumeRoleWithWebIdentity", r"s3fs could not mount bucket",
         r"s3fs: .*(unable to access MOUNTPOINT|bucket .* does not exist|invalid credentials)",
         r"s3fs started but .* is not a mount point"),
        "mount-s3.sh could not mount the dataset bucket (STS refused, wrong bucket or host)",
        "check S3_HOST, S3_BUCKET_NAME and the STS answer in the lines above",
    ),
    Signature(
        "disk-full", "disk full",
        (r"^(?!.*(shared memory|</torch_|/dev/shm)).*No space left on device",
         r"\[Errno 28\]", r"ENOSPC",
         r"inline_container\.cc:\d+\] \. unexpected pos \d+ vs \d+",
         r"PytorchStreamWriter failed writing file"),
        "a write failed because the file system is full (/train, /tmp or Docker's storage); "
        "torch.save says so only as \"unexpected pos N vs M\"",
        "free space (docker system df; remove old images), write checkpoints less often, "
        "or give the container a bigger disk",
    ),
    Signature(
        "rank-died", "a training process (rank) died",
        (r"ChildFailedError", r"exitcode\s*:\s*-?\d+ \(pid: \d+\)",
         r"failed \(exitcode: -?\d+\) local_rank: \d+ \(pid: \d+\)",
         r"Signal \d+ \(SIG[A-Z]+\) received by PID \d+"),
        "torchrun stopped because one of its processes failed; the root cause is that "
        "process's own error",
        "read the first error above the torchrun report (the 'Root Cause' section names the "
        "rank); fix that error. Exitcode -9 is SIGKILL with no error of its own: the OOM "
        "killer (docker inspect's OOMKilled, dmesg) or a kill from outside",
    ),
    Signature(
        "pinned-weights-mismatch", "pinned weights missing or not matching weights.lock",
        (r"^\s*tc-weights: error: ", r"^\s*weights: error: "),
        "a weights file pinned in docker/weights.lock is missing, or its sha256 or size is not "
        "the locked one (the build's weights step or train.py checked it)",
        "tc weights verify / tc weights pull on the host; if the file changed upstream, pin it "
        "again with 'tc weights add' (docs/weights.md)",
    ),
)

#: Longest log line matched (a megabyte of progress bar on one line is not worth the time).
MAX_LINE = 4000


def by_id(sig_id: str) -> Signature | None:
    """The signature with ``sig_id``."""
    return next((s for s in SIGNATURES if s.id == sig_id), None)


def match_line(line: str) -> list[Signature]:
    """Every signature one log line shows, in catalogue order."""
    text = line[:MAX_LINE]
    return [sig for sig in SIGNATURES
            if any(rx.search(p, text, what=f"signature {sig.id}") for p in sig.patterns)]


def scan(lines: list[str], max_evidence: int = 3) -> list[Finding]:
    """The signatures found in ``lines`` (catalogue order), each with up to ``max_evidence``
    evidence lines (the first ones)."""
    hits: dict[str, list[tuple[int, str]]] = {}
    for number, line in enumerate(lines, start=1):
        for sig in match_line(line):
            found = hits.setdefault(sig.id, [])
            if len(found) < max_evidence:
                found.append((number, line.rstrip()[:300]))
    return [Finding(s.id, s.title, s.cause, s.fix, tuple(hits[s.id]))
            for s in SIGNATURES if s.id in hits]
