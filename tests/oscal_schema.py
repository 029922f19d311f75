"""The official OSCAL JSON schema for assessment results (NIST, 1.0.4 generation), as a validator.

Two rewrites, nothing else:
- its token pattern uses `\\p{L}` / `\\p{N}` (Unicode letter/number classes), which Python's `re`
  lacks: they become the equivalent `re` classes;
- OSCAL declares the values of `prop/@name`, `link/@rel` and `document-id/@scheme` as open lists
  (allow-other="yes", and foreign names live in their own `ns`), but the 1.0.x schema generator
  emitted them as closed `enum`s; those three enums are dropped, every other constraint stays.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = Path(__file__).resolve().parent / "data" / "oscal" / "oscal_assessment-results_schema.json"
_OPEN_LISTS = {"name", "rel", "scheme"}


def _open(node: Any, key: str | None = None) -> Any:
    if isinstance(node, dict):
        if key in _OPEN_LISTS and isinstance(node.get("allOf"), list):
            node = {**node, "allOf": [s for s in node["allOf"] if not (isinstance(s, dict) and "enum" in s)]}
        return {k: _open(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_open(v) for v in node]
    return node


@cache
def validator() -> jsonschema.Draft7Validator:
    text = SCHEMA.read_text("utf-8").replace("\\\\p{L}", "[^\\\\W\\\\d_]").replace("\\\\p{N}", "\\\\d")
    return jsonschema.Draft7Validator(_open(json.loads(text)), format_checker=jsonschema.FormatChecker())


def errors(doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator().iter_errors(doc)]
