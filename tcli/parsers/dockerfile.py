"""Parse a Dockerfile: instructions, COPY/ADD sources, ENTRYPOINT, the BASE_IMAGE default."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


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


def base_image_default(text: str) -> str | None:
    """The default of ``ARG BASE_IMAGE=…`` (or the first ``FROM`` image without a variable)."""
    match = re.search(r"^\s*ARG\s+BASE_IMAGE\s*=\s*[\"']?([^\s\"']+)", text, re.MULTILINE)
    if match:
        return match.group(1)
    match = re.search(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", text,
                      re.MULTILINE | re.IGNORECASE)
    if match and "$" not in match.group(1):
        return match.group(1)
    return None
