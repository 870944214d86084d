"""Parse ``.env`` files: ``KEY=value`` entries, secrets by name or shape, the DATASET_ID line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tcli.contract import DATASET_ID_KEY

ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")  # fullmatch

_SECRET_KEY = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)"
    # short forms only as a whole word of the name: DB_PASS, MYSQL_PWD, PASS, SMTP_PW, PIN
    r"|(?:^|[_.-])(?:PASS|PWD|PW|PASSPHRASE|PIN|KEY)(?:[_.-]|\Z)",
    re.IGNORECASE,
)
#: A bare AWS secret access key (40 characters of base64 with upper- and lower-case letters and
#: digits), whatever the name it is stored under; a 40-hex git commit id does not qualify.
_AWS_SECRET_VALUE = re.compile(r"(?=[^\s]*[A-Z])(?=[^\s]*[a-z])(?=[^\s]*[0-9])[A-Za-z0-9/+]{40}")
_SECRET_VALUES: list[tuple[str, re.Pattern[str]]] = [
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("an API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("a JSON web token", re.compile(r"\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]+")),
    ("a URL with a password", re.compile(r"://[^/\s:@]+:[^/\s@]+@")),
]


@dataclass(frozen=True)
class EnvEntry:
    line: int
    key: str
    value: str


@dataclass
class EnvFile:
    entries: list[EnvEntry] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_env(text: str) -> EnvFile:
    """``KEY=value`` lines; blank lines and ``#`` comments are allowed, anything else is bad."""
    env = EnvFile()
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = ENV_LINE.fullmatch(stripped)
        if not match:
            env.bad_lines.append(number)
            continue
        env.entries.append(EnvEntry(number, match.group(1), _unquote(match.group(2))))
    return env


def secret_kind(key: str, value: str) -> str | None:
    """Why ``key=value`` looks like a secret (a phrase), or None. Never returns the value."""
    for label, pattern in _SECRET_VALUES:
        if pattern.search(value):
            return label
    if _AWS_SECRET_VALUE.fullmatch(value):
        return "an AWS secret access key"
    if value and _SECRET_KEY.search(key):
        return "a secret (by its name)"
    return None


#: A line that sets DATASET_ID; group 1 holds its digits when it has a plain number.
_DATASET_ID_LINE = re.compile(
    rf"^\s*(?:export\s+)?{DATASET_ID_KEY}\s*=(?:\s*['\"]?(\d+))?"
)


def sets_dataset_id(text: str) -> bool:
    """Whether a ``.env`` text sets ``DATASET_ID`` (which then wins over ``-e DATASET_ID``)."""
    return any(_DATASET_ID_LINE.match(line) for line in text.splitlines())


def dataset_id_of(text: str) -> str | None:
    """The first numeric ``DATASET_ID`` a ``.env`` text sets, or None."""
    for line in text.splitlines():
        match = _DATASET_ID_LINE.match(line)
        if match and match.group(1):
            return match.group(1)
    return None


def with_dataset_id(text: str, dataset_id: int) -> str:
    """``.env`` content with every ``DATASET_ID=`` line replaced by ``DATASET_ID=<id>``.

    This is what the platform does to point an existing container at another dataset.
    """
    kept = [line for line in text.splitlines() if not _DATASET_ID_LINE.match(line)]
    while kept and not kept[-1].strip():
        kept.pop()
    kept.append(f"{DATASET_ID_KEY}={dataset_id}")
    return "\n".join(kept) + "\n"
