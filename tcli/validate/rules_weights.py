"""Rule: a template's ``docker/weights.lock`` (``tc weights add``): fields, sha256 format, names,
the weights setting it must answer, and (in a project) that a cached file still matches."""

from __future__ import annotations

from typing import Any

from tcli.project import TemplateRef
from tcli.validate.context import MISSING, Context
from tcli.weights import lock
from tcli.weights.core import check_cached


def check_tree(ctx: Context) -> None:
    """Nothing outside the templates."""


def check(ctx: Context, ref: TemplateRef) -> None:
    path = lock.lock_path(ref)
    if not path.exists() and not path.is_symlink():
        return
    data = ctx.json(path)  # unreadable/invalid JSON is reported by the context
    if data is MISSING:
        return
    found = lock.problems(data)
    for problem in found:
        ctx.add("error", "weights.lock-invalid", path, problem,
                "write it again with 'tc weights add SOURCE' (or fix the field)")
    if found:
        return
    entries = lock.parse(data, ctx.rel(path))
    if not (ref.docker_dir / "tc_weights.py").is_file():
        ctx.add("warning", "weights.unused", path,
                "docker/tc_weights.py is missing, so no build installs these weights",
                "torchvision templates only; run 'tc update' to get tc_weights.py")
    for entry in entries:
        if not entry.url:
            ctx.add("warning", "weights.no-url", path,
                    f"{entry.name} has no URL: the platform's build can only get it from a ZIP "
                    "made with 'tc package --with-weights'",
                    f"tc weights add FILE --name {entry.name} --url https://…")
        if ctx.tree.kind == "project":
            state = check_cached(entry)
            if state.state == "mismatch":
                ctx.add("error", "weights.cache-mismatch", path,
                        f"{entry.name}: {state.detail}", "fetch it again with 'tc weights pull'")
    _check_setting(ctx, ref, path, entries)


def _check_setting(ctx: Context, ref: TemplateRef, path: Any,
                   entries: list[lock.Entry]) -> None:
    inputs = ctx.inputs(ref)
    value: Any = None
    for source in (inputs.train_cfg, inputs.presets, inputs.defaults):
        if isinstance(source, dict) and "weights" in source:
            value = source["weights"]
            break
    if value in (None, "") and len(entries) > 1:
        names = ", ".join(e.name for e in entries)
        ctx.add("error", "weights.ambiguous", path,
                f"pins several weights ({names}) and the 'weights' setting is empty",
                "set 'weights' in train_config.json (and the schema default) to one name")
