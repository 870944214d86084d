"""Why a run failed and what to do: one catalogue of log signatures (``catalogue``), the
project-specific checks (score regexp, model file, OOM kill) and reading a log or a
``failure.json`` (``diagnose``). Used by ``tc explain`` and at the end of a failed ``tc dev-run``."""
