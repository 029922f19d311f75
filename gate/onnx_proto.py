"""ONNX's protobuf messages, without the onnx package's own start-up.

`import onnx` imports `onnx.helper` and through it `ml_dtypes`, whose extension module takes a
second or more to load; reading a model's graph needs none of that. This loads the onnx
distribution's generated module for `onnx-ml.proto` (protobuf's code for the schema onnxruntime
parses too) on its own. The message classes are the ones `onnx` uses: protobuf keeps one class
per descriptor, so a later `import onnx` in the same process gets the same `ModelProto`.

`parse_model` parses exactly as `onnx.load_model_from_string` does: `ParseFromString`, and every
byte must be consumed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

_PRIVATE = "gate._onnx_ml_pb2"  # never `onnx.onnx_ml_pb2`: the onnx package stays untouched


class OnnxUnavailable(ImportError):
    """The onnx distribution (its generated protobuf module) is not installed."""


def messages() -> ModuleType:
    """The module of ONNX's protobuf message classes (ModelProto, TensorProto, ...)."""
    for name in ("onnx.onnx_ml_pb2", _PRIVATE):
        mod = sys.modules.get(name)
        if mod is not None:
            return mod
    spec = importlib.util.find_spec("onnx")  # locates the package without running its __init__
    origin = spec.origin if spec is not None else None
    path = Path(origin).parent / "onnx_ml_pb2.py" if origin else None
    if path is None or not path.is_file():
        raise OnnxUnavailable("the 'onnx' package is not installed")
    gen = importlib.util.spec_from_file_location(_PRIVATE, path)
    if gen is None or gen.loader is None:  # pragma: no cover - a .py file always has a loader
        raise OnnxUnavailable(f"{path} cannot be loaded")
    mod = importlib.util.module_from_spec(gen)
    sys.modules[_PRIVATE] = mod
    try:
        gen.loader.exec_module(mod)
    except BaseException:
        del sys.modules[_PRIVATE]
        raise
    return mod


def parse_model(data: bytes) -> Any:
    """An onnx ModelProto from its serialized bytes; `DecodeError` when they are not one."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    model = messages().ModelProto()
    decoded = model.ParseFromString(data)
    if decoded is not None and decoded != len(data):
        raise DecodeError(f"Protobuf decoding consumed too few bytes: {decoded} out of {len(data)}")
    return model
