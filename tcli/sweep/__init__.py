"""``tc sweep``: a hyperparameter search over a template's own form schema, scored by the
platform's own ``score_regexp``. :mod:`space` (the search space), :mod:`metrics` (a trial's
metrics.jsonl, followed for pruning), :mod:`store` (Optuna's SQLite storage, resume),
:mod:`runner` (the trials), :mod:`core` (the command's core), :mod:`report` (index.html),
:mod:`katib` (the same search as a Katib Experiment)."""
