# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Parse a large ``annotations.xml`` in two processes: split at an ``</image>`` near the
middle, this process parses the first half while a forked one parses the second.

The result equals the one-process parse (:func:`cvat_xml.parse_xml`), which is used
whenever the split is not certain to be equivalent. ``may_fork``/``fork_run`` are shared
with the dataset stage's label writer.
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Callable

from cvat_model import CvatAnnotations, CvatError
from cvat_xml import CHUNK, parse_xml

#: files from this size on are parsed in two processes (``TC_PARSE_PARALLEL=0`` turns it off)
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
_CLOSE_IMAGE = b"</image>"
_XML_DECL = re.compile(rb"""\A<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def may_fork(switch: str) -> bool:
    """Whether work may go to a forked process: ``os.fork`` exists, two or more CPUs are
    usable, and the environment variable ``switch`` is not ``0``."""
    return os.environ.get(switch) != "0" and hasattr(os, "fork") and usable_cpus() >= 2


def fork_run(work: Callable[[], object]) -> int:
    """Run ``work`` in a forked child, which exits 0 when it returns and 1 on any exception
    (it never returns to the caller's code); the child's pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except BaseException:
            pass
        finally:
            os._exit(code)
    return pid


def _split_point(spath: str, size: int) -> int | None:
    """The offset just after an ``</image>`` near the middle of a UTF-8 file, or None when
    the file is not certain to split cleanly there (another encoding, comments, CDATA)."""
    with open(spath, "rb") as fh:
        head = fh.read(4096)
        if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"\x3c\x00")):
            return None  # UTF-16/32
        decl = _XML_DECL.match(head.lstrip(b"\xef\xbb\xbf"))
        if decl and decl.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
            return None
        fh.seek(size // 2)
        window = fh.read(CHUNK)
    at = window.find(_CLOSE_IMAGE)
    if at < 0:
        return None
    return size // 2 + at + len(_CLOSE_IMAGE)


def parse_halves(spath: str, keep: frozenset[str] | set[str]) -> CvatAnnotations | None:
    """Parse the two halves of a large file at once (this process and a forked one) and
    merge them; None whenever the one-process parse must decide (small file, one CPU, no
    clean split point, any error in either half, a ``<meta>`` or a file name in the second
    half that the first half also has, the forked process failing)."""
    import pickle

    size = os.path.getsize(spath)
    if size < PARALLEL_MIN_BYTES or not may_fork("TC_PARSE_PARALLEL"):
        return None
    cut = _split_point(spath, size)
    if cut is None:
        return None
    read_fd, write_fd = os.pipe()

    def send_second_half() -> None:  # in the child: the second half, sent back pickled
        os.close(read_fd)
        with os.fdopen(write_fd, "wb") as out:
            pickle.dump(parse_xml(spath, keep, (cut, size, b"<annotations>", b"")), out,
                        protocol=pickle.HIGHEST_PROTOCOL)

    pid = fork_run(send_second_half)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            try:
                first, _ = parse_xml(spath, keep, (0, cut, b"", b"</annotations>"))
            except CvatError:
                return None
            try:
                second, saw_meta = pickle.load(pipe)
            except Exception:
                return None
    finally:
        _reap(pid)
    if saw_meta or first.images.keys() & second.images.keys():
        return None
    _append(first, second)
    return first


def _reap(pid: int) -> None:
    import signal

    try:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)  # the parent is done without it
            os.waitpid(pid, 0)
    except ChildProcessError:  # pragma: no cover - already reaped
        pass


def _append(first: CvatAnnotations, second: CvatAnnotations) -> None:
    """Append the second half's images, boxes, labels and warnings to the first half's, as
    the one-process parse would have found them (labels in order of first appearance)."""
    index = {name: i for i, name in enumerate(first.labels)}
    remap = []
    for name in second.labels:
        if name not in index:
            index[name] = len(first.labels)
            first.labels.append(name)
        remap.append(index[name])
    a, b = first.boxes, second.boxes
    offset = len(a)
    for mine, theirs in ((a.x, b.x), (a.y, b.y), (a.w, b.w), (a.h, b.h)):
        mine.extend(theirs)
    a.flags.extend(b.flags)
    if remap == list(range(len(remap))):
        a.label.extend(b.label)
    else:
        a.label.extend(array("i", [remap[i] for i in b.label]))
    for k, v in b.attrs.items():
        a.attrs[k + offset] = v
    for k, g in b.groups.items():
        a.groups[k + offset] = g
    for name, img in second.images.items():
        img.b0 += offset
        img.b1 += offset
        if img.shapes:
            img.shapes = [(kind, remap[lab], *rest) for kind, lab, *rest in img.shapes]
        first.images[name] = img
    first.warnings.update(second.warnings)
