"""tcli.weights and tcli.safety.fetch without a project: SOURCE resolution, the lock's checks,
the bounded download from a loopback server, and the cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tcli.errors import InputError
from tcli.safety import fetch
from tcli.weights import core, lock, sources
from tests.httpserve import routed_server

BODY = b"tiny weights \x00\x01" * 100
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("name", ["resnet18", "ResNet18", "ResNet18_Weights.IMAGENET1K_V1",
                                  "resnet18_weights.default"])
def test_torchvision_names_resolve_to_the_published_url_and_hash_prefix(name: str) -> None:
    src = sources.resolve(name, Path("/nonexistent-cwd"))
    assert src.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert src.sha256_prefix == "f37072fd"
    assert src.default_name == "resnet18"
    assert src.label == "torchvision:ResNet18_Weights.IMAGENET1K_V1"


def test_a_non_default_member_keeps_its_own_url() -> None:
    src = sources.resolve("ResNet50_Weights.IMAGENET1K_V1", Path("/"))
    assert src.url.endswith("/resnet50-0676ba61.pth") and src.sha256_prefix == "0676ba61"
    assert src.default_name == "resnet50"


@pytest.mark.parametrize("text", ["file:///etc/passwd", "ftp://example.com/w.pth", "resnet99", ""])
def test_unusable_sources_are_one_input_error(text: str) -> None:
    with pytest.raises(InputError):
        sources.resolve(text, Path("/nonexistent-cwd"))


def _entry(**over: object) -> dict[str, object]:
    item: dict[str, object] = {"name": "w", "url": "https://example.com/w.pth", "sha256": SHA,
                               "size": len(BODY)}
    item.update(over)
    return item


@pytest.mark.parametrize("item, expected", [
    (_entry(sha256="abc"), "sha256 'abc' is not 64 lowercase hex digits"),
    (_entry(sha256=SHA.upper()), "is not 64 lowercase hex digits"),
    (_entry(url="file:///etc/passwd"), "only http and https are downloaded"),
    (_entry(url="/etc/passwd"), "only http and https are downloaded"),
    (_entry(url="https://user:pw@example.com/w.pth"), "carries a user name or password"),
    (_entry(name="../x"), "name '../x' must be"),
    (_entry(size=-1), "size '-1' must be a positive integer"),
    (_entry(size=True), "must be a positive integer"),
    (_entry(path="/etc/passwd"), "unknown field 'path'"),
])
def test_lock_problems_name_the_entry_and_the_field(item: dict[str, object], expected: str) -> None:
    found = lock.problems({"version": 1, "weights": [item]})
    assert any(expected in p for p in found), found
    with pytest.raises(InputError, match=r"weights\.lock: entry 1"):
        lock.parse({"version": 1, "weights": [item]}, "weights.lock")


def test_a_good_lock_has_no_problems_and_round_trips() -> None:
    entries = lock.parse({"version": 1, "weights": [_entry()]}, "weights.lock")
    assert lock.problems(__import__("json").loads(lock.dumps(entries))) == []
    assert entries[0].staged_name == f"weights-{SHA}"


def test_duplicate_names_and_wrong_version_are_problems() -> None:
    found = lock.problems({"version": 2, "weights": [_entry(), _entry()]})
    assert any("version 2" in p for p in found)
    assert any("name 'w' is used twice" in p for p in found)


def test_download_into_the_cache_hashes_the_bytes(_cache: Path) -> None:
    with routed_server({"/w.pth": (200, {}, BODY)}) as (base, hits):
        sha, size = core.fetch_into_cache(f"{base}/w.pth", max_bytes=1 << 20, timeout_s=30)
    assert (sha, size) == (SHA, len(BODY)) and hits == ["/w.pth"]
    assert (_cache / "weights" / "sha256" / SHA).read_bytes() == BODY
    assert [p.name for p in (_cache / "weights" / "sha256").iterdir()] == [SHA]  # no temp left


def test_a_wrong_hash_prefix_keeps_nothing(_cache: Path) -> None:
    with routed_server({"/w-deadbeef.pth": (200, {}, BODY)}) as (base, _hits), \
            pytest.raises(InputError, match="does not start with deadbeef"):
        core.fetch_into_cache(f"{base}/w-deadbeef.pth", max_bytes=1 << 20, timeout_s=30,
                              sha256_prefix="deadbeef")
    assert list((_cache / "weights" / "sha256").iterdir()) == []


def test_a_content_length_over_the_cap_is_refused_before_the_body(_cache: Path) -> None:
    with routed_server({"/w.pth": (200, {"Content-Length": str(1 << 40)}, b"")}) as (base, _h), \
            pytest.raises(fetch.FetchRefused, match=f"Content-Length {1 << 40} bytes"):
        core.fetch_into_cache(f"{base}/w.pth", max_bytes=1 << 20, timeout_s=30)
    assert list((_cache / "weights" / "sha256").iterdir()) == []


def test_bytes_really_read_are_counted_without_content_length(_cache: Path) -> None:
    with routed_server({"/w.pth": (200, {"X-No-Length": "1"}, BODY)}) as (base, _hits), \
            pytest.raises(fetch.FetchRefused, match="more than the limit of 9 bytes"):
        core.fetch_into_cache(f"{base}/w.pth", max_bytes=1 << 20, timeout_s=30,
                              expected=lock.Entry("w", "", SHA, 9))
    assert list((_cache / "weights" / "sha256").iterdir()) == []


@pytest.mark.parametrize("origin, target, refused", [
    ("http://127.0.0.1:1/a", "http://127.0.0.1:2/b", False),
    ("http://127.0.0.1:1/a", "http://localhost:2/b", False),
    ("http://127.0.0.1:1/a", "http://203.0.113.5/b", True),
    ("http://127.0.0.1:1/a", "http://weights.example/b", True),
    ("http://127.0.0.1:1/a", "file:///etc/passwd", True),
    ("https://93.184.216.34/a", "http://93.184.216.34/b", True),
    ("https://93.184.216.34/a", "https://127.0.0.1/b", True),
    ("https://93.184.216.34/a", "https://10.0.0.1/b", True),
    ("https://93.184.216.34/a", "https://8.8.8.8/b", False),
])
def test_redirect_policy(origin: str, target: str, refused: bool) -> None:
    if refused:
        with pytest.raises(fetch.FetchRefused):
            fetch.check_redirect(origin, target)
    else:
        fetch.check_redirect(origin, target)


def test_check_cached_finds_a_changed_file(_cache: Path) -> None:
    entry = lock.Entry("w", "", SHA, len(BODY))
    assert core.check_cached(entry).state == "missing"
    folder = _cache / "weights" / "sha256"
    folder.mkdir(parents=True)
    (folder / SHA).write_bytes(BODY)
    assert core.check_cached(entry).state == "ok"
    (folder / SHA).write_bytes(BODY[:-1] + b"X")
    checked = core.check_cached(entry)
    assert checked.state == "mismatch" and "sha256 is" in checked.detail
