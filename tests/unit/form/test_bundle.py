"""The prebuilt bundle in the package matches web/form's lockfile and sources.

web/form/build.mjs writes a header into tcli/form/static/form.js: the locked versions of the
libraries it bundles, the sha256 of package-lock.json and of src/. A change of the lockfile or
of the sources without `npm ci && npm run build` makes this test fail.
"""

from __future__ import annotations

import hashlib
import json
import re

from tests.conftest import REPO

WEB = REPO / "web" / "form"
BUNDLE = REPO / "tcli" / "form" / "static" / "form.js"
PINNED = ["@rjsf/core", "@rjsf/utils", "@rjsf/validator-ajv8", "react", "react-dom", "esbuild"]


def _header() -> dict[str, str]:
    head = BUNDLE.read_text(encoding="utf-8")[:2000].split("*/", 1)[0]
    fields = dict(re.findall(r"^ \* ([^:]+): (.+)$", head, re.M))
    assert {"versions", "package-lock.json sha256", "src sha256"} <= set(fields), head
    return fields


def test_bundle_header_matches_lockfile() -> None:
    lock_bytes = (WEB / "package-lock.json").read_bytes()
    lock = json.loads(lock_bytes)
    fields = _header()
    assert fields["package-lock.json sha256"] == hashlib.sha256(lock_bytes).hexdigest(), \
        "package-lock.json changed: run `npm ci && npm run build` in web/form"
    locked = [f"{n}@{lock['packages'][f'node_modules/{n}']['version']}" for n in PINNED]
    assert fields["versions"].split() == locked


def test_bundle_header_matches_sources() -> None:
    h = hashlib.sha256()
    for f in sorted(p.name for p in (WEB / "src").iterdir()):
        h.update(f.encode() + b"\0" + (WEB / "src" / f).read_bytes() + b"\0")
    assert _header()["src sha256"] == h.hexdigest(), "web/form/src changed: run `npm run build`"


def test_rjsf_and_react_are_pinned_exactly() -> None:
    pkg = json.loads((WEB / "package.json").read_text(encoding="utf-8"))
    deps = {**pkg["dependencies"], **pkg["devDependencies"]}
    assert set(PINNED) <= set(deps)
    for name, spec in deps.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec), f"{name} {spec!r} is not an exact version"
    lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
    for name in PINNED:
        assert lock["packages"][f"node_modules/{name}"]["version"] == deps[name]


def test_bundle_contains_rjsf_and_is_in_the_package() -> None:
    text = BUNDLE.read_text(encoding="utf-8")
    assert "rjsf" in text and len(text) > 100_000
    # hatch ships every file of the tcli package that git tracks; the bundle is not ignored
    assert BUNDLE.is_relative_to(REPO / "tcli")
