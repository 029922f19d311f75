"""Hugging Face repository files: JSON configs, standalone Jinja templates and Python modules.

`auto_map` in a config and `*.py` modules are remote code (transformers runs
them with `trust_remote_code=True`); chat templates in `tokenizer_config.json`
(`chat_template`, a string or a list of named templates) and `.jinja` files
are analysed like GGUF templates.
"""

from __future__ import annotations

import json
from typing import Any

from gate.scanner.interface import Context, Issue, IssueKind, Target


def _read(target: Target, ctx: Context) -> bytes | None:
    if target.size > ctx.limits.max_json_bytes:
        ctx.add(
            Issue(
                IssueKind.LIMIT,
                f"file of {target.size} bytes is over the limit for text analysis",
                member=target.display,
                evidence={"limit": "max_json_bytes"},
            )
        )
        return None
    with target.open() as fh:
        data: bytes = fh.read(ctx.limits.max_json_bytes + 1)
    ctx.result.bytes_read += len(data)
    return data


def analyse_json(target: Target, ctx: Context) -> None:
    raw = _read(target, ctx)
    if raw is None:
        return
    where = target.display
    try:
        doc: Any = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        lines = raw.splitlines()
        try:
            for line in lines:
                if line.strip():
                    json.loads(line)
            ctx.result.formats.append("json-lines")
            return
        except (UnicodeDecodeError, ValueError, RecursionError):
            pass
        if target.name.lower().endswith(".json"):
            ctx.add(Issue(IssueKind.MALFORMED, "JSON file does not parse", member=where))
        return
    if not isinstance(doc, dict):
        return
    if doc.get("auto_map"):
        text = json.dumps(doc["auto_map"], sort_keys=True)
        ctx.add(
            Issue(
                IssueKind.REMOTE_CODE,
                f"auto_map points model classes at remote code: {text[:200]}",
                member=where,
                name="auto_map",
                evidence={"auto_map": text[:1000]},
            )
        )
    from gate.scanner.templates import check_template

    tmpl = doc.get("chat_template")
    if isinstance(tmpl, str):
        check_template(tmpl, ctx, where, "chat_template")
    elif isinstance(tmpl, list):
        for i, item in enumerate(tmpl):
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                check_template(item["template"], ctx, where, f"chat_template '{item.get('name', i)}'")


def analyse_jinja(target: Target, ctx: Context) -> None:
    raw = _read(target, ctx)
    if raw is None:
        return
    from gate.scanner.templates import check_template

    check_template(raw.decode("utf-8", "replace"), ctx, target.display, "template")


def analyse_python(target: Target, ctx: Context) -> None:
    ctx.add(
        Issue(
            IssueKind.REMOTE_CODE,
            f"Python module '{target.name}' ships with the model; loaders with trust_remote_code run it",
            member=target.display,
            name=target.name,
        )
    )


def analyse_nothing(target: Target, ctx: Context) -> None:
    """Text and empty files carry no code a model loader runs."""


def analyse_unknown(target: Target, ctx: Context) -> None:
    ctx.add(
        Issue(
            IssueKind.UNRECOGNISED,
            "content matches no known model or data format",
            member=target.display,
            evidence={"head": target.head[:16].hex()},
        )
    )
