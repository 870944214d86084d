"""Packaging: which files go into the platform's ZIP (:mod:`plan`), writing it (:mod:`archive`)
and ``tc package --verify`` (:mod:`verify`: the ZIP reopened as the platform would; it uses
:mod:`tcli.validate`, which imports only :mod:`plan` from here).

Layout (platform contract §1, docs/package.md)::

    train-container-publish/
      the runtime files, flat (contract.RUNTIME_FILES: config.py, dataset*.py, cvat_*.py,
      docker-entrypoint.sh, mount-s3.sh, ...)
      <provider>/<category>/<architecture>/config/...   every file but train_config.json
      <provider>/<category>/<architecture>/docker/...   every file (hidden ones too)

Development-only files (``train_config.json``, ``export_config.json``, ``export.py``,
``export.jsonschema``, ``minio/``, ``train/``) and caches, ``.git``, ``.tc`` are left out.
The same sources give a byte-identical ZIP: sorted entries, fixed timestamps (1980-01-01),
fixed permissions (0644; 0755 for ``*.sh``), fixed compression level.
"""
