"""Rules: custom.json's meaning (score_regexp, model_filepath) and the train/test splits."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import Any

from tcli.contract import (
    CONFIG_SCHEMA,
    CUSTOM_JSON,
    MODEL_EXTENSIONS,
    MODEL_FILEPATH_KEY,
    SCORE_LINE,
    SCORE_REGEXP_KEY,
    SPLIT_KEYS,
    TEST_SPLIT_KEY,
    TRAIN_CONFIG,
    TRAIN_SPLIT_KEY,
)
from tcli.custom_json import compile_score_regexp
from tcli.project import TemplateRef
from tcli.safety import rx
from tcli.schema import pointer
from tcli.validate.context import Context


def check_tree(ctx: Context) -> None:
    """Nothing outside the templates."""


def check(ctx: Context, ref: TemplateRef) -> None:
    """custom.json against presets.json and the score line; the splits of the form."""
    found = ctx.inputs(ref)
    _check_custom(ctx, ref, found.custom, found.presets)
    _check_splits(ctx, ref, found.schema, found.train_cfg, found.defaults)


def _check_custom(ctx: Context, ref: TemplateRef, custom: Any, presets: Any) -> None:
    if not isinstance(custom, dict):
        return
    path = ref.config_dir / CUSTOM_JSON
    regexp = custom.get(SCORE_REGEXP_KEY)
    if isinstance(regexp, str):
        _check_regexp(ctx, ref, path, regexp)
    model = custom.get(MODEL_FILEPATH_KEY)
    output_dir = presets.get("output-dir") if isinstance(presets, dict) else None
    if isinstance(model, str) and model:
        norm = posixpath.normpath(model)
        if isinstance(output_dir, str) and output_dir:
            out = posixpath.normpath(output_dir)
            if not PurePosixPath(norm).is_relative_to(PurePosixPath(out)) or norm == out:
                ctx.add("error", "model.outside-output-dir", path,
                         f"model_filepath {model!r} is not inside output-dir {output_dir!r} "
                         "of presets.json: the backend would find no model",
                         f"write the model under {output_dir}/ and point model_filepath "
                         "there", pointer="/model_filepath")
        suffix = PurePosixPath(norm).suffix
        if suffix not in MODEL_EXTENSIONS:
            ctx.add("error", "model.extension", path,
                     f"model_filepath has extension {suffix or '(none)'!r}; the platform "
                     f"accepts {' '.join(MODEL_EXTENSIONS)}",
                     "save the model as .onnx (or .pt) and point model_filepath there",
                     pointer="/model_filepath")


def _check_regexp(ctx: Context, ref: TemplateRef, path: Path, regexp: str) -> None:
    compiled = compile_score_regexp(regexp)
    if isinstance(compiled, re.error):
        ctx.add("error", "regexp.invalid", path, f"score_regexp does not compile: {compiled}",
                 "fix the regular expression (Python re syntax)", pointer="/score_regexp")
        return
    if compiled is None:
        ctx.add("error", "regexp.no-group", path,
                 "score_regexp has no capture group: the backend reads the score from "
                 "group 1", "put the number in parentheses, e.g. Accuracy: ([0-9.]+)",
                 pointer="/score_regexp")
        return
    if ctx.log_text is not None:
        sample, source = ctx.log_text, ctx.log_name
        sample_file: Path | str = path
    else:
        line_file = ref.config_dir / SCORE_LINE
        text = ctx.text(line_file) if line_file.is_file() else None
        if text is None:
            if not line_file.exists() and not line_file.is_symlink():
                ctx.add("warning", "regexp.no-sample", path,
                         "no config/score_line.txt: cannot check that score_regexp "
                         "matches what train.py prints",
                         "add the score line train.py prints to config/score_line.txt, or "
                         "pass --log FILE", pointer="/score_regexp")
            return
        sample, source = text, "config/score_line.txt"
        sample_file = path
    try:
        match = rx.search(compiled, sample, what=SCORE_REGEXP_KEY)
    except rx.RegexTimeout as exc:
        ctx.add("error", "regexp.timeout", path, exc.message, exc.hint or "", pointer="/score_regexp")
        return
    if match is None:
        ctx.add("error", "regexp.no-match", sample_file,
                 f"score_regexp matches nothing in {source}: the platform would show no "
                 "score", "make score_regexp match the score line train.py prints",
                 pointer="/score_regexp")
        return
    captured = match.group(1)
    try:
        float(captured if captured is not None else "")
    except ValueError:
        ctx.add("error", "regexp.not-a-number", sample_file,
                 f"score_regexp group 1 captured {captured!r} in {source}, not a number",
                 "capture only the number, e.g. ([0-9]+[.][0-9]+)",
                 pointer="/score_regexp")


def _check_splits(ctx: Context, ref: TemplateRef, schema: Any, train_cfg: Any,
                  defaults: dict[str, Any] | None) -> None:
    schema_path = ref.config_dir / CONFIG_SCHEMA
    if not isinstance(schema, dict):
        return
    props = schema.get("properties", {})
    props = props if isinstance(props, dict) else {}
    for key in SPLIT_KEYS:
        spec = props.get(key)
        if spec is None:
            ctx.add("warning", "split.missing", schema_path,
                     f"no {key!r} property: setup.py splits the dataset with train-split "
                     "and test-split", f"add {key!r} (a number between 0 and 1)",
                     pointer="/properties")
        elif isinstance(spec, dict) and "maximum" not in spec \
                and "exclusiveMaximum" not in spec:
            ctx.add("warning", "split.unbounded", schema_path,
                     f"{key!r} has no maximum: the form lets a user type 80 instead of 0.8",
                     "add \"minimum\": 0, \"maximum\": 1", pointer=pointer(["properties", key]))
    sources: list[tuple[Path, str, Any]] = []
    if isinstance(train_cfg, dict):
        sources.append((ref.config_dir / TRAIN_CONFIG, "", train_cfg))
    if defaults is not None:
        sources.append((schema_path, "default", defaults))
    for path, kind, values in sources:
        tr, te = values.get(TRAIN_SPLIT_KEY), values.get(TEST_SPLIT_KEY)

        def ptr(key: str, kind: str = kind) -> str:
            return pointer(["properties", key, "default"]) if kind else pointer([key])

        bad = False
        for key, val in ((TRAIN_SPLIT_KEY, tr), (TEST_SPLIT_KEY, te)):
            if val is None:
                continue
            if isinstance(val, bool) or not isinstance(val, int | float) \
                    or not 0 < val < 1:
                bad = True
                ctx.add("error", "split.range", path,
                         f"{key} is {val!r}; it must be a fraction between 0 and 1 "
                         "(exclusive)", "use e.g. 0.8 / 0.2", pointer=ptr(key))
        if bad or not isinstance(tr, int | float) or not isinstance(te, int | float):
            continue
        total = tr + te
        if total > 1 + 1e-9:
            ctx.add("error", "split.sum", path,
                     f"train-split + test-split = {total:g} > 1: the splits overlap",
                     "make them add up to 1", pointer=ptr(TEST_SPLIT_KEY))
        elif total < 1 - 1e-9:
            ctx.add("warning", "split.unused", path,
                     f"train-split + test-split = {total:g} < 1: {100 * (1 - total):.0f}% "
                     "of the samples are used by neither split",
                     "make them add up to 1", pointer=ptr(TEST_SPLIT_KEY))
