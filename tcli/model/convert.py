"""ONNX -> ONNX FP16, ONNX INT8 (static, calibrated) and a Triton model repository, on the host.

Every function takes a checked ``onnx.ModelProto`` (:func:`tcli.safety.modelfile.read_onnx`)
and returns bytes or protos; the caller writes them atomically. Nothing here runs project code:
an ONNX graph is data that onnxruntime interprets.

* FP16: ``onnxconverter_common.float16.convert_float_to_float16(keep_io_types=True)`` (or
  onnxruntime's fork of it when that fails): weights and activations in float16, inputs and
  outputs stay float32 (the same preprocessing and post-processing work unchanged). Ops with
  no float16 kernel are kept in float32 by the converter's default block list. A result that
  onnxruntime cannot load is a failure with the converters' reasons, never a file.
* INT8: ``onnxruntime.quantization.quantize_static`` (QDQ format, int8 weights per channel,
  int8 activations, MinMax calibration) on the graph after ``quant_pre_process`` (shape
  inference + optimisation), calibrated with the batches given (the train split's images).
* Triton: ``config.pbtxt`` built as a ``tritonclient.grpc.model_config_pb2.ModelConfig`` and
  printed with protobuf's ``text_format``; inputs/outputs, dtypes and dims from the graph.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tcli.contract import TRITON_PLATFORMS
from tcli.errors import InputError


class ConvertFailed(Exception):
    """A conversion did not produce a model; the message goes into the table."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:240]}" if text else type(exc).__name__


def loadable(data: bytes) -> bytes:
    """``data`` when onnxruntime (CPU) can build a session from it, else ConvertFailed."""
    import onnxruntime as ort

    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (undocumented) classes
        raise ConvertFailed(f"the converted model does not load in onnxruntime: "
                            f"{first_line(exc)}") from None
    return data


def to_fp16(model: Any) -> bytes:
    """The FP16 model's bytes (inputs/outputs kept float32), loadable by onnxruntime.

    onnxconverter-common first; when it fails or its result does not load (graphs with
    ``If``/``Loop`` subgraphs, e.g. torchvision's detection post-processing), onnxruntime's
    own fork of the same converter (``onnxruntime.transformers.float16``)."""
    import copy
    import warnings

    reasons = []
    for name in ("onnxconverter_common.float16", "onnxruntime.transformers.float16"):
        try:
            module = __import__(name, fromlist=["convert_float_to_float16"])
            with warnings.catch_warnings():  # one "will be truncated" warning per tiny weight
                warnings.simplefilter("ignore")
                converted = module.convert_float_to_float16(copy.deepcopy(model),
                                                            keep_io_types=True)
            return loadable(bytes(converted.SerializeToString()))
        except ConvertFailed as exc:
            reasons.append(f"{name.split('.')[0]}: {exc}")
        except Exception as exc:  # the converters raise whatever their graph walk meets
            reasons.append(f"{name.split('.')[0]}: {first_line(exc)}")
    raise ConvertFailed("; ".join(reasons))


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of input batches."""

    def __init__(self, name: str, batches: Iterable[np.ndarray]) -> None:
        self._it: Iterator[np.ndarray] = iter(batches)
        self._name = name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {self._name: batch}

    def rewind(self) -> None:  # called by newer onnxruntime versions; one pass is enough
        return None


def to_int8(model_bytes: bytes, input_name: str, batches: list[np.ndarray]) -> bytes:
    """The statically quantised model's bytes, calibrated on ``batches`` (``[n, ...]`` each)."""
    if not batches:
        raise ConvertFailed("no calibration images (the train split is empty)")
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="tc-int8-") as work:
        src, pre, dst = Path(work, "in.onnx"), Path(work, "pre.onnx"), Path(work, "int8.onnx")
        src.write_bytes(model_bytes)
        try:
            try:
                quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            except Exception:  # pre-processing is an optimisation; quantise the graph as it is
                pre = src
            quantize_static(str(pre), str(dst), _Reader(input_name, batches),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        except Exception as exc:
            raise ConvertFailed(first_line(exc)) from None
        return loadable(dst.read_bytes())


# --------------------------------------------------------------------------- Triton

#: ONNX element type -> Triton DataType name (model_config.proto).
_TRITON_TYPES = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16",
                 5: "TYPE_INT16", 6: "TYPE_INT32", 7: "TYPE_INT64", 8: "TYPE_STRING",
                 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64", 12: "TYPE_UINT32",
                 13: "TYPE_UINT64", 16: "TYPE_BF16"}


def _dims(value_info: Any) -> list[int]:
    """Dims of a graph input/output; a symbolic or unknown dim is -1."""
    shape = value_info.type.tensor_type.shape
    return [int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else -1
            for d in shape.dim]


def _batched(model: Any) -> bool:
    """Dynamic batch: the first axis of every input and output is one symbolic dim."""
    ios = [*model.graph.input, *model.graph.output]
    names = set()
    for vi in ios:
        dims = vi.type.tensor_type.shape.dim
        if not dims or not dims[0].dim_param:
            return False
        names.add(dims[0].dim_param)
    return len(names) == 1


def triton_config(model: Any, name: str, *, max_batch_size: int = 32,
                  batching: bool | None = None) -> Any:
    """The ``ModelConfig`` of ``model`` (an ONNX proto) served by onnxruntime as ``name``.

    ``batching``: None takes it from the graph (:func:`_batched`); False when the first axis
    is not the batch (the detection template's outputs: one row per detection)."""
    from tritonclient.grpc import model_config_pb2 as mc

    platform, filename = TRITON_PLATFORMS[".onnx"]
    initializers = {t.name for t in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in initializers]
    batched = _batched(model) if batching is None else batching and _batched(model)
    config = mc.ModelConfig(name=name, platform=platform, default_model_filename=filename,
                            max_batch_size=max_batch_size if batched else 0)
    for kind, items in (("input", inputs), ("output", list(model.graph.output))):
        for vi in items:
            elem = vi.type.tensor_type.elem_type
            if elem not in _TRITON_TYPES:
                raise InputError(f"{name}: {kind} {vi.name!r} has ONNX type {elem}, which "
                                 "Triton has no type for", "export a tensor model")
            dims = _dims(vi)[1:] if batched else _dims(vi)
            entry = (config.input if kind == "input" else config.output).add()
            entry.name = vi.name
            entry.data_type = mc.DataType.Value(_TRITON_TYPES[elem])
            entry.dims.extend(dims or [1])
    if batched:
        config.dynamic_batching.SetInParent()
    config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_AUTO, count=1)
    return config


def triton_text(config: Any) -> str:
    from google.protobuf import text_format

    return str(text_format.MessageToString(config))
