"""Defences against untrusted input (issue 13), one mechanism per module.

Ground layer: these modules import only the standard library, ``tcli.errors`` and their own
third-party dependency, never typer/rich or another tc layer. The features (validate, packaging,
scaffold store, demo-data, dev-run) use them wherever a path, regex, schema, ZIP or write from a
project, a Dockerfile or an upload is handled.

- ``confine``   resolve a path (symlinks included) and require it inside a root
- ``atomic``    all writes: temp file in the same folder, fsync, ``os.replace``, mode kept
- ``rx``        regex matching with a time budget (the ``regex`` package's ``timeout=``)
- ``jsonload``  JSON with duplicate keys refused and size/depth limits
- ``schemas``   JSON Schema loading whose ``$ref`` never leaves the project or reaches a network
- ``zipread``   ZIP reading that counts the bytes it inflates against limits
- ``secretscan`` value-shape secret scanning (detect-secrets' plugins) + sensitive file names
- ``allow``     the allow-list of what may be packaged
- ``lock``      an inter-process lock (``fcntl.flock``) for shared state such as the scaffold store
- ``clash``     detecting iproute2's ``tc`` ahead of ours on PATH
"""
