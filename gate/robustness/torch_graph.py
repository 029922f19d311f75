"""A torch module that computes an ONNX graph made of a fixed set of standard operators.

Gradient attacks need gradients; onnxruntime's inference build has none. This translation
covers the operators small vision and tabular networks are made of (dense and convolutional
layers, pooling, normalisation, activations, reshapes) and nothing else: a graph with any other
operator is attacked black-box. It is only ever used for gradients; every prediction the check
reports comes from onnxruntime, and the translation must agree with onnxruntime on the clean
examples before its gradients are used. Imported in the child process only (it imports torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

SUPPORTED_OPS = frozenset(
    {
        "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
        "Softmax", "LogSoftmax", "Flatten", "Reshape", "Identity", "Dropout", "Constant", "Conv",
        "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Transpose", "Clip",
    }
)  # fmt: skip


class TranslationError(Exception):
    pass


# TensorProto.DataType -> little-endian numpy dtype, and the typed field that holds the values
# when raw_data is empty (as onnx.numpy_helper reads them).
_DTYPES: dict[int, tuple[str, str]] = {
    1: ("<f4", "float_data"),
    2: ("u1", "int32_data"),
    3: ("i1", "int32_data"),
    6: ("<i4", "int32_data"),
    7: ("<i8", "int64_data"),
    9: ("?", "int32_data"),
    11: ("<f8", "double_data"),
}


def to_array(t: Any, base: Path | None = None) -> Any:
    """A TensorProto's values as a numpy array; external data is read from `base` (the staged
    model's directory). Types the translation does not need are a TranslationError."""
    import numpy as np

    if t.data_type not in _DTYPES:
        raise TranslationError(f"tensor '{t.name[:60]}' has data type {t.data_type}, not translated")
    dtype, field = _DTYPES[t.data_type]
    dims = tuple(int(d) for d in t.dims)
    if t.data_location == 1:  # EXTERNAL: the location graph.inspect accepted, beside the model
        ext = {e.key: e.value for e in t.external_data}
        loc = PurePosixPath(ext.get("location", ""))
        if base is None or not loc.parts or loc.is_absolute() or ".." in loc.parts:
            raise TranslationError(f"tensor '{t.name[:60]}': external data is not beside the model")
        offset, length = int(ext.get("offset", 0)), ext.get("length")
        with open(base / loc, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(int(length)) if length is not None else fh.read()
    else:
        raw = t.raw_data
    values = np.frombuffer(raw, dtype=dtype) if raw else np.asarray(list(getattr(t, field)), dtype=dtype)
    if values.size != math.prod(dims):
        raise TranslationError(f"tensor '{t.name[:60]}' holds {values.size} values for shape {list(dims)}")
    return values.reshape(dims).astype(values.dtype.newbyteorder("="))  # a native, writable copy


def _attrs(node: Any, base: Path | None) -> dict[str, Any]:
    """Attribute values as onnx.helper.get_attribute_value gives them (strings as bytes)."""
    out: dict[str, Any] = {}
    for a in node.attribute:
        kind = a.type
        if kind == 1:
            out[a.name] = a.f
        elif kind == 2:
            out[a.name] = a.i
        elif kind == 3:
            out[a.name] = a.s
        elif kind == 4:
            out[a.name] = to_array(a.t, base)
        elif kind == 6:
            out[a.name] = list(a.floats)
        elif kind == 7:
            out[a.name] = list(a.ints)
        else:
            raise TranslationError(f"attribute {a.name[:40]} of {node.op_type} is not translated")
    return out


def _pads2d(pads: list[int] | None) -> tuple[int, int, int, int] | None:
    if not pads:
        return None
    if len(pads) != 4:
        raise TranslationError("only 2-D padding is supported")
    top, left, bottom, right = pads
    return (left, right, top, bottom)


def build_module(model: Any, output: str, base: Path | None = None) -> Any:
    """A torch.nn.Module computing `output` of the graph from its single input. `model`: an onnx
    ModelProto; `base`: the directory its external data lies in (none: the graph has none)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    graph = model.graph
    consts: dict[str, Any] = {}
    for t in graph.initializer:
        consts[t.name] = torch.from_numpy(to_array(t, base))
    inits = set(consts)
    input_name = next(i.name for i in graph.input if i.name not in inits)

    def gemm(a: dict[str, Any]) -> Callable[..., Any]:
        def f(x: Any, w: Any, c: Any = None) -> Any:
            if a.get("transA", 0):
                x = x.t()
            if a.get("transB", 0):
                w = w.t()
            y = a.get("alpha", 1.0) * (x @ w)
            return y if c is None else y + a.get("beta", 1.0) * c

        return f

    def conv(a: dict[str, Any]) -> Callable[..., Any]:
        def f(x: Any, w: Any, b: Any = None) -> Any:
            if x.dim() != 4:
                raise TranslationError("only 2-D convolutions are supported")
            pads = _pads2d(a.get("pads"))
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise TranslationError("auto_pad is not supported")
            if pads is not None:
                x = F.pad(x, pads)
            return F.conv2d(
                x, w, b, stride=a.get("strides", 1), dilation=a.get("dilations", 1), groups=a.get("group", 1)
            )

        return f

    def pool(a: dict[str, Any], kind: str) -> Callable[..., Any]:
        def f(x: Any) -> Any:
            pads = _pads2d(a.get("pads"))
            if a.get("ceil_mode", 0) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise TranslationError("ceil_mode and auto_pad are not supported")
            k, s = a["kernel_shape"], a.get("strides", a["kernel_shape"])
            if pads is not None:
                fill = float("-inf") if kind == "max" else 0.0
                x = F.pad(x, pads, value=fill)
            return F.max_pool2d(x, k, s) if kind == "max" else F.avg_pool2d(x, k, s)

        return f

    def reshape(a: dict[str, Any]) -> Callable[..., Any]:
        def f(x: Any, shape: Any) -> Any:
            dims = [int(d) for d in shape.tolist()]
            if not a.get("allowzero", 0):
                dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
            return x.reshape(dims)

        return f

    def clip(x: Any, lo: Any = None, hi: Any = None) -> Any:
        return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))

    def batchnorm(a: dict[str, Any]) -> Callable[..., Any]:
        def f(x: Any, scale: Any, bias: Any, mean: Any, var: Any) -> Any:
            return F.batch_norm(x, mean, var, scale, bias, training=False, eps=a.get("epsilon", 1e-5))

        return f

    ops: list[tuple[Callable[..., Any], list[str], list[str]]] = []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
            raise TranslationError(f"operator {node.op_type} is not translated")
        a = _attrs(node, base)
        t = node.op_type
        fn: Callable[..., Any]
        if t == "Gemm":
            fn = gemm(a)
        elif t == "MatMul":
            fn = torch.matmul
        elif t in ("Add", "Sub", "Mul", "Div"):
            binary: dict[str, Callable[..., Any]] = {
                "Add": torch.add,
                "Sub": torch.sub,
                "Mul": torch.mul,
                "Div": torch.div,
            }
            fn = binary[t]
        elif t == "Relu":
            fn = torch.relu
        elif t == "LeakyRelu":
            alpha = float(a.get("alpha", 0.01))
            fn = lambda x, alpha=alpha: F.leaky_relu(x, alpha)  # noqa: E731
        elif t == "Sigmoid":
            fn = torch.sigmoid
        elif t == "Tanh":
            fn = torch.tanh
        elif t in ("Softmax", "LogSoftmax"):
            axis = int(a.get("axis", -1))
            fn = (
                (lambda x, ax=axis: torch.softmax(x, ax))
                if t == "Softmax"
                else (lambda x, ax=axis: torch.log_softmax(x, ax))
            )
        elif t == "Flatten":
            axis = int(a.get("axis", 1))
            fn = lambda x, ax=axis: x.reshape(int(np.prod(x.shape[:ax])), -1)  # noqa: E731
        elif t == "Reshape":
            fn = reshape(a)
        elif t in ("Identity", "Dropout"):
            fn = lambda x, *rest: x  # noqa: E731
        elif t == "Constant":
            if "value" not in a:
                raise TranslationError("only tensor constants are supported")
            value = torch.from_numpy(a["value"])
            fn = lambda v=value: v  # noqa: E731
        elif t == "Conv":
            fn = conv(a)
        elif t == "MaxPool":
            fn = pool(a, "max")
        elif t == "AveragePool":
            fn = pool(a, "avg")
        elif t == "GlobalAveragePool":
            fn = lambda x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True)  # noqa: E731
        elif t == "BatchNormalization":
            fn = batchnorm(a)
        elif t == "Transpose":
            perm = a.get("perm")
            fn = (
                (lambda x, p=perm: x.permute(*p))
                if perm
                else (lambda x: x.permute(*reversed(range(x.dim()))))
            )
        elif "min" in a or "max" in a:
            lo_a, hi_a = a.get("min"), a.get("max")
            fn = lambda x, lo=lo_a, hi=hi_a: clip(x, lo, hi)  # noqa: E731
        else:
            fn = clip
        ops.append((fn, list(node.input), list(node.output)[:1]))

    class GraphModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for i, (_name, value) in enumerate(consts.items()):
                self.register_buffer(f"c{i}", value)
            self._names = list(consts)

        def forward(self, x: Any) -> Any:
            env: dict[str, Any] = {n: getattr(self, f"c{i}") for i, n in enumerate(self._names)}
            env[input_name] = x
            for fn, ins, outs in ops:
                if any(n and n not in env for n in ins):
                    raise TranslationError("graph is not in topological order")
                args = [env[n] if n else None for n in ins]
                env[outs[0]] = fn(*args)
            if output not in env:
                raise TranslationError(f"output {output} is not computed")
            return env[output]

    return GraphModule().eval()
