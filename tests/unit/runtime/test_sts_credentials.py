"""sts_credentials.py (run by mount-s3.sh as a file): the three values of an STS answer."""

from __future__ import annotations

import subprocess
import sys

from .conftest import COMMON

ANSWER = """<?xml version="1.0" encoding="UTF-8"?>
<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials>
<sts:AccessKeyId> AKIAEXAMPLE </sts:AccessKeyId>
<SecretAccessKey>s3cr3t/+=</SecretAccessKey>
<SessionToken>tok-en</SessionToken>
</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"""


def _run(stdin: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-I", str(COMMON / "sts_credentials.py")],
                          input=stdin, capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout.split("\n")


def test_three_values_one_per_line_namespace_prefixes_accepted() -> None:
    assert _run(ANSWER) == ["AKIAEXAMPLE", "s3cr3t/+=", "tok-en", ""]


def test_a_missing_value_is_an_empty_line() -> None:
    """mount-s3.sh reads three lines and stops with its own message on an empty key."""
    assert _run("<Error><Code>AccessDenied</Code></Error>") == ["", "", "", ""]
