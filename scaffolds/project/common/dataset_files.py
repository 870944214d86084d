# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The dataset stage's file work: the per-file symlinks (by a worker process for large
datasets) and the swap of a finished output into place (the previous one deleted by a
detached process). Both helpers are files run with ``python -I -S``:
dataset_link_worker.py and dataset_trash_worker.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dataset_base import OWNED, STAGING, TRASH, WORKER_MIN, Sample, StageContext, env_int

#: the two helper programs, beside this file (flat in the image)
LINK_WORKER = Path(__file__).with_name("dataset_link_worker.py")
TRASH_WORKER = Path(__file__).with_name("dataset_trash_worker.py")
#: link jobs: (folder, target prefix, samples) -> folder/<file> -> prefix<file>
LinkJobs = list[tuple[Path, str, list[Sample]]]
#: detached deleters started by this process (see wait_for_cleanup)
DELETERS: list[subprocess.Popen[bytes]] = []


def link_in_process(jobs: LinkJobs, *, redo: bool = False) -> None:
    sym = os.symlink
    for folder, prefix, items in jobs:
        d = str(folder) + "/"
        for s in items:
            try:
                sym(prefix + s.file_name, d + s.file_name)
            except FileExistsError:
                if not redo:
                    raise


class Linker:
    """Makes the per-file symlinks while this process writes the label files.

    From ``WORKER_MIN`` samples on (``TC_LINK_WORKER_MIN``; ``TC_LINK_WORKER=0`` turns it
    off) a small ``python -I -S`` worker is started before the parse (its start-up overlaps
    the parse) and fed the jobs after the split; ``os.symlink`` is a system call per link,
    so on two cores the links and the label files are made at the same time. Without a
    worker, or when it fails in any way other than an ``OSError`` from a link, the links
    are made here; the result is the same either way.
    """

    def __init__(self, proc: subprocess.Popen[bytes] | None) -> None:
        self.proc = proc
        self.jobs: LinkJobs = []

    @classmethod
    def start(cls, n_files: int) -> Linker:
        if n_files < env_int("TC_LINK_WORKER_MIN", WORKER_MIN) or \
                os.environ.get("TC_LINK_WORKER") == "0" or not sys.executable \
                or not LINK_WORKER.is_file():
            return cls(None)
        try:
            return cls(subprocess.Popen([sys.executable, "-I", "-S", str(LINK_WORKER)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL))
        except OSError:  # pragma: no cover - no way to start a process: link here
            return cls(None)

    @property
    def in_worker(self) -> bool:
        return self.proc is not None

    def submit(self, jobs: LinkJobs) -> None:
        """Start making the links (returns at once when a worker does it)."""
        self.jobs = jobs
        if self.proc is None:
            link_in_process(jobs)
            return
        enc = os.fsencode
        try:
            assert self.proc.stdin is not None
            write = self.proc.stdin.write
            sep = b""
            for folder, prefix, items in jobs:  # streamed per 20k names: memory stays flat
                write(sep + b"\0".join((enc(str(folder)), enc(prefix), b"%d" % len(items))))
                sep = b"\0"
                for i in range(0, len(items), 20000):
                    write(b"\0" + b"\0".join([enc(s.file_name) for s in items[i:i + 20000]]))
            self.proc.stdin.close()
        except OSError:  # pragma: no cover - the worker died: link here
            self._fallback()

    def wait(self) -> None:
        """Wait for the links; raises the OSError of a link that could not be made."""
        proc = self.proc
        if proc is None:
            return
        assert proc.stdout is not None
        out = proc.stdout.read().decode("utf-8", "replace")
        rc = proc.wait()
        self.proc = None
        if rc == 0 and out.startswith("ok "):
            return
        parts = out.split("\0")
        if rc == 1 and len(parts) == 3 and parts[0].isdigit():
            raise OSError(int(parts[0]), parts[1], parts[2])
        self._fallback()  # pragma: no cover - crashed worker

    def _fallback(self) -> None:
        self.close()
        link_in_process(self.jobs, redo=True)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def trash_folder(root: Path) -> Path:
    """A new, empty generation folder ``.tc-trash/<pid>-<ns>`` for outputs to delete."""
    while True:
        gen = root / TRASH / f"{os.getpid()}-{time.time_ns()}"
        try:
            os.makedirs(gen)
            return gen
        except FileExistsError:  # pragma: no cover - same nanosecond
            continue


def discard(paths: list[Path], background: bool) -> None:
    """Delete trash folders: by a detached, niced process when ``background`` (the caller
    goes on at once), else here. Either way only what was moved into .tc-trash/."""
    if not paths:
        return
    if background and sys.executable and TRASH_WORKER.is_file():
        try:
            DELETERS.append(subprocess.Popen(
                [sys.executable, "-I", "-S", str(TRASH_WORKER), *map(str, paths)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
            return
        except OSError:  # pragma: no cover - delete here instead
            pass
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(paths[0].parent)


def wait_for_cleanup(timeout: float | None = None) -> bool:
    """Wait for the detached deleters this process started; True when all have ended."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for p in list(DELETERS):
        try:
            p.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        DELETERS.remove(p)
    return True


def fresh_staging(ctx: StageContext, background: bool) -> None:
    """An empty ``.tc-staging``; what a crashed run left there, and trash that a killed
    deleter left, are deleted (in the background for large datasets)."""
    root, staging = ctx.out_root, ctx.staging
    old: list[Path] = []
    trash = root / TRASH
    if trash.is_dir():
        old += [trash / name for name in sorted(os.listdir(trash))]
    if os.path.lexists(staging):
        gen = trash_folder(root)
        os.rename(staging, gen / STAGING)
        old.append(gen)
    discard(old, background)
    staging.mkdir()


def swap_in(ctx: StageContext, background: bool) -> None:
    """Move every owned output from staging into place; the previous ones go to trash and
    are deleted after (a crash leaves each output whole: old, new, or being rebuilt)."""
    root, staging = ctx.out_root, ctx.staging
    gen = trash_folder(root)
    for name in OWNED:
        cur, new = root / name, staging / name
        if os.path.lexists(cur):
            os.rename(cur, gen / name)
        if os.path.lexists(new):
            os.rename(new, cur)
    os.rmdir(staging)
    discard([gen], background)


# ----------------------------------------------------------------------------- prepare
