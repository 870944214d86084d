# Managed by tc (`tc update` brings its new versions) — edit train.py instead.
"""Verified ONNX export of a trained model, with a fallback that always leaves a model file.

The platform replaces ``export.py`` with its own copy at build time, so this file also
reaches the image as ``tc_export.py`` (the template's ``docker/`` folder) and the templates
import that one::

    from tc_export import export_model
    result = export_model(model, "/train/model.onnx", "pytorch", save_model,
                          sample_input=x, export_config=None)
    result.ok, result.path, result.max_abs_diff, result.fallback_reason   # or result["ok"]

``model_format``:

* ``"pytorch"``: ``torch.onnx.export`` (TorchScript exporter), model in eval mode, a dynamic
  batch axis on every input and output; input shapes/types/names, output names and opset from
  ``export_config`` (default: ``export_config.json`` next to this file or in ``WORKSPACE``,
  validated against ``export.jsonschema`` — the platform's, or the built-in copy of its rules).
  Without ``sample_input`` random inputs of the configured shapes are used.
* ``"sklearn"``: skl2onnx (classifiers without ZipMap: outputs label + probabilities); the
  feature count comes from ``sample_input`` (or ``n_features_in_``).

Verification: the file is loaded with onnxruntime (CPU) and run on a sample batch — for
PyTorch a batch of 2 built from the configured shape, which also exercises the dynamic batch
axis — and every output (tensor, tuple/list or dict of tensors, flattened in order) is
compared with the source model: max abs diff <= 1e-4 (float32; 1e-2 for float16, exact for
integer outputs). One line reports the result.

Paths: the ONNX file is ``model_filepath`` with its suffix replaced by ``.onnx`` (unchanged
when it already ends with ``.onnx``). On any failure (export error, missing package, parity
above tolerance) the reason is logged, a partial ONNX file is removed, and
``default_model_export_func(model, model_filepath)`` is called with the path the caller
gave, unchanged: the fallback picks its own suffix (``.pt``/``.torchscript``, as the platform
accepts), and if it returns a path, ``result.path`` is that path. An exception raised by the
fallback itself propagates (no model file would exist otherwise).

TorchScript beside the ONNX file (``export_torchscript``, used by tc_torch when the template's
``.env`` sets ``TC_EXPORT_TORCHSCRIPT=1``; ``tc model export --to torchscript`` reads it): the
wrapped model is scripted (``torch.jit.script``), or traced when it cannot be scripted, saved
as ``model.torchscript`` and loaded back in a fresh, isolated Python process (``python -I``:
none of the template's code is importable there) that runs it on two inputs -- the sample and
a second one of another content, which catches a trace that baked in the sample -- and the
outputs are compared with the eager model (same tolerances). The verdict is written to
``model.torchscript.json``. On any failure no ``.torchscript`` file is left and the reason is
in that JSON; the ONNX model is never affected.

About 500 lines, one file on purpose: the platform replaces ``export.py`` with its own copy, so
everything the templates' export needs (ONNX, its check, the fallback, and the TorchScript
export ``tc model export`` asks for) travels as this one ``tc_export.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TOLERANCE = {"float32": 1e-4, "float64": 1e-4, "float16": 1e-2, "bfloat16": 1e-2}

#: The rules of the platform's export.jsonschema that matter here, used when the schema file
#: is not in the image (the platform's build directory does not carry it).
BUILTIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["model_type", "input_shapes", "input_types"],
    "properties": {
        "model_type": {"type": "string", "enum": ["pytorch", "tensorflow", "keras"]},
        "input_names": {"type": "array", "items": {"type": "string"}},
        "input_shapes": {"type": "array", "minItems": 1,
                         "items": {"type": "array", "minItems": 1,
                                   "items": {"type": "number", "minimum": 1}}},
        "input_types": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": [
            "float16", "float32", "float64", "int8", "int16", "int32", "uint8", "string",
            "bool"]}},
        "output_names": {"type": "array", "items": {"type": "string"}},
        "verbose": {"type": "boolean"},
        "training": {"type": "string", "enum": ["EVAL", "PRESERVE", "TRAINING"]},
        "operator_export_type": {"type": "string", "enum": [
            "ONNX", "ONNX_FALLTHROUGH", "ONNX_ATEN", "ONNX_ATEN_FALLBACK"]},
        "opset_version": {"type": "number", "minimum": 7, "maximum": 16},
    },
}


class ExportError(Exception):
    """Why the ONNX export did not produce a verified file."""


@dataclass
class ExportResult:
    """What ``export_model`` did. Also readable as a dict (``result["ok"]``)."""

    ok: bool
    path: str
    max_abs_diff: float | None = None
    fallback_reason: str | None = None
    format: str = "onnx"
    opset: int | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _here() -> Path:
    env = os.environ.get("WORKSPACE")
    return Path(env) if env else Path(__file__).resolve().parent


def load_export_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read and validate ``export_config.json`` (default: next to this file)."""
    p = Path(path) if path else _here() / "export_config.json"
    try:
        cfg: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{p}: missing") from None
    except json.JSONDecodeError as exc:
        raise ExportError(f"{p}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    validate_export_config(cfg, source=str(p))
    return cfg


def _schema() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    for cand in (_here() / "export.jsonschema", here / "export.jsonschema"):
        if cand.is_file():
            try:
                schema: dict[str, Any] = json.loads(cand.read_text(encoding="utf-8"))
                return schema
            except (OSError, json.JSONDecodeError):
                break
    return BUILTIN_SCHEMA


def validate_export_config(cfg: Any, source: str = "export_config") -> None:
    """Raise ExportError listing every violation of export.jsonschema (with its key)."""
    import jsonschema

    schema = _schema()
    # the platform's schema uses draft-4/7 tuple "items" (a list): not valid in 2020-12
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    errors = sorted(cls(schema).iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        msgs = ["/".join(map(str, e.absolute_path)) + ": " + e.message if e.absolute_path
                else e.message for e in errors]
        raise ExportError(f"{source}: " + "; ".join(msgs))
    shapes, types = cfg["input_shapes"], cfg["input_types"]
    if len(types) != len(shapes):
        raise ExportError(f"{source}: input_types has {len(types)} entries but input_shapes "
                          f"has {len(shapes)}")


def onnx_path_for(model_filepath: str | os.PathLike[str]) -> Path:
    p = Path(model_filepath)
    return p if p.suffix == ".onnx" else p.with_suffix(".onnx")


def _flatten(out: Any) -> list[Any]:
    if isinstance(out, dict):
        res: list[Any] = []
        for v in out.values():
            res.extend(_flatten(v))
        return res
    if isinstance(out, (list, tuple)):
        res = []
        for v in out:
            res.extend(_flatten(v))
        return res
    return [out]


def _compare(expected: list[Any], got: list[Any]) -> float:
    """Max abs diff over all outputs; ExportError on count/shape/tolerance mismatch."""
    import numpy as np

    if len(expected) != len(got):
        raise ExportError(f"ONNX model has {len(got)} outputs, the source model "
                          f"{len(expected)}")
    worst = 0.0
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        e = np.asarray(e)
        g = np.asarray(g)
        if e.shape != g.shape:
            raise ExportError(f"output {i}: shape {g.shape} in ONNX, {e.shape} in the source")
        if e.dtype.kind in "iub" or g.dtype.kind in "iub":
            if not np.array_equal(e.astype(np.int64), g.astype(np.int64)):
                raise ExportError(f"output {i}: integer outputs differ")
            continue
        diff = float(np.max(np.abs(e.astype(np.float64) - g.astype(np.float64)))) \
            if e.size else 0.0
        if not np.isfinite(diff):
            raise ExportError(f"output {i}: non-finite values")
        tol = TOLERANCE.get(str(e.dtype), 1e-4)
        if diff > tol:
            raise ExportError(f"output {i}: max abs diff {diff:.3e} above {tol:g}")
        worst = max(worst, diff)
    return worst


# ----------------------------------------------------------------------------- pytorch

_TORCH_DTYPES = {"float16": "float16", "float32": "float32", "float64": "float64",
                 "int8": "int8", "int16": "int16", "int32": "int32", "uint8": "uint8",
                 "bool": "bool"}


def _make_inputs(cfg: dict[str, Any], batch: int | None, seed: int) -> tuple[Any, ...]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    out = []
    for shape, typ in zip(cfg["input_shapes"], cfg["input_types"], strict=True):
        if typ not in _TORCH_DTYPES:
            raise ExportError(f"input type {typ!r} cannot be exported from PyTorch")
        dims = [int(d) for d in shape]
        if batch is not None:
            dims[0] = batch
        dtype = getattr(torch, _TORCH_DTYPES[typ])
        if dtype.is_floating_point:
            out.append(torch.rand(*dims, generator=gen).to(dtype))
        elif dtype == torch.bool:
            out.append(torch.rand(*dims, generator=gen) > 0.5)
        else:
            out.append(torch.randint(0, 10, dims, generator=gen).to(dtype))
    return tuple(out)


def export_pytorch(model: Any, onnx_path: Path, cfg: dict[str, Any] | None,
                   sample_input: Any = None) -> tuple[float, int]:
    """Export + verify. Returns (max abs diff, opset)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    if cfg is None:
        if sample_input is None:
            raise ExportError("no export_config and no sample_input: input shape unknown")
        cfg = {}
    if cfg.get("model_type", "pytorch") != "pytorch":
        raise ExportError(f"export_config model_type is {cfg.get('model_type')!r}, "
                          "this is a PyTorch model")
    if sample_input is None:
        inputs = _make_inputs(cfg, None, 0)
        check = _make_inputs(cfg, 2, 1)
    else:
        inputs = tuple(sample_input) if isinstance(sample_input, (tuple, list)) \
            else (sample_input,)
        check = inputs
    n_in = len(inputs)
    names = list(cfg.get("input_names") or [])[:n_in]
    names += [f"input_{i}" for i in range(len(names), n_in)]
    model.eval()
    with torch.no_grad():
        ref = [t.detach().cpu().numpy() for t in _flatten(model(*check))]
    out_names = list(cfg.get("output_names") or [])[:len(ref)]
    out_names += [f"output_{i}" for i in range(len(out_names), len(ref))]
    opset = int(cfg.get("opset_version") or 17)
    mode = {"EVAL": torch.onnx.TrainingMode.EVAL,
            "PRESERVE": torch.onnx.TrainingMode.PRESERVE,
            "TRAINING": torch.onnx.TrainingMode.TRAINING}[cfg.get("training", "EVAL")]
    dynamic = {n: {0: "batch"} for n in [*names, *out_names]}
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = dict(
        input_names=names, output_names=out_names, opset_version=opset,
        dynamic_axes=dynamic, do_constant_folding=True, training=mode,
        verbose=bool(cfg.get("verbose", False)))
    try:
        torch.onnx.export(model, inputs, str(onnx_path), dynamo=False, **kwargs)
    except TypeError:  # older torch without the dynamo switch
        torch.onnx.export(model, inputs, str(onnx_path), **kwargs)
    model.eval()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {i.name: t.detach().cpu().numpy() for i, t in zip(sess.get_inputs(), check, strict=False)}
    got = sess.run(None, feeds)
    del np
    return _compare(ref, got), opset


# ----------------------------------------------------------------------------- sklearn

def export_sklearn(model: Any, onnx_path: Path, cfg: dict[str, Any] | None,
                   sample_input: Any = None) -> tuple[float, int | None]:
    """Export a fitted scikit-learn estimator/pipeline with skl2onnx and verify it."""
    import numpy as np
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    if sample_input is not None:
        x = np.asarray(sample_input, dtype=np.float32)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        n_features = int(x.shape[1])
    else:
        n_features = int(getattr(model, "n_features_in_", 0))
        if not n_features:
            raise ExportError("sample_input is needed to know the number of features")
        x = np.random.default_rng(0).random((4, n_features), dtype=np.float32)
    name = ((cfg or {}).get("input_names") or ["input"])[0]
    opts: dict[Any, Any] = {}
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(final, "predict_proba"):
        opts = {id(final): {"zipmap": False}}
    onx = convert_sklearn(model, initial_types=[(name, FloatTensorType([None, n_features]))],
                          options=opts or None)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = onnx_path.with_name(onnx_path.name + ".tmp")
    tmp.write_bytes(onx.SerializeToString())
    os.replace(tmp, onnx_path)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})
    expected: list[Any] = [model.predict(x)]
    if hasattr(final, "predict_proba") and len(got) > 1:
        expected.append(model.predict_proba(x).astype(np.float32))
    if expected[0].dtype.kind == "f":
        expected[0] = expected[0].astype(np.float32)
        got[0] = np.asarray(got[0]).reshape(expected[0].shape)
    if expected[0].dtype.kind in "OU":  # string labels
        if list(map(str, expected[0])) != list(map(str, np.asarray(got[0]).ravel())):
            raise ExportError("predicted labels differ between ONNX and scikit-learn")
        expected, got = expected[1:], got[1:]
    opset = None
    for imp in onx.opset_import:
        if imp.domain in ("", "ai.onnx"):
            opset = int(imp.version)
    return _compare(expected, got), opset


# ----------------------------------------------------------------------------- torchscript

#: What the fresh process runs: load the TorchScript file alone (with torchvision's operators
#: registered, as Triton's libtorch backend has them), run the inputs of an .npz (no pickle),
#: write the flattened outputs to another .npz.
def _ts_check(argv: list[str]) -> int:
    """Run in a fresh ``python -I`` process (``--check-torchscript MODEL IN.npz OUT.npz``)."""
    import numpy as np
    import torch

    with contextlib.suppress(ImportError):
        import torchvision  # noqa: F401  (registers nms, roi_align: the ops a detector calls)
    model = torch.jit.load(argv[0], map_location="cpu").eval()  # type: ignore[no-untyped-call]
    data = np.load(argv[1], allow_pickle=False)
    out: dict[str, Any] = {}

    def walk(value: Any, flat: list[Any]) -> None:
        if isinstance(value, (list, tuple)):
            for item in value:
                walk(item, flat)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item, flat)
        else:
            flat.append(value.detach().cpu().numpy())

    with torch.no_grad():
        for key in sorted(data.files, key=int):
            flat: list[Any] = []
            walk(model(torch.from_numpy(data[key])), flat)
            for j, arr in enumerate(flat):
                out[f"{key}_{j}"] = arr
    np.savez(argv[2], **out)
    return 0



def _error_line(stderr: str) -> str:
    """The exception line of a traceback (and the line after a bare ``RuntimeError:``)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        head = lines[i].split(":", 1)[0]
        if head.endswith(("Error", "Exception")) and " " not in head:
            rest = lines[i].split(":", 1)[1].strip() if ":" in lines[i] else ""
            return f"{head}: {rest or (lines[i + 1] if i + 1 < len(lines) else '')}"
    return lines[-1] if lines else "no output"


def export_torchscript(model: Any, path: str | os.PathLike[str], sample: Any) -> dict[str, Any]:
    """Script (or trace) ``model``, save it, verify it in a fresh process; the verdict dict is
    also written to ``<path>.json``. Never raises for a model problem."""
    import subprocess
    import tempfile

    import numpy as np
    import torch

    target = Path(path)
    verdict: dict[str, Any] = {"format": "torchscript", "ok": False, "path": str(target)}
    model.eval()
    second = torch.rand(sample.shape, generator=torch.Generator().manual_seed(7)).to(sample.dtype)
    try:
        with torch.no_grad():
            ref = {str(i): [t.detach().cpu().numpy() for t in _flatten(model(x))]
                   for i, x in enumerate((sample, second))}
        try:
            ts = torch.jit.script(model)
            ts(sample)
            verdict["method"] = "script"
        except Exception:
            ts = torch.jit.trace(model, (sample,), check_trace=False)  # type: ignore[no-untyped-call]
            verdict["method"] = "trace"
        tmp = target.with_name(target.name + ".tmp")
        ts.save(str(tmp))
        with tempfile.TemporaryDirectory() as work:
            inputs, outputs = Path(work) / "in.npz", Path(work) / "out.npz"
            np.savez(inputs, **{"0": sample.numpy(), "1": second.numpy()})
            proc = subprocess.run([sys.executable, "-I", str(Path(__file__).resolve()),
                                   "--check-torchscript", str(tmp), str(inputs),
                                   str(outputs)], cwd=work, capture_output=True, text=True,
                                  timeout=600)
            if proc.returncode != 0:
                raise ExportError("loading it in a fresh process failed: "
                                  f"{_error_line(proc.stderr)[:300]}")
            got = np.load(outputs, allow_pickle=False)
            worst = 0.0
            for key, expected in ref.items():
                mine = [got[f"{key}_{j}"] for j in range(len(expected)) if f"{key}_{j}" in got]
                worst = max(worst, _compare(expected, mine))
        os.replace(tmp, target)
        verdict.update(ok=True, max_abs_diff=worst, inputs=2, fresh_process=True)
        print(f"[export] TorchScript ok: {target} ({verdict['method']}), fresh-process parity "
              f"max_abs_diff {worst:.3e}", flush=True)
    except Exception as exc:  # never let TorchScript break the run
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        verdict["reason"] = f"{type(exc).__name__}: {first[:300]}"
        for leftover in (target.with_name(target.name + ".tmp"), target):
            with contextlib.suppress(OSError):
                leftover.unlink()
        print(f"[export] TorchScript not written: {verdict['reason']}", file=sys.stderr,
              flush=True)
    note = target.with_name(target.name + ".json")
    staged = note.with_name(note.name + ".tmp")
    staged.write_text(json.dumps(verdict, indent=2) + "\n")
    os.replace(staged, note)
    return verdict


# ----------------------------------------------------------------------------- API

def export_model(model: Any, model_filepath: str | os.PathLike[str], model_format: str,
                 default_model_export_func: Callable[[Any, str], Any], *,
                 sample_input: Any = None, export_config: dict[str, Any] | None = None
                 ) -> ExportResult:
    """Export ``model`` to a verified ONNX file, or save it with the fallback.

    Args:
        model: a ``torch.nn.Module`` or a fitted scikit-learn estimator.
        model_filepath: requested model path (``custom.json``'s ``model_filepath``).
        model_format: ``"pytorch"`` or ``"sklearn"``.
        default_model_export_func: ``f(model, model_filepath)`` saving a ``.pt``/
            ``.torchscript`` (or ``.pkl``) file; called with ``model_filepath`` unchanged.
        sample_input: input batch (tensor or tuple of tensors; array for sklearn).
        export_config: the export form (default: ``export_config.json``, validated).
    """
    onnx_path = onnx_path_for(model_filepath)
    reason: str | None = None
    diff: float
    opset: int | None
    try:
        fmt = str(model_format).lower()
        if fmt in ("pytorch", "torch"):
            cfg = export_config
            if cfg is None:
                try:
                    cfg = load_export_config()
                except ExportError:
                    if sample_input is None:
                        raise
                    cfg = None
            else:
                validate_export_config(cfg)
            diff, opset = export_pytorch(model, onnx_path, cfg, sample_input)
        elif fmt in ("sklearn", "scikit-learn"):
            diff, opset = export_sklearn(model, onnx_path, export_config, sample_input)
        else:
            raise ExportError(f"model_format {model_format!r} is not 'pytorch' or 'sklearn'")
    except ExportError as exc:
        reason = str(exc)
    except ImportError as exc:
        reason = f"missing package: {exc}"
    except Exception as exc:  # any exporter failure -> fallback
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
        if os.environ.get("TC_EXPORT_DEBUG"):
            traceback.print_exc()
    if reason is None:
        print(f"[export] ONNX ok: {onnx_path} (opset {opset}), parity max_abs_diff "
              f"{diff:.3e} vs {model_format}", flush=True)
        return ExportResult(True, str(onnx_path), diff, None, "onnx", opset)
    try:
        if onnx_path.exists():
            onnx_path.unlink()
    except OSError:
        pass
    print(f"[export] ONNX export failed: {reason}; saving with "
          f"{getattr(default_model_export_func, '__name__', 'the fallback')}", file=sys.stderr,
          flush=True)
    saved = default_model_export_func(model, str(model_filepath))
    path = str(saved) if isinstance(saved, (str, os.PathLike)) else str(model_filepath)
    return ExportResult(False, path, None, reason, "fallback", None)


if __name__ == "__main__" and sys.argv[1:2] == ["--check-torchscript"]:
    sys.exit(_ts_check(sys.argv[2:]))
