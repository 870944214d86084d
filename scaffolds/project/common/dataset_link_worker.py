# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The dataset stage's link worker (run by dataset_files.Linker as ``python -I -S <this file>``).

Reads NUL-separated jobs from stdin: a folder, a target prefix, a count, then that many file
names; makes ``folder/<name> -> prefix<name>`` for each. Prints ``ok N`` (exit 0), or
``errno NUL strerror NUL filename`` of the first link that failed (exit 1). Standard library
only (it runs without site-packages).
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    fields = sys.stdin.buffer.read().split(b"\0")
    i = n = 0
    try:
        while i + 2 < len(fields):
            folder, prefix, k = fields[i], fields[i + 1], int(fields[i + 2])
            i += 3
            for name in fields[i:i + k]:
                os.symlink(prefix + name, folder + b"/" + name)
            i += k
            n += k
    except OSError as e:
        sys.stdout.write(f"{e.errno or 0}\0{e.strerror or e}\0{os.fsdecode(e.filename or b'')}")
        return 1
    sys.stdout.write(f"ok {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
