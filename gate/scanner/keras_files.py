"""Keras: v3 `.keras` zip configs and HDF5 `.h5` files with a `model_config`.

`Lambda` layers carry Python bytecode or source that runs on load, and
module or function references outside Keras import arbitrary code; both are
found anywhere in the config, including nested sub-models.
"""

from __future__ import annotations

import json
from typing import Any

from gate.extras import install_hint
from gate.scanner.interface import AnalysisError, Context, Issue, IssueKind, Target

KERAS_MODULES = ("keras", "keras_nlp", "keras_hub", "keras_cv", "tf_keras", "tensorflow.keras")
MAX_DEPTH = 200


def analyse_config_bytes(raw: bytes, where: str, ctx: Context) -> None:
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.add(Issue(IssueKind.MALFORMED, f"Keras config is not JSON: {str(exc)[:100]}", member=where))
        return
    analyse_config(cfg, where, ctx)


def analyse_config(cfg: Any, where: str, ctx: Context) -> None:
    seen: set[tuple[str, str, str]] = set()

    def add(kind: IssueKind, msg: str, name: str, path: str) -> None:
        if (kind.value, name, path) in seen:
            return
        seen.add((kind.value, name, path))
        ctx.add(Issue(kind, msg, member=where, name=name, evidence={"config_path": path}))

    stack: list[tuple[Any, str, int]] = [(cfg, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            ctx.add(
                Issue(
                    IssueKind.LIMIT,
                    "Keras config nests too deeply",
                    member=where,
                    evidence={"limit": "keras_nesting"},
                )
            )
            return
        if isinstance(node, dict):
            cls = node.get("class_name")
            if cls in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
                layer = node.get("config", {}).get("name") if isinstance(node.get("config"), dict) else None
                add(
                    IssueKind.KERAS_LAMBDA,
                    f"Lambda layer '{layer or '?'}' runs Python code stored in the file",
                    str(layer or cls),
                    path or "/",
                )
            module = node.get("module")
            if isinstance(module, str) and module and not module.startswith(KERAS_MODULES):
                add(
                    IssueKind.KERAS_EXTERNAL,
                    f"config references '{module}.{node.get('class_name') or node.get('config')}', "
                    "outside Keras",
                    f"{module}.{node.get('class_name')}",
                    path or "/",
                )
            if node.get("function_type") in ("lambda", "raw") or "__lambda__" in str(
                node.get("class_name", "")
            ):
                add(
                    IssueKind.KERAS_LAMBDA,
                    "config carries a serialized Python function",
                    "function",
                    path or "/",
                )
            if cls == "function" or node.get("registered_name") == "function":
                add(
                    IssueKind.KERAS_EXTERNAL,
                    f"config references the function '{node.get('config')}'",
                    str(node.get("config")),
                    path or "/",
                )
            for k, v in node.items():
                if isinstance(v, (dict, list)):
                    stack.append((v, f"{path}/{k}", depth + 1))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    stack.append((v, f"{path}/{i}", depth + 1))


def analyse_h5(target: Target, ctx: Context) -> None:
    try:
        import h5py
    except ImportError as exc:
        raise AnalysisError(f"HDF5 files need the 'h5py' package; {install_hint('formats')}") from exc
    where = target.display
    try:
        # Through the target's reader, never the path: the bytes read are the bytes hashed.
        with target.open() as src, h5py.File(src, "r") as f:
            for key in ("model_config", "training_config"):
                if key not in f.attrs:
                    continue
                raw = f.attrs[key]
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8", "replace")
                if not isinstance(raw, str):
                    continue
                if len(raw) > ctx.limits.max_json_bytes:
                    ctx.add(
                        Issue(
                            IssueKind.LIMIT,
                            f"HDF5 attribute {key} is too large",
                            member=where,
                            evidence={"limit": "max_json_bytes"},
                        )
                    )
                    continue
                ctx.result.formats.append("keras-h5")
                analyse_config_bytes(raw.encode("utf-8"), f"{where}#{key}" if where else f"#{key}", ctx)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        ctx.add(Issue(IssueKind.MALFORMED, f"HDF5 file cannot be read: {str(exc)[:120]}", member=where))
