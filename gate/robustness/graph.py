"""What the ONNX graph says about itself, read from the protobuf without running anything.

Decides whether the model may run at all (standard operator domains only, no local functions,
external data only from files of the release beside the model), which input and output the
check uses, whether the declared input shape and labels agree with the graph (when they do
not, the release is bad input), and whether every operator is one the torch translation knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from gate.errors import InputError

RUNNABLE_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
FLOAT = 1  # onnx.TensorProto.FLOAT


class NotRunnable(Exception):
    """The model is valid but outside what the check will execute; the reason says why."""


@dataclass(frozen=True)
class GraphInfo:
    input_name: str
    input_rank: int
    output_name: str
    logits_name: str | None
    white_box: bool
    white_box_reason: str | None
    external: tuple[str, ...]  # external data files, relative to the model file's directory


def _nodes(graph: Any) -> Any:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _nodes(attr.g)
            for g in attr.graphs:
                yield from _nodes(g)


def _dims(value_info: Any) -> list[int | None]:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _external_location(loc: str) -> str:
    p = PurePosixPath(loc)
    if not loc or "\\" in loc or "\x00" in loc or p.is_absolute() or ".." in p.parts or ":" in loc:
        raise NotRunnable(f"external data location {loc[:80]!r} is not a plain path beside the model")
    return p.as_posix()


def inspect(model: Any, *, model_label: str, input_shape: tuple[int, ...], classes: int) -> GraphInfo:
    """`model`: an onnx.ModelProto parsed from the verified bytes. `model_label` names the file."""
    from gate.robustness.torch_graph import SUPPORTED_OPS

    graph = model.graph
    if len(model.functions):
        raise NotRunnable("the model defines local functions; only standard operators are run")
    domains = {n.domain for n in _nodes(graph)}
    odd = sorted(d for d in domains if d not in RUNNABLE_DOMAINS)
    if odd:
        raise NotRunnable(
            f"operators from domain(s) {', '.join(odd)[:200]} need libraries the gate never loads"
        )
    external: list[str] = []
    for t in [
        *graph.initializer,
        *(n_attr.t for n in graph.node for n_attr in n.attribute if n_attr.HasField("t")),
    ]:
        if t.data_location == 1:  # EXTERNAL
            loc = next((e.value for e in t.external_data if e.key == "location"), "")
            external.append(_external_location(loc))
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    where = "release.yaml: model.classifier.input_shape"
    if len(inputs) != 1:
        raise InputError(
            f"{where}: {model_label} has {len(inputs)} inputs; a classifier with one input is needed"
        )
    inp = inputs[0]
    if inp.type.tensor_type.elem_type != FLOAT:
        raise NotRunnable(f"input '{inp.name[:80]}' is not float32")
    dims = _dims(inp)
    if dims:
        if len(dims) != len(input_shape) + 1:
            raise InputError(
                f"{where}: {list(input_shape)} does not match the model's input "
                f"{['N' if d is None else d for d in dims]} ({model_label})"
            )
        for want, got in zip(input_shape, dims[1:], strict=True):
            if got not in (None, 0, want):
                raise InputError(
                    f"{where}: {list(input_shape)} does not match the model's input "
                    f"{['N' if d is None else d for d in dims]} ({model_label})"
                )
    rank = len(dims) if dims else len(input_shape) + 1
    floats = [
        o for o in graph.output if o.type.HasField("tensor_type") and o.type.tensor_type.elem_type == FLOAT
    ]
    candidates = [o for o in floats if (_dims(o)[-1:] or [None])[0] in (None, 0, classes)]
    if not floats:
        raise NotRunnable("the model has no float tensor output with class scores (export without ZipMap)")
    if not candidates:
        raise InputError(
            f"release.yaml: model.classifier.labels: {classes} labels, but no output of {model_label} "
            f"has {classes} scores ({', '.join(f'{o.name[:40]}{_dims(o)}' for o in floats[:4])})"
        )
    out = candidates[0]
    producers = {o: n for n in graph.node for o in n.output}
    logits = None
    last = producers.get(out.name)
    if last is not None and last.op_type == "Softmax" and last.domain in ("", "ai.onnx"):
        logits = last.input[0]
    ops = {(n.domain, n.op_type) for n in graph.node}
    unknown = sorted(op for d, op in ops if d not in ("", "ai.onnx") or op not in SUPPORTED_OPS)
    reason = None
    if unknown:
        reason = f"no gradients for operator(s) {', '.join(unknown)[:200]}: black-box attacks only"
    return GraphInfo(
        input_name=inp.name,
        input_rank=rank,
        output_name=out.name,
        logits_name=logits,
        white_box=not unknown,
        white_box_reason=reason,
        external=tuple(dict.fromkeys(external)),
    )
