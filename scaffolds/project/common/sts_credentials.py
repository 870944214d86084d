# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""The three credentials of an STS ``AssumeRoleWithWebIdentity`` answer, for mount-s3.sh.

Run as ``python -I sts_credentials.py < answer.xml``: prints AccessKeyId, SecretAccessKey and
SessionToken, one per line (an empty line for a missing one; mount-s3.sh then stops with its
own message). A plain text search, not an XML parser: no entities, no DTD, nothing fetched;
a namespace prefix on the tags (``<sts:AccessKeyId>``) is accepted.
"""

from __future__ import annotations

import re
import sys

TAGS = ("AccessKeyId", "SecretAccessKey", "SessionToken")


def credentials(text: str) -> list[str]:
    """The values of :data:`TAGS` in ``text`` ("" where a tag is missing), stripped."""
    out = []
    for tag in TAGS:
        m = re.search(rf"<(?:\w+:)?{tag}>([^<]*)</(?:\w+:)?{tag}>", text)
        out.append(m.group(1).strip() if m else "")
    return out


def main() -> int:
    print("\n".join(credentials(sys.stdin.read())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
