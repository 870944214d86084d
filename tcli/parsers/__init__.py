"""Parsers layer: pure functions from text to plain data (no filesystem, no findings).

Dockerfile, ``.env``, ``requirements.txt`` and ``args.py`` (read with :mod:`ast`, never run).
"""
