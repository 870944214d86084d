"""Pinned pretrained weights (issue 22): ``weights.lock`` in a template, a content-addressed
host cache, ``tc weights add|list|verify|pull``, and the files ``tc dev-run``/``tc build`` stage
into the build directory.

- ``lock``     the lock file: read (untrusted, checked field by field), write (atomic)
- ``sources``  what SOURCE names: a URL, a local file, torchvision weights
- ``core``     the cache, add, verify, pull, staging
- ``torchvision_table``  torchvision's published URLs (generated)
"""
