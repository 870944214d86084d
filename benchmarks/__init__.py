"""Benchmarks (`make bench`): each module ``benchmarks/<name>.py`` with ``main() -> int``."""
