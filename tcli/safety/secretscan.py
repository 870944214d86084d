"""Secret scanning: by file name and by the shape of the content (detect-secrets' patterns).

Two checks, both used before anything is packaged and by validate:

- :func:`sensitive_name`: files that hold credentials whatever their content (SSH keys,
  ``.aws/credentials``, ``.netrc``, shell history, ``.git-credentials``, key stores...).
- :func:`scan_text`: value-shape detection with the regex plugins of Yelp's maintained
  ``detect-secrets`` (AWS keys, private-key blocks, GitHub/GitLab/Slack/Stripe/OpenAI/PyPI/npm
  tokens, JWTs, ``user:password@`` URLs, ...), so a secret under an ordinary key name in
  ``.env`` or a token pasted into a ``.py`` file is found. Entropy and keyword plugins are left
  out: they flag ordinary hashes and config words.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath
from typing import Any

#: File names that are credentials by themselves (compared case-insensitively).
SENSITIVE_NAMES = frozenset({
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "identity",
    "credentials", ".netrc", "_netrc", ".pgpass", ".git-credentials", ".bash_history",
    ".zsh_history", ".history", ".python_history", ".psql_history", ".mysql_history",
    ".npmrc", ".pypirc", ".dockercfg", "known_hosts", "authorized_keys", ".htpasswd",
    "secrets.json", "secrets.yaml", "secrets.yml", "service-account.json",
})
#: Suffixes of key and certificate stores.
SENSITIVE_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".gpg",
                      ".asc", ".ovpn", ".ppk")
#: Folders whose whole content is credentials.
SENSITIVE_DIRS = frozenset({".ssh", ".aws", ".gnupg", ".docker", ".kube", ".azure", ".gcloud"})

_PLUGINS = (
    ("artifactory", "ArtifactoryDetector"), ("aws", "AWSKeyDetector"),
    ("azure_storage_key", "AzureStorageKeyDetector"), ("basic_auth", "BasicAuthDetector"),
    ("discord", "DiscordBotTokenDetector"), ("github_token", "GitHubTokenDetector"),
    ("gitlab_token", "GitLabTokenDetector"), ("jwt", "JwtTokenDetector"),
    ("mailchimp", "MailchimpDetector"), ("npm", "NpmDetector"), ("openai", "OpenAIDetector"),
    ("private_key", "PrivateKeyDetector"), ("pypi_token", "PypiTokenDetector"),
    ("sendgrid", "SendGridDetector"), ("slack", "SlackDetector"),
    ("square_oauth", "SquareOAuthDetector"), ("stripe", "StripeDetector"),
    ("telegram_token", "TelegramBotTokenDetector"), ("twilio", "TwilioKeyDetector"),
)
_WINDOW = 4096
_OVERLAP = 512


@dataclass(frozen=True)
class SecretHit:
    """One secret found: the line (1-based) and the kind of secret (never the value)."""

    line: int
    kind: str


def sensitive_name(relpath: str) -> str | None:
    """Why the file at ``relpath`` (POSIX, relative) must not be packaged, or None."""
    parts = [p.casefold() for p in PurePosixPath(relpath).parts]
    if not parts:
        return None
    for d in parts[:-1]:
        if d in SENSITIVE_DIRS:
            return f"is inside a {d}/ folder (credentials)"
    name = parts[-1]
    if name in SENSITIVE_NAMES:
        return "is a credentials file by its name"
    if name.endswith(SENSITIVE_SUFFIXES):
        return "is a key or certificate store by its suffix"
    return None


@cache
def _detectors() -> list[tuple[str, Any]]:
    import importlib

    out = []
    for module, cls in _PLUGINS:
        plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls)()
        out.append((str(getattr(plugin, "secret_type", cls)), plugin))
    return out


def _windows(line: str) -> Iterator[str]:
    if len(line) <= _WINDOW:
        yield line
        return
    for start in range(0, len(line), _WINDOW - _OVERLAP):
        yield line[start:start + _WINDOW]


def scan_text(text: str, *, max_hits: int = 20) -> list[SecretHit]:
    """Secrets in ``text`` by value shape, at most one hit per line and ``max_hits`` in all."""
    hits: list[SecretHit] = []
    for n, line in enumerate(text.splitlines(), start=1):
        found = None
        for window in _windows(line):
            for kind, plugin in _detectors():
                if any(True for _ in plugin.analyze_string(window)):
                    found = kind
                    break
            if found:
                break
        if found:
            hits.append(SecretHit(n, found))
            if len(hits) >= max_hits:
                break
    return hits
