"""Hostile projects under ``tc validate``: $ref, regex, JSON shape, Dockerfile, .env, symlinks.

Each case breaks one thing in a fresh project, runs ``tc validate --json`` and expects one
error finding naming the file (exit 1), no traceback, no network, no hang, nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hostile.conftest import Guard, tdir
from tests.hostile.harness import assert_finding, tc
from tests.httpserve import recording_server


@pytest.fixture()
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""
    body = b'{"type": "object", "properties": {"leak": {"const": "from-the-network"}}}'
    with recording_server(body) as served:
        yield served


def _edit_json(path: Path, fn: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _validate(proj: Path, guard: Guard, *extra: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    guard.start()
    r = tc("validate", "--json", *extra, str(proj), cwd=proj.parent, timeout=timeout)
    guard.check()
    return r


# ---- class: schema $ref (never the network, never outside the project) -----------------------

@pytest.mark.parametrize("where", ["property", "allOf", "id-base"])
def test_remote_ref_sends_no_request(proj: Path, guard: Guard, http_server, where: str) -> None:
    url, hits = http_server
    schema_path = tdir(proj) / "config" / "config.jsonschema"

    def add(s: dict) -> None:
        if where == "property":
            s["properties"][next(iter(s["properties"]))] = {"$ref": f"{url}/evil.json"}
        elif where == "allOf":
            s["allOf"] = [{"$ref": f"{url}/evil.json#/properties"}]
        else:
            s["$id"] = f"{url}/schemas/"
            s["allOf"] = [{"$ref": "evil.json"}]
    _edit_json(schema_path, add)
    r = _validate(proj, guard)
    assert hits == [], f"tc validate sent HTTP requests: {hits}"
    assert_finding(r, r"schema|ref", r"remote|not followed", file_re=r"config\.jsonschema")


@pytest.mark.parametrize("ref", ["file-uri", "relative", "absolute"])
def test_ref_outside_project_is_not_read(proj: Path, guard: Guard, tmp_path: Path, ref: str) -> None:
    secret = tmp_path / "outside.json"
    secret.write_text(json.dumps({"enum": ["OUTSIDE-SECRET-42"]}))
    target = {"file-uri": secret.as_uri(), "relative": "../../../../../../outside.json",
              "absolute": str(secret)}[ref]
    _edit_json(tdir(proj) / "config" / "config.jsonschema",
               lambda s: s["properties"].__setitem__(next(iter(s["properties"])), {"$ref": target}))
    r = _validate(proj, guard)
    assert "OUTSIDE-SECRET-42" not in r.stdout + r.stderr
    assert_finding(r, r"schema|ref", r"outside the project", file_re=r"config\.jsonschema")


# ---- class: regex with a budget (a catastrophic score_regexp must not hang validate) ---------

@pytest.mark.parametrize("pattern, line", [
    (r"^(a+)+$", "a" * 40 + "!"),
    (r"Accuracy (\d|\d\d)+$", "Accuracy " + "1" * 60 + "x"),
    (r"(a|aa)+$", "a" * 80 + "!"),
    (r"^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 40 + "!"),
])
def test_catastrophic_score_regexp_does_not_hang(proj: Path, guard: Guard, pattern: str, line: str) -> None:
    cfg = tdir(proj) / "config"
    _edit_json(cfg / "custom.json", lambda c: c.__setitem__("score_regexp", pattern))
    (cfg / "score_line.txt").write_text(line + "\n")
    r = _validate(proj, guard, timeout=120)  # a hang, not a speed test
    assert_finding(r, r"regexp", r"score_regexp|took longer", file_re=r"custom\.json|score_line")


def test_catastrophic_regexp_against_log(proj: Path, guard: Guard, tmp_path: Path) -> None:
    _edit_json(tdir(proj) / "config" / "custom.json",
               lambda c: c.__setitem__("score_regexp", r"(x|xx)+y([0-9])"))
    log = tmp_path / "train.log"
    log.write_text("x" * 60 + "\n")
    guard.start()
    r = tc("validate", "--json", "--log", str(log), str(proj), cwd=tmp_path, timeout=120)
    guard.check()
    assert_finding(r, r"regexp", r"score_regexp|took longer")


# ---- class: JSON shape (duplicate keys, depth, size, NaN) ------------------------------------

@pytest.mark.parametrize("name", ["config.jsonschema", "custom.json", "presets.json", "train_config.json"])
def test_duplicate_json_key_is_an_error(proj: Path, guard: Guard, name: str) -> None:
    path = tdir(proj) / "config" / name
    text = path.read_text().rstrip()
    assert text.endswith("}")
    first = next(iter(json.loads(text)))
    path.write_text(text[:-1].rstrip() + f',\n  "{first}": {json.dumps(json.loads(text)[first])}\n}}\n')
    r = _validate(proj, guard)
    assert_finding(r, r"json", r"duplicate key", file_re=name.replace(".", r"\."))


def test_deep_json_is_a_finding_not_a_crash(proj: Path, guard: Guard) -> None:
    (tdir(proj) / "config" / "train_config.json").write_text("[" * 100_000 + "]" * 100_000)
    r = _validate(proj, guard)
    assert_finding(r, r"json", r"nested|deep", file_re=r"train_config\.json")


def test_huge_schema_is_refused_quickly(proj: Path, guard: Guard) -> None:
    path = tdir(proj) / "config" / "config.jsonschema"
    schema = json.loads(path.read_text())
    schema["definitions"] = {f"d{i}": {"type": "string", "pattern": "^a*$", "description": "x" * 400}
                             for i in range(120_000)}
    path.write_text(json.dumps(schema))
    assert path.stat().st_size > 50_000_000
    r = _validate(proj, guard, timeout=60)
    assert_finding(r, r"json|size|large", r"more than|too large|limit", file_re=r"config\.jsonschema")


@pytest.mark.parametrize("value", ["NaN", "-0.5", "Infinity", "1.5"])
def test_bad_train_split_is_an_error(proj: Path, guard: Guard, value: str) -> None:
    path = tdir(proj) / "config" / "train_config.json"
    text = path.read_text()
    data = json.loads(text)
    assert "train-split" in data
    data["train-split"] = "@@"
    path.write_text(json.dumps(data, indent=2).replace('"@@"', value) + "\n")
    r = _validate(proj, guard)
    assert_finding(r, r"split|json|schema", r"train-split|NaN|Infinity|valid JSON|minimum|maximum",
                   file_re=r"train_config\.json|config\.jsonschema")


# ---- class: Dockerfile confinement and remote sources ----------------------------------------

@pytest.mark.parametrize("line, message", [
    ("COPY ../../ /", r"outside|build context"),
    ("COPY ../zip/train-container-publish/config.py /x", r"outside|build context"),
    ("COPY /etc/passwd /x", r"outside|absolute|build context"),
    ("ADD http://127.0.0.1:9/payload.tar.gz /opt/", r"ADD|remote|URL"),
    ("ADD https://example.com/x.sh /x.sh", r"ADD|remote|URL"),
    ("COPY --chmod=777 ../../../root/.ssh /root/.ssh", r"outside|build context"),
])
def test_dockerfile_sources_stay_in_the_build_context(proj: Path, guard: Guard, line: str,
                                                      message: str) -> None:
    df = tdir(proj) / "docker" / "Dockerfile"
    df.write_text(df.read_text() + line + "\n")
    r = _validate(proj, guard)
    assert_finding(r, r"dockerfile", message, file_re=r"Dockerfile")


# ---- class: secrets by value shape in .env and sources ---------------------------------------

SECRETS = {
    "aws-key-id": "AKIA" + "IOSFODNN7EXAMPLE",
    "github-token": "ghp_" + "aB3" * 12,
    "slack-token": "xoxb-" + "1234567890-1234567890123-" + "abcdefghijklmnopqrstuvwx",
    "stripe-key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "private-key": "-----BEGIN " + "RSA PRIVATE KEY-----",
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_secret_in_env_under_ordinary_name(proj: Path, guard: Guard, kind: str) -> None:
    env = tdir(proj) / "docker" / ".env"
    env.write_text(env.read_text() + f"MY_SETTING={SECRETS[kind]}\n")
    r = _validate(proj, guard)
    assert SECRETS[kind] not in r.stdout + r.stderr, "the secret itself must not be printed"
    assert_finding(r, r"secret", r"secret|key|token", file_re=r"\.env")


def test_token_in_python_source(proj: Path, guard: Guard) -> None:
    helper = tdir(proj) / "docker" / "helper.py"
    helper.write_text(f'TOKEN = "{SECRETS["github-token"]}"\n')
    r = _validate(proj, guard)
    assert_finding(r, r"secret", r"secret|token", file_re=r"helper\.py")


# ---- class: symlinks leaving the project -----------------------------------------------------

def test_common_symlink_leaving_the_project(proj: Path, guard: Guard, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (proj / "common").rename(outside)
    (proj / "common").symlink_to(outside)
    r = _validate(proj, guard)
    assert_finding(r, r"symlink|outside|structure", r"outside the project", file_re=r"common")


def test_docker_folder_symlink_leaving_the_project(proj: Path, guard: Guard, tmp_path: Path) -> None:
    outside = tmp_path / "home-of-someone"
    (tdir(proj) / "docker").rename(outside)
    (tdir(proj) / "docker").symlink_to(outside)
    r = _validate(proj, guard)
    assert_finding(r, r"symlink|outside|structure", r"outside the project", file_re=r"docker")


def test_file_symlink_to_system_file(proj: Path, guard: Guard) -> None:
    (tdir(proj) / "docker" / "notes.txt").symlink_to("/etc/passwd")
    r = _validate(proj, guard)
    assert_finding(r, r"symlink|outside", r"outside the project", file_re=r"notes\.txt")


@pytest.mark.parametrize("ref", ["defs.json", "../../../../../nowhere.json", "defs.json#/x"])
def test_ref_to_another_file_is_a_finding(proj: Path, guard: Guard, ref: str) -> None:
    cfg = tdir(proj) / "config"
    (cfg / "defs.json").write_text("{\"x\": {\"type\": \"integer\"}}\n")
    _edit_json(cfg / "config.jsonschema",
               lambda s: s["properties"].__setitem__(next(iter(s["properties"])), {"$ref": ref}))
    r = _validate(proj, guard)
    assert_finding(r, r"schema\.ref", r"another file|outside the project", file_re=r"config\.jsonschema")
