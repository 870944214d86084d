"""Run every benchmark module: ``python -m benchmarks [name ...]``.

A benchmark is any ``benchmarks/<name>.py`` (not starting with ``_``) that defines
``main() -> int``; it prints its own figures (absolute times and ratios against the naive
approach measured in the same run). The exit code is the first non-zero one.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def discover() -> list[str]:
    """Benchmark modules by name; those that set ``RUN_LAST = True`` (Docker builds, whose
    daemon keeps cleaning up for a while afterwards) after the CPU-only ones."""
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)])
                   if not m.name.startswith("_"))
    return sorted(names, key=lambda n: bool(getattr(importlib.import_module(f"benchmarks.{n}"),
                                                    "RUN_LAST", False)))


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or discover()
    rc = 0
    for name in names:
        mod = importlib.import_module(f"benchmarks.{name}")
        fn = getattr(mod, "main", None)
        if not callable(fn):
            continue
        print(f"== benchmark {name}", flush=True)
        t0 = time.perf_counter()
        code = int(fn() or 0)
        print(f"== {name}: exit {code} in {time.perf_counter() - t0:.1f} s", flush=True)
        rc = rc or code
    return rc


if __name__ == "__main__":
    sys.exit(main())
