"""The scaffolds: ``tc new`` and ``tc update``.

- :mod:`~tcli.scaffold.store`: the scaffold store (a local git repository of every scaffold
  version tc shipped), the git helper, and :func:`render` (``tc new``: Copier renders a
  project from the store);
- :mod:`~tcli.scaffold.update`: ``tc update`` (merge, ``--dry-run`` preview, ``--undo``).
"""

from __future__ import annotations

from tcli.scaffold.store import NewResult, render

__all__ = ["NewResult", "render"]
