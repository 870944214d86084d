"""``tc update``: merge a newer scaffold version into a project, preview it, undo it.

- :mod:`~tcli.scaffold.update.apply`: the update itself (Copier's three-way merge), committed
  as one commit on top of the user's work when it has no conflicts;
- :mod:`~tcli.scaffold.update.preview`: ``--dry-run``, every file as unchanged / updated /
  merged / conflicting / added / removed, computed on a copy;
- :mod:`~tcli.scaffold.update.record`: ``.git/tc-update.json``, what undo needs;
- :mod:`~tcli.scaffold.update.undo`: ``--undo``, the tree back as it was before the update.

The scaffold store and the git helper are :mod:`tcli.scaffold.store`'s.
"""

from __future__ import annotations

from tcli.scaffold.update.apply import UpdateResult, update
from tcli.scaffold.update.preview import STATES, Preview, preview_update
from tcli.scaffold.update.undo import UndoResult, undo

__all__ = ["STATES", "Preview", "UndoResult", "UpdateResult", "preview_update", "undo", "update"]
