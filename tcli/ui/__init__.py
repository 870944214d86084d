"""UI layer: the only package of tc that imports Rich.

``console`` (themed consoles, one-line messages), ``findings`` (the validate/package table),
``devrun_view`` (progress and summary of tc dev-run), ``doctor_view`` (the checks), and
``render`` (one way to print a command's result as human text or ``--json``).
"""
