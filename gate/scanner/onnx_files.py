"""ONNX models: external data must stay inside the model's directory; custom operator domains are reported.

The protobuf is parsed with the onnx package's generated message classes (`gate.onnx_proto`),
exactly as `onnx.load_model_from_string` parses it, without loading external data and without
running anything.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from gate.extras import install_hint
from gate.scanner.interface import Context, Issue, IssueKind, Target

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"})
MAX_ONNX_BYTES = 2 * 1024**3  # protobuf's own limit for one message


def _tensors(graph: Any) -> Any:
    yield from graph.initializer
    for sp in graph.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def _nodes(graph: Any) -> Any:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _nodes(attr.g)
            for g in attr.graphs:
                yield from _nodes(g)


def analyse(target: Target, ctx: Context) -> None:
    try:
        from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

        from gate.onnx_proto import messages, parse_model

        pb = messages()
    except ImportError as exc:
        from gate.scanner.interface import AnalysisError

        raise AnalysisError(f"ONNX files need the 'onnx' package; {install_hint('formats')}") from exc
    where = target.display
    if target.size > MAX_ONNX_BYTES:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                "ONNX file is over protobuf's 2 GiB message limit",
                member=where,
                evidence={"limit": "onnx_message_size"},
            )
        )
        return
    with target.open() as fh:
        data = fh.read(MAX_ONNX_BYTES + 1)
    ctx.result.bytes_read += len(data)
    try:
        model = parse_model(data)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        ctx.add(Issue(IssueKind.MALFORMED, f"ONNX protobuf cannot be parsed: {str(exc)[:120]}", member=where))
        return
    base = target.path.parent if target.path is not None else None
    seen: set[str] = set()
    for t in _tensors(model.graph):
        if t.data_location != pb.TensorProto.EXTERNAL:
            continue
        loc = next((e.value for e in t.external_data if e.key == "location"), None)
        if loc is None or loc in seen:
            continue
        seen.add(loc)
        problem = _location_problem(loc, base)
        if problem:
            ctx.add(
                Issue(
                    IssueKind.ONNX_EXTERNAL,
                    f"tensor '{t.name}' reads external data from '{loc}': {problem}",
                    member=where,
                    name=loc,
                    evidence={"tensor": t.name, "location": loc},
                )
            )
        else:
            ctx.result.claims.append(loc)
    local_domains = {f.domain for f in model.functions}
    allowed = STANDARD_DOMAINS | ctx.settings.onnx_allowed_domains | local_domains
    custom: dict[str, set[str]] = {}
    for node in _nodes(model.graph):
        if node.domain not in allowed:
            custom.setdefault(node.domain, set()).add(node.op_type)
    for domain, ops in sorted(custom.items()):
        ctx.add(
            Issue(
                IssueKind.ONNX_DOMAIN,
                f"operators from custom domain '{domain}' ({', '.join(sorted(ops)[:10])}) need native code "
                "registered by the runtime",
                member=where,
                name=domain,
                evidence={"domain": domain, "ops": sorted(ops)[:50]},
            )
        )


def _location_problem(loc: str, base: Path | None) -> str | None:
    if "\x00" in loc:
        return "the path contains a NUL byte"
    posix, win = PurePosixPath(loc), PureWindowsPath(loc)
    if posix.is_absolute() or win.is_absolute() or win.drive or loc.startswith(("\\", "/")):
        return "absolute path"
    if ".." in posix.parts or ".." in win.parts:
        return "the path climbs out of the model directory"
    if base is None:
        return None
    p = base / loc
    cur = base
    for part in PurePosixPath(loc.replace("\\", "/")).parts:
        cur = cur / part
        if cur.is_symlink():
            real = cur.resolve()
            if not real.is_relative_to(base.resolve()):
                return "a symbolic link on the way leads out of the model directory"
    if not p.exists():
        return "the file does not exist"
    if not p.resolve().is_relative_to(base.resolve()):
        return "the path resolves outside the model directory"
    try:
        if os.stat(p).st_nlink > 1:
            return "the file has several hard links, so its bytes may live elsewhere"
    except OSError as exc:
        return f"cannot be checked: {exc.strerror}"
    return None
