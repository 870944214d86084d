"""tcli.safety: $ref confinement (with a real HTTP server on 127.0.0.1) and ZIP limits."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcli.errors import InputError
from tcli.safety import schemas
from tcli.safety.zipread import ZipLimits, ZipRefused, extract
from tests.httpserve import recording_server


@pytest.fixture()
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""
    with recording_server(b'{"type": "string"}') as served:
        yield served


def test_remote_ref_is_refused_and_no_request_is_sent(tmp_path: Path, http_server) -> None:
    url, hits = http_server
    schema = {"type": "object", "properties": {"a": {"$ref": f"{url}/evil.json"}}}
    with pytest.raises(schemas.RefRefused, match="remote references are not followed"):
        list(schemas.iter_errors(schema, {"a": 1}, base_dir=tmp_path, root=tmp_path,
                                 name="config.jsonschema"))
    # $id pointing to the server makes relative refs remote too
    schema2 = {"$id": f"{url}/base/", "properties": {"a": {"$ref": "x.json"}}}
    with pytest.raises(schemas.RefRefused):
        list(schemas.iter_errors(schema2, {"a": 1}, base_dir=tmp_path, root=tmp_path))
    assert hits == []


def test_file_ref_outside_project_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"enum": ["TOP-SECRET-VALUE"]}))
    for ref in (secret.as_uri(), "../secret.json", str(secret)):
        schema = {"properties": {"a": {"$ref": ref}}}
        with pytest.raises(schemas.RefRefused, match="outside the project") as exc:
            list(schemas.iter_errors(schema, {"a": "x"}, base_dir=root, root=root))
        assert "TOP-SECRET-VALUE" not in str(exc.value)


def test_relative_ref_inside_project_works(tmp_path: Path) -> None:
    (tmp_path / "defs.json").write_text(json.dumps({"type": "integer", "minimum": 1}))
    schema = {"properties": {"a": {"$ref": "defs.json"}, "b": {"$ref": "#/definitions/s"}},
              "definitions": {"s": {"type": "string"}}}
    errs = list(schemas.iter_errors(schema, {"a": 0, "b": 3}, base_dir=tmp_path, root=tmp_path))
    assert sorted(e.message for e in errs) == ["0 is less than the minimum of 1",
                                               "3 is not of type 'string'"]


def test_missing_or_bad_ref_file_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "dup.json").write_text('{"type": "string", "type": "integer"}')
    with pytest.raises(InputError, match="duplicate key 'type'"):
        list(schemas.iter_errors({"$ref": "dup.json"}, 1, base_dir=tmp_path, root=tmp_path))
    with pytest.raises(InputError, match="not a regular file"):
        list(schemas.iter_errors({"$ref": "nope.json"}, 1, base_dir=tmp_path, root=tmp_path))


def _zip(path: Path, members: dict[str, bytes], **kw: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, **kw) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_zip_bomb_is_stopped_by_real_byte_count(tmp_path: Path) -> None:
    z = _zip(tmp_path / "bomb.zip", {"top/big.txt": b"\0" * (20 * 1024 * 1024)})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ZipRefused, match="inflates"):
        extract(z, out, ZipLimits(max_member_bytes=50 * 1024 * 1024, max_ratio=100))
    assert not (out / "top" / "big.txt").exists()


def test_zip_header_lie_does_not_matter(tmp_path: Path) -> None:
    """A member whose headers claim 1000 bytes: the decompressed bytes are what counts."""
    z = _zip(tmp_path / "lie.zip", {"top/a.bin": b"A" * 3_000_000})
    raw = bytearray(z.read_bytes())
    size = (3_000_000).to_bytes(4, "little")
    lie = (1000).to_bytes(4, "little")
    raw = raw.replace(size, lie)  # local header and central directory
    z.write_bytes(bytes(raw))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ZipRefused):
        extract(z, out, ZipLimits(max_member_bytes=2_000_000))
    assert list(out.rglob("*.bin")) == []


def test_zip_names_types_and_counts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ZipRefused, match="unsafe path"):
        extract(_zip(tmp_path / "a.zip", {"../evil.py": b"x"}), out)
    with pytest.raises(ZipRefused, match="members, more than 3"):
        extract(_zip(tmp_path / "b.zip", {f"t/{i}": b"" for i in range(5)}), out, ZipLimits(max_members=3))
    info = zipfile.ZipInfo("t/link")
    info.create_system = 3
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ZipRefused, match="is a symlink"):
        extract(tmp_path / "c.zip", out)
    (tmp_path / "d.zip").write_bytes(b"not a zip")
    with pytest.raises(ZipRefused, match="not a readable ZIP"):
        extract(tmp_path / "d.zip", out)
    assert list(out.iterdir()) == []
    ok = extract(_zip(tmp_path / "e.zip", {"t/a.py": b"print(1)\n"}), out)
    assert ok == [out / "t" / "a.py"] and ok[0].read_text() == "print(1)\n"
