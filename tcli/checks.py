"""Pure parsers behind ``tc validate``: Dockerfile, ``.env``, requirements, ``args.py``.

Each function takes text and returns plain data (no filesystem access, no findings), so
the rules in :mod:`tcli.validate` stay short and these parsers are unit-testable on their own.
``args.py`` is read with :mod:`ast` only: it is never imported or executed.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction (continuation lines joined)."""

    line: int
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions; comment lines and blank lines are dropped.

    Continuation lines (ending in ``\\``) are joined; comment lines inside a continuation are
    skipped, as Docker does. ``line`` is the 1-based line where the instruction starts.
    """
    result: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf.append(stripped[:-1])
            continue
        buf.append(stripped)
        joined = " ".join(part.strip() for part in buf if part.strip())
        buf = []
        keyword, _, args = joined.partition(" ")
        result.append(Instruction(start, keyword.upper(), args.strip()))
    if buf:
        joined = " ".join(part.strip() for part in buf if part.strip())
        keyword, _, args = joined.partition(" ")
        result.append(Instruction(start, keyword.upper(), args.strip()))
    return result


def _split_args(args: str) -> list[str]:
    """Arguments of an instruction: JSON (exec) form or whitespace-separated shell form."""
    stripped = args.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
    return stripped.split()


@dataclass(frozen=True)
class CopySpec:
    """Sources of a COPY/ADD instruction (the destination removed)."""

    line: int
    keyword: str
    sources: list[str]
    from_stage: str | None


def copy_specs(instructions: list[Instruction]) -> list[CopySpec]:
    """Every COPY and ADD with its sources; flags (``--chown`` ...) are dropped."""
    specs: list[CopySpec] = []
    for ins in instructions:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        tokens = ins.args.split()
        from_stage = None
        while tokens and tokens[0].startswith("--"):
            flag = tokens.pop(0)
            if flag.startswith("--from="):
                from_stage = flag.split("=", 1)[1]
        words = _split_args(" ".join(tokens))
        specs.append(CopySpec(ins.line, ins.keyword, words[:-1] if len(words) > 1 else [],
                              from_stage))
    return specs


def entrypoint(instructions: list[Instruction]) -> Instruction | None:
    """The last ENTRYPOINT (the one that takes effect), or None."""
    found = [ins for ins in instructions if ins.keyword == "ENTRYPOINT"]
    return found[-1] if found else None


def entrypoint_words(ins: Instruction) -> list[str]:
    return _split_args(ins.args)


# --------------------------------------------------------------------------- .env

ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")

_SECRET_KEY = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)",
    re.IGNORECASE,
)
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
        match = ENV_LINE.match(stripped)
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
    if value and _SECRET_KEY.search(key):
        return "a secret (by its name)"
    return None


# --------------------------------------------------------------------------- requirements

_PINNED = re.compile(r"===?\s*[A-Za-z0-9][A-Za-z0-9._+!-]*\s*(?:;|$)")


def unpinned_requirements(text: str) -> list[tuple[int, str]]:
    """(line, requirement) for every requirement not pinned with ``==``/``===``.

    Options (``-r``, ``--index-url``), URLs and direct references (``name @ url``) count as
    pinned; ``==1.*`` does not.
    """
    result: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-"):
            continue
        if "://" in line or " @ " in line or line.startswith(("git+", "file:")):
            continue
        spec = line.split(";", 1)[0].strip()
        if not _PINNED.search(spec + ";") or "*" in spec:
            result.append((number, line))
    return result


# --------------------------------------------------------------------------- args.py

NO_VALUE_ACTIONS = frozenset(
    {"store_true", "store_false", "store_const", "count", "help", "version",
     "BooleanOptionalAction"}
)


@dataclass(frozen=True)
class ArgOption:
    """One ``add_argument`` call of args.py, as written (never executed)."""

    line: int
    flags: tuple[str, ...]
    required: bool = False
    action: str | None = None
    nargs: str | None = None

    @property
    def positional(self) -> bool:
        return bool(self.flags) and not self.flags[0].startswith("-")

    @property
    def long_names(self) -> list[str]:
        """Option names without the leading ``--`` (``--batch-size`` -> ``batch-size``)."""
        return [f[2:] for f in self.flags if f.startswith("--")]

    @property
    def takes_value(self) -> bool:
        return self.action not in NO_VALUE_ACTIONS

    @property
    def takes_list(self) -> bool:
        return (self.nargs is not None and self.nargs != "?") or self.action == "extend"


def _const(node: ast.AST) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def parse_args_py(text: str, filename: str = "args.py") -> list[ArgOption]:
    """Collect every ``<x>.add_argument(...)`` call of ``text`` (SyntaxError propagates)."""
    tree = ast.parse(text, filename=filename)
    options: list[ArgOption] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"):
            continue
        flags = tuple(a.value for a in node.args
                      if isinstance(a, ast.Constant) and isinstance(a.value, str))
        if not flags:
            continue
        kw = {k.arg: _const(k.value) for k in node.keywords if k.arg}
        nargs = kw.get("nargs")
        action = kw.get("action")
        options.append(ArgOption(
            line=node.lineno,
            flags=flags,
            required=kw.get("required") is True,
            action=str(action) if action is not None else None,
            nargs=str(nargs) if nargs is not None else None,
        ))
    options.sort(key=lambda o: o.line)
    return options
