"""Model files a run left (someone else's project): read as data, never as code.

* ONNX: read through :mod:`tcli.safety.limits` (regular file, size cap counted on the bytes
  read), parsed from those bytes (``onnx.load_from_string``), refused when a tensor keeps its
  data outside the file (``external_data``: a path that could name any file of this machine),
  then ``onnx.checker.check_model``. onnxruntime is only given the checked bytes.
* TorchScript: a ZIP whose ``code/`` is TorchScript and whose ``*.pkl`` members are pickles;
  loading it runs that code, so tc never loads one on the host (``torch.jit.load``/
  ``torch.load``). :func:`torchscript_members` only lists the archive (size cap, member cap)
  to tell a TorchScript archive from anything else.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from tcli.errors import InputError
from tcli.safety import limits

#: Largest model file read (protobuf's own limit for one ONNX file is 2 GiB).
MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024 - 1
#: Most members listed in a TorchScript archive.
MAX_ARCHIVE_MEMBERS = 100_000


def read_onnx(path: Path, *, max_bytes: int = MAX_MODEL_BYTES) -> tuple[Any, bytes]:
    """(checked ``onnx.ModelProto``, its bytes); InputError (exit 2) naming the file otherwise."""
    import onnx
    from google.protobuf.message import DecodeError

    data = limits.read_bytes(path, max_bytes=max_bytes, what=str(path))
    fix = "export the model again (tc dev-run) or give another file"
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: not an ONNX model ({type(exc).__name__})", fix) from None
    if not model.graph.node and not model.graph.output:
        raise InputError(f"{path}: not an ONNX model (no graph)", fix)
    for tensor in _tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            raise InputError(f"{path}: tensor {tensor.name!r} keeps its data in another file "
                             "(external data); tc reads single-file models only",
                             "save the model as one file")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise InputError(f"{path}: fails the ONNX checker: {first}", fix) from None
    return model, data


def _tensors(model: Any) -> list[Any]:
    found = list(model.graph.initializer)
    stack = list(model.graph.node)
    while stack:
        node = stack.pop()
        for attr in node.attribute:
            if attr.HasField("t"):
                found.append(attr.t)
            found.extend(attr.tensors)
            if attr.HasField("g"):
                found.extend(attr.g.initializer)
                stack.extend(attr.g.node)
            for graph in attr.graphs:
                found.extend(graph.initializer)
                stack.extend(graph.node)
    return found


def torchscript_members(path: Path, *, max_bytes: int = MAX_MODEL_BYTES) -> list[str]:
    """The member names of a TorchScript archive, read without loading it; InputError when
    the file is too big, not a ZIP or not a TorchScript archive."""
    with limits.open_regular(path, max_bytes=max_bytes, what=str(path)) as fh:
        try:
            with zipfile.ZipFile(fh) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, ValueError, OSError):
            raise InputError(f"{path}: not a TorchScript archive (not a ZIP)",
                             "export it again with TC_EXPORT_TORCHSCRIPT=1") from None
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise InputError(f"{path}: {len(infos)} members, more than {MAX_ARCHIVE_MEMBERS}",
                         "export it again")
    names = [i.filename for i in infos]
    if not any("/code/" in n for n in names) or not any(n.endswith("data.pkl") for n in names):
        raise InputError(f"{path}: not a TorchScript archive (no code/ or data.pkl)",
                         "export it again with TC_EXPORT_TORCHSCRIPT=1")
    return names
