"""tcli.safety: the secret scanner, the packaging allow-list, the tc name clash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcli.safety.allow import refusal
from tcli.safety.clash import detect_tc_clash
from tcli.safety.secretscan import scan_text, sensitive_name

AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
GHP = "ghp_" + "Z" * 36
KEY_BLOCK = ("-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n"
             "-----END OPENSSH PRIVATE KEY-----")


@pytest.mark.parametrize("text, kind", [
    (f"MY_SETTING={AWS_ID}\n", "AWS Access Key"),
    (f"token = '{GHP}'\n", "GitHub Token"),
    (f"NOTHING_SPECIAL=x\n{KEY_BLOCK}\n", "Private Key"),
    ("URL=https://admin:hunter2hunter2@db.example.com/x\n", "Basic Auth Credentials"),
    ("SLACK=xoxb-" + "1234567890-1234567890123-" + "a" * 24 + "\n", "Slack Token"),
    ("K=sk_live_" + "a" * 24 + "\n", "Stripe Access Key"),
])
def test_value_shape_secrets_are_found(text: str, kind: str) -> None:
    hits = scan_text(text)
    assert [h.kind for h in hits] == [kind]
    assert hits[0].line == text.splitlines().index(next(ln for ln in text.splitlines()
                                                        if ln and ln != "NOTHING_SPECIAL=x")) + 1


def test_ordinary_config_is_clean() -> None:
    text = ("EPOCHS=30\nPYTHONUNBUFFERED=1\nSHA=0123456789abcdef0123456789abcdef01234567\n"
            "MODEL=resnet18\nURL=https://download.pytorch.org/whl/cpu\n")
    assert scan_text(text) == []


def test_secret_at_the_end_of_a_very_long_line() -> None:
    assert [h.kind for h in scan_text("x" * 100_000 + " " + AWS_ID)] == ["AWS Access Key"]


@pytest.mark.parametrize("path", ["docker/id_rsa", "docker/id_ed25519", "docker/credentials",
                                  "docker/.aws/credentials", "docker/.ssh/config", "docker/.netrc",
                                  "docker/.bash_history", "docker/server.pem", "docker/x.key",
                                  "docker/.git-credentials", "config/.pypirc"])
def test_sensitive_names(path: str) -> None:
    assert sensitive_name(path)
    assert refusal(path)


@pytest.mark.parametrize("path", ["docker/Dockerfile", "docker/train.py", "docker/.env",
                                  "docker/requirements.txt", "config/config.jsonschema",
                                  "config/custom.json", "docker/entry.sh"])
def test_allowed(path: str) -> None:
    assert refusal(path) is None


@pytest.mark.parametrize("path", ["docker/model.bin", "docker/libevil.so", "other/x.py", "x.py",
                                  "../docker/x.py", "config/run.py"])
def test_not_allowed(path: str) -> None:
    assert refusal(path)


def _exe(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(0o755)


def test_tc_clash_detection(tmp_path: Path) -> None:
    sbin, venv = tmp_path / "sbin", tmp_path / "venv" / "bin"
    _exe(sbin / "tc", b"\x7fELF\x02\x01\x01")
    _exe(venv / "tc", b"#!/usr/bin/python3\nimport re\nfrom tcli.cli import main\n")
    msg = detect_tc_clash(os.pathsep.join([str(sbin), str(venv)]))
    assert msg == (f"'tc' on PATH is {sbin / 'tc'} (iproute2's traffic-control tool), not the "
                   "train-container tc: use 'traincontainer' or 'python -m tcli', or put tc's "
                   "folder first on PATH")
    assert detect_tc_clash(os.pathsep.join([str(venv), str(sbin)])) is None
    assert detect_tc_clash(str(tmp_path / "empty")) is None
    assert detect_tc_clash("") is None and detect_tc_clash(None) is None
    other = tmp_path / "other"
    _exe(other / "tc", b"#!/bin/sh\necho hi\n")
    assert "(another program)" in (detect_tc_clash(str(other)) or "")
    (sbin / "tc").chmod(0o644)  # not executable: skipped
    assert detect_tc_clash(os.pathsep.join([str(sbin), str(venv)])) is None
